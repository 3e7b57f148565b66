// The arithmetic of the hub's rollups, shared by every fleet store: what one reading or fix
// adds to a minute or hour bucket, how two buckets of the same span merge, and how buckets
// (or raw readings) are merged into the wider, aligned buckets a chart asks for. Buckets are
// mergeable summaries (min, max, sum, count, first/last time), so any bucket made of whole
// smaller ones is exact: a spike is never averaged away. Ties on time go to the higher seq,
// so a bucket folded in any order (at ingest, by a rebuild) is the same.
import type { Envelope } from '../log/envelope.js';

export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

export type Resolution = 'minute' | 'hour';
export const RESOLUTIONS: readonly Resolution[] = ['minute', 'hour'];
export const RESOLUTION_MS: Record<Resolution, number> = { minute: MINUTE, hour: HOUR };

/** One sensor's readings in one bucket. */
export interface ReadingBucket {
  /** Bucket start, ms since the epoch (a multiple of the span). */
  t: number;
  min: number;
  max: number;
  sum: number;
  count: number;
  /** Earliest and latest reading time in the bucket. */
  first: number;
  last: number;
  /** Seq of the latest reading (ties on time go to the higher seq) and its unit. */
  lastSeq: number;
  unit: string | null;
}

/** A device's fixes in one bucket: the last one is kept, for the track. */
export interface FixBucket {
  t: number;
  count: number;
  first: number;
  last: number;
  lastSeq: number;
  lat: number;
  lon: number;
}

export interface Reading {
  seq: number;
  time: number;
  sensor: string;
  value: number;
  unit: string | null;
}

export interface Fix {
  seq: number;
  time: number;
  lat: number;
  lon: number;
}

/**
 * A ReadingRecorded with its payload, as a reading; undefined for anything else. `timeMs`:
 * the event's time already read (ingest has it from the check; Date.parse per event cost
 * the hub more than the fold itself).
 */
export function readingOf(
  e: Pick<Envelope, 'type' | 'data' | 'seq' | 'time'>,
  timeMs?: number,
): Reading | undefined {
  if (e.type !== 'ReadingRecorded' || e.data === null || typeof e.data !== 'object') return undefined;
  const d = e.data as { sensor?: unknown; value?: unknown; unit?: unknown };
  if (typeof d.sensor !== 'string' || typeof d.value !== 'number' || !Number.isFinite(d.value))
    return undefined;
  const time = timeMs ?? Date.parse(e.time);
  if (!Number.isFinite(time)) return undefined;
  return {
    seq: e.seq,
    time,
    sensor: d.sensor,
    value: d.value,
    unit: typeof d.unit === 'string' ? d.unit : null,
  };
}

/** A PositionRecorded with its payload, as a fix at the event's time; undefined otherwise. */
export function fixOf(e: Pick<Envelope, 'type' | 'data' | 'seq' | 'time'>, timeMs?: number): Fix | undefined {
  if (e.type !== 'PositionRecorded' || e.data === null || typeof e.data !== 'object') return undefined;
  const d = e.data as { lat?: unknown; lon?: unknown };
  if (typeof d.lat !== 'number' || typeof d.lon !== 'number') return undefined;
  const time = timeMs ?? Date.parse(e.time);
  if (!Number.isFinite(time)) return undefined;
  return { seq: e.seq, time, lat: d.lat, lon: d.lon };
}

export function bucketStart(ms: number, span: number): number {
  return Math.floor(ms / span) * span;
}

function later(aTime: number, aSeq: number, bTime: number, bSeq: number): boolean {
  return aTime > bTime || (aTime === bTime && aSeq > bSeq);
}

/**
 * One more item at (`time`, `seq`) counted into a bucket's count and span; true when it is
 * the bucket's latest (its last value then follows it).
 */
function counted(
  b: { count: number; first: number; last: number; lastSeq: number },
  time: number,
  seq: number,
): boolean {
  b.count++;
  if (time < b.first) b.first = time;
  if (!later(time, seq, b.last, b.lastSeq)) return false;
  b.last = time;
  b.lastSeq = seq;
  return true;
}

export function readingBucket(t: number, r: Reading): ReadingBucket {
  return {
    t,
    min: r.value,
    max: r.value,
    sum: r.value,
    count: 1,
    first: r.time,
    last: r.time,
    lastSeq: r.seq,
    unit: r.unit,
  };
}

