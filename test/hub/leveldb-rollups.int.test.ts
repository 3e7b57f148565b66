// The LevelDB store's rollups on disk: a store written without them (before this version, or
// with them off) is rebuilt from its events at open, and only then; the rollups are what
// answers a chart (checked by hiding the events from the store after the write).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-rollups-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const START = Date.parse('2026-11-01T00:00:00.000Z');
const HOUR = 3_600_000;

async function readings(device: string, n: number): Promise<Envelope[]> {
  const log = await EventLog.memory({ device, clock: fakeClock(START, 5_000) });
  await log.appendMany(
    Array.from({ length: n }, (_, k) => ({
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 't', value: (k * 37) % 101, unit: 'C' },
    })),
  );
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  await log.close();
  return out;
}

async function storeAll(dir: string, events: Envelope[], rollups: boolean) {
  const store = await openLevelFleetStore(dir, { create: true, sync: false, rollups });
  const r = await store.append(events[0]!.device, events);
  if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
  await r.written;
  return store;
}

const range = { from: START, to: START + 10 * HOUR, bucketMs: HOUR };

describe('LevelDB rollups', () => {
  it('a store written without rollups has them rebuilt from its events at open, once', async () => {
    const dir = join(root, 'off');
    const events = await readings('pi-1', 3000);
    const off = await storeAll(dir, events, false);
    const folded = await off.series('pi-1', 't', range); // folded from the events: no rollups
    expect(off.rebuilt).toEqual([]);
    await off.close();
    const on = await openLevelFleetStore(dir, { sync: false });
    expect(on.rebuilt).toEqual(['pi-1']);
    expect(await on.series('pi-1', 't', range)).toEqual(folded);
    expect(folded.count.reduce((a, c) => a + c, 0)).toBe(3000);
    await on.close();
    const again = await openLevelFleetStore(dir, { sync: false });
    expect(again.rebuilt).toEqual([]);
    await again.close();
  });

  it('charts are answered from the rollups, not from the events', async () => {
    const dir = join(root, 'on');
    const events = await readings('pi-1', 2000);
    const store = await storeAll(dir, events, true);
    const want = await store.series('pi-1', 't', range);
    // the events are gone from the store's view: only the rollups can answer
    const db = store.log.db;
    for await (const key of db.keys({ gte: new Uint8Array([0x10]), lt: new Uint8Array([0x11]) }))
      await db.del(key);
    expect(await store.series('pi-1', 't', range)).toEqual(want);
    expect((await store.sensors('pi-1'))[0]).toMatchObject({ sensor: 't', count: 2000, unit: 'C' });
    expect((await store.series('pi-1', 't', { ...range, bucketMs: 1 })).t).toEqual([]);
    await store.close();
  });

  it('a failed write leaves no rollup behind; the batch sent again counts once', async () => {
    const dir = join(root, 'fault');
    const events = await readings('pi-1', 900);
    const store = await storeAll(dir, events.slice(0, 300), true);
    const write = store.log.disk.write.bind(store.log.disk);
    store.log.disk.write = async () => {
      throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
    };
    const r = await store.append('pi-1', events.slice(300, 600));
    if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
    await expect(r.written).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    store.log.disk.write = write;
    const held = await store.series('pi-1', 't', range);
    expect(held.count.reduce((a, c) => a + c, 0)).toBe(300);
    for (const batch of [events.slice(300, 600), events.slice(600)]) {
      const again = await store.append('pi-1', batch);
      if (again.kind !== 'stored') throw new Error(JSON.stringify(again));
      await again.written;
    }
    const folded = await store.series('pi-1', 't', { ...range, bucketMs: 1 });
    const rolled = await store.series('pi-1', 't', range);
    expect(rolled.count.reduce((a, c) => a + c, 0)).toBe(900);
    expect(Math.max(...rolled.max)).toBe(Math.max(...folded.max));
    expect(Math.min(...rolled.min)).toBe(Math.min(...folded.min));
    await store.close();
  });
});
