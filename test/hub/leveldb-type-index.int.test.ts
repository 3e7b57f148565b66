// The LevelDB store's index of sparse events on disk: a read asking only for sparse types is
// answered from it (never a read of the whole range), a store written partly without it is
// indexed from where its mark stopped at the next open, and only then; a read by a dense type
// still reads the events.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import type { StoredEvent } from '../../src/hub/fleet-store.js';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-type-index-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const START = Date.parse('2026-11-01T00:00:00.000Z');

/** `n` events of `device`: readings with a note every 250th. */
async function history(n: number): Promise<Envelope[]> {
  const log = await EventLog.memory({ device: 'pi-1', clock: fakeClock(START, 1000) });
  await log.appendMany(
    Array.from({ length: n }, (_, k) =>
      k % 250 === 7
        ? { type: 'NoteAdded', data: { text: `n${k}` } }
        : { type: 'ReadingRecorded', data: { source: 'n', sensor: 't', value: k, unit: 'C' } },
    ),
  );
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  await log.close();
  return out;
}

async function append(store: LevelFleetStore, events: Envelope[]): Promise<void> {
  const r = await store.append('pi-1', events);
  if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
  await r.written;
}

async function notes(store: LevelFleetStore, q: { since?: number; reverse?: boolean } = {}) {
  const out: StoredEvent[] = [];
  for await (const chunk of store.events({ device: 'pi-1', types: ['NoteAdded'], ...q })) out.push(...chunk);
  return out.map((s) => s.event.seq);
}

const noteSeqs = (events: Envelope[]) => events.filter((e) => e.type === 'NoteAdded').map((e) => e.seq);

describe('LevelDB index of sparse events', () => {
  it('answers a read of sparse types without reading the range; a dense type reads the events', async () => {
    const events = await history(5000);
    const store = await openLevelFleetStore(join(root, 'on'), { create: true, sync: false });
    try {
      await append(store, events);
      const read = vi.spyOn(store.log, 'read');
      expect(await notes(store)).toEqual(noteSeqs(events));
      expect(await notes(store, { since: START + 2_000_000, reverse: true })).toEqual(
        noteSeqs(events)
          .filter((s) => s >= 2001)
          .reverse(),
      );
      expect(read).not.toHaveBeenCalled();
      const mixed: number[] = [];
      for await (const chunk of store.events({
        device: 'pi-1',
        types: ['NoteAdded', 'ReadingRecorded'],
        limit: 9,
      }))
        mixed.push(...chunk.map((s) => s.event.seq));
      expect(mixed).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(read).toHaveBeenCalledTimes(1);
    } finally {
      await store.close();
    }
  });

  it('a store written partly without the index is indexed from its mark at the next open, once', async () => {
    const dir = join(root, 'partly');
    const events = await history(3000);
    const on = await openLevelFleetStore(dir, { create: true, sync: false });
    await append(on, events.slice(0, 1000));
    await on.close();
    const off = await openLevelFleetStore(dir, { sync: false, typeIndex: false });
    await append(off, events.slice(1000));
    expect(await notes(off)).toEqual(noteSeqs(events));
    await off.close();
    const again = await openLevelFleetStore(dir, { sync: false });
    expect(again.indexed).toEqual(['pi-1']);
    const read = vi.spyOn(again.log, 'read');
    expect(await notes(again)).toEqual(noteSeqs(events));
    expect(read).not.toHaveBeenCalled();
    await again.close();
    const last = await openLevelFleetStore(dir, { sync: false });
    expect(last.indexed).toEqual([]);
    expect(await notes(last)).toEqual(noteSeqs(events));
    await last.close();
  });
});