/** `a` and `b` (same span) as one bucket at `a.t`; neither is changed. */
export function mergeReadings(a: ReadingBucket, b: ReadingBucket): ReadingBucket {
  const bLater = later(b.last, b.lastSeq, a.last, a.lastSeq);
  return {
    t: a.t,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
    sum: a.sum + b.sum,
    count: a.count + b.count,
    first: Math.min(a.first, b.first),
    last: bLater ? b.last : a.last,
    lastSeq: bLater ? b.lastSeq : a.lastSeq,
    unit: bLater ? b.unit : a.unit,
  };
}

export function fixBucket(t: number, f: Fix): FixBucket {
  return { t, count: 1, first: f.time, last: f.time, lastSeq: f.seq, lat: f.lat, lon: f.lon };
}

export function mergeFixes(a: FixBucket, b: FixBucket): FixBucket {
  const bLater = later(b.last, b.lastSeq, a.last, a.lastSeq);
  const w = bLater ? b : a;
  return {
    t: a.t,
    count: a.count + b.count,
    first: Math.min(a.first, b.first),
    last: w.last,
    lastSeq: w.lastSeq,
    lat: w.lat,
    lon: w.lon,
  };
}

/** Where a bucket lives: a device's sensor (or its fixes: sensor null) at one resolution. */
export interface BucketKey {
  device: string;
  sensor: string | null;
  res: Resolution;
  t: number;
}

/** A text key for maps: device, sensor (or none), resolution, start. */
export function keyText(k: BucketKey): string {
  return `${k.device}\u0000${k.sensor === null ? 'p' : `r${k.sensor}`}\u0000${k.res}\u0000${k.t}`;
}

/**
 * Buckets being folded from events, keyed by `keyText`: a batch's share at ingest, a
 * rebuild's whole history, a test's fold by hand.
 */
export class RollupFold {
  readonly readings = new Map<string, { key: BucketKey; b: ReadingBucket }>();
  readonly fixes = new Map<string, { key: BucketKey; b: FixBucket }>();
  /**
   * Each device's sensors' current bucket per resolution: consecutive readings of a sensor
   * mostly fall in the bucket of the one before, found here without building its text key
   * (two per reading cost the hub's ingest more than the arithmetic).
   */
  private readonly current = new Map<string, Map<string, (ReadingBucket | undefined)[]>>();

  /** Fold one event of `device` (its time in ms when known); false when it adds to no rollup. */
  add(device: string, e: Pick<Envelope, 'type' | 'data' | 'seq' | 'time'>, timeMs?: number): boolean {
    const r = readingOf(e, timeMs);
    if (r) {
      for (const res of RESOLUTIONS) this.addReading(device, res, r);
      return true;
    }
    const f = fixOf(e, timeMs);
    if (f) {
      for (const res of RESOLUTIONS) this.addFix(device, res, f);
      return true;
    }
    return false;
  }

  addReading(device: string, res: Resolution, r: Reading): void {
    const t = bucketStart(r.time, RESOLUTION_MS[res]);
    let sensors = this.current.get(device);
    if (sensors === undefined) {
      sensors = new Map();
      this.current.set(device, sensors);
    }
    let slots = sensors.get(r.sensor);
    if (slots === undefined) {
      slots = [undefined, undefined];
      sensors.set(r.sensor, slots);
    }
    const slot = res === 'minute' ? 0 : 1;
    let b = slots[slot];
    if (b === undefined || b.t !== t) {
      const k = `${device}\u0000r${r.sensor}\u0000${res}\u0000${t}`;
      const had = this.readings.get(k);
      // the fold's own buckets are merged in place: one object per bucket, not per reading
      if (!had) {
        const fresh = readingBucket(t, r);
        this.readings.set(k, { key: { device, sensor: r.sensor, res, t }, b: fresh });
        slots[slot] = fresh;
        return;
      }
      b = had.b;
      slots[slot] = b;
    }
    if (r.value < b.min) b.min = r.value;
    if (r.value > b.max) b.max = r.value;
    b.sum += r.value;
    if (counted(b, r.time, r.seq)) b.unit = r.unit;
  }

  addFix(device: string, res: Resolution, f: Fix): void {
    const t = bucketStart(f.time, RESOLUTION_MS[res]);
    const k = `${device}\u0000p\u0000${res}\u0000${t}`;
    const had = this.fixes.get(k);
    if (!had) this.fixes.set(k, { key: { device, sensor: null, res, t }, b: fixBucket(t, f) });
    else if (counted(had.b, f.time, f.seq)) {
      had.b.lat = f.lat;
      had.b.lon = f.lon;
    }
  }

  get size(): number {
    return this.readings.size + this.fixes.size;
  }
}

