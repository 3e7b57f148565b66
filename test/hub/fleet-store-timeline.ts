// The fleet store contract's timeline cases (reads by event type, as the device page asks for
// its alarms, notes, thresholds, sources and redactions), run by fleet-store-contract.ts for
// every store. A read asking only for sparse types is answered from the store's index of
// them (LevelDB: an aside key space; PostgreSQL: a partial index); each answer is compared
// with the device's unfiltered read filtered here by hand (plain loops), over more sparse
// events than one chunk holds, with time bounds, newest-first paging, redactions, a reopen
// and the index rebuilt.
import { describe, expect, it } from 'vitest';
import type { DeviceQuery, FleetStore, StoredEvent } from '../../src/hub/fleet-store.js';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { type Clock, EventLog } from '../../src/log/event-log.js';

const START = Date.parse('2026-11-01T00:00:00.000Z');
const SECOND = 1000;

/** A clock stepping 1 s an event, 10 minutes back once at event 1500 (times not in seq order). */
function clock(): Clock {
  let n = 0;
  let t = START;
  return {
    now: () => {
      n++;
      if (n === 1500) t -= 600 * SECOND;
      t += SECOND;
      return t;
    },
    mono: () => n,
  };
}

/** Every sparse type the page's timeline asks for. */
const TIMELINE = [
  'AlarmRaised',
  'AlarmAcknowledged',
  'AlarmCleared',
  'NoteAdded',
  'ThresholdChanged',
  'SourceConnected',
  'SourceDisconnected',
  'FramesRejected',
  'FramesLost',
  'EventRedacted',
];

/** Readings and fixes, with a sparse event every third one (about 1,300 in 4,000). */
function inputs(n: number): EventInput[] {
  const sparse = (k: number): EventInput => {
    switch ((k / 3) % 8) {
      case 0:
        return {
          type: 'AlarmRaised',
          data: { alarm: `a${k}`, sensor: 't', kind: 'above', limit: 30, value: 31 },
        };
      case 1:
        return { type: 'AlarmAcknowledged', data: { alarm: `a${k - 3}` }, meta: { actor: 'operator:ann' } };
      case 2:
        return { type: 'AlarmCleared', data: { alarm: `a${k - 6}`, sensor: 't', value: 20 } };
      case 3:
        return { type: 'NoteAdded', data: { text: `note ${k}` }, meta: { actor: 'operator:bo' } };
      case 4:
        return { type: 'ThresholdChanged', data: { sensor: 't', above: 30 + k, below: null } };
      case 5:
        return { type: 'SourceConnected', data: { source: 'node', driver: 'line', port: '/dev/ttyUSB0' } };
      case 6:
        return { type: 'SourceDisconnected', data: { source: 'node', reason: 'unplugged' } };
      default:
        return {
          type: 'FramesRejected',
          data: { source: 'node', count: 2, reasons: { crc: 2 }, sample: 'x' },
        };
    }
  };
  return Array.from({ length: n }, (_, k): EventInput => {
    if (k % 3 === 0) return sparse(k);
    if (k % 7 === 1)
      return { type: 'PositionRecorded', data: { source: 'gps', fixTime: '10:00:00.000Z', lat: 45, lon: 7 } };
    return { type: 'ReadingRecorded', data: { source: 'node', sensor: 't', value: k, unit: 'C' } };
  });
}

async function envelopesOf(log: EventLog, fromSeq = 1): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events({ fromSeq })) out.push(e);
  return out;
}

async function storeAll(store: FleetStore, events: Envelope[]): Promise<void> {
  const sizes = [700, 1, 2500, 33];
  for (let i = 0, k = 0; i < events.length; k++) {
    const batch = events.slice(i, i + sizes[k % sizes.length]!);
    i += batch.length;
    const r = await store.append(batch[0]!.device, batch);
    if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
    await r.written;
  }
}

async function read(store: FleetStore, q: DeviceQuery): Promise<Envelope[]> {
  const out: StoredEvent[] = [];
  for await (const chunk of store.events(q)) out.push(...chunk);
  return out.map((s) => s.event);
}

/** `q` answered by hand from every event of the device (as an unfiltered read gives them). */
function byHand(every: Envelope[], q: DeviceQuery): Envelope[] {
  const types = new Set(q.types);
  const kept: Envelope[] = [];
  for (const e of every) {
    const t = Date.parse(e.time);
    if (q.fromSeq !== undefined && e.seq < q.fromSeq) continue;
    if (q.toSeq !== undefined && e.seq > q.toSeq) continue;
    if (q.since !== undefined && t < q.since) continue;
    if (q.until !== undefined && t > q.until) continue;
    if (types.has(e.type)) kept.push(e);
  }
  if (q.reverse) kept.reverse();
  return q.limit === undefined ? kept : kept.slice(0, q.limit);
}

