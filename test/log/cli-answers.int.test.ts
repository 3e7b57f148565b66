// Bad input to `fieldlog log`: one clear line, exit code 2, nothing written.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-cli-answers-'));
const dir = join(root, 'log');
afterAll(() => rmSync(root, { recursive: true, force: true }));

const note = (text: string) =>
  JSON.stringify({ type: 'NoteAdded', data: { text }, meta: { actor: 'operator:ana' } });

let head: { seq: number; hash: string };
beforeAll(async () => {
  const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], {
    input: `${[1, 2, 3, 4, 5].map((i) => note(`n${i}`)).join('\n')}\n`,
  });
  head = JSON.parse(r.stdout).head;
});

/** Exit code 2, one line on stderr naming `words`, nothing on stdout. */
async function refused(args: string[], words: RegExp, input?: string): Promise<void> {
  const r = await runCli(args, input === undefined ? {} : { input });
  expect(r.code, args.join(' ')).toBe(2);
  expect(r.stderr, args.join(' ')).toMatch(/^fieldlog: [^\n]+\n$/);
  expect(r.stderr, args.join(' ')).toMatch(words);
  expect(r.stdout, args.join(' ')).toBe('');
}

async function headOf(d: string): Promise<{ seq: number; hash: string }> {
  const log = await EventLog.open(d);
  try {
    return log.head();
  } finally {
    await log.close();
  }
}

describe('fieldlog log: clear answers to bad input', () => {
  it('refuses a seq range or a time range whose start is after its end', async () => {
    await refused(
      ['log', 'cat', dir, '--from-seq', '5', '--to-seq', '2'],
      /--from-seq 5 is after --to-seq 2/,
    );
    await refused(
      ['log', 'cat', dir, '--since', '2026-11-25T00:00:00Z', '--until', '2026-11-24T00:00:00Z'],
      /--since 2026-11-25T00:00:00Z is after --until/,
    );
  });

  it('refuses a time without its offset (it would be read in the local zone) and a day that does not exist', async () => {
    await refused(
      ['log', 'cat', dir, '--since', '2026-11-24T12:00'],
      /--since must be an RFC 3339 time with its offset/,
    );
    await refused(['log', 'cat', dir, '--until', '2026-11-24T12:00:00'], /--until must be an RFC 3339 time/);
    await refused(['log', 'state', dir, '--at', '2026-02-30T00:00:00Z'], /--at must be an RFC 3339 time/);
    // a date alone is midnight UTC
    const dated = await runCli(['log', 'cat', dir, '--until', '2000-01-01']);
    expect(dated.code).toBe(0);
    expect(dated.stdout).toBe('');
  });

  it('refuses an --at-seq beyond the head instead of answering with the head', async () => {
    await refused(['log', 'state', dir, '--at-seq', '6'], /--at-seq 6 is beyond the head of pi-01 \(seq 5\)/);
    const atHead = await runCli(['log', 'state', dir, '--at-seq', '5']);
    expect(atHead.code).toBe(0);
    expect(JSON.parse(atHead.stdout).asOfSeq).toBe(5);
  });

  it('refuses empty flag values, naming the flag', async () => {
    await refused(['log', 'cat', dir, '--from-seq='], /--from-seq needs a value/);
    await refused(['log', 'cat', dir, '--device='], /--device needs a value/);
    await refused(['log', 'state', dir, '--at', ''], /--at needs a value/);
  });

  it('refuses input with no events without creating a log, and leaves an existing one as it was', async () => {
    const fresh = join(root, 'fresh');
    await refused(['log', 'append', fresh, '--device', 'pi-02'], /no events in the input/, '');
    await refused(['log', 'append', fresh, '--device', 'pi-02'], /no events in the input/, '\n  \n');
    expect(existsSync(fresh)).toBe(false);
    await refused(['log', 'append', dir], /no events in the input/, '');
    await refused(['log', 'append', dir, '--device', 'pi-09'], /no events in the input/, '');
    const log = await EventLog.open(dir);
    expect(log.deviceNames()).toEqual(['pi-01']);
    await log.close();
    expect(await headOf(dir)).toEqual(head);
  });

  it('creates no log when the first line is bad', async () => {
    const fresh = join(root, 'bad-first');
    const r = await runCli(['log', 'append', fresh, '--device', 'pi-03'], { input: '{"type":\n' });
    expect(r.code).toBe(2);
    expect(existsSync(fresh)).toBe(false);
    expect(readdirSync(root)).not.toContain('bad-first');
  });

  it('says what an actor is when --actor is not one', async () => {
    for (const actor of ['ana', 'operator:', 'admin:ana'])
      await refused(
        ['log', 'redact', dir, '--seq', '2', '--reason', 'typo', '--actor', actor],
        /--actor "[^"]*" must be operator:NAME, sensor:NAME or system/,
      );
    expect(await headOf(dir)).toEqual(head);
  });
});
