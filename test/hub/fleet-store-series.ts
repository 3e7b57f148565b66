// The fleet store contract's chart cases (sensors, series, track), run by
// fleet-store-contract.ts for every store: each answer is compared, bucket by bucket, with
// the device's readings folded here by hand (plain loops, not the store's arithmetic), after
// appends in uneven batches, a clock that went back, redactions and a reopen.
import { describe, expect, it } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { type Clock, EventLog } from '../../src/log/event-log.js';

const MINUTE = 60_000;
const HOUR = 3_600_000;
const START = Date.parse('2026-11-01T00:00:00.000Z');

/** A clock stepping `step` ms, and back by `back` ms once at event `backAt`. */
function clock(step: number, backAt = -1, back = 0): Clock {
  let n = 0;
  let t = START + 17_000;
  return {
    now: () => {
      n++;
      if (n === backAt) t -= back;
      t += step;
      return t;
    },
    mono: () => n,
  };
}

/** Readings of two sensors with a spike now and then, and a fix every 7th event. */
function inputs(n: number, seed = 1): EventInput[] {
  let x = seed;
  const rnd = () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
  return Array.from({ length: n }, (_, k): EventInput => {
    if (k % 7 === 3)
      return {
        type: 'PositionRecorded',
        data: { source: 'gps', fixTime: '10:00:00.000Z', lat: 45 + k / 1e4, lon: 7 - k / 1e4 },
      };
    if (k % 3 === 0) return { type: 'NoteAdded', data: { text: `n${k}` }, meta: { actor: 'operator:ana' } };
    const sensor = k % 2 === 0 ? 'temp' : 'hum';
    const value = k % 97 === 5 ? 1000 + k : Math.round(rnd() * 1000) / 10;
    return {
      type: 'ReadingRecorded',
      data: { source: 'node', sensor, value, unit: sensor === 'temp' ? 'C' : '%' },
    };
  });
}

async function envelopesOf(log: EventLog, fromSeq = 1): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events({ fromSeq })) out.push(e);
  return out;
}

/** Append in batches of uneven sizes, waiting for each write. */
async function storeAll(store: FleetStore, events: Envelope[]): Promise<void> {
  const sizes = [1, 13, 97, 5, 250];
  for (let i = 0, k = 0; i < events.length; k++) {
    const batch = events.slice(i, i + sizes[k % sizes.length]!);
    i += batch.length;
    const r = await store.append(batch[0]!.device, batch);
    if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
    await r.written;
  }
}

interface HandBucket {
  min: number;
  max: number;
  sum: number;
  count: number;
}

/** One sensor's readings folded by hand into buckets of `b` (1: each ms). */
function handSeries(events: Envelope[], sensor: string, b: number, from: number, to: number) {
  const lo = Math.floor(from / b) * b;
  const hi = Math.floor(to / b) * b + b - 1;
  const buckets = new Map<number, HandBucket>();
  let unit: string | null = null;
  let lastT = -1;
  for (const e of events) {
    if (e.type !== 'ReadingRecorded' || e.data === null) continue;
    const d = e.data as { sensor: string; value: number; unit?: string };
    if (d.sensor !== sensor) continue;
    const t = Date.parse(e.time);
    if (t < lo || t > hi) continue;
    const k = Math.floor(t / b) * b;
    const had = buckets.get(k);
    if (!had) buckets.set(k, { min: d.value, max: d.value, sum: d.value, count: 1 });
    else {
      if (d.value < had.min) had.min = d.value;
      if (d.value > had.max) had.max = d.value;
      had.sum += d.value;
      had.count++;
    }
    if (t >= lastT) {
      lastT = t;
      unit = d.unit ?? null;
    }
  }
  const t = [...buckets.keys()].sort((a, c) => a - c);
  return { unit, t, buckets: t.map((k) => buckets.get(k)!) };
}

