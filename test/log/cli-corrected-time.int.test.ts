// `fieldlog log cat --corrected-time` as a user runs it (the built CLI in a child process), on a
// log written by a device whose clock started in 2000 and that a hub then told the time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-corrected-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const WRONG = Date.parse('2000-01-01T00:00:00.000Z');
const TRUE = Date.parse('2026-05-01T12:00:00.000Z');

/** Two boots: the first corrected by its ClockSynced, the second (a new process) never. */
async function writeLog(dir: string): Promise<void> {
  let wall = WRONG;
  let mono = 100;
  for (const boot of ['boot-a', 'boot-b']) {
    const log = await EventLog.open(dir, {
      device: 'pi-01',
      create: true,
      boot,
      clock: { now: () => wall, mono: () => mono },
    });
    const note = (text: string) => log.append({ type: 'NoteAdded', data: { text } });
    await note(`${boot} 1`); // 2000-01-01T00:00:00.000Z at mono 100
    mono += 1500.5;
    wall += 1500;
    await note(`${boot} 2`);
    if (boot === 'boot-a') {
      mono += 500;
      wall += 500;
      await log.append({ type: 'ClockSynced', data: { offsetMs: TRUE - wall, source: 'hub' } });
      mono += 1000;
      wall += 1000;
      await note(`${boot} 3`);
    }
    await log.close();
    mono = 7;
  }
}

describe('fieldlog log cat --corrected-time', () => {
  it('adds correctedTime after time to the events before the sync of their boot, and only to them', async () => {
    const dir = join(root, 'a');
    await writeLog(dir);
    const r = await runCli(['log', 'cat', dir, '--corrected-time']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    const events = lines.map((l) => JSON.parse(l));
    expect(events.map((e) => [e.data.text ?? e.type, e.time, e.correctedTime])).toEqual([
      ['boot-a 1', '2000-01-01T00:00:00.000Z', '2026-05-01T11:59:58.000Z'],
      ['boot-a 2', '2000-01-01T00:00:01.500Z', '2026-05-01T11:59:59.500Z'],
      ['ClockSynced', '2000-01-01T00:00:02.000Z', undefined],
      ['boot-a 3', '2000-01-01T00:00:03.000Z', undefined],
      ['boot-b 1', '2000-01-01T00:00:03.000Z', undefined],
      ['boot-b 2', '2000-01-01T00:00:04.500Z', undefined],
    ]);
    expect(Object.keys(events[0]).slice(3, 6)).toEqual(['time', 'correctedTime', 'boot']);
    // without the flag, the envelopes as recorded
    const plain = await runCli(['log', 'cat', dir]);
    expect(plain.stdout).not.toContain('correctedTime');
    // the sync lies beyond a window that starts after the first event: still found
    const window = await runCli(['log', 'cat', dir, '--corrected-time', '--from-seq', '2', '--to-seq', '2']);
    expect(JSON.parse(window.stdout).correctedTime).toBe('2026-05-01T11:59:59.500Z');
  });

  it('selects by the corrected time with --since/--until, where an event has one', async () => {
    const dir = join(root, 'b');
    await writeLog(dir);
    const texts = async (...args: string[]) => {
      const r = await runCli(['log', 'cat', dir, ...args]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return r.stdout
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l).data.text ?? JSON.parse(l).type);
    };
    // corrected into 2026: found by the time it really happened, kept with its recorded time
    await expect(texts('--corrected-time', '--since', '2026-05-01T11:59:59Z')).resolves.toEqual(['boot-a 2']);
    await expect(
      texts('--corrected-time', '--since', '2026-05-01', '--until', '2026-05-01T11:59:58Z'),
    ).resolves.toEqual(['boot-a 1']);
    // the events that have no corrected time are selected by their recorded one
    await expect(texts('--corrected-time', '--until', '2000-01-01T00:00:03Z')).resolves.toEqual([
      'ClockSynced',
      'boot-a 3',
      'boot-b 1',
    ]);
    // without the flag, the recorded times, as ever
    await expect(texts('--since', '2026-05-01T11:59:59Z')).resolves.toEqual([]);
    await expect(texts('--until', '2000-01-01T00:00:01Z')).resolves.toEqual(['boot-a 1']);
  });
});
