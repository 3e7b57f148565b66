// The append-only event log: one LevelDB (or any abstract-level store) holding one
// stream per device. Appends from many callers are grouped into one batch per turn and
// resolve only once that batch is written; the chain, seqs and the time index are kept
// by the log itself, never by its callers. This is the facade its users meet; the work is
// done by parts it composes, each behind a small interface: the disk (disk.ts), the stream
// registry (streams.ts), the record codec (records.ts), the stager and its group commit
// (stager.ts), redaction (redactor.ts), the indexer (indexer.ts), the reader (reader.ts),
// snapshots (snapshots.ts), the stored chain's verification (verify-stored.ts), and the
// full-disk state (full-disk.ts): writes refused until space returns and the store is reopened.

import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { fail } from '../errors.js';
import { decodeText, encodeText, eventKey, KEY, metaKey, streamRange } from './codec.js';
import { type LogBackend, LogDisk, mapOpenError } from './disk.js';
import type { Envelope, EventInput } from './envelope.js';
import { ZERO_HASH } from './envelope.js';
import { FullDisk } from './full-disk.js';
import { RunIndexer } from './indexer.js';
import { IntervalSync, type SyncTimers, systemSyncTimers } from './interval-sync.js';
import { type Anchor, anchorOf, type PruneOptions, type PruneResult, Pruner } from './prune.js';
import type { LogQuery, ReadItem } from './query.js';
import { type FoldEvent, type JsonEvent, LogReader, type ReadRange, type TimeRange } from './reader.js';
import { RecordCodec } from './records.js';
import { Redactor } from './redactor.js';
import type { SealClock } from './seal.js';
import type { Identity } from './signing.js';
import { Snapshots } from './snapshots.js';
import {
  type AsideRecord,
  type BatchProjection,
  type PendingBatch,
  Stager,
  type StreamSigner,
} from './stager.js';
import { type Head, type StreamInfo, StreamRegistry } from './streams.js';
import { StringTable } from './strings.js';
import { type Thinned, type ThinRequest, thinReadings } from './thinning.js';
import type { VerifyReport } from './verify.js';
import type { SignatureCheckOptions } from './verify-signatures.js';
import { verifyStored } from './verify-stored.js';

export type { LogBackend } from './disk.js';
export { RUN_SPAN_MS } from './indexer.js';
export type { SyncTimers } from './interval-sync.js';
export type { Anchor, PruneOptions, PruneResult } from './prune.js';
export type { DeviceRead, FleetRead, LogQuery, ReadItem } from './query.js';
export type { FoldEvent, JsonEvent, ReadRange, TimeRange } from './reader.js';
export type { AsideRecord, BatchProjection, StagedEvent, StagedEvents, StreamSigner } from './stager.js';
export { FORMAT, type Head, type StreamInfo } from './streams.js';
export type { Thinned, ThinRequest } from './thinning.js';

export type Clock = SealClock;

/** The meta key of a caller's mark `name` of one stream (`mark:<name>:<device>`). */
function markKeyOf(name: string, device: string): Uint8Array {
  return metaKey(`mark:${name}:${device}`);
}

export const systemClock: Clock = {
  now: () => Date.now(),
  mono: () => Math.round(performance.now() * 1000) / 1000,
};

export interface LogOptions {
  /** The stream `append` writes to; created when `create` is set. */
  device?: string;
  create?: boolean;
  /** Durable (fsync each batch, the default) or fast. */
  sync?: boolean;
  /**
   * With `sync`: the low-wear mode. Batches are written without an fsync each and one fsync
   * at most every this many ms makes them safe from a power cut (interval-sync.ts).
   */
  syncEveryMs?: number;
  /** The low-wear mode's timers (tests). */
  syncTimers?: SyncTimers;
  /** LevelDB's memtable size and block compression (classic-level's defaults: 4 MiB, on). */
  store?: { writeBufferSize?: number; compression?: boolean };
  clock?: Clock;
  /** Id of this process start; random by default. */
  boot?: string;
  /** Keep a fleet-wide arrival order (the hub's store). */
  fleet?: boolean;
  /** The full-disk probe (full-disk.ts): its timers, period and space check (tests). */
  diskFull?: {
    timers?: SyncTimers;
    probeMs?: number;
    maxProbeMs?: number;
    space?: (dir: string) => Promise<{ free: number; needed: number }>;
  };
}

