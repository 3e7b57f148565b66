// The fleet store in one LevelDB folder (the default): the event log in fleet mode, one
// stream per device plus the fleet's arrival order. Here the hub's answers to a batch are
// decided (duplicate, gap, fork, invalid), so every store gives the same ones; the log
// checks each event's hash and link again as it stages it, and writes the batch with its
// redaction purges in one group commit, and with the rollups (leveldb-rollups.ts) that the
// charts read and the index of sparse events (leveldb-type-index.ts) that the timeline reads.
import { fail, isFieldlogError } from '../errors.js';
import { deviceState } from '../log/device-state.js';
import { type Envelope, ZERO_HASH } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { Projector } from '../log/projection.js';
import { sizeOnDisk } from '../log/size-on-disk.js';
import {
  type AppendGate,
  type AppendOutcome,
  type AsOfQuery,
  type BucketRange,
  type DeviceHead,
  type EventQuery,
  type FleetStore,
  type Head,
  type KeyRecord,
  NO_KEYS,
  type QuarantinedEvent,
  type StoredEvent,
  sameKeys,
  sparseTypesOnly,
  type VerifiedChain,
} from './fleet-store.js';
import { LevelRollups } from './leveldb-rollups.js';
import { LevelTypeIndex } from './leveldb-type-index.js';
import {
  type FixBucket,
  type ReadingBucket,
  resolutionFor,
  type SensorSummary,
  type SeriesData,
  seriesOf,
  summarize,
  type TrackData,
  trackOf,
} from './rollup.js';
import { covered, foldSensors, foldSeries, foldTrack } from './series-fold.js';

const FORKS = 'fork';
/** The aside key space of each device's key record (JSON), written with the events it covers. */
const KEYS = 'keys';
/** When each fork was quarantined, under the same key (kept apart: a fork's value is its envelope). */
const FORK_TIMES = 'fork-at';

export interface LevelFleetStoreOptions {
  create?: boolean;
  /** fsync each group commit (default true); tests may trade durability for speed. */
  sync?: boolean;
  /**
   * Keep rollups at ingest (default true). Off, charts fold the events instead and the next
   * open with them on rebuilds them: the baseline of bench/series.bench.ts.
   */
  rollups?: boolean;
  /**
   * Keep the index of sparse events at ingest (default true). Off, a read by type reads every
   * event in its range, and the next open with it on indexes what is missing: the baseline
   * of bench/series.bench.ts's ingest.
   */
  typeIndex?: boolean;
}

/**
 * LevelDB's memtable for the hub's store: 32 MiB, not LevelDB's 4 MiB. A catch-up writes
 * hundreds of MiB, and with 4 MiB tables LevelDB's compaction thread spent about 2.9 µs of
 * CPU per event (a fifth of the hub's) rewriting them, and each flush carried its own copy
 * of every rollup bucket the batches had updated: 32 MiB cut that to 0.65 µs and the bytes
 * written per event from 440 to 220 (README, *Benchmarks*: `sync`). The cost is memory (the
 * memtable, and one more while it is flushed) and the journal replayed at an open after a
 * crash (at most 32 MiB, well under a second).
 */
export const HUB_WRITE_BUFFER_BYTES = 32 * 1024 * 1024;

/** Open (with `create`, make) the LevelDB fleet store in folder `dir`. */
export async function openLevelFleetStore(
  dir: string,
  opts: LevelFleetStoreOptions = {},
): Promise<LevelFleetStore> {
  const log = await EventLog.open(dir, {
    create: opts.create ?? false,
    fleet: true,
    sync: opts.sync ?? true,
    store: { writeBufferSize: HUB_WRITE_BUFFER_BYTES },
  });
  const store = new LevelFleetStore(log, dir, opts.rollups ?? true, opts.typeIndex ?? true);
  try {
    await store.ready;
  } catch (err) {
    await log.close().catch(() => {});
    throw err;
  }
  return store;
}

