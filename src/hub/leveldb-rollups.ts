// The LevelDB fleet store's rollups: per device, sensor and minute/hour, kept in the log's
// aside key space and written in the same atomic batch as the events they come from (a
// projection of the log's sealed appends). A batch that purges a reading recomputes the
// buckets the reading was in from the stored events, so a purged reading never counts. Each
// device's rollups carry a mark (the seq they are folded up to), written with them: a store
// whose mark is not its head (written before rollups existed, or with them switched off) is
// rebuilt from the events at open.
import { decodeText, encodeText } from '../log/codec.js';
import type { BatchOp } from '../log/disk.js';
import { asideKey } from '../log/disk.js';
import type { Envelope } from '../log/envelope.js';
import type { BatchProjection, EventLog, StagedEvent, StagedEvents } from '../log/event-log.js';
import {
  type BucketKey,
  type FixBucket,
  fixOf,
  keyText,
  mergeFixes,
  mergeReadings,
  RESOLUTION_MS,
  type ReadingBucket,
  type Resolution,
  RollupFold,
  readingOf,
} from './rollup.js';

/** The aside namespaces: a new layout takes a new name (and so is rebuilt at open). */
const NS = 'rollup1';
const MARKS = 'rollup1-mark';

function pad(t: number): string {
  return String(t).padStart(15, '0');
}

/** A series' key prefix: device, resolution, then `r<sensor>` or `p` (fixes). */
function seriesText(device: string, res: Resolution, sensor: string | null): string {
  return `${device}\u0000${res}\u0000${sensor === null ? 'p' : `r${sensor}`}\u0000`;
}

function diskKey(k: BucketKey): Uint8Array {
  return asideKey(NS, `${seriesText(k.device, k.res, k.sensor)}${pad(k.t)}`);
}

/** The keys from `prefix` on, up to (not including) the next prefix. */
function prefixRange(prefix: string): { gte: Uint8Array; lt: Uint8Array } {
  const gte = asideKey(NS, prefix);
  const lt = new Uint8Array(gte);
  lt[lt.length - 1] = lt[lt.length - 1]! + 1;
  return { gte, lt };
}

const EMPTY = new Uint8Array(0);

function encodeBucket(b: ReadingBucket | FixBucket | null): Uint8Array {
  if (b === null) return EMPTY; // a bucket emptied by a purge: readers skip it
  const { t: _t, ...rest } = b;
  return encodeText(JSON.stringify(rest));
}

function decodeBucket<B>(t: number, raw: Uint8Array): B | null {
  if (raw.length === 0) return null;
  return { t, ...(JSON.parse(decodeText(raw)) as object) } as B;
}

/** What one batch of sealed appends holds for the rollups. */
interface Staged {
  /** The batch's readings and fixes folded as they are staged (purged ones left out). */
  delta: RollupFold;
  /**
   * Each device's first seq in the batch. The events themselves are not kept (held until the
   * write, every batch's envelopes outlived a young-generation GC, which cost the hub a sixth
   * of its CPU): the rare batch whose redactions purge some of them reads them back.
   */
  firsts: Map<string, number>;
  /** Each device's last seq in the batch: its rollups' mark once written. */
  marks: Map<string, number>;
  /** The buckets this batch writes, for the cache once it is on disk. */
  written: Map<string, Recent>;
}

/**
 * A series' last bucket written, as on disk; `newest`: no later bucket of the series is on
 * disk (a reading after it starts a bucket that needs no read).
 */
interface Recent {
  key: BucketKey;
  b: ReadingBucket | FixBucket | null;
  newest: boolean;
}

export class LevelRollups implements BatchProjection {
  private readonly batches = new WeakMap<object, Staged>();
  /**
   * The last bucket written of each series, as on disk: readings mostly arrive in time order,
   * so a batch mostly merges into these, or starts a bucket after them, without a read.
   */
  private readonly recent = new Map<string, Recent>();
  /** Devices whose rollups the open rebuilt from their events. */
  readonly rebuilt: string[] = [];

  constructor(private readonly log: EventLog) {}

  // ---------------------------------------------------------------- the batch hooks