/** Opens the log's store again (null: a store that cannot be, such as one in memory). */
type Reopener = (() => Promise<LogBackend>) | null;

export class EventLog extends EventEmitter {
  readonly boot: string;
  /** The store and its one write (the seam where tests inject disk faults). */
  readonly disk: LogDisk;
  private readonly streams: StreamRegistry;
  private readonly index: RunIndexer;
  private readonly codec: RecordCodec;
  private readonly redactor: Redactor;
  private readonly stager: Stager;
  private readonly reader: LogReader;
  private readonly snapshots: Snapshots;
  private readonly pruner: Pruner;
  /** The low-wear mode's periodic fsync; null when each batch is synced (or none is). */
  private readonly intervalSync: IntervalSync | null;
  /** Writes refused while the filesystem is full, and the probe that ends it. */
  private readonly fullDisk: FullDisk;
  private closed = false;

  private constructor(db: LogBackend, location: string | null, opts: LogOptions, reopener: Reopener) {
    super();
    const fleet = opts.fleet ?? false;
    this.boot = opts.boot ?? randomBytes(8).toString('hex');
    const durable = opts.sync ?? true;
    const interval = durable && opts.syncEveryMs !== undefined;
    this.disk = new LogDisk(db, location, durable, durable && !interval);
    this.streams = new StreamRegistry(this.disk);
    this.index = new RunIndexer(fleet);
    this.codec = new RecordCodec(new StringTable());
    this.redactor = new Redactor(this.disk, this.streams, this.codec);
    this.stager = new Stager({
      disk: this.disk,
      streams: this.streams,
      codec: this.codec,
      index: this.index,
      clock: opts.clock ?? systemClock,
      boot: this.boot,
      redactions: this.redactor,
      closed: () => this.closed,
      capture: () => !fleet || this.listenerCount('append') > 0,
      written: (batch) => this.announce(batch),
      refusal: () => (this.fullDisk.isFull ? this.diskFullError() : null),
      writeFailed: (cause) => this.fullDisk.failed(cause),
    });
    this.fullDisk = new FullDisk({
      location: reopener === null ? null : location,
      timers: opts.diskFull?.timers ?? systemSyncTimers,
      reopen: () => this.reopenStore(reopener),
      ...(opts.diskFull?.space ? { space: opts.diskFull.space } : {}),
      ...(opts.diskFull?.probeMs !== undefined ? { probeMs: opts.diskFull.probeMs } : {}),
      ...(opts.diskFull?.maxProbeMs !== undefined ? { maxProbeMs: opts.diskFull.maxProbeMs } : {}),
    });
    this.fullDisk.on('disk-full', (err: unknown) => this.emit('disk-full', err));
    this.fullDisk.on('probe-error', (err: unknown) => this.emit('probe-error', err));
    this.fullDisk.on('writable', () => {
      // what the reopen wrote out is on disk; the low-wear mode's synced head catches up
      if (this.intervalSync) void this.intervalSync.syncNow().catch(() => {});
      this.emit('writable');
    });
    this.reader = new LogReader(this.disk, this.streams, this.codec, this.index);
    this.snapshots = new Snapshots(this.disk, this.codec);
    this.pruner = new Pruner(this.disk, this.reader);
    this.intervalSync = interval
      ? new IntervalSync({
          disk: this.disk,
          everyMs: opts.syncEveryMs!,
          timers: opts.syncTimers ?? systemSyncTimers,
          writtenHeads: () => new Map(this.streams.names().map((d) => [d, this.streams.head(d)])),
          formatVersion: () => this.streams.formatVersion,
          paused: () => this.fullDisk.isFull,
        })
      : null;
    this.intervalSync?.on('synced', () => this.emit('synced'));
    // an fsync that finds the disk full is the full state, not an error said every second
    this.intervalSync?.on('sync-error', (err: unknown) => {
      if (!this.fullDisk.failed(err)) this.emit('sync-error', err);
    });
  }

