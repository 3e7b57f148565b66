// The `fieldlog log` commands as a user runs them: the built CLI in a child process.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const lines = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 'temp', value: from + i, unit: 'C' },
      meta: { actor: 'sensor:n' },
    }),
  ).join('\n');

describe('fieldlog log', () => {
  it('appends NDJSON, prints the head, and verifies', async () => {
    const dir = join(root, 'a');
    const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], { input: `${lines(2500)}\n` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const head = JSON.parse(r.stdout).head;
    expect(head.seq).toBe(2500);
    const v = await runCli(['log', 'verify', dir, '--json']);
    expect(v.code).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, events: 2500, head, errors: [] });
  });

  it('stops at a bad line, naming it, and keeps the lines before it', async () => {
    const dir = join(root, 'b');
    const input = `${lines(3)}\n{"type":"NoteAdded","data":"oops"}\n${lines(3, 10)}\n`;
    const r = await runCli(['log', 'append', dir, '--device', 'pi-02'], { input });
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/line 4/);
    const log = await EventLog.open(dir);
    expect(log.head().seq).toBe(3);
    await log.close();
  });

  it('cats by seq and time range, in seq order', async () => {
    const dir = join(root, 'a');
    const r = await runCli(['log', 'cat', dir, '--from-seq', '10', '--to-seq', '12']);
    expect(r.code).toBe(0);
    const evs = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(evs.map((e) => e.seq)).toEqual([10, 11, 12]);
    expect(evs[0].prev).toBeDefined();
    const t = evs[1].time;
    const byTime = await runCli(['log', 'cat', dir, '--since', t, '--until', t]);
    const seqs = byTime.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).seq);
    expect(seqs).toContain(11);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
  });

  it('prints state as of a seq and stats', async () => {
    const dir = join(root, 'a');
    const s = await runCli(['log', 'state', dir, '--at-seq', '100']);
    expect(s.code).toBe(0);
    expect(JSON.parse(s.stdout)).toMatchObject({
      asOfSeq: 100,
      state: { sensors: { temp: { value: 99, count: 100 } } },
    });
    const st = await runCli(['log', 'stats', dir, '--json']);
    expect(JSON.parse(st.stdout)).toMatchObject({
      device: 'pi-01',
      events: 2500,
      types: { ReadingRecorded: 2500 },
    });
  });

  it('redacts with a reason and still verifies; refuses without one', async () => {
    const dir = join(root, 'a');
    const bad = await runCli([
      'log',
      'redact',
      dir,
      '--seq',
      '5',
      '--reason',
      ' ',
      '--actor',
      'operator:ann',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/REDACTION_INVALID/);
    const ok = await runCli([
      'log',
      'redact',
      dir,
      '--seq',
      '5',
      '--reason',
      'wrong sensor',
      '--actor',
      'operator:ann',
    ]);
    expect(ok.code).toBe(0);
    const v = await runCli(['log', 'verify', dir, '--json']);
    expect(JSON.parse(v.stdout)).toMatchObject({ ok: true, events: 2501 });
    const five = await runCli(['log', 'cat', dir, '--from-seq', '5', '--to-seq', '5']);
    expect(JSON.parse(five.stdout).data).toBeNull();
  });

  it('exits 1 and names the seq when the log was tampered with', async () => {
    const dir = join(root, 'c');
    await runCli(['log', 'append', dir, '--device', 'pi-03'], { input: lines(20) });
    const log = await EventLog.open(dir);
    const recs = (await log.db.iterator().all()).filter(([k]) => k[0] === 0x10);
    const [key, value] = recs[7]!;
    const changed = new Uint8Array(value);
    changed[changed.length - 3] = changed[changed.length - 3]! ^ 0x01; // a digit of the value
    await log.db.put(key, changed);
    await log.close();
    const v = await runCli(['log', 'verify', dir, '--json']);
    expect(v.code).toBe(1);
    expect(JSON.parse(v.stdout)).toMatchObject({
      ok: false,
      events: 20,
      errors: [{ seq: 8, reason: 'hash-mismatch' }],
    });
    const human = await runCli(['log', 'verify', dir]);
    expect(human.code).toBe(1);
    expect(human.stdout).toMatch(/seq 8: hash-mismatch/);
  });

  it('names a missing, foreign or locked folder in one line, without a stack trace', async () => {
    const missing = await runCli(['log', 'verify', join(root, 'nope')]);
    expect(missing).toMatchObject({ code: 1 });
    expect(missing.stderr).toMatch(/nope does not exist \[LOG_NOT_FOUND\]\n$/);
    const foreign = await runCli(['log', 'cat', root]);
    expect(foreign.code).toBe(1);
    expect(foreign.stderr).toMatch(/is not a fieldlog log/);
    const dir = join(root, 'a');
    const holder = await EventLog.open(dir);
    try {
      const locked = await runCli(['log', 'verify', dir]);
      expect(locked.code).toBe(1);
      expect(locked.stderr).toMatch(/in use by another process .*\[LOG_LOCKED\]\n$/);
      expect(locked.stderr.split('\n')).toHaveLength(2);
      await expect(EventLog.open(dir)).rejects.toMatchObject({ code: 'LOG_LOCKED' });
    } finally {
      await holder.close();
    }
  });

  it('rejects bad flags with exit code 2 and one line naming the flag', async () => {
    for (const args of [
      ['log', 'verify', join(root, 'a'), '--nope'],
      ['log', 'cat', join(root, 'a'), '--from-seq', '-3'],
      ['log', 'state', join(root, 'a'), '--at', 'yesterday'],
      ['log', 'frobnicate'],
      ['log', 'verify'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('asks which device when a store holds several', async () => {
    const dir = join(root, 'multi');
    await runCli(['log', 'append', dir, '--device', 'one'], { input: lines(2) });
    await runCli(['log', 'append', dir, '--device', 'two'], { input: lines(3) });
    const r = await runCli(['log', 'cat', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/DEVICE_AMBIGUOUS/);
    const v = await runCli(['log', 'verify', dir, '--json']);
    expect(
      v.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).device),
    ).toEqual(['one', 'two']);
    const two = await runCli(['log', 'cat', dir, '--device', 'two']);
    expect(two.stdout.trim().split('\n')).toHaveLength(3);
  });
});