/** Many type reads of `device`, each equal to its answer by hand; every page of a newest-first walk too. */
async function expectTimeline(store: FleetStore, device: string): Promise<void> {
  const every = await read(store, { device });
  const times = every.map((e) => Date.parse(e.time));
  const lo = Math.min(...times);
  const hi = Math.max(...times);
  const mid = every[Math.floor(every.length / 2)]!.seq;
  const queries: Omit<DeviceQuery, 'device'>[] = [];
  for (const types of [TIMELINE, ['NoteAdded'], ['AlarmRaised', 'EventRedacted'], ['DeviceStopped'], []])
    for (const reverse of [false, true])
      queries.push(
        { types, reverse },
        { types, reverse, limit: 7 },
        { types, reverse, since: lo + 1234 * SECOND, until: hi - 321 * SECOND },
        // the clock went back: a window whose seqs hold events of other times too
        { types, reverse, since: START + 1400 * SECOND, until: START + 1450 * SECOND },
        { types, reverse, fromSeq: 999, toSeq: mid, limit: 400 },
        { types, reverse, since: lo + 10 * SECOND, toSeq: mid },
        { types, reverse, since: hi + 1, until: hi + 99 },
      );
  for (const q of queries) {
    const want = byHand(every, { device, ...q });
    expect(await read(store, { device, ...q }), JSON.stringify(q)).toEqual(want);
  }
  // newest first, two hundred at a time, each page from the seq before the last one seen
  const pages: Envelope[] = [];
  let toSeq: number | undefined;
  for (;;) {
    const page = await read(store, {
      device,
      types: TIMELINE,
      reverse: true,
      limit: 200,
      since: lo,
      until: hi,
      ...(toSeq === undefined ? {} : { toSeq }),
    });
    pages.push(...page);
    if (page.length < 200) break;
    toSeq = page[page.length - 1]!.seq - 1;
  }
  expect(pages).toEqual(byHand(every, { device, types: TIMELINE, reverse: true }));
}

/** The timeline cases, inside the contract's describe (its `store`, reopen and rebuild). */
export function timelineCases(ctx: {
  store: () => FleetStore;
  reopen: (() => Promise<FleetStore>) | undefined;
  rebuild: (() => Promise<FleetStore>) | undefined;
  keep: (log: EventLog) => void;
}): void {
  describe('reads by event type (the timeline)', () => {
    it('equal the unfiltered read filtered by hand: types, time bounds, limits, pages newest first', async () => {
      const log = await EventLog.memory({ device: 'pi-1', clock: clock() });
      ctx.keep(log);
      await log.appendMany(inputs(4000));
      await storeAll(ctx.store(), await envelopesOf(log));
      // another device's events are its own
      const other = await EventLog.memory({ device: 'pi-10', clock: clock() });
      ctx.keep(other);
      await other.appendMany(inputs(300));
      await storeAll(ctx.store(), await envelopesOf(other));
      // more than a chunk (1,000) of them
      expect((await read(ctx.store(), { device: 'pi-1', types: TIMELINE })).length).toBeGreaterThan(1000);
      await expectTimeline(ctx.store(), 'pi-1');
      await expectTimeline(ctx.store(), 'pi-10');
      expect(await read(ctx.store(), { device: 'pi-2', types: TIMELINE })).toEqual([]);
    });

    it('stay equal after redactions (stored earlier, or in the same batch), a reopen and a rebuild', async () => {
      const log = await EventLog.memory({ device: 'pi-1', clock: clock() });
      ctx.keep(log);
      await log.appendMany(inputs(3000));
      const first = await envelopesOf(log);
      await storeAll(ctx.store(), first);
      // a note and a reading purged after they were stored
      const note = first.find((e) => e.type === 'NoteAdded')!;
      const reading = first.find((e) => e.type === 'ReadingRecorded')!;
      await log.redact(note.seq, 'privacy', 'operator:ana');
      await log.redact(reading.seq, 'sensor fault', 'operator:ana');
      await storeAll(ctx.store(), await envelopesOf(log, first.length + 1));
      // and, in one batch, new events with the redaction of one of them
      await log.appendMany(inputs(90));
      const head = first.length + 2;
      const fresh = await envelopesOf(log, head + 1);
      await log.redact(fresh.find((e) => e.type === 'AlarmRaised')!.seq, 'test alarm', 'operator:ana');
      const batch = await envelopesOf(log, head + 1);
      const r = await ctx.store().append('pi-1', batch);
      if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
      await r.written;
      const redacted = await read(ctx.store(), { device: 'pi-1', types: ['EventRedacted'] });
      expect(redacted).toHaveLength(3);
      const purged = await read(ctx.store(), { device: 'pi-1', types: ['NoteAdded', 'AlarmRaised'] });
      expect(purged.filter((e) => e.data === null)).toHaveLength(2);
      await expectTimeline(ctx.store(), 'pi-1');
      if (ctx.reopen) {
        await expectTimeline(await ctx.reopen(), 'pi-1');
        // appends after the reopen are indexed too
        await log.appendMany(inputs(40));
        await storeAll(ctx.store(), await envelopesOf(log, batch[batch.length - 1]!.seq + 1));
        await expectTimeline(ctx.store(), 'pi-1');
      }
      if (ctx.rebuild) await expectTimeline(await ctx.rebuild(), 'pi-1');
    });
  });
}
