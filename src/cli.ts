#!/usr/bin/env node
// The one `fieldlog` executable: parses the command, wires the parts, turns known
// errors into one line and an exit code, and stops cleanly on SIGINT and SIGTERM.
import { HelpRequested, usage } from './cli/args.js';
import { PipeClosed, streamOutput } from './cli/output.js';
import { ERROR_CODES, fail, isFieldlogError } from './errors.js';
import { debugEnabled } from './internal-errors.js';
import { VERSION } from './version.js';

// Each command's modules are loaded when it runs: a device need not carry the hub's HTTP
// API and metrics, nor the hub the console, and `fieldlog log …` starts quickly.

/** `fieldlog help [COMMAND…]`. */
async function help(words: string[]): Promise<string> {
  const { commandFor, HELP_TEXT, LOG_USAGE } = await import('./cli/commands.js');
  if (words.length === 0) return HELP_TEXT;
  const spec = commandFor(words);
  if (spec === undefined)
    throw fail('USAGE', `help: unknown command "${words.join(' ')}" (try fieldlog help)`);
  return spec === 'log' ? LOG_USAGE : usage(spec);
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const out = streamOutput(process.stdout);
  const abort = new AbortController();
  const stop = (signal: NodeJS.Signals) => abort.abort(signal);
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    switch (command) {
      case 'log':
        return await (await import('./cli/log-commands.js')).runLog(rest, out, process.stdin, abort.signal);
      case 'device':
        if (rest[0] === 'key')
          return await (await import('./cli/device-key-command.js')).runDeviceKey(rest.slice(1), out);
        return await (await import('./cli/device-command.js')).runDevice(rest, out, { signal: abort.signal });
      case 'hub':
        if (rest[0] === 'verify')
          return await (await import('./cli/hub-verify.js')).runHubVerify(rest.slice(1), out);
        if (rest[0] === 'export')
          return await (await import('./cli/hub-export.js')).runHubExport(rest.slice(1), out, abort.signal);
        return await (await import('./cli/hub-command.js')).runHub(rest, out, abort.signal);
      case 'sim':
        if (rest[0] === 'fleet')
          return await (await import('../firmware-sim/fleet-command.js')).runSimFleet(
            rest.slice(1),
            out,
            abort.signal,
          );
        return await (await import('../firmware-sim/sim-command.js')).runSim(rest, out, abort.signal);
      case undefined:
        process.stdout.write(`${await help([])}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${await help(rest)}\n`);
        return 0;
      case 'demo':
        return await (await import('./cli/demo-command.js')).runDemo(rest, out, abort.signal);
      case '--version':
        process.stdout.write(`fieldlog ${VERSION}\n`);
        return 0;
      default:
        process.stderr.write(`fieldlog: unknown command "${command}" (try fieldlog help)\n`);
        return 2;
    }
  } catch (err) {
    if (err instanceof HelpRequested) {
      process.stdout.write(`${err.text}\n`);
      return 0;
    }
    if (err instanceof PipeClosed) return 0;
    if (isFieldlogError(err)) {
      process.stderr.write(`fieldlog: ${err.message} [${err.code}]\n`);
      return ERROR_CODES[err.code].exit;
    }
    process.stderr.write(`fieldlog: internal error: ${(err as Error)?.message ?? String(err)}\n`);
    if (debugEnabled()) process.stderr.write(`${(err as Error)?.stack}\n`);
    return 70;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