  staged(
    batch: object,
    device: string,
    envelopes: readonly Envelope[],
    datas: readonly (string | null)[],
    times: readonly number[],
  ): void {
    let st = this.batches.get(batch);
    if (!st) {
      st = { delta: new RollupFold(), firsts: new Map(), marks: new Map(), written: new Map() };
      this.batches.set(batch, st);
    }
    if (!st.firsts.has(device)) st.firsts.set(device, envelopes[0]!.seq);
    for (let i = 0; i < envelopes.length; i++) {
      if (datas[i] === null) continue; // purged as it arrives: never counted
      st.delta.add(device, envelopes[i]!, times[i]!);
    }
    st.marks.set(device, envelopes[envelopes.length - 1]!.seq);
  }

  async prepare(
    batch: object,
    purges: readonly { device: string; seq: number }[],
    staged: StagedEvents,
  ): Promise<BatchOp[]> {
    const st = this.batches.get(batch);
    if (!st) return [];
    const purged = new Set(purges.map((p) => `${p.device}:${p.seq}`));
    // a later call of the batch may purge what an earlier one folded: folded again without it
    let delta = st.delta;
    const events = new Map<string, StagedEvent[]>();
    if (purges.length > 0) {
      delta = new RollupFold();
      for (const [device, first] of st.firsts) {
        const list = staged(device, first, st.marks.get(device)!);
        events.set(device, list);
        for (const e of list)
          if (e.data !== null && !purged.has(`${device}:${e.seq}`)) delta.add(device, e, e.timeMs);
      }
    }
    // the buckets a purged reading or fix was in are recomputed from the events
    const stale = new Map<string, BucketKey>();
    for (const p of purges) {
      const first = st.firsts.get(p.device);
      const env =
        first !== undefined && p.seq >= first
          ? events.get(p.device)?.find((e) => e.seq === p.seq)
          : await this.log.get(p.seq, p.device);
      if (!env) continue;
      const one = new RollupFold();
      one.add(p.device, env);
      for (const { key } of one.readings.values()) stale.set(keyText(key), key);
      for (const { key } of one.fixes.values()) stale.set(keyText(key), key);
    }
    const ops: BatchOp[] = [];
    const put = (key: BucketKey, b: ReadingBucket | FixBucket | null, newest: boolean) => {
      ops.push({ type: 'put', key: diskKey(key), value: encodeBucket(b) });
      st.written.set(seriesKey(key), { key, b, newest });
    };
    for (const [k, { key, b }] of delta.readings) {
      if (stale.has(k)) continue;
      const { base, newest } = await this.current<ReadingBucket>(key);
      put(key, base ? mergeReadings(base, b) : b, newest);
    }
    for (const [k, { key, b }] of delta.fixes) {
      if (stale.has(k)) continue;
      const { base, newest } = await this.current<FixBucket>(key);
      put(key, base ? mergeFixes(base, b) : b, newest);
    }
    for (const [k, key] of stale) {
      const fold = await this.refold(key, purged);
      if (key.sensor === null) {
        const a = fold.fixes.get(k)?.b;
        const d = delta.fixes.get(k)?.b;
        put(key, a && d ? mergeFixes(a, d) : (a ?? d ?? null), false);
      } else {
        const a = fold.readings.get(k)?.b;
        const d = delta.readings.get(k)?.b;
        put(key, a && d ? mergeReadings(a, d) : (a ?? d ?? null), false);
      }
    }
    for (const [device, seq] of st.marks)
      ops.push({ type: 'put', key: asideKey(MARKS, device), value: encodeText(String(seq)) });
    return ops;
  }

  committed(batch: object): void {
    const st = this.batches.get(batch);
    if (!st) return;
    for (const [k, v] of st.written) this.recent.set(k, v);
    this.batches.delete(batch);
  }

  failed(): void {
    this.recent.clear();
  }

  /**
   * A bucket as on disk (every earlier batch is written when a batch is prepared), and
   * whether it will be its series' newest. A series' first bucket in this process is found
   * with the newest one at or after it (one read); after that a later bucket is known absent.
   */
  private async current<B>(key: BucketKey): Promise<{ base: B | null; newest: boolean }> {
    const cached = this.recent.get(seriesKey(key));
    if (cached) {
      if (cached.key.t === key.t) return { base: cached.b as B | null, newest: cached.newest };
      if (cached.newest && cached.key.t < key.t) return { base: null, newest: true };
    }
    const range = prefixRange(seriesText(key.device, key.res, key.sensor));
    for await (const [k, v] of this.log.db.iterator({
      gte: diskKey(key),
      lt: range.lt,
      reverse: true,
      limit: 1,
    })) {
      const t = Number(decodeText(k.subarray(range.gte.length)));
      if (t === key.t) return { base: decodeBucket<B>(key.t, v), newest: true };
      // a later bucket is on disk: this one is read on its own
      const raw = await this.log.db.get(diskKey(key));
      return { base: raw === undefined ? null : decodeBucket<B>(key.t, raw), newest: false };
    }
    return { base: null, newest: true };
  }