function handTrack(events: Envelope[], b: number, from: number, to: number) {
  const lo = Math.floor(from / b) * b;
  const hi = Math.floor(to / b) * b + b - 1;
  const last = new Map<number, { t: number; lat: number; lon: number }>();
  for (const e of events) {
    if (e.type !== 'PositionRecorded' || e.data === null) continue;
    const t = Date.parse(e.time);
    if (t < lo || t > hi) continue;
    const d = e.data as { lat: number; lon: number };
    const k = Math.floor(t / b) * b;
    const had = last.get(k);
    if (!had || t >= had.t) last.set(k, { t, lat: d.lat, lon: d.lon }); // events in seq order: ties to the later
  }
  const keys = [...last.keys()].sort((a, c) => a - c);
  return keys.map((k) => last.get(k)!);
}

/** Every answer of `store` for `device` against the fold by hand of `events`. */
async function expectFolded(store: FleetStore, device: string, events: Envelope[]): Promise<void> {
  const times = events.map((e) => Date.parse(e.time));
  const from = Math.min(...times) + 5 * MINUTE + 123;
  const to = Math.max(...times) - 7 * MINUTE;
  for (const sensor of ['temp', 'hum']) {
    for (const b of [1, MINUTE, 5 * MINUTE, HOUR, 2 * HOUR]) {
      const got = await store.series(device, sensor, { from, to, bucketMs: b });
      const want = handSeries(events, sensor, b, from, to);
      expect(got.t, `${sensor} at ${b} ms`).toEqual(want.t);
      expect(got.unit).toBe(want.unit);
      expect(got.min).toEqual(want.buckets.map((x) => x.min));
      expect(got.max).toEqual(want.buckets.map((x) => x.max));
      expect(got.count).toEqual(want.buckets.map((x) => x.count));
      for (const [i, sum] of got.sum.entries()) expect(sum).toBeCloseTo(want.buckets[i]!.sum, 6);
    }
  }
  for (const b of [1, MINUTE, 10 * MINUTE, HOUR]) {
    const got = await store.track(device, { from, to, bucketMs: b });
    const want = handTrack(events, b, from, to);
    expect({ t: got.t, lat: got.lat, lon: got.lon }, `track at ${b} ms`).toEqual({
      t: want.map((x) => x.t),
      lat: want.map((x) => x.lat),
      lon: want.map((x) => x.lon),
    });
  }
  const sensors = await store.sensors(device);
  const want = ['hum', 'temp'].map((sensor) => {
    const rs = events.filter(
      (e) =>
        e.type === 'ReadingRecorded' && e.data !== null && (e.data as { sensor: string }).sensor === sensor,
    );
    const ts = rs.map((e) => Date.parse(e.time));
    return {
      sensor,
      unit: sensor === 'temp' ? 'C' : '%',
      first: Math.min(...ts),
      last: Math.max(...ts),
      count: rs.length,
    };
  });
  expect(sensors).toEqual(want.filter((s) => s.count > 0));
}

