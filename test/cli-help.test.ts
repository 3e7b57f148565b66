// The usage each command prints is made from its flag table: every flag is in it.
import { describe, expect, it } from 'vitest';
import { type CommandSpec, HelpRequested, parseFlags, synopsis, usage } from '../src/cli/args.js';
import { COMMANDS, commandFor, HELP_TEXT } from '../src/cli/commands.js';

const spec: CommandSpec = {
  name: 'thing',
  args: 'DIR',
  positionals: { min: 1, max: 1 },
  summary: 'Does a thing.',
  flags: {
    out: { type: 'string', value: 'FILE', required: true, help: 'where' },
    at: { type: 'string', value: 'T', group: 'when', help: 'a time' },
    'at-seq': { type: 'string', value: 'N', group: 'when', help: 'a seq' },
    batch: { type: 'string', value: 'N', default: '10', help: 'how many' },
    json: { type: 'boolean', help: 'as JSON' },
  },
};

describe('flag tables', () => {
  it('list every flag of every command in its usage and in fieldlog help', () => {
    for (const c of COMMANDS) {
      const text = usage(c);
      for (const [name, def] of Object.entries(c.flags)) {
        expect(text, `${c.name} --${name}`).toContain(`--${name}`);
        expect(text, `${c.name} --${name}`).toContain(def.help.split(' ').slice(0, 3).join(' '));
        expect(HELP_TEXT, `${c.name} --${name}`).toMatch(
          new RegExp(`fieldlog ${c.name}[^\\n]*(\\n {4,}[^\\n]*)*--${name}\\b`),
        );
      }
      expect(text).toContain('-h, --help');
      expect(commandFor(c.name.split(' '))).toBe(c);
    }
  });

  it('turns --help and -h into the usage, whatever else is on the line', () => {
    for (const argv of [
      ['--help'],
      ['-h'],
      ['dir', '--nope', '-h'],
      ['--at', 'x', '--at-seq', '1', '--help'],
    ]) {
      expect(() => parseFlags(spec, argv), argv.join(' ')).toThrow(HelpRequested);
    }
    expect(() => parseFlags(spec, ['--', '-h'])).not.toThrow(HelpRequested);
  });

  it('shows required flags bare, alternatives together and defaults', () => {
    expect(synopsis(spec)).toBe('fieldlog thing DIR --out FILE [--at T | --at-seq N] [--batch N] [--json]');
    expect(usage(spec)).toMatch(/--batch N +how many \(default: 10\)/);
  });

  it.each([
    [['d'], '--out FILE is required'],
    [['d', '--out', 'f', '--at', 'x', '--at-seq', '1'], 'give --at or --at-seq, not both'],
    [['d', '--out='], '--out needs a value'],
    [['d', '--out', 'f', '--nope'], 'unknown flag --nope'],
    [['--out', 'f'], 'missing argument DIR'],
  ])('refuses %j in one line naming the flag', (argv, words) => {
    expect(() => parseFlags(spec, argv)).toThrow(
      expect.objectContaining({ code: 'USAGE', message: expect.stringContaining(words) }),
    );
  });
});
