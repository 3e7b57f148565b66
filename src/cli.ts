#!/usr/bin/env node
// The one `fieldlog` executable: parses the command, wires the parts, turns known
// errors into one line and an exit code, and stops cleanly on SIGINT and SIGTERM.
import { runSim, SIM_USAGE } from '../firmware-sim/sim-command.js';
import { DEMO_USAGE, runDemo } from './cli/demo-command.js';
import { DEVICE_USAGE, runDevice, VERSION } from './cli/device-command.js';
import { HUB_USAGE, runHub } from './cli/hub-command.js';
import { EXPORT_USAGE, runHubExport } from './cli/hub-export.js';
import { LOG_USAGE, runLog } from './cli/log-commands.js';
import { PipeClosed, streamOutput } from './cli/output.js';
import { ERROR_CODES, isFieldlogError } from './errors.js';

export const USAGE = `usage:
${DEMO_USAGE}
${DEVICE_USAGE}
${HUB_USAGE}
${EXPORT_USAGE}
${SIM_USAGE}
${LOG_USAGE}

Exit codes: 0 ok, 1 failure (log does not verify, locked, corrupt), 2 bad arguments or input.
Set DEBUG=fieldlog to print stack traces of internal errors.`;

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
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
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