/** The chart cases, inside the contract's describe (its `store`, `dev` and reopen). */
export function seriesCases(ctx: {
  store: () => FleetStore;
  reopen: (() => Promise<FleetStore>) | undefined;
  keep: (log: EventLog) => void;
}): void {
  const deviceLog = async (device: string, c: Clock) => {
    const log = await EventLog.memory({ device, clock: c });
    ctx.keep(log);
    return log;
  };

  describe('sensors, series and track (rollups)', () => {
    it('equal the readings folded by hand, at every bucket size, also when the clock went back', async () => {
      const store = ctx.store();
      // 7.3 s a step over about 4 hours; 20 minutes back after event 900
      const log = await deviceLog('pi-1', clock(7_300, 900, 20 * MINUTE));
      await log.appendMany(inputs(2000));
      const events = await envelopesOf(log);
      await storeAll(store, events);
      await expectFolded(store, 'pi-1', events);
      // another device's readings are its own
      const other = await deviceLog('pi-2', clock(1_000));
      await other.appendMany(inputs(50, 7));
      await storeAll(store, await envelopesOf(other));
      await expectFolded(store, 'pi-1', events);
      expect(await store.sensors('pi-3')).toEqual([]);
      expect(
        (await store.series('pi-3', 'temp', { from: START, to: START + HOUR, bucketMs: MINUTE })).t,
      ).toEqual([]);
    });

    it('a purged reading no longer counts: redacted after it was stored, or in the same batch', async () => {
      const store = ctx.store();
      const log = await deviceLog('pi-1', clock(7_300));
      await log.appendMany(inputs(600));
      const before = await envelopesOf(log);
      await storeAll(store, before);
      // the spikes (value ≥ 1000) are purged: the maxima of their buckets must fall
      const spikes = before.filter(
        (e) => e.type === 'ReadingRecorded' && (e.data as { value: number }).value >= 1000,
      );
      expect(spikes.length).toBeGreaterThan(2);
      for (const s of spikes) await log.redact(s.seq, 'sensor fault', 'operator:ana');
      // a fix is purged too
      const fix = before.find((e) => e.type === 'PositionRecorded')!;
      await log.redact(fix.seq, 'privacy', 'operator:ana');
      await storeAll(store, await envelopesOf(log, before.length + 1));
      // and, in one batch, new readings (with their payload, as sent before) and the redaction of one
      const head = (await envelopesOf(log)).length;
      await log.appendMany(inputs(40, 3));
      const fresh = await envelopesOf(log, head + 1);
      const target = fresh.find((e) => e.type === 'ReadingRecorded')!;
      await log.redact(target.seq, 'privacy', 'operator:ana');
      const [redaction] = await envelopesOf(log, head + fresh.length + 1);
      const r = await store.append('pi-1', [...fresh, redaction!]);
      if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
      await r.written;
      const after = await envelopesOf(log);
      expect(after.filter((e) => e.data === null)).toHaveLength(spikes.length + 2);
      await expectFolded(store, 'pi-1', after);
      const all = await store.series('pi-1', 'temp', { from: START, to: START + 10 * HOUR, bucketMs: HOUR });
      expect(Math.max(...all.max)).toBeLessThan(1000);
    });

    it('a purged reading no longer counts when a later message of the same write purges it', async () => {
      const store = ctx.store();
      const log = await deviceLog('pi-1', clock(7_300));
      await log.appendMany(inputs(100));
      await storeAll(store, await envelopesOf(log));
      // two messages appended without waiting (one group commit): the second redacts the
      // first's spike, and every other reading of the first still counts
      await log.appendMany(inputs(200, 3));
      const fresh = await envelopesOf(log, 101);
      const spike = fresh.find(
        (e) => e.type === 'ReadingRecorded' && (e.data as { value: number }).value >= 1000,
      )!;
      await log.redact(spike.seq, 'sensor fault', 'operator:ana');
      const [redaction] = await envelopesOf(log, 301);
      const first = store.append('pi-1', fresh);
      const second = store.append('pi-1', [redaction!]);
      for (const r of [await first, await second]) {
        if (r.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(r)}`);
        await r.written;
      }
      const after = await envelopesOf(log);
      expect(after.find((e) => e.seq === spike.seq)!.data).toBeNull();
      // by hand, without the spike: a bucket that still held it would differ
      await expectFolded(store, 'pi-1', after);
    });

    it('are kept across a reopen, and appends after it merge into them', async () => {
      if (!ctx.reopen) return;
      const log = await deviceLog('pi-1', clock(7_300));
      await log.appendMany(inputs(700));
      const first = await envelopesOf(log);
      await storeAll(ctx.store(), first);
      const store = await ctx.reopen();
      await expectFolded(store, 'pi-1', first);
      await log.appendMany(inputs(300, 5));
      await storeAll(store, await envelopesOf(log, first.length + 1));
      await expectFolded(store, 'pi-1', await envelopesOf(log));
    });
  });
}
