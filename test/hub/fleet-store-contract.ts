// The one contract every fleet store passes (as abstract-level ships its suite): the hub's
// ingest, HTTP API, live feed, export and `hub verify` rely on nothing more. The chains are
// real: written by the device's own EventLog (in memory, on a fake clock) and taken as the
// envelopes it would replicate. Run it with a factory per store:
//   fleetStoreContract('leveldb', async () => ({ store, reopen, cleanup }))
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  type AppendGate,
  type FleetStore,
  type ForkVerdict,
  type GateVerdict,
  type KeyRecord,
  NO_KEYS,
  type StoredEvent,
} from '../../src/hub/fleet-store.js';
import { deviceState } from '../../src/log/device-state.js';
import { digestOf, type Envelope, hashOf, ZERO_HASH } from '../../src/log/envelope.js';
import { type Clock, EventLog } from '../../src/log/event-log.js';
import { Projector } from '../../src/log/projection.js';
import { fakeClock } from '../log/helpers.js';
import { seriesCases } from './fleet-store-series.js';
import { timelineCases } from './fleet-store-timeline.js';

export interface OpenedStore {
  store: FleetStore;
  /** Close the store and open it again on the same data. */
  reopen?: () => Promise<FleetStore>;
  /** Drop what the store derives from the events for reads by type (its index), and open it again. */
  rebuild?: () => Promise<FleetStore>;
  /** Damage the stored copy of one event behind the store's back (verify must see it). */
  tamper?: (device: string, seq: number) => Promise<void>;
  cleanup: () => Promise<void>;
}

const START = Date.parse('2026-11-01T00:00:00.000Z');

/** A device's real log in memory: readings on a clock that ticks `step` ms per event. */
async function deviceLog(device: string, clock: Clock = fakeClock(START, 1000)): Promise<EventLog> {
  return EventLog.memory({ device, clock });
}

function readings(n: number, from = 0) {
  return Array.from({ length: n }, (_, k) => ({
    type: 'ReadingRecorded',
    data: { source: 'node', sensor: 't', value: from + k, unit: 'C' },
    meta: { actor: 'sensor:node' },
  }));
}

async function envelopes(log: EventLog, fromSeq = 1, toSeq?: number): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events({ fromSeq, toSeq })) out.push(e);
  return out;
}

/** `n` readings of a new device, as envelopes. */
async function chain(
  device: string,
  n: number,
  clock?: Clock,
): Promise<{ log: EventLog; events: Envelope[] }> {
  const log = await deviceLog(device, clock);
  if (n > 0) await log.appendMany(readings(n));
  return { log, events: await envelopes(log) };
}

/** `env` changed and sealed again with a correct hash (as another writer could send it). */
function resealed(env: Envelope, over: Partial<Envelope>, keepDigest = false): Envelope {
  const out: Envelope = { ...env, ...over };
  if (over.data && !keepDigest) out.digest = digestOf(over.data);
  out.hash = hashOf(out);
  return out;
}

async function all(gen: AsyncGenerator<StoredEvent[]>): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const chunk of gen) out.push(...chunk);
  return out;
}

async function seqs(store: FleetStore, q: Parameters<FleetStore['events']>[0]): Promise<number[]> {
  return (await all(store.events(q))).map((s) => s.event.seq);
}

/** Append and wait for the write: what the hub does before it acks. */
async function stored(store: FleetStore, events: Envelope[]) {
  const r = await store.append(events[0]!.device, events);
  if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
  return { outcome: r, head: await r.written };
}

async function quarantined(store: FleetStore, device?: string) {
  const out: { device: string; seq: number; hash: string }[] = [];
  for await (const q of store.quarantined(device)) out.push({ device: q.device, seq: q.seq, hash: q.hash });
  return out;
}

