// `fieldlog <command> --help` and `-h` as a user types them: the built CLI in a child process.
import { describe, expect, it } from 'vitest';
import { usage } from '../src/cli/args.js';
import { COMMANDS, HELP_TEXT, LOG_USAGE } from '../src/cli/commands.js';
import { runCli } from './support/cli.js';

/** How a user names each command; the simulator has three. */
const invocations = COMMANDS.flatMap((c) =>
  c.name === 'sim'
    ? ['line', 'nmea', 'firmata'].map((k) => ({ c, words: ['sim', k] }))
    : [{ c, words: c.name.split(' ') }],
);

describe('fieldlog --help', () => {
  it('prints the usage of every command and subcommand with --help and -h, exit code 0', async () => {
    const runs = invocations.flatMap(({ c, words }) =>
      ['--help', '-h'].map(async (h) => ({ c, args: [...words, h], r: await runCli([...words, h]) })),
    );
    for (const { c, args, r } of await Promise.all(runs)) {
      expect(r.stderr, args.join(' ')).toBe('');
      expect(r.code, args.join(' ')).toBe(0);
      expect(r.stdout, args.join(' ')).toBe(`${usage(c)}\n`);
      for (const name of Object.keys(c.flags))
        expect(r.stdout, `${args.join(' ')} --${name}`).toContain(`--${name}`);
    }
  }, 300_000); // 28 CLI starts: generous for a loaded machine (a harness limit, not a measurement)

  it('prints the usage even when the rest of the line is wrong', async () => {
    const r = await runCli(['log', 'cat', '--from-seq', 'x', '--nope', '--help']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(/^usage: fieldlog log cat DIR/);
  });

  it('fieldlog help lists every command with every flag; help COMMAND and log --help print one', async () => {
    const [all, one, log] = await Promise.all([
      runCli(['help']),
      runCli(['help', 'hub', 'export']),
      runCli(['log', '--help']),
    ]);
    expect(all).toMatchObject({ code: 0, stdout: `${HELP_TEXT}\n` });
    for (const c of COMMANDS)
      for (const name of Object.keys(c.flags)) expect(all.stdout).toContain(`--${name}`);
    expect(one).toMatchObject({
      code: 0,
      stdout: `${usage(COMMANDS.find((c) => c.name === 'hub export')!)}\n`,
    });
    expect(log).toMatchObject({ code: 0, stdout: `${LOG_USAGE}\n` });
  });
});