export class LevelFleetStore implements FleetStore {
  readonly kind = 'leveldb' as const;
  readonly location: string;
  /**
   * Each device's key record as of its pending head (the gate decides the next batch while the
   * previous one is written); every change is written with the events it covers.
   */
  private readonly keys = new Map<string, KeyRecord>();
  /** Null when rollups are off. */
  readonly rollups: LevelRollups | null;
  /** Null when the index of sparse events is off. */
  readonly typeIndex: LevelTypeIndex | null;
  /** Settles once stale rollups are rebuilt and the index caught up (at open): appends and reads wait for it. */
  readonly ready: Promise<void>;
  private isReady = false;

  /** `log` must be open in fleet mode; closing the store closes it. */
  constructor(
    readonly log: EventLog,
    location = log.location ?? 'memory',
    rollups = true,
    typeIndex = true,
  ) {
    this.location = location;
    const kept = rollups ? rollupsOf(log) : null;
    this.rollups = kept?.rollups ?? null;
    const index = typeIndex ? typeIndexOf(log) : null;
    this.typeIndex = index?.index ?? null;
    this.ready = Promise.all([kept?.ready, index?.ready]).then(() => {});
    this.ready.then(
      () => {
        this.isReady = true;
      },
      () => {}, // heard by every append and read
    );
  }

  /** Devices whose rollups the open rebuilt from their events. */
  get rebuilt(): string[] {
    return this.rollups?.rebuilt ?? [];
  }

  /** Devices the open indexed (sparse events) from their events. */
  get indexed(): string[] {
    return this.typeIndex?.rebuilt ?? [];
  }

  /** Targets whose payload the repair on open purged (a crash of an older hub between two writes). */
  get repaired(): { device: string; seq: number }[] {
    return this.log.repaired;
  }

  private keysRead: Promise<void> | null = null;

  /** The key records, read once (one per keyed device: a handful of bytes each). */
  private keysLoaded(): Promise<void> {
    this.keysRead ??= (async () => {
      this.keys.clear();
      for await (const [device, value] of this.log.aside(KEYS))
        this.keys.set(device, JSON.parse(value) as KeyRecord);
    })();
    return this.keysRead;
  }

  async keyRecord(device: string): Promise<KeyRecord> {
    await this.keysLoaded();
    return this.keys.get(device) ?? NO_KEYS;
  }

  private held(device: string): Head {
    return this.log.hasDevice(device) ? this.log.head(device) : { seq: 0, hash: ZERO_HASH };
  }

  async heads(): Promise<DeviceHead[]> {
    return this.log
      .deviceNames()
      .map((device) => ({ device, head: this.log.head(device) }))
      .filter((d) => d.head.seq > 0);
  }

  async head(device: string): Promise<Head> {
    return this.held(device);
  }

