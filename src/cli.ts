#!/usr/bin/env node
// The one `fieldlog` executable: parses the command, wires the parts, turns known
// errors into one line and an exit code, and stops cleanly on SIGINT and SIGTERM.
import { runSim } from '../firmware-sim/sim-command.js';
import { HelpRequested, usage } from './cli/args.js';
import { commandFor, HELP_TEXT, LOG_USAGE } from './cli/commands.js';
import { runDemo } from './cli/demo-command.js';
import { runDevice, VERSION } from './cli/device-command.js';
import { runHub } from './cli/hub-command.js';
import { runHubExport } from './cli/hub-export.js';
import { runLog } from './cli/log-commands.js';
import { PipeClosed, streamOutput } from './cli/output.js';
import { ERROR_CODES, fail, isFieldlogError } from './errors.js';

/** `fieldlog help [COMMAND…]`. */
function help(words: string[]): string {
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
        return await runLog(rest, out, process.stdin, abort.signal);
      case 'device':
        return await runDevice(rest, out, { signal: abort.signal });
      case 'hub':
        if (rest[0] === 'export') return await runHubExport(rest.slice(1), out, abort.signal);
        return await runHub(rest, out, abort.signal);
      case 'sim':
        return await runSim(rest, out, abort.signal);
      case undefined:
        process.stdout.write(`${HELP_TEXT}\n`);
        return 2;
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${help(rest)}\n`);
        return 0;
      case 'demo':
        return await runDemo(rest, out, abort.signal);
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
    if (process.env.DEBUG?.includes('fieldlog')) process.stderr.write(`${(err as Error)?.stack}\n`);
    return 70;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
