// Every command's flag table, in the order `fieldlog help` lists them: the one list that
// the help text, `fieldlog help COMMAND` and the README test read.
import { SIM_FLEET } from '../../firmware-sim/fleet-command.js';
import { SIM } from '../../firmware-sim/sim-command.js';
import { type CommandSpec, synopsis } from './args.js';
import { DEMO } from './demo-command.js';
import { DEVICE } from './device-command.js';
import { DEVICE_KEY_ROTATE, DEVICE_KEY_SHOW } from './device-key-command.js';
import { HUB } from './hub-command.js';
import { HUB_EXPORT } from './hub-export.js';
import { HUB_VERIFY } from './hub-verify.js';
import { LOG_COMMANDS, LOG_USAGE } from './log-commands.js';

export const COMMANDS: readonly CommandSpec[] = [
  DEMO,
  DEVICE,
  DEVICE_KEY_SHOW,
  DEVICE_KEY_ROTATE,
  HUB,
  HUB_EXPORT,
  HUB_VERIFY,
  SIM,
  SIM_FLEET,
  ...LOG_COMMANDS,
];

/** `fieldlog help`: every command's synopsis (every flag), then how to get the details. */
export const HELP_TEXT = `usage:
${COMMANDS.map((c) => synopsis(c)).join('\n')}

fieldlog <command> --help (or -h, or fieldlog help <command>) prints that command's flags.
Exit codes: 0 ok, 1 failure (log does not verify, locked, corrupt, cannot write), 2 bad arguments or input.
Set DEBUG=fieldlog to print stack traces of internal errors.`;

/** The usage for `fieldlog help WORDS…`: a command (`log cat`), the log group, or undefined. */
export function commandFor(words: string[]): CommandSpec | 'log' | undefined {
  const [first, second] = words;
  if (first === 'log' && second === undefined) return 'log';
  const two = `${first} ${second}`;
  const three = `${two} ${words[2]}`;
  return (
    COMMANDS.find((c) => c.name === three) ??
    COMMANDS.find((c) => c.name === two) ??
    COMMANDS.find((c) => c.name === first)
  );
}

export { LOG_USAGE };