  async append(device: string, events: Envelope[], gate?: AppendGate): Promise<AppendOutcome> {
    if (!this.isReady) await this.ready;
    const log = this.log;
    const first = events[0];
    if (first === undefined) return { kind: 'invalid', head: this.held(device), message: 'an empty batch' };
    if (events.some((e) => e.device !== device))
      return { kind: 'invalid', head: this.held(device), message: `every event must be of device ${device}` };
    // what is compared must be on disk: a batch reaching into a write still under way waits for it
    if (
      log.hasDevice(device) &&
      first.seq <= log.pendingHead(device).seq &&
      log.pendingHead(device).seq > log.head(device).seq
    )
      await log.flushed();
    // `head` may hold events not yet written: every answer but a write's own names only what is
    const head = log.hasDevice(device) ? log.pendingHead(device) : { seq: 0, hash: ZERO_HASH };
    const forked: Envelope[] = [];
    let duplicates = 0;
    for (const e of events) {
      if (e.seq > head.seq) break;
      if ((await log.hashAt(e.seq, device)) === e.hash) duplicates++;
      else forked.push(e);
    }
    if (forked.length > 0) {
      if (gate?.fork) {
        // an enrolled device's fork is kept only when its batch ends on the device's signature
        await this.keysLoaded();
        const v = gate.fork(
          device,
          events,
          forked.map((e) => e.seq),
          this.keys.get(device) ?? NO_KEYS,
        );
        if (v.kind === 'refuse')
          return { kind: 'refused', head: this.held(device), reason: v.reason, message: v.message };
      }
      const at = new Date().toISOString();
      for (const e of forked) {
        const key = `${device}/${e.seq}/${e.hash}`;
        await log.putAside(FORKS, key, JSON.stringify(e));
        await log.putAside(FORK_TIMES, key, at);
      }
      return { kind: 'fork', head: this.held(device), seqs: forked.map((e) => e.seq) };
    }
    const fresh = duplicates === 0 ? events : events.slice(duplicates);
    if (fresh.length === 0) return { kind: 'duplicate', head: this.held(device), duplicates };
    const from = fresh[0]!.seq;
    if (from !== head.seq + 1)
      return { kind: 'gap', head: this.held(device), expected: head.seq + 1, got: from };
    let kept = fresh;
    let keys: KeyRecord | undefined;
    if (gate) {
      await this.keysLoaded();
      const v = gate.decide(device, fresh, head, this.keys.get(device) ?? NO_KEYS);
      if (v.kind === 'refuse')
        return { kind: 'refused', head: this.held(device), reason: v.reason, message: v.message };
      if (v.count === 0) return { kind: 'waiting', head: this.held(device), waiting: fresh.length };
      if (v.count < fresh.length) kept = fresh.slice(0, v.count);
      keys = v.keys;
    }
    let written: Promise<Head>;
    try {
      written = log.appendSealed(
        kept,
        keys && !sameKeys(this.keys.get(device) ?? NO_KEYS, keys)
          ? { namespace: KEYS, key: device, value: JSON.stringify(keys) }
          : undefined,
      );
      // appendSealed checks everything before it stages anything: a refusal rejects at once
      await Promise.race([written, Promise.resolve()]);
    } catch (err) {
      if (isFieldlogError(err, 'EVENT_INVALID') || isFieldlogError(err, 'CHAIN_BROKEN'))
        return { kind: 'invalid', head: this.held(device), message: err.message };
      throw err;
    }
    if (keys && !sameKeys(this.keys.get(device) ?? NO_KEYS, keys)) {
      this.keys.set(device, keys);
      // a failed write leaves the record on disk as it was: so must the one in memory be
      written.catch(() => {
        this.keysRead = null;
      });
    }
    written.catch(() => {}); // the caller hears of a failed write through `written`
    // a device's first batch creates its stream on disk: the next batch waits for it
    if (head.seq === 0) await written.catch(() => {});
    const to = kept[kept.length - 1]!.seq;
    const waiting = fresh.length - kept.length;
    return { kind: 'stored', from, to, duplicates, ...(waiting > 0 ? { waiting } : {}), written };
  }

  async *quarantined(device?: string): AsyncGenerator<QuarantinedEvent> {
    // forks are few (each one is an incident): their times are read in one go
    const times = new Map<string, string>();
    for await (const [key, at] of this.log.aside(FORK_TIMES)) times.set(key, at);
    for await (const [key, value] of this.log.aside(FORKS)) {
      const [dev, seq, hash] = key.split('/');
      if (device !== undefined && dev !== device) continue;
      const q: QuarantinedEvent = {
        device: dev!,
        seq: Number(seq),
        hash: hash!,
        event: JSON.parse(value) as Envelope,
      };
      const at = times.get(key);
      if (at !== undefined) q.at = at;
      yield q;
    }
  }

  async *events(q: EventQuery): AsyncGenerator<StoredEvent[]> {
    // the log's one read (src/log/query.ts): the time index narrows, the filter is exact
    if (!('fleet' in q) && !this.log.hasDevice(q.device)) return;
    if ('fleet' in q && this.log.fleetHead === 0) return;
    // only sparse types (the page's timeline): their index, not every reading in the range
    if (!('fleet' in q) && sparseTypesOnly(q.types) && this.isReady && this.typeIndex?.covers(q.device)) {
      yield* this.typeIndex.read(q, q.types);
      return;
    }
    yield* this.log.read(q);
  }

  async fleetHead(): Promise<number> {
    return this.log.fleetHead;
  }

  async stateAt(device: string, at: AsOfQuery) {
    if (!this.log.hasDevice(device) || this.log.head(device).seq === 0)
      return { seq: 0, state: deviceState.initial() };
    const r = await new Projector(this.log, deviceState, { device }).stateAt(at);
    return { seq: r.seq, state: r.state };
  }