export function fleetStoreContract(name: string, open: () => Promise<OpenedStore>): void {
  describe(`FleetStore contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: FleetStore;
    const logs: EventLog[] = [];
    const dev = async (device: string, n: number, clock?: Clock) => {
      const c = await chain(device, n, clock);
      logs.push(c.log);
      return c;
    };

    beforeEach(async () => {
      opened = await open();
      store = opened.store;
    });
    afterEach(async () => {
      for (const l of logs.splice(0)) await l.close();
      await opened.cleanup();
    });

    seriesCases({
      store: () => store,
      reopen: () =>
        opened.reopen ? opened.reopen().then((s) => (store = s)) : Promise.reject(new Error('no reopen')),
      keep: (log) => logs.push(log),
    });
    timelineCases({
      store: () => store,
      reopen: () =>
        opened.reopen ? opened.reopen().then((s) => (store = s)) : Promise.reject(new Error('no reopen')),
      rebuild: () =>
        opened.rebuild ? opened.rebuild().then((s) => (store = s)) : Promise.reject(new Error('no rebuild')),
      keep: (log) => logs.push(log),
    });

    describe('heads', () => {
      it('an empty store holds no device, its fleet head is 0 and reads are empty', async () => {
        expect(await store.heads()).toEqual([]);
        expect(await store.head('pi-1')).toEqual({ seq: 0, hash: ZERO_HASH });
        expect(await store.fleetHead()).toBe(0);
        expect(await seqs(store, { device: 'pi-1' })).toEqual([]);
        expect(await seqs(store, { fleet: true })).toEqual([]);
        expect(await quarantined(store)).toEqual([]);
      });

      it('lists every device with its durable head, sorted by id', async () => {
        const b = await dev('pi-b', 3);
        const a = await dev('pi-a', 5);
        await stored(store, b.events);
        await stored(store, a.events);
        expect(await store.heads()).toEqual([
          { device: 'pi-a', head: { seq: 5, hash: a.events[4]!.hash } },
          { device: 'pi-b', head: { seq: 3, hash: b.events[2]!.hash } },
        ]);
      });
    });

    describe('append', () => {
      it('stores a batch; written resolves with the new head once it is durable', async () => {
        const { events } = await dev('pi-1', 10);
        const r = await store.append('pi-1', events.slice(0, 6));
        expect(r).toMatchObject({ kind: 'stored', from: 1, to: 6, duplicates: 0 });
        if (r.kind !== 'stored') return;
        expect(await r.written).toEqual({ seq: 6, hash: events[5]!.hash });
        expect(await store.head('pi-1')).toEqual({ seq: 6, hash: events[5]!.hash });
        expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3, 4, 5, 6]);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toEqual(events.slice(0, 6));
      });

      it('takes the next batch of a device before the previous one is written', async () => {
        const { events } = await dev('pi-1', 30);
        await stored(store, events.slice(0, 10)); // the stream exists
        const r1 = await store.append('pi-1', events.slice(10, 20));
        const r2 = await store.append('pi-1', events.slice(20, 30));
        expect(r1).toMatchObject({ kind: 'stored', from: 11, to: 20 });
        expect(r2).toMatchObject({ kind: 'stored', from: 21, to: 30 });
        if (r1.kind !== 'stored' || r2.kind !== 'stored') return;
        expect(await r1.written).toEqual({ seq: 20, hash: events[19]!.hash });
        expect(await r2.written).toEqual({ seq: 30, hash: events[29]!.hash });
        expect((await store.head('pi-1')).seq).toBe(30);
      });

      it('drops a batch it already holds as duplicates, answering its head', async () => {
        const { events } = await dev('pi-1', 8);
        await stored(store, events);
        const r = await store.append('pi-1', events.slice(2, 5));
        expect(r).toEqual({ kind: 'duplicate', head: { seq: 8, hash: events[7]!.hash }, duplicates: 3 });
        expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
        expect(await store.fleetHead()).toBe(8);
      });

      it('stores only the new part of a partly known batch', async () => {
        const { events } = await dev('pi-1', 12);
        await stored(store, events.slice(0, 5));
        const r = await store.append('pi-1', events.slice(2, 12));
        expect(r).toMatchObject({ kind: 'stored', from: 6, to: 12, duplicates: 3 });
        if (r.kind === 'stored') expect(await r.written).toEqual({ seq: 12, hash: events[11]!.hash });
        expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        expect(await store.fleetHead()).toBe(12);
      });

      it('answers a gap with the seq it expects, and stores nothing', async () => {
        const { events } = await dev('pi-1', 12);
        await stored(store, events.slice(0, 4));
        const r = await store.append('pi-1', events.slice(6, 9));
        expect(r).toEqual({ kind: 'gap', head: { seq: 4, hash: events[3]!.hash }, expected: 5, got: 7 });
        const fresh = await dev('pi-2', 5);
        expect(await store.append('pi-2', fresh.events.slice(1))).toEqual({
          kind: 'gap',
          head: { seq: 0, hash: ZERO_HASH },
          expected: 1,
          got: 2,
        });
        expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3, 4]);
        expect((await store.heads()).map((h) => h.device)).toEqual(['pi-1']);
      });

      it('quarantines a fork, stores nothing of its batch and keeps what it held', async () => {
        const began = Date.now();
        const { events } = await dev('pi-1', 6);
        await stored(store, events.slice(0, 4));
        // another writer with the same device id: seq 3 onwards differ
        const other = resealed(events[2]!, { data: { source: 'node', sensor: 't', value: 999, unit: 'C' } });
        const r = await store.append('pi-1', [events[1]!, other]);
        expect(r).toEqual({ kind: 'fork', head: { seq: 4, hash: events[3]!.hash }, seqs: [3] });
        expect(await quarantined(store)).toEqual([{ device: 'pi-1', seq: 3, hash: other.hash }]);
        expect(await quarantined(store, 'pi-1')).toHaveLength(1);
        expect(await quarantined(store, 'pi-2')).toEqual([]);
        const q = [];
        for await (const e of store.quarantined()) q.push(e);
        expect(q.map((e) => e.event)).toEqual([other]);
        // when it was set aside: a time, not before this test began (store clocks may be coarse)
        expect(Date.parse(q[0]!.at!)).toBeGreaterThanOrEqual(began - 1000);
        expect(new Date(Date.parse(q[0]!.at!)).toISOString()).toBe(q[0]!.at);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toEqual(events.slice(0, 4));
        // the batch's new events after the fork were not stored either
        expect(await store.append('pi-1', [events[3]!, events[4]!])).toMatchObject({
          kind: 'stored',
          from: 5,
        });
      });

      describe('refuses an event that does not verify, storing nothing of its batch', () => {
        const cases: [string, (e: Envelope, prev: Envelope | undefined) => Envelope][] = [
          ['a wrong hash', (e) => ({ ...e, hash: 'f'.repeat(64) })],
          ['data that does not match its digest', (e) => ({ ...e, data: { ...e.data, value: 7.5 } })],
          ['a prev that is not the previous hash', (e) => resealed(e, { prev: 'a'.repeat(64) })],
          [
            'a payload its type does not allow',
            (e) => resealed(e, { data: { source: 'node', value: 'high' } as Record<string, unknown> }),
          ],
          [
            'a redacted event whose digest is not a digest',
            (e) => resealed(e, { data: null, digest: 'xyz' }),
          ],
        ];
        for (const [what, spoil] of cases) {
          it(what, async () => {
            const { events } = await dev('pi-1', 8);
            await stored(store, events.slice(0, 3));
            const bad = spoil(events[4]!, events[3]);
            const r = await store.append('pi-1', [events[3]!, bad, events[5]!]);
            expect(r.kind).toBe('invalid');
            if (r.kind === 'invalid') {
              expect(r.head).toEqual({ seq: 3, hash: events[2]!.hash });
              expect(r.message).toMatch(/seq 5/);
            }
            expect(await store.head('pi-1')).toEqual({ seq: 3, hash: events[2]!.hash });
            expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3]);
            expect(await store.fleetHead()).toBe(3);
            // the device resends the right events: they are stored
            expect(await store.append('pi-1', events.slice(3))).toMatchObject({
              kind: 'stored',
              from: 4,
              to: 8,
            });
          });
        }

        it('a first batch with a bad event creates no device', async () => {
          const { events } = await dev('pi-1', 3);
          const r = await store.append('pi-1', [events[0]!, { ...events[1]!, hash: '0'.repeat(64) }]);
          expect(r.kind).toBe('invalid');
          expect(await store.heads()).toEqual([]);
          expect(await store.fleetHead()).toBe(0);
        });
      });

      it('stores an event the device redacted before sending it (data null, its digest kept)', async () => {
        const { log, events } = await dev('pi-1', 4);
        await log.redact(2, 'privacy', 'operator:ana');
        const sent = await envelopes(log);
        expect(sent[1]!.data).toBeNull();
        await stored(store, sent);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toEqual(sent);
        expect(back[1]!.digest).toBe(events[1]!.digest);
        expect((await store.verify('pi-1'))[0]!.ok).toBe(true);
      });
    });

    describe('redaction', () => {
      it('an EventRedacted purges its target stored in an earlier batch; the chain verifies', async () => {
        const { log, events } = await dev('pi-1', 5);
        await stored(store, events);
        await log.redact(2, 'privacy', 'operator:ana');
        const [redaction] = await envelopes(log, 6);
        await stored(store, [redaction!]);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toHaveLength(6);
        expect(back[1]).toEqual({ ...events[1]!, data: null });
        expect(back[5]).toEqual(redaction);
        expect(back[0]).toEqual(events[0]);
        const [report] = await store.verify('pi-1');
        expect(report).toMatchObject({ device: 'pi-1', ok: true, events: 6, errors: [] });
      });

      it('an EventRedacted purges its target in the same batch; the chain verifies', async () => {
        const { log, events } = await dev('pi-1', 5);
        await log.redact(3, 'privacy', 'operator:ana');
        const [redaction] = await envelopes(log, 6);
        // the batch carries the target with its payload, as sent before the device redacted it
        await stored(store, [...events, redaction!]);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back[2]).toEqual({ ...events[2]!, data: null });
        expect(back.filter((e) => e.data === null)).toHaveLength(1);
        expect((await store.verify())[0]).toMatchObject({ device: 'pi-1', ok: true, events: 6 });
        // the fleet read says the same
        const fleet = (await all(store.events({ fleet: true }))).map((s) => s.event);
        expect(fleet[2]!.data).toBeNull();
      });
    });

    describe('ReadingsPurged (a device thinned to keep its disk budget)', () => {
      it('stores readings purged before they were sent, with their ReadingsPurged in a later batch; the chain verifies', async () => {
        const { log } = await dev('pi-1', 6);
        await log.thinReadings({ afterSeq: 1, max: 3, reason: 'disk-budget' }); // 2..4, seq 7
        const sent = await envelopes(log);
        await stored(store, sent.slice(0, 6));
        await stored(store, sent.slice(6));
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toEqual(sent);
        expect(back.map((e) => e.data === null)).toEqual([false, true, true, true, false, false, false]);
        expect((await store.verify('pi-1'))[0]).toMatchObject({ ok: true, events: 7, errors: [] });
      });

      it('keeps the payloads it already held when the ReadingsPurged arrives later', async () => {
        const { log, events } = await dev('pi-1', 4);
        await stored(store, events);
        await log.thinReadings({ afterSeq: 0, max: 2, reason: 'disk-budget' });
        const [purge] = await envelopes(log, 5);
        await stored(store, [purge!]);
        const back = (await all(store.events({ device: 'pi-1' }))).map((s) => s.event);
        expect(back).toEqual([...events, purge]);
        expect((await store.verify('pi-1'))[0]).toMatchObject({ ok: true, errors: [] });
      });

      it('still reports purged readings no ReadingsPurged covers', async () => {
        const { log } = await dev('pi-1', 4);
        await log.thinReadings({ afterSeq: 0, max: 2, reason: 'disk-budget' });
        const sent = await envelopes(log, 1, 4); // the purged readings, never their record
        await stored(store, sent);
        const [report] = await store.verify('pi-1');
        expect(report!.errors.map((p) => [p.seq, p.reason])).toEqual([
          [1, 'redaction-unrecorded'],
          [2, 'redaction-unrecorded'],
        ]);
      });
    });

    describe('device reads', () => {
      it('by seq range and with a limit', async () => {
        const { events } = await dev('pi-1', 2500);
        for (let i = 0; i < events.length; i += 500) await stored(store, events.slice(i, i + 500));
        expect(await seqs(store, { device: 'pi-1', fromSeq: 998, toSeq: 1003 })).toEqual([
          998, 999, 1000, 1001, 1002, 1003,
        ]);
        expect(await seqs(store, { device: 'pi-1', fromSeq: 2498 })).toEqual([2498, 2499, 2500]);
        expect(await seqs(store, { device: 'pi-1', toSeq: 2 })).toEqual([1, 2]);
        expect(await seqs(store, { device: 'pi-1', fromSeq: 10, limit: 3 })).toEqual([10, 11, 12]);
        expect(await seqs(store, { device: 'pi-1', fromSeq: 3000 })).toEqual([]);
        expect(await seqs(store, { device: 'pi-1', limit: 0 })).toEqual([]);
        expect(await seqs(store, { device: 'pi-2' })).toEqual([]);
        const every = await seqs(store, { device: 'pi-1' });
        expect(every).toHaveLength(2500);
        expect(every.every((s, i) => s === i + 1)).toBe(true);
      });

      it('by time, inclusive and exact at both ends, also when the clock went back', async () => {
        // one event a second, then the clock steps back an hour (a new boot), then on again
        const times = [0, 1, 2, 3, 4, 5, -3600, -3599, 6, 7].map((s) => START + s * 1000);
        let i = 0;
        const clock: Clock = { now: () => times[Math.min(i++, times.length - 1)]!, mono: () => i };
        const { events } = await dev('pi-1', 10, clock);
        expect(events.map((e) => Date.parse(e.time))).toEqual(times);
        await stored(store, events.slice(0, 5));
        await stored(store, events.slice(5));
        const at = (s: number) => START + s * 1000;
        expect(await seqs(store, { device: 'pi-1', since: at(2), until: at(4) })).toEqual([3, 4, 5]);
        expect(await seqs(store, { device: 'pi-1', since: at(2) + 1, until: at(4) - 1 })).toEqual([4]);
        expect(await seqs(store, { device: 'pi-1', since: at(5) })).toEqual([6, 9, 10]);
        expect(await seqs(store, { device: 'pi-1', until: at(0) })).toEqual([1, 7, 8]);
        expect(await seqs(store, { device: 'pi-1', since: at(-3600), until: at(-3600) })).toEqual([7]);
        expect(
          await seqs(store, { device: 'pi-1', since: at(1), until: at(6), fromSeq: 3, toSeq: 9 }),
        ).toEqual([3, 4, 5, 6, 9]);
        expect(await seqs(store, { device: 'pi-1', since: at(0), limit: 2 })).toEqual([1, 2]);
        expect(await seqs(store, { device: 'pi-1', since: at(8) })).toEqual([]);
        expect(await seqs(store, { device: 'pi-1', since: at(4), until: at(3) })).toEqual([]);
      });

      it('newest first, paging backwards with toSeq and limit, across chunks', async () => {
        const { events } = await dev('pi-1', 2500);
        for (let i = 0; i < events.length; i += 500) await stored(store, events.slice(i, i + 500));
        expect(await seqs(store, { device: 'pi-1', reverse: true, limit: 3 })).toEqual([2500, 2499, 2498]);
        expect(await seqs(store, { device: 'pi-1', reverse: true, toSeq: 1002, limit: 4 })).toEqual([
          1002, 1001, 1000, 999,
        ]);
        expect(await seqs(store, { device: 'pi-1', reverse: true, fromSeq: 998, toSeq: 1001 })).toEqual([
          1001, 1000, 999, 998,
        ]);
        expect(await seqs(store, { device: 'pi-1', reverse: true, toSeq: 2 })).toEqual([2, 1]);
        const every = await seqs(store, { device: 'pi-1', reverse: true });
        expect(every).toHaveLength(2500);
        expect(every.every((s, i) => s === 2500 - i)).toBe(true);
        // pages of 700 from the top meet the whole history once, in order
        const pages: number[] = [];
        let to: number | undefined;
        for (;;) {
          const page = await seqs(store, { device: 'pi-1', reverse: true, limit: 700, toSeq: to });
          pages.push(...page);
          if (page.length < 700) break;
          to = page[page.length - 1]! - 1;
        }
        expect(pages).toEqual(every);
        // the envelopes are whole: each one's prev is the hash of the one after it in the page
        const page = (await all(store.events({ device: 'pi-1', reverse: true, toSeq: 1001, limit: 3 }))).map(
          (x) => x.event,
        );
        expect(page).toEqual([events[1000], events[999], events[998]]);
      });

      it('only the event types asked for, forward and newest first, with time bounds', async () => {
        const log = await deviceLog('pi-1');
        logs.push(log);
        await log.appendMany([
          ...readings(3),
          { type: 'NoteAdded', data: { text: 'one' }, meta: { actor: 'operator:ann' } },
          ...readings(1200),
          {
            type: 'ThresholdChanged',
            data: { sensor: 't', above: 30, below: null },
            meta: { actor: 'operator:bo' },
          },
          { type: 'NoteAdded', data: { text: 'two' } },
          ...readings(2),
        ]);
        await stored(store, await envelopes(log));
        expect(await seqs(store, { device: 'pi-1', types: ['NoteAdded'] })).toEqual([4, 1206]);
        expect(await seqs(store, { device: 'pi-1', types: ['NoteAdded', 'ThresholdChanged'] })).toEqual([
          4, 1205, 1206,
        ]);
        expect(
          await seqs(store, { device: 'pi-1', types: ['NoteAdded', 'ThresholdChanged'], reverse: true }),
        ).toEqual([1206, 1205, 4]);
        expect(
          await seqs(store, {
            device: 'pi-1',
            types: ['NoteAdded', 'ThresholdChanged'],
            reverse: true,
            limit: 2,
          }),
        ).toEqual([1206, 1205]);
        expect(
          await seqs(store, {
            device: 'pi-1',
            types: ['NoteAdded', 'ThresholdChanged'],
            reverse: true,
            toSeq: 1204,
          }),
        ).toEqual([4]);
        expect(await seqs(store, { device: 'pi-1', types: ['NoteAdded'], fromSeq: 5, limit: 1 })).toEqual([
          1206,
        ]);
        expect(
          await seqs(store, {
            device: 'pi-1',
            types: ['NoteAdded'],
            since: START + 3000,
            until: START + 3000,
          }),
        ).toEqual([4]);
        expect(await seqs(store, { device: 'pi-1', types: ['AlarmRaised'] })).toEqual([]);
        expect(await seqs(store, { device: 'pi-1', types: [] })).toEqual([]);
      });
    });

    describe('fleet reads', () => {
      it('by position, every event once, with no gaps, from many devices appended at once', async () => {
        const devices = await Promise.all(Array.from({ length: 8 }, (_, d) => dev(`pi-${d}`, 60)));
        // a reader follows the fleet head while the devices write
        const seen: StoredEvent[] = [];
        let writing = true;
        const reader = (async () => {
          for (;;) {
            const done = !writing;
            const head = await store.fleetHead();
            const from = seen.length + 1;
            if (head >= from) seen.push(...(await all(store.events({ fleet: true, from, to: head }))));
            if (done) return;
            await new Promise((r) => setImmediate(r));
          }
        })();
        await Promise.all(
          devices.map(async ({ events }) => {
            const pending: Promise<unknown>[] = [];
            for (let i = 0; i < events.length; i += 10) {
              const r = await store.append(events[0]!.device, events.slice(i, i + 10));
              expect(r.kind).toBe('stored');
              if (r.kind === 'stored') pending.push(r.written);
            }
            await Promise.all(pending);
          }),
        );
        writing = false;
        await reader;
        expect(await store.fleetHead()).toBe(480);
        expect(seen.map((s) => s.position)).toEqual(Array.from({ length: 480 }, (_, i) => i + 1));
        const again = await all(store.events({ fleet: true }));
        expect(again.map((s) => [s.position, s.event.device, s.event.seq])).toEqual(
          seen.map((s) => [s.position, s.event.device, s.event.seq]),
        );
        // each device's events come in seq order and all of them are there
        for (const { events } of devices) {
          const mine = again.filter((s) => s.event.device === events[0]!.device).map((s) => s.event);
          expect(mine).toEqual(events);
        }
        const window = await all(store.events({ fleet: true, from: 100, to: 104 }));
        expect(window.map((s) => s.position)).toEqual([100, 101, 102, 103, 104]);
        expect(window.map((s) => s.event)).toEqual(again.slice(99, 104).map((s) => s.event));
        const limited = await all(store.events({ fleet: true, from: 470, limit: 20 }));
        expect(limited.map((s) => s.position)).toEqual([
          470, 471, 472, 473, 474, 475, 476, 477, 478, 479, 480,
        ]);
        expect(await all(store.events({ fleet: true, from: 481 }))).toEqual([]);
      });

      it('by time, exact at both ends', async () => {
        const a = await dev('pi-a', 5, fakeClock(START, 1000));
        const b = await dev('pi-b', 5, fakeClock(START + 500, 1000));
        await stored(store, a.events);
        await stored(store, b.events);
        const got = await all(store.events({ fleet: true, since: START + 1000, until: START + 2500 }));
        expect(got.map((s) => [s.position, s.event.device, s.event.seq])).toEqual([
          [2, 'pi-a', 2],
          [3, 'pi-a', 3],
          [7, 'pi-b', 2],
          [8, 'pi-b', 3],
        ]);
      });
    });

    it('stateAt by time and by seq equals folding the device own events', async () => {
      const log = await deviceLog('pi-1');
      logs.push(log);
      await log.appendMany(readings(20));
      await log.append({
        type: 'AlarmRaised',
        data: { alarm: 't-high', sensor: 't', kind: 'above', value: 30, limit: 25 },
      });
      await log.appendMany(readings(20, 100));
      const events = await envelopes(log);
      await stored(store, events.slice(0, 30));
      await stored(store, events.slice(30));
      const own = new Projector(log, deviceState);
      const at = START + 25_500;
      expect(await store.stateAt('pi-1', { time: at })).toEqual(
        await own.stateAt({ time: at }).then((r) => ({ seq: r.seq, state: r.state })),
      );
      expect((await store.stateAt('pi-1', { time: at })).seq).toBe(26);
      expect(await store.stateAt('pi-1', { seq: 21 })).toEqual(
        await own.stateAt({ seq: 21 }).then((r) => ({ seq: r.seq, state: r.state })),
      );
      expect(await store.stateAt('pi-1', {})).toEqual(
        await own.stateAt({}).then((r) => ({ seq: r.seq, state: r.state })),
      );
      expect((await store.stateAt('pi-1', { time: START - 1 })).seq).toBe(0);
      expect((await store.stateAt('pi-9', {})).seq).toBe(0);
    });

    it('verify passes every stored chain and names each device', async () => {
      const a = await dev('pi-a', 7);
      const b = await dev('pi-b', 3);
      await stored(store, a.events);
      await stored(store, b.events);
      const reports = await store.verify();
      expect(reports).toEqual([
        { device: 'pi-a', ok: true, events: 7, head: { seq: 7, hash: a.events[6]!.hash }, errors: [] },
        { device: 'pi-b', ok: true, events: 3, head: { seq: 3, hash: b.events[2]!.hash }, errors: [] },
      ]);
      expect(await store.verify('pi-b')).toEqual([reports[1]]);
      expect(await store.verify('pi-x')).toEqual([]);
    });

    it('verify reports a damaged chain with the seq of the problem', async () => {
      if (!opened.tamper) return;
      const a = await dev('pi-a', 7);
      const b = await dev('pi-b', 3);
      await stored(store, a.events);
      await stored(store, b.events);
      await opened.tamper('pi-a', 4);
      const [bad, good] = await store.verify();
      expect(bad).toMatchObject({ device: 'pi-a', ok: false });
      expect(bad!.errors.length).toBeGreaterThan(0);
      expect(bad!.errors.map((e) => e.seq)).toContain(4);
      expect(good).toMatchObject({ device: 'pi-b', ok: true });
    });

    it('onAppended tells the new fleet head', async () => {
      const heads: number[] = [];
      const off = store.onAppended((head) => heads.push(head));
      const { events } = await dev('pi-1', 9);
      await stored(store, events.slice(0, 4));
      await expect.poll(() => heads.at(-1)).toBe(4);
      await stored(store, events.slice(4));
      await expect.poll(() => heads.at(-1)).toBe(9);
      off();
      const more = await dev('pi-2', 2);
      await stored(store, more.events);
      expect(await store.fleetHead()).toBe(11);
      expect(Math.max(...heads)).toBe(9);
    });

    it('onAppended with a batch gives its events and their first position', async () => {
      const batches: { head: number; first: number; seqs: number[] }[] = [];
      const off = store.onAppended((head, batch) => {
        if (batch) batches.push({ head, first: batch.first, seqs: batch.events.map((e) => e.seq) });
      });
      const { events } = await dev('pi-1', 5);
      await stored(store, events);
      off();
      // a store that does not keep batches says so by leaving them out
      for (const b of batches) expect(b.head).toBe(b.first + b.seqs.length - 1);
      if (batches.length > 0) expect(batches.flatMap((b) => b.seqs)).toEqual([1, 2, 3, 4, 5]);
    });

    it('sizeBytes is a number of bytes or undefined', async () => {
      const { events } = await dev('pi-1', 5);
      await stored(store, events);
      const size = await store.sizeBytes();
      if (size !== undefined) expect(size).toBeGreaterThan(0);
    });

    describe('key records and the append gate', () => {
      const K1 = `${'A'.repeat(43)}=`;
      const K2 = `${'B'.repeat(43)}=`;
      /** A gate that keeps `count` of the new events and gives `keys`, recording what it was asked. */
      const gateOf = (v: GateVerdict) => {
        const asked: { fresh: number[]; head: number; keys: KeyRecord }[] = [];
        const gate: AppendGate = {
          decide(_device, fresh, head, keys) {
            asked.push({ fresh: fresh.map((e) => e.seq), head: head.seq, keys });
            return v;
          },
        };
        return { gate, asked };
      };

      it('a device never keyed has no key record', async () => {
        expect(await store.keyRecord('pi-1')).toEqual(NO_KEYS);
        const { events } = await dev('pi-1', 3);
        await stored(store, events);
        expect(await store.keyRecord('pi-1')).toEqual(NO_KEYS);
      });

      it('stores what the gate keeps and its key record with the head; the rest is waiting', async () => {
        const { events } = await dev('pi-1', 10);
        const keys: KeyRecord = { publicKey: K1, keys: [K1], bound: K1 };
        const g = gateOf({ kind: 'keep', count: 4, keys });
        const r = await store.append('pi-1', events.slice(0, 6), g.gate);
        expect(r).toMatchObject({ kind: 'stored', from: 1, to: 4, waiting: 2 });
        if (r.kind !== 'stored') return;
        expect(await r.written).toEqual({ seq: 4, hash: events[3]!.hash });
        expect(g.asked).toEqual([{ fresh: [1, 2, 3, 4, 5, 6], head: 0, keys: NO_KEYS }]);
        expect(await store.keyRecord('pi-1')).toEqual(keys);
        expect(await seqs(store, { device: 'pi-1' })).toEqual([1, 2, 3, 4]);
        // the next batch's gate is asked with the new head's record, and only of the new events
        const next = gateOf({ kind: 'keep', count: 6, keys: { ...keys, publicKey: K2, keys: [K1, K2] } });
        const r2 = await store.append('pi-1', events.slice(2, 10), next.gate);
        expect(r2).toMatchObject({ kind: 'stored', from: 5, to: 10, duplicates: 2 });
        if (r2.kind === 'stored') await r2.written;
        expect(next.asked).toEqual([{ fresh: [5, 6, 7, 8, 9, 10], head: 4, keys }]);
        expect(await store.keyRecord('pi-1')).toEqual({ publicKey: K2, keys: [K1, K2], bound: K1 });
      });

      it('a refusal or a gate that keeps nothing stores nothing and leaves the key record', async () => {
        const { events } = await dev('pi-1', 6);
        const keys: KeyRecord = { publicKey: K1, keys: [K1], bound: null };
        await stored(store, events.slice(0, 3));
        const first = await store.append(
          'pi-1',
          events.slice(3, 4),
          gateOf({ kind: 'keep', count: 1, keys }).gate,
        );
        if (first.kind === 'stored') await first.written;
        const head = { seq: 4, hash: events[3]!.hash };
        const other = { publicKey: K2, keys: [K2], bound: K2 };
        expect(
          await store.append(
            'pi-1',
            events.slice(4),
            gateOf({ kind: 'refuse', reason: 'bad-signature', message: 'no' }).gate,
          ),
        ).toEqual({ kind: 'refused', head, reason: 'bad-signature', message: 'no' });
        expect(
          await store.append('pi-1', events.slice(4), gateOf({ kind: 'keep', count: 0, keys: other }).gate),
        ).toEqual({
          kind: 'waiting',
          head,
          waiting: 2,
        });
        expect(await store.head('pi-1')).toEqual(head);
        expect(await store.keyRecord('pi-1')).toEqual(keys);
        expect(await store.fleetHead()).toBe(4);
      });

      it('a duplicate, a gap or a fork is answered before the gate is asked', async () => {
        const { events } = await dev('pi-1', 6);
        await stored(store, events.slice(0, 3));
        const g = gateOf({ kind: 'refuse', reason: 'bad-signature', message: 'no' });
        expect((await store.append('pi-1', events.slice(0, 2), g.gate)).kind).toBe('duplicate');
        expect((await store.append('pi-1', events.slice(4), g.gate)).kind).toBe('gap');
        const fork = resealed(events[2]!, { data: { source: 'node', sensor: 't', value: -1, unit: 'C' } });
        expect((await store.append('pi-1', [fork], g.gate)).kind).toBe('fork');
        expect(g.asked).toEqual([]);
      });

      it('a fork is quarantined only when the gate lets it: asked with its seqs and the key record, a refusal keeps nothing', async () => {
        const { events } = await dev('pi-1', 4);
        const keys: KeyRecord = { publicKey: K1, keys: [K1], bound: null };
        await stored(store, events.slice(0, 2));
        const first = await store.append(
          'pi-1',
          events.slice(2, 4),
          gateOf({ kind: 'keep', count: 2, keys }).gate,
        );
        if (first.kind === 'stored') await first.written;
        const head = { seq: 4, hash: events[3]!.hash };
        const fork = resealed(events[2]!, { data: { source: 'node', sensor: 't', value: -1, unit: 'C' } });
        const asked: { seqs: number[]; forked: number[]; keys: KeyRecord }[] = [];
        const forkGate = (v: ForkVerdict): AppendGate => ({
          decide: () => ({ kind: 'refuse', reason: 'x', message: 'never asked' }),
          fork(_device, batch, forked, rec) {
            asked.push({ seqs: batch.map((e) => e.seq), forked, keys: rec });
            return v;
          },
        });
        expect(
          await store.append(
            'pi-1',
            [events[1]!, fork],
            forkGate({ kind: 'refuse', reason: 'unsigned', message: 'no' }),
          ),
        ).toEqual({ kind: 'refused', head, reason: 'unsigned', message: 'no' });
        expect(asked).toEqual([{ seqs: [2, 3], forked: [3], keys }]);
        const quarantined = async () => {
          const out: number[] = [];
          for await (const q of store.quarantined('pi-1')) out.push(q.seq);
          return out;
        };
        expect(await quarantined()).toEqual([]);
        expect(await store.head('pi-1')).toEqual(head);
        expect((await store.append('pi-1', [fork], forkGate({ kind: 'quarantine' }))).kind).toBe('fork');
        expect(await quarantined()).toEqual([3]);
        expect(await store.head('pi-1')).toEqual(head);
      });

      it('keeps the key record across a reopen', async () => {
        if (!opened.reopen) return;
        const { events } = await dev('pi-1', 4);
        const keys: KeyRecord = { publicKey: K2, keys: [K1, K2], bound: K1 };
        const r = await store.append('pi-1', events, gateOf({ kind: 'keep', count: 4, keys }).gate);
        if (r.kind === 'stored') await r.written;
        store = await opened.reopen();
        opened.store = store;
        expect(await store.keyRecord('pi-1')).toEqual(keys);
        expect(await store.keyRecord('pi-2')).toEqual(NO_KEYS);
      });
    });

    it('keeps everything across a reopen', async () => {
      if (!opened.reopen) return;
      const { log, events } = await dev('pi-1', 10);
      const b = await dev('pi-2', 4);
      await stored(store, events.slice(0, 6));
      await stored(store, b.events);
      await log.redact(1, 'privacy', 'operator:ana');
      const tail = await envelopes(log, 11);
      await stored(store, [...events.slice(6), ...tail]);
      const fork = resealed(b.events[3]!, { data: { source: 'node', sensor: 't', value: -1, unit: 'C' } });
      expect((await store.append('pi-2', [fork])).kind).toBe('fork');
      const before = {
        heads: await store.heads(),
        fleet: await all(store.events({ fleet: true })),
        fleetHead: await store.fleetHead(),
        quarantined: await quarantined(store),
      };
      store = await opened.reopen();
      opened.store = store;
      expect(await store.heads()).toEqual(before.heads);
      expect(await store.fleetHead()).toBe(before.fleetHead);
      expect(await all(store.events({ fleet: true }))).toEqual(before.fleet);
      expect(await quarantined(store)).toEqual(before.quarantined);
      expect((await store.verify()).every((r) => r.ok)).toBe(true);
      expect((await all(store.events({ device: 'pi-1', toSeq: 1 })))[0]!.event.data).toBeNull();
      // and goes on where it was
      await log.appendMany(readings(2));
      const next = await envelopes(log, 12);
      expect(await store.append('pi-1', next)).toMatchObject({ kind: 'stored', from: 12, to: 13 });
    });
  });
}
