#!/usr/bin/env node
// The `fieldlog` command: checks the Node.js version before loading anything, then runs the CLI.
// On a Node.js older than MINIMUM the CLI's modules cannot even be linked (`crypto.hash`, which
// src/log/envelope.ts imports, arrives in 20.12), which ends in a SyntaxError and a stack trace;
// this file says so in one line instead. So that the Node.js people actually have (Debian and
// Ubuntu ship 12 and 18) can parse it, it has no static imports, no `?.`, `??` or top-level await.

// The same as "engines" in package.json (test/repo/bin-guard.test.ts keeps them equal).
const MINIMUM = '20.12.0';

/** True when dotted version `have` is below `need` (numeric parts; "20.9.0" < "20.12.0"). */
function below(have, need) {
  const h = have.split('.').map(Number);
  const n = need.split('.').map(Number);
  for (let i = 0; i < n.length; i++) {
    const a = h[i] || 0;
    if (a !== n[i]) return a < n[i];
  }
  return false;
}

const have = process.versions.node;
if (below(have, MINIMUM)) {
  process.stderr.write(`fieldlog: needs Node.js >= ${MINIMUM}, this is ${have}\n`);
  // 2, as for any invocation that cannot work as given: retrying will not help, and 1 means a
  // log that does not verify.
  process.exitCode = 2;
} else {
  // aedes loads its package.json as a JSON module, which Node.js 20 before 20.19 announces on
  // stderr at every start as an experimental feature; it works, and is nothing a user can act on.
  const emitWarning = process.emitWarning;
  process.emitWarning = function (warning, ...rest) {
    if (String(warning).startsWith('Importing JSON modules is an experimental feature')) return;
    return emitWarning.call(this, warning, ...rest);
  };
  import('../dist/src/cli.js').catch((reason) => {
    // Only a broken installation gets here (the CLI reports its own errors): say which, in one line.
    const err = reason instanceof Error ? reason : new Error(String(reason));
    const missing = err.code === 'ERR_MODULE_NOT_FOUND' && /dist[\\/]src[\\/]cli\.js/.test(err.message);
    process.stderr.write(
      missing
        ? 'fieldlog: not built: run `npm run build` (or `npm install`) in the fieldlog folder\n'
        : `fieldlog: cannot load: ${err.message}\n`,
    );
    if (String(process.env.DEBUG).includes('fieldlog')) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 70;
  });
}
