// The LevelDB fleet store's memtable: 32 MiB, so that a catch-up's hundreds of MiB reach
// LevelDB's tables in few large flushes (its compaction thread cost the hub a fifth of its CPU
// with LevelDB's 4 MiB). Observed on a real store: what a 4 MiB memtable would have flushed
// to a table file is still in memory, and it is all there after a reopen (from the journal).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-write-buffer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function readings(device: string, n: number): Promise<Envelope[]> {
  const log = await EventLog.memory({
    device,
    clock: fakeClock(Date.parse('2026-11-01T00:00:00.000Z'), 1_000),
  });
  for (let i = 0; i < n; i += 1000)
    await log.appendMany(
      Array.from({ length: Math.min(1000, n - i) }, (_, k) => ({
        type: 'ReadingRecorded',
        data: { source: 'node-1', sensor: `s${k % 8}`, value: ((i + k) * 37) % 1001, unit: 'C' },
      })),
    );
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  await log.close();
  return out;
}

/** Table files at level 0: what LevelDB's memtable flushes become. */
function level0Files(store: LevelFleetStore): number {
  const db = store.log.db as unknown as { getProperty(p: string): string };
  return Number(db.getProperty('leveldb.num-files-at-level0'));
}

describe('the LevelDB fleet store’s write buffer', () => {
  it('holds more than LevelDB’s default 4 MiB before it writes a table', async () => {
    const dir = join(root, 'store');
    const events = await readings('pi-1', 30_000);
    let store = await openLevelFleetStore(dir, { create: true, sync: false });
    for (let i = 0; i < events.length; i += 1000) {
      const r = await store.append('pi-1', events.slice(i, i + 1000));
      if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
      await r.written;
    }
    const memory = Number(
      (store.log.db as unknown as { getProperty(p: string): string }).getProperty(
        'leveldb.approximate-memory-usage',
      ),
    );
    // more than a 4 MiB memtable holds, and not one table file written
    expect(memory).toBeGreaterThan(5 * 1024 * 1024);
    expect(level0Files(store)).toBe(0);
    await store.close();
    store = await openLevelFleetStore(dir);
    expect(store.log.head('pi-1').seq).toBe(30_000);
    expect((await store.verify('pi-1'))[0]).toMatchObject({ ok: true, events: 30_000 });
    await store.close();
  });
});
