// Space given back by a prune (src/log/prune.ts): LevelDB only marks deleted keys until a
// compaction rewrites their files, so the prune compacts the pruned range. Measured as the
// size of the log's folder on a real LevelDB, before and after, closed and reopened so that
// the write-ahead log is flushed into tables in both cases alike.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { sizeOnDisk } from '../../src/log/size-on-disk.js';
import { fakeClock } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-prune-space-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Close and reopen: what is in the memtable and its write-ahead log goes into tables. */
async function settled(dir: string, log: EventLog): Promise<{ log: EventLog; bytes: number }> {
  await log.close();
  const again = await EventLog.open(dir, { sync: false });
  return { log: again, bytes: await sizeOnDisk(dir) };
}

it('gives back the space of the pruned events', async () => {
  const dir = join(root, 'log');
  let log = await EventLog.open(dir, { create: true, device: 'pi-1', sync: false, clock: fakeClock() });
  const total = 100_000;
  for (let i = 0; i < total; i += 5000)
    await log.appendMany(
      Array.from({ length: 5000 }, (_, k) => ({
        type: 'ReadingRecorded',
        // a varied value and a note, as real readings: not all compressed away
        data: { source: 'node', sensor: `s${k % 7}`, value: Math.sin(i + k) * 1000, unit: 'C' },
      })),
    );
  // the baseline at its smallest: everything compacted
  await log.compact();
  const before = await settled(dir, log);
  log = before.log;
  const r = await log.prune(90_000);
  expect(r.pruned).toBe(90_000);
  const after = await settled(dir, log);
  log = after.log;
  // a tenth of the events are left: the prune's own compaction gave the rest back
  expect(after.bytes).toBeLessThan(before.bytes * 0.3);
  expect(await log.verify()).toMatchObject({ ok: true, events: 10_000, anchor: { seq: 90_000 } });
  await log.close();
});

it('without the compaction, a prune gives nothing back (what the test above relies on)', async () => {
  const dir = join(root, 'log-no-compaction');
  let log = await EventLog.open(dir, { create: true, device: 'pi-1', sync: false, clock: fakeClock() });
  for (let i = 0; i < 50_000; i += 5000)
    await log.appendMany(
      Array.from({ length: 5000 }, (_, k) => ({
        type: 'ReadingRecorded',
        data: { source: 'node', sensor: `s${k % 7}`, value: Math.sin(i + k) * 1000, unit: 'C' },
      })),
    );
  await log.compact();
  const before = await settled(dir, log);
  log = before.log;
  await log.prune(45_000, { compact: false });
  const after = await settled(dir, log);
  log = after.log;
  expect(after.bytes).toBeGreaterThan(before.bytes * 0.9);
  expect(await log.verify()).toMatchObject({ ok: true, events: 5000, anchor: { seq: 45_000 } });
  await log.close();
});