  async verify(device?: string): Promise<VerifiedChain[]> {
    const names = device === undefined ? (await this.heads()).map((h) => h.device) : [device];
    const out: VerifiedChain[] = [];
    for (const d of names) {
      if (!this.log.hasDevice(d)) continue;
      out.push({ device: d, ...(await this.log.verify(d)) });
    }
    return out;
  }

  onAppended(
    listener: (fleetHead: number, batch?: { first: number; events: Envelope[] }) => void,
  ): () => void {
    const on = (events: Envelope[] | null, first: number | undefined, count: number) => {
      if (first === undefined) return;
      listener(first + count - 1, events ? { first, events } : undefined);
    };
    this.log.on('append', on);
    return () => this.log.off('append', on);
  }

  async sensors(device: string): Promise<SensorSummary[]> {
    await this.ready;
    if (!this.log.hasDevice(device)) return [];
    if (!this.rollups) return foldSensors((q) => this.events(q), device);
    const rows: { sensor: string; b: ReadingBucket }[] = [];
    for await (const row of this.rollups.sensorHours(device)) rows.push(row);
    return summarize(rows);
  }

  async series(device: string, sensor: string, range: BucketRange): Promise<SeriesData> {
    await this.ready;
    const res = resolutionFor(range.bucketMs);
    if (res === 'raw' || !this.rollups) return foldSeries((q) => this.events(q), device, sensor, range);
    const { lo, hi } = covered(range);
    const rows: ReadingBucket[] = [];
    for await (const b of this.rollups.buckets<ReadingBucket>(device, res, sensor, lo, hi)) rows.push(b);
    return seriesOf(rows, range.bucketMs);
  }

  async track(device: string, range: BucketRange): Promise<TrackData> {
    await this.ready;
    const res = resolutionFor(range.bucketMs);
    if (res === 'raw' || !this.rollups) return foldTrack((q) => this.events(q), device, range);
    const { lo, hi } = covered(range);
    const rows: FixBucket[] = [];
    for await (const b of this.rollups.buckets<FixBucket>(device, res, null, lo, hi)) rows.push(b);
    return trackOf(rows, range.bucketMs);
  }

  async sizeBytes(): Promise<number | undefined> {
    // LevelDB's own estimate leaves out its write-ahead log: the folder's files say it all
    if (this.log.location) return sizeOnDisk(this.log.location).catch(() => undefined);
    return this.log.approximateSize();
  }

  async close(): Promise<void> {
    await this.log.close();
  }
}

const kept = new WeakMap<EventLog, { rollups: LevelRollups; ready: Promise<void> }>();

/**
 * A log's one rollup projection (stores over the same log share it), attached once the
 * stale ones are rebuilt: a rebuild replaces a device's rollups, no batch may merge into them meanwhile.
 */
function rollupsOf(log: EventLog): { rollups: LevelRollups; ready: Promise<void> } {
  let k = kept.get(log);
  if (!k) {
    const rollups = new LevelRollups(log);
    const ready = rollups.rebuildStale().then(() => log.addProjection(rollups));
    ready.catch(() => {});
    k = { rollups, ready };
    kept.set(log, k);
  }
  return k;
}

const indexes = new WeakMap<EventLog, { index: LevelTypeIndex; ready: Promise<void> }>();

/** A log's one index of sparse events (stores over the same log share it), attached once caught up. */
function typeIndexOf(log: EventLog): { index: LevelTypeIndex; ready: Promise<void> } {
  let k = indexes.get(log);
  if (!k) {
    const index = new LevelTypeIndex(log);
    const ready = index.catchUp().then(() => log.addProjection(index));
    ready.catch(() => {});
    k = { index, ready };
    indexes.set(log, k);
  }
  return k;
}

/** The store over a log already open in fleet mode (the demo, tests). */
export function fleetStoreOver(
  log: EventLog,
  opts: { rollups?: boolean; typeIndex?: boolean } = {},
): LevelFleetStore {
  if (log.isClosed) throw fail('LOG_CLOSED', 'the log is closed');
  return new LevelFleetStore(log, undefined, opts.rollups ?? true, opts.typeIndex ?? true);
}