  /** Open (or with `create`, make) the log in folder `dir`. */
  static async open(dir: string, opts: LogOptions = {}): Promise<EventLog> {
    if (!opts.create) {
      if (!existsSync(dir)) throw fail('LOG_NOT_FOUND', `${dir} does not exist`);
      if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'CURRENT'))) {
        throw fail('LOG_NOT_FOUND', `${dir} is not a fieldlog log`);
      }
    }
    const openStore = async (create: boolean): Promise<LogBackend> => {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
        keyEncoding: 'view',
        valueEncoding: 'view',
        createIfMissing: create,
        ...opts.store,
      });
      try {
        await db.open();
      } catch (err) {
        throw mapOpenError(dir, err);
      }
      return db;
    };
    const db = await openStore(opts.create ?? false);
    return EventLog.fromBackend(db, { ...opts }, dir, () => openStore(false));
  }

  /** A log held in memory, for tests and what-if work. */
  static async memory(opts: LogOptions = {}): Promise<EventLog> {
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return EventLog.fromBackend(db, { create: true, ...opts }, null);
  }

  /** Use an already open abstract-level store (`keyEncoding` and `valueEncoding` 'view'). */
  static async fromBackend(
    db: LogBackend,
    opts: LogOptions,
    location: string | null,
    reopener: Reopener = null,
  ): Promise<EventLog> {
    const log = new EventLog(db, location, opts, reopener);
    try {
      await log.streams.load(log.codec, opts.create ?? false);
      await log.redactor.repair();
      await log.index.load(db);
      await log.streams.chooseDefault(opts.device, opts.create ?? false);
      await log.intervalSync?.start();
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return log;
  }

  private checkOpen(): void {
    if (this.closed) throw fail('LOG_CLOSED', 'the log is closed');
  }

  /**
   * Listeners get the batch (null when a fleet store did not keep it: read it back), in a
   * fleet store the position of its first event, and the count.
   */
  private announce(batch: PendingBatch): void {
    if (batch.count === 0) return;
    const position = this.index.durablePosition;
    this.emit(
      'append',
      batch.captured ? batch.envelopes : null,
      this.index.fleet ? position - batch.count + 1 : undefined,
      batch.count,
    );
    this.fullDisk.wrote();
    if (this.intervalSync) this.intervalSync.written();
    else this.emit('synced');
  }

  private diskFullError(): Error {
    const cause = this.fullDisk.error as Error | null;
    return fail(
      'LOG_DISK_FULL',
      `the log's filesystem is full${cause ? ` (${cause.message})` : ''}; writing resumes when space returns`,
      cause ?? undefined,
    );
  }

  /**
   * After a full disk, with space back: open the store afresh (full-disk.ts says why). Nothing
   * is written meanwhile (writes are refused while full). A batch whose write failed never
   * happened: if it reached LevelDB's write-ahead log anyway (a failed fsync), its events are
   * deleted here, so the next write reuses their seqs as the heads in memory say.
   */
  private async reopenStore(reopener: Reopener): Promise<void> {
    if (this.closed) throw fail('LOG_CLOSED', 'the log is closed');
    if (reopener === null) return;
    await this.disk.reopen(reopener);
    const db = this.disk.db;
    for (const s of this.streams.all()) {
      const { lt } = streamRange(KEY.EVENT, s.id);
      const beyond = await db.keys({ gt: eventKey(s.id, s.durableSeq), lt }).all();
      if (beyond.length > 0)
        await db.batch(
          beyond.map((key) => ({ type: 'del' as const, key })),
          this.disk.writeOptions,
        );
    }
  }

  // ---------------------------------------------------------------- the store

  get db(): LogBackend {
    return this.disk.db;
  }

  get location(): string | null {
    return this.disk.location;
  }

  get durable(): boolean {
    return this.disk.durable;
  }

  /** Targets whose payload the repair on open purged (an EventRedacted written without its purge). */
  get repaired(): { device: string; seq: number }[] {
    return this.redactor.repaired;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes the store uses on disk (LevelDB's own estimate over the event range). */
  approximateSize(): Promise<number> {
    return this.disk.approximateSize();
  }

  compact(): Promise<void> {
    return this.disk.compact();
  }

  /** Write what is queued, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.fullDisk.stop();
    await this.flushed();
    // a full store takes no marks (the next open rescans, as after a crash)
    if (!this.fullDisk.isFull) await this.redactor.markAll();
    if (this.intervalSync) {
      this.intervalSync.stop();
      await this.intervalSync.syncNow();
    }
    this.closed = true;
    await this.disk.db.close();
    this.emit('close');
  }

  // ---------------------------------------------------------------- streams

  get device(): string | undefined {
    return this.streams.defaultName;
  }

  deviceNames(): string[] {
    return this.streams.names();
  }

  /** The durable head: what is on disk. */
  head(device?: string): Head {
    return this.streams.head(device);
  }

  /** The head including events accepted but not yet on disk. */
  pendingHead(device?: string): Head {
    return this.streams.pendingHead(device);
  }

  /**
   * The head a power cut cannot take back: the durable head, or in the low-wear mode what
   * the last fsync covered. Only this much may leave the device ('synced' says it moved).
   */
  syncedHead(device?: string): Head {
    if (!this.intervalSync) return this.head(device);
    const name = this.streams.get(device).device;
    return this.intervalSync.head(name) ?? { seq: 0, hash: ZERO_HASH };
  }

  /**
   * Whether the log's filesystem is full: writes are refused (LOG_DISK_FULL) until space
   * returns; 'disk-full' said when it began, 'writable' says when it ends (full-disk.ts).
   */
  get diskFull(): boolean {
    return this.fullDisk.isFull;
  }

  /** Look for space now instead of at the next probe: true when the log takes writes again. */
  probeSpace(): Promise<boolean> {
    return this.fullDisk.probe();
  }

  /** Whether batches are fsynced one period at a time (the low-wear mode). */
  get syncsByInterval(): boolean {
    return this.intervalSync !== null;
  }

  streamsInfo(): StreamInfo[] {
    return this.deviceNames().map((device) => ({ device, head: this.head(device) }));
  }

  hasDevice(device: string): boolean {
    return this.streams.has(device);
  }

  /** Events stored in a stream: seqs are contiguous from 1, or from the anchor's next after a prune. */
  count(device?: string): number {
    const s = this.streams.get(device);
    return s.durableSeq - (s.anchor?.seq ?? 0);
  }

  // ---------------------------------------------------------------- retention (prune.ts)

  /**
   * Delete the stream's events up to `throughSeq` (never its head, never past syncedHead()),
   * their index entries and snapshots, recording the anchor — seq and hash of the last pruned
   * event, with the projections' states and the chain of keys as of it — in the same atomic
   * write (one per chunk of events); then compact the range so its space is given back.
   */
  prune(throughSeq: number, opts: PruneOptions & { device?: string } = {}): Promise<PruneResult> {
    try {
      this.checkOpen();
      if (this.index.fleet) throw fail('EVENT_INVALID', 'a fleet store is not pruned');
      const s = this.streams.get(opts.device);
      return this.pruner.prune(s, throughSeq, this.syncedHead(s.device).seq, opts).then((r) => {
        // whoever pruned (retention, the disk budget), the metrics and the console hear of it
        if (r.pruned > 0) this.emit('pruned', { device: s.device, ...r });
        return r;
      });
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * A mark kept in the log's meta keys beside the stream (retention's highest acknowledged
   * seq): a small JSON value, written durably; undefined when none was written.
   */
  async mark(name: string, device?: string): Promise<unknown> {
    const v = await this.disk.db.get(markKeyOf(name, this.streams.get(device).device));
    if (v === undefined) return undefined;
    try {
      return JSON.parse(decodeText(v));
    } catch {
      return undefined; // a mark is a hint: unreadable, it is as good as none
    }
  }

  async setMark(name: string, value: unknown, device?: string): Promise<void> {
    this.checkOpen();
    const key = markKeyOf(name, this.streams.get(device).device);
    await this.disk.write([{ type: 'put', key, value: encodeText(JSON.stringify(value)) }]);
  }

  /** The last pruned event of the stream (the kept chain starts after it); null when none was. */
  anchor(device?: string): Anchor | null {
    return anchorOf(this.streams.get(device));
  }

  // ---------------------------------------------------------------- writing

  /**
   * Append one event to the default stream. Seq, time, boot, mono, digest, prev and hash
   * are assigned now, in call order; the promise resolves once the event is on disk.
   */
  append(input: EventInput): Promise<Envelope> {
    return this.appendTo(undefined, input);
  }

  /**
   * Append several events to the default stream as one unit of the same batch (all or
   * none); one promise for all of them. A bad input refuses the whole call.
   */
  appendMany(inputs: EventInput[]): Promise<Envelope[]> {
    try {
      this.checkOpen();
      return this.stager.appendMany(this.streams.get(undefined), inputs);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  appendTo(device: string | undefined, input: EventInput): Promise<Envelope> {
    try {
      this.checkOpen();
      return this.stager.append(this.streams.get(device), input);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Append envelopes sealed elsewhere (the hub's copy of a device log). Each must follow
   * the stream's head exactly and verify; the first that does not stops the call with
   * CHAIN_BROKEN / EVENT_INVALID and nothing from that call is written. `beside`, a record of
   * the aside key space (see putAside), is written in the same atomic write as the events.
   */
  appendSealed(envelopes: Envelope[], beside?: AsideRecord): Promise<Head> {
    try {
      this.checkOpen();
      return this.stager.appendSealed(envelopes, beside);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  // ---------------------------------------------------------------- signing (signing.ts)

  /**
   * Sign the last event of every group commit of the default stream with `signer`'s key from
   * now on (null: stop). For a log whose key event is already written; a new key is recorded
   * with `appendKeyEvent`.
   */
  signWith(signer: StreamSigner | null, device?: string): void {
    this.stager.setSigner(this.streams.get(device), signer);
  }

  /** The key the stream's own events are signed with, and the first seq it signs. */
  signer(device?: string): StreamSigner | undefined {
    return this.stager.signer(this.streams.get(device));
  }

  /**
   * Record a device key: `DeviceKeyAdded {alg, publicKey}` signed by `next` itself, or
   * `DeviceKeyRotated {publicKey}` signed by the key in force; later events are signed by `next`.
   */
  appendKeyEvent(
    type: 'DeviceKeyAdded' | 'DeviceKeyRotated',
    next: Identity,
    device?: string,
  ): Promise<Envelope> {
    try {
      this.checkOpen();
      const data: Record<string, unknown> =
        type === 'DeviceKeyAdded'
          ? { alg: 'ed25519', publicKey: next.publicKey }
          : { publicKey: next.publicKey };
      return this.stager.appendKeyEvent(
        this.streams.get(device),
        { type, data, meta: { actor: 'system' } },
        next,
      );
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Write what `p` derives from every later sealed append in the same atomic batch as the
   * events (the hub's rollups). Added once, right after open, before any append.
   */
  addProjection(p: BatchProjection): void {
    this.stager.addProjection(p);
  }

  /** Resolves when everything appended so far is on disk. */
  flushed(): Promise<void> {
    return this.stager.flushed();
  }

  /**
   * Purge the payload of event `seq`, recorded as an `EventRedacted` with a reason and an
   * actor. The purge and the EventRedacted are written in one batch.
   */
  async redact(seq: number, reason: string, actor: string, device?: string): Promise<Envelope> {
    this.checkOpen();
    const s = this.streams.get(device);
    return this.pruner.exclusive(() => this.redactor.redact(this.stager, s, seq, reason, actor));
  }

  /**
   * Purge the payloads of the oldest readings after `req.afterSeq` (at most `req.max`),
   * recorded as one `ReadingsPurged` in the same atomic write (thinning.ts); null when none is left.
   */
  async thinReadings(req: ThinRequest, device?: string): Promise<Thinned | null> {
    this.checkOpen();
    const s = this.streams.get(device);
    // a prune must not run between the thinning's read of the records and their write
    return this.pruner.exclusive(() =>
      thinReadings({ disk: this.disk, codec: this.codec, writer: this.stager }, s, req),
    );
  }

  /**
   * A key space the log itself never reads, for data kept beside the streams (the hub's
   * quarantined forks). Written durably.
   */
  async putAside(namespace: string, key: string, value: string): Promise<void> {
    this.checkOpen();
    if (this.fullDisk.isFull) throw this.diskFullError();
    try {
      await this.reader.putAside(namespace, key, value);
    } catch (err) {
      if (this.fullDisk.failed(err)) throw this.diskFullError();
      throw err;
    }
  }

  // ---------------------------------------------------------------- reading (reader.ts)

  /** Full envelopes in seq order, streamed. */
  events(range: ReadRange = {}): AsyncGenerator<Envelope> {
    return this.reader.events(range);
  }

  /** Every read of events in one (see LogReader.read). */
  read(q: LogQuery = {}): AsyncGenerator<ReadItem[]> {
    return this.reader.read(q);
  }

  /** The same envelopes as JSON text, built from the stored canonical payload without parsing it. */
  eventsJson(range: ReadRange & { short?: boolean } = {}): AsyncGenerator<JsonEvent[]> {
    return this.reader.eventsJson(range);
  }

  /** The stored hash of one event (64 zeros for seq 0), or undefined when there is none. */
  hashAt(seq: number, device?: string): Promise<string | undefined> {
    return this.reader.hashAt(seq, device);
  }

  aside(namespace: string): AsyncGenerator<[string, string]> {
    return this.reader.aside(namespace);
  }

  get(seq: number, device?: string): Promise<Envelope | undefined> {
    return this.reader.get(seq, device);
  }

  /** Envelopes at these seqs of one stream, in the order given (LOG_CORRUPT when one is missing). */
  envelopesAt(device: string, seqs: readonly number[]): Promise<Envelope[]> {
    return this.reader.envelopesAt(device, seqs);
  }

  /** Each event's seq and type, a chunk at a time, without parsing payloads (index rebuilds). */
  typeChunks(range: ReadRange = {}): AsyncGenerator<{ seq: number; type: string }[]> {
    return this.reader.typeChunks(range);
  }

  /** Events for folds, a chunk at a time: no hashing, no hex. */
  foldChunks(range: ReadRange = {}): AsyncGenerator<FoldEvent[]> {
    return this.reader.foldChunks(range);
  }

  /** Events for folds, one at a time. */
  foldEvents(range: ReadRange = {}): AsyncGenerator<FoldEvent> {
    return this.reader.foldEvents(range);
  }

  /** The smallest seq range holding every event recorded within [since, until]; undefined when none. */
  timeBounds(range: TimeRange = {}): Promise<{ fromSeq: number; toSeq: number } | undefined> {
    return this.reader.timeBounds(range);
  }

  /** Envelopes whose recorded time is within [since, until], in seq order. */
  eventsByTime(range: TimeRange = {}): AsyncGenerator<Envelope> {
    return this.reader.eventsByTime(range);
  }

  /** The seq of the latest event (by recorded time) at or before `time`; 0 if none. */
  seqAtTime(time: string | number, device?: string): Promise<number> {
    return this.reader.seqAtTime(time, device);
  }

  /** The fleet's events in arrival order (hub stores only). */
  fleetEvents(
    fromPosition = 1,
    toPosition = Number.MAX_SAFE_INTEGER,
  ): AsyncGenerator<{ position: number; event: Envelope }> {
    return this.reader.fleetEvents(fromPosition, toPosition);
  }

  get fleetHead(): number {
    return this.reader.fleetHead;
  }

  // ---------------------------------------------------------------- snapshots, verify

  /** Store a projection's state as of `seq`, tied to that event's hash. Derived data: not synced. */
  async saveSnapshot(projection: string, seq: number, stateJson: string, device?: string): Promise<void> {
    // derived data: not written while the disk is full, and a read that saves one never fails for it
    if (this.fullDisk.isFull) return;
    try {
      await this.snapshots.save(this.streams.get(device), projection, seq, stateJson);
    } catch (err) {
      if (!this.fullDisk.failed(err)) throw err;
    }
  }

  /**
   * The newest snapshot at or before `maxSeq` whose hash still matches the event it
   * covers; a snapshot that no longer matches the chain is deleted and never used.
   */
  async loadSnapshot(
    projection: string,
    maxSeq: number,
    device?: string,
  ): Promise<{ seq: number; state: unknown } | null> {
    return this.snapshots.load(this.streams.get(device), projection, maxSeq);
  }

  /**
   * Walk one device's stored chain and report every problem with its seq. The payload
   * is hashed as it lies on disk; nothing is parsed but the targets of redactions (and the
   * key events, when `signatures` asks for the signatures to be checked too).
   */
  async verify(device?: string, signatures?: SignatureCheckOptions): Promise<VerifyReport> {
    return verifyStored(this.disk, this.codec, this.streams.get(device), signatures);
  }
}