  /** One bucket folded again from the stored events, leaving out `purged` ones. */
  private async refold(key: BucketKey, purged: Set<string>): Promise<RollupFold> {
    const fold = new RollupFold();
    const until = key.t + RESOLUTION_MS[key.res] - 1;
    for await (const chunk of this.log.read({ device: key.device, since: key.t, until })) {
      for (const { event } of chunk) {
        if (purged.has(`${key.device}:${event.seq}`)) continue;
        const r = readingOf(event);
        if (r && key.sensor === r.sensor) fold.addReading(key.device, key.res, r);
        const f = key.sensor === null ? fixOf(event) : undefined;
        if (f) fold.addFix(key.device, key.res, f);
      }
    }
    return fold;
  }

  // ---------------------------------------------------------------- rebuild at open

  /** Devices whose rollups are not folded up to their head: rebuild them from the events. */
  async rebuildStale(): Promise<string[]> {
    const rebuilt: string[] = [];
    for (const device of this.log.deviceNames()) {
      const head = this.log.head(device).seq;
      if (head === 0) continue;
      const raw = await this.log.db.get(asideKey(MARKS, device));
      if (raw !== undefined && Number(decodeText(raw)) === head) continue;
      await this.rebuild(device);
      rebuilt.push(device);
    }
    this.rebuilt.push(...rebuilt);
    return rebuilt;
  }

  /** Fold one device's whole history again and replace its rollups with the result. */
  async rebuild(device: string): Promise<void> {
    const head = this.log.head(device).seq;
    const fold = new RollupFold();
    for await (const chunk of this.log.read({ device, toSeq: head }))
      for (const { event } of chunk) fold.add(device, event);
    const db = this.log.db;
    const range = prefixRange(`${device}\u0000`);
    await db.clear(range);
    const batch = db.batch();
    for (const { key, b } of fold.readings.values()) batch.put(diskKey(key), encodeBucket(b));
    for (const { key, b } of fold.fixes.values()) batch.put(diskKey(key), encodeBucket(b));
    batch.put(asideKey(MARKS, device), encodeText(String(head)));
    await batch.write(this.log.disk.writeOptions);
    for (const k of [...this.recent.keys()]) if (k.startsWith(`${device}\u0000`)) this.recent.delete(k);
  }

  // ---------------------------------------------------------------- reads

  /** One series' buckets with a start in [from, to], ascending. */
  async *buckets<B>(device: string, res: Resolution, sensor: string | null, from: number, to: number) {
    const prefix = seriesText(device, res, sensor);
    const it = this.log.db.iterator({
      gte: asideKey(NS, `${prefix}${pad(Math.max(0, from))}`),
      lte: asideKey(NS, `${prefix}${pad(Math.max(0, to))}`),
    });
    const start = asideKey(NS, prefix).length;
    for await (const [k, v] of it) {
      const b = decodeBucket<B>(Number(decodeText(k.subarray(start))), v);
      if (b) yield b;
    }
  }

  /** Every sensor's hour buckets of a device. */
  async *sensorHours(device: string): AsyncGenerator<{ sensor: string; b: ReadingBucket }> {
    const prefix = `${device}\u0000hour\u0000r`;
    const range = prefixRange(prefix);
    const start = range.gte.length;
    for await (const [k, v] of this.log.db.iterator(range)) {
      const rest = decodeText(k.subarray(start));
      const cut = rest.lastIndexOf('\u0000');
      const b = decodeBucket<ReadingBucket>(Number(rest.slice(cut + 1)), v);
      if (b) yield { sensor: rest.slice(0, cut), b };
    }
  }
}

/** A series (without the bucket's start): the cache keeps its last bucket. */
function seriesKey(k: BucketKey): string {
  return seriesText(k.device, k.res, k.sensor);
}