/** A sensor's history in a device's rollups. */
export interface SensorSummary {
  sensor: string;
  unit: string | null;
  first: number;
  last: number;
  count: number;
}

/** A sensor's buckets as a chart gets them (column arrays, bucket starts ascending). */
export interface SeriesData {
  unit: string | null;
  t: number[];
  min: number[];
  max: number[];
  sum: number[];
  count: number[];
}

export interface TrackData {
  /** The time of each bucket's last fix. */
  t: number[];
  lat: number[];
  lon: number[];
  /** Fixes in each bucket. */
  count: number[];
}

/** Which rollups answer buckets of `bucketMs` (1: raw readings, else a multiple of a minute). */
export function resolutionFor(bucketMs: number): Resolution | 'raw' {
  if (bucketMs === 1) return 'raw';
  if (bucketMs % HOUR === 0) return 'hour';
  if (bucketMs % MINUTE === 0) return 'minute';
  throw new RangeError(`bucketMs ${bucketMs} is neither 1 nor a multiple of a minute`);
}

/** Reading buckets (any span dividing `bucketMs`, ascending or not) merged into `bucketMs` ones. */
export function seriesOf(buckets: Iterable<ReadingBucket>, bucketMs: number): SeriesData {
  const out = new Map<number, ReadingBucket>();
  for (const b of buckets) {
    const t = bucketStart(b.t, bucketMs);
    const had = out.get(t);
    out.set(t, had ? mergeReadings(had, b) : { ...b, t });
  }
  const sorted = [...out.values()].sort((a, b) => a.t - b.t);
  let unit: string | null = null;
  let lastT = Number.NEGATIVE_INFINITY;
  let lastSeq = -1;
  for (const b of sorted)
    if (later(b.last, b.lastSeq, lastT, lastSeq)) {
      lastT = b.last;
      lastSeq = b.lastSeq;
      unit = b.unit;
    }
  return {
    unit,
    t: sorted.map((b) => b.t),
    min: sorted.map((b) => b.min),
    max: sorted.map((b) => b.max),
    sum: sorted.map((b) => b.sum),
    count: sorted.map((b) => b.count),
  };
}

/** Readings (raw) as a series of `bucketMs` buckets. */
export function seriesOfReadings(readings: Iterable<Reading>, bucketMs: number): SeriesData {
  const buckets: ReadingBucket[] = [];
  for (const r of readings) buckets.push(readingBucket(bucketStart(r.time, bucketMs), r));
  return seriesOf(buckets, bucketMs);
}

/** Fix buckets merged into `bucketMs` ones: the last fix of each. */
export function trackOf(buckets: Iterable<FixBucket>, bucketMs: number): TrackData {
  const out = new Map<number, FixBucket>();
  for (const b of buckets) {
    const t = bucketStart(b.t, bucketMs);
    const had = out.get(t);
    out.set(t, had ? mergeFixes(had, b) : { ...b, t });
  }
  const sorted = [...out.values()].sort((a, b) => a.t - b.t);
  return {
    t: sorted.map((b) => b.last),
    lat: sorted.map((b) => b.lat),
    lon: sorted.map((b) => b.lon),
    count: sorted.map((b) => b.count),
  };
}

export function trackOfFixes(fixes: Iterable<Fix>, bucketMs: number): TrackData {
  const buckets: FixBucket[] = [];
  for (const f of fixes) buckets.push(fixBucket(bucketStart(f.time, bucketMs), f));
  return trackOf(buckets, bucketMs);
}

/** Hour buckets of one device (any sensors) summed up per sensor, sorted by sensor. */
export function summarize(rows: Iterable<{ sensor: string; b: ReadingBucket }>): SensorSummary[] {
  const out = new Map<string, { s: SensorSummary; lastSeq: number }>();
  for (const { sensor, b } of rows) {
    const had = out.get(sensor);
    if (!had) {
      out.set(sensor, {
        s: { sensor, unit: b.unit, first: b.first, last: b.last, count: b.count },
        lastSeq: b.lastSeq,
      });
      continue;
    }
    had.s.count += b.count;
    had.s.first = Math.min(had.s.first, b.first);
    if (later(b.last, b.lastSeq, had.s.last, had.lastSeq)) {
      had.s.last = b.last;
      had.lastSeq = b.lastSeq;
      had.s.unit = b.unit;
    }
  }
  return [...out.values()]
    .map((x) => x.s)
    .sort((a, b) => (a.sensor < b.sensor ? -1 : a.sensor > b.sensor ? 1 : 0));
}
