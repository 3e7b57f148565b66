// The append-only event log's store: one LevelDB (or any abstract-level store) holding one
// stream per device. Appends from many callers are grouped into one batch per turn and
// resolve only once that batch is written; the chain, seqs and the time index are kept
// by the log itself, never by its callers.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { AbstractLevel } from 'abstract-level';
import { fail } from '../errors.js';
import {
  decodeRecord,
  decodeText,
  encodeRecord,
  encodeSealedRecord,
  encodeText,
  eventKey,
  eventKeySeq,
  KEY,
  metaKey,
  RecordDecodeError,
  type StoredRecord,
  streamRange,
  type TimeRun,
} from './codec.js';
import {
  type Envelope,
  type EventInput,
  type EventMeta,
  isActor,
  isDeviceId,
  sha256hex,
  ZERO_HASH,
} from './envelope.js';
import { GroupCommit, type Waiter } from './group-commit.js';
import { type FleetRun, RunIndexer } from './indexer.js';
import { MARK_EVERY, markKey, markOp, parseMark, purgedRecord, unappliedRedactions } from './redaction.js';
import { type CheckedBatch, check, type Sealed, seal } from './seal.js';
import { StringTable } from './strings.js';

export { type CheckedBatch, checkMeta, type Sealed } from './seal.js';

const ZERO_HEAD = { seq: 0, hash: ZERO_HASH };

// biome-ignore lint/suspicious/noExplicitAny: abstract-level's generics vary by implementation
export type LogBackend = AbstractLevel<any, Uint8Array, Uint8Array>;

/**
 * Version 2 writes the time and fleet indexes as runs (one entry for many events);
 * version 1 logs (an entry per event) are read as they are and marked 2 on their first write.
 */
export const FORMAT = { format: 'fieldlog-log', version: 2 } as const;
const READS_FORMATS = [1, 2];
export interface Clock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic ms since this process started. */
  mono(): number;
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
  clock?: Clock;
  /** Id of this process start; random by default. */
  boot?: string;
  /** Keep a fleet-wide arrival order (the hub's store). */
  fleet?: boolean;
}

export interface Head {
  seq: number;
  hash: string;
}

export interface StreamInfo {
  device: string;
  head: Head;
}

export interface ReadRange {
  device?: string;
  fromSeq?: number;
  toSeq?: number;
}

export interface TimeRange {
  device?: string;
  since?: string | number;
  until?: string | number;
}

/** An event as folds see it: no hashes to compute. */
export interface FoldEvent {
  seq: number;
  type: string;
  readonly time: string;
  timeMs: number;
  boot: string;
  mono: number;
  data: Record<string, unknown> | null;
  meta?: EventMeta;
}

export interface Stream {
  id: number;
  device: string;
  /** Head including events queued but not yet written. */
  seq: number;
  hash: Uint8Array;
  /** Head on disk. */
  durableSeq: number;
  durableHash: Uint8Array;
  /** The open time run (including queued events), and what of it is on disk. */
  run: TimeRun | null;
  durableRun: TimeRun | null;
  /** Every EventRedacted up to this seq is applied on disk (see redaction.ts). */
  marked: number;
  /** Its `stream:` meta key is on disk; a hub's new stream is written with its first batch. */
  saved: boolean;
}

export interface BatchOp {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

export interface PendingBatch {
  ops: BatchOp[];
  waiters: Waiter[];
  /** What the batch holds, for 'append' listeners; `captured` is false when some were not kept. */
  envelopes: Envelope[];
  count: number;
  captured: boolean;
  redacting: Set<string>;
  /** Each stream's last hash in this batch: its durable head once the batch is written. */
  heads: Map<Stream, { seq: number; hash: Uint8Array }>;
  /** Streams whose open time run changed in this batch, and the batch's last fleet run. */
  runs: Set<Stream>;
  fleetRun: FleetRun | null;
  /** Payloads purged in this batch, read when it is written: staged or stored events. */
  purges: { s: Stream; seq: number }[];
  /** The redaction marks this batch moves (the streams' heads in it). */
  marks: Map<Stream, number>;
  /** Streams this batch creates on disk. */
  created: Stream[];
}

function newBatch(): PendingBatch {
  return {
    ops: [],
    waiters: [],
    envelopes: [],
    count: 0,
    captured: true,
    redacting: new Set(),
    heads: new Map(),
    runs: new Set(),
    fleetRun: null,
    purges: [],
    marks: new Map(),
    created: [],
  };
}

export const ZERO = new Uint8Array(32);

function newStream(id: number, device: string): Stream {
  return {
    id,
    device,
    seq: 0,
    hash: ZERO,
    durableSeq: 0,
    durableHash: ZERO,
    run: null,
    durableRun: null,
    marked: 0,
    saved: true,
  };
}

export function sha256(input: string | Uint8Array): Uint8Array {
  return unhex(sha256hex(input));
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/**
 * Chunks of an iterator, asking for the next chunk before handing out the current one,
 * so LevelDB reads while JavaScript decodes and hashes.
 */
export async function* prefetched<K, V>(it: {
  nextv(n: number): Promise<[K, V][]>;
  close(): Promise<void>;
}): AsyncGenerator<[K, V][]> {
  try {
    let next = it.nextv(1000);
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) return;
      next = it.nextv(1000);
      yield chunk;
    }
  } finally {
    await it.close().catch(() => {});
  }
}

export function asideKey(namespace: string, key: string): Uint8Array {
  const ns = encodeText(namespace);
  const k = encodeText(key);
  const out = new Uint8Array(2 + ns.length + k.length);
  out[0] = KEY.ASIDE;
  out.set(ns, 1);
  out[1 + ns.length] = 0;
  out.set(k, 2 + ns.length);
  return out;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sameBytes(a, b);
}

export function sameBytes(a: Uint8Array, b: Uint8Array, n = a.length): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function mapOpenError(dir: string, err: unknown): Error {
  const e = err as { code?: string; cause?: { code?: string } };
  if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
    return fail('LOG_LOCKED', `${dir} is in use by another process (one writer per log)`, err);
  }
  if (e.cause?.code === 'LEVEL_CORRUPTION' || e.code === 'LEVEL_CORRUPTION') {
    return fail(
      'LOG_CORRUPT',
      `${dir}: the store is damaged: ${(e.cause as Error | undefined)?.message ?? ''}`,
      err,
    );
  }
  return fail(
    'LOG_NOT_FOUND',
    `${dir} cannot be opened as a fieldlog log: ${(e.cause as Error)?.message ?? (err as Error).message}`,
    err,
  );
}

/**
 * The log's store: streams, group commit and the chain on writing, redaction, and the
 * decoding every reader shares. `EventLog` adds the reads, snapshots and verify.
 */
export class LogStore extends EventEmitter {
  readonly db: LogBackend;
  readonly boot: string;
  readonly durable: boolean;
  readonly location: string | null;
  protected readonly clock: Clock;
  protected readonly strings: StringTable;
  protected readonly streams = new Map<string, Stream>();
  protected readonly byId = new Map<number, Stream>();
  protected defaultDevice: string | undefined;
  protected readonly fleet: boolean;
  /** The time and fleet runs. */
  protected readonly index: RunIndexer;
  /** The one path to disk (see group-commit.ts). */
  protected readonly commits: GroupCommit<PendingBatch>;
  protected formatVersion: number = FORMAT.version;
  protected closed = false;
  protected redactingNow = new Set<string>();
  /** Targets whose payload the repair on open purged (see repairRedactions). */
  readonly repaired: { device: string; seq: number }[] = [];
  /** LevelDB's `sync`: not in abstract-level's option types, honoured by classic-level. */
  protected readonly writeOptions: { sync: boolean; keyEncoding?: 'view' };

  protected constructor(db: LogBackend, location: string | null, opts: LogOptions) {
    super();
    this.db = db;
    this.location = location;
    this.clock = opts.clock ?? systemClock;
    this.boot = opts.boot ?? randomBytes(8).toString('hex');
    this.durable = opts.sync ?? true;
    this.writeOptions = { sync: this.durable };
    this.fleet = opts.fleet ?? false;
    this.index = new RunIndexer(this.fleet);
    this.commits = new GroupCommit<PendingBatch>({
      newBatch,
      prepare: (batch) => this.prepare(batch),
      write: (batch) => this.write(batch.ops),
      failed: (batch, later, cause) => this.rollback(batch, later, cause),
      written: (batch) => this.announce(batch),
    });
    this.strings = new StringTable();
  }

  protected async load(opts: LogOptions): Promise<void> {
    const where = this.location ?? 'the store';
    const format = await this.db.get(metaKey('format'));
    if (format === undefined) {
      const any = await this.db.keys({ limit: 1 }).all();
      if (any.length > 0 || !opts.create) throw fail('LOG_NOT_FOUND', `${where} is not a fieldlog log`);
      await this.db.put(metaKey('format'), encodeText(JSON.stringify(FORMAT)), this.writeOptions);
    } else {
      let f: { format?: string; version?: number };
      try {
        f = JSON.parse(decodeText(format));
      } catch {
        throw fail('LOG_CORRUPT', `${where}: the format marker is unreadable`);
      }
      if (f.format !== FORMAT.format) throw fail('LOG_NOT_FOUND', `${where} is not a fieldlog log`);
      if (typeof f.version !== 'number' || !READS_FORMATS.includes(f.version)) {
        throw fail(
          'LOG_CORRUPT',
          `${where} has log format version ${f.version}; this fieldlog reads versions ${READS_FORMATS.join(' and ')}`,
        );
      }
      this.formatVersion = f.version;
    }
    await this.strings.load(this.db);
    for await (const [k, v] of this.db.iterator({ gte: metaKey('stream:'), lt: metaKey('stream;') })) {
      const device = decodeText(k.subarray(1)).slice('stream:'.length);
      const { id } = JSON.parse(decodeText(v)) as { id: number };
      const s: Stream = newStream(id, device);
      const last = await this.db.iterator({ ...streamRange(KEY.EVENT, id), reverse: true, limit: 1 }).all();
      const entry = last[0];
      if (entry) {
        s.seq = s.durableSeq = eventKeySeq(entry[0]);
        try {
          s.hash = s.durableHash = new Uint8Array(decodeRecord(entry[1], this.strings).hash);
        } catch (err) {
          throw fail('LOG_CORRUPT', `${where}: the head of ${device} (seq ${s.seq}) cannot be decoded`, err);
        }
      }
      s.marked = Math.min(parseMark(await this.db.get(markKey(device))), s.durableSeq);
      this.streams.set(device, s);
      this.byId.set(id, s);
    }
    await this.repairRedactions();
    await this.index.load(this.db);
    if (opts.device !== undefined) {
      if (!this.streams.has(opts.device)) {
        if (!opts.create) throw fail('DEVICE_UNKNOWN', `${where} holds no events of device ${opts.device}`);
        await this.addStream(opts.device);
      }
      this.defaultDevice = opts.device;
    } else if (this.streams.size === 1) {
      this.defaultDevice = [...this.streams.keys()][0];
    }
  }

  protected async addStream(device: string): Promise<Stream> {
    const existing = this.streams.get(device);
    if (existing?.saved) return existing;
    const s = existing ?? this.newStreamOf(device);
    await this.db.put(
      metaKey(`stream:${device}`),
      encodeText(JSON.stringify({ id: s.id })),
      this.writeOptions,
    );
    s.saved = true;
    return s;
  }

  /**
   * A stream known in memory only: `stageSealed` writes it with its first batch, so streams
   * made by concurrent appends take fleet positions in call order, and a failed write leaves
   * no empty stream behind.
   */
  protected newStreamOf(device: string): Stream {
    if (!isDeviceId(device))
      throw fail('EVENT_INVALID', `device id "${device}" must match [A-Za-z0-9._-]{1,64}`);
    const id = this.byId.size === 0 ? 0 : Math.max(...this.byId.keys()) + 1;
    const s: Stream = { ...newStream(id, device), saved: false };
    this.streams.set(device, s);
    this.byId.set(id, s);
    return s;
  }

  protected stream(device: string | undefined): Stream {
    const name = device ?? this.defaultDevice;
    if (name === undefined) {
      if (this.streams.size === 0) throw fail('DEVICE_UNKNOWN', 'the log holds no devices yet');
      throw fail(
        'DEVICE_AMBIGUOUS',
        `the log holds ${this.streams.size} devices (${this.deviceNames().join(', ')}); name one`,
      );
    }
    const s = this.streams.get(name);
    if (!s) throw fail('DEVICE_UNKNOWN', `the log holds no events of device ${name}`);
    return s;
  }

  protected checkOpen(): void {
    if (this.closed) throw fail('LOG_CLOSED', 'the log is closed');
  }

  get device(): string | undefined {
    return this.defaultDevice;
  }

  deviceNames(): string[] {
    return [...this.streams.keys()].sort();
  }

  /** The durable head: what is on disk. */
  head(device?: string): Head {
    const s = this.stream(device);
    return { seq: s.durableSeq, hash: s.durableSeq === 0 ? ZERO_HASH : hex(s.durableHash) };
  }

  /** The head including events accepted but not yet on disk. */
  pendingHead(device?: string): Head {
    const s = this.stream(device);
    return { seq: s.seq, hash: s.seq === 0 ? ZERO_HASH : hex(s.hash) };
  }

  streamsInfo(): StreamInfo[] {
    return this.deviceNames().map((device) => ({ device, head: this.head(device) }));
  }

  hasDevice(device: string): boolean {
    return this.streams.has(device);
  }

  /** Events in a stream: seqs are contiguous from 1, so the count is the head's seq. */
  count(device?: string): number {
    return this.stream(device).durableSeq;
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
      const s = this.stream(undefined);
      if (inputs.length === 0) return Promise.resolve([]);
      // seal against a scratch head first so a bad input leaves the stream untouched
      const start = { seq: s.seq, hash: s.hash };
      const sealed: Sealed[] = [];
      try {
        for (const input of inputs) {
          const x = this.seal(s, input);
          sealed.push(x);
          s.seq = x.env.seq;
          s.hash = x.rec.hash;
        }
      } finally {
        s.seq = start.seq;
        s.hash = start.hash;
      }
      for (let i = 0; i < sealed.length - 1; i++) this.stage(s, sealed[i]!, null);
      return this.enqueue(s, sealed[sealed.length - 1]!, null).then(() => sealed.map((x) => x.env));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  appendTo(device: string | undefined, input: EventInput): Promise<Envelope> {
    try {
      this.checkOpen();
      const s = this.stream(device);
      const sealed = this.seal(s, input);
      return this.enqueue(s, sealed, null);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  protected seal(s: Stream, input: EventInput): Sealed {
    return seal(input, s, this.clock, this.boot);
  }

  /**
   * Append envelopes sealed elsewhere (the hub's copy of a device log). Each must follow
   * the stream's head exactly and verify; the first that does not stops the call with
   * CHAIN_BROKEN / EVENT_INVALID and nothing from that call is written.
   */
  appendSealed(envelopes: Envelope[]): Promise<Head> {
    try {
      this.checkOpen();
      const device = envelopes[0]!.device;
      const s = this.streams.get(device);
      // check everything first: a refusal leaves nothing staged
      const checked = check(envelopes, s && s.seq > 0 ? { seq: s.seq, hash: hex(s.hash) } : ZERO_HEAD);
      return this.whenWritten(this.stageSealed(s ?? this.newStreamOf(device), checked));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * Stage checked envelopes. Nothing here keeps them once their records are encoded, unless
   * an 'append' listener wants them: a hub's copy of a backlog is not held in memory.
   */
  protected stageSealed(st: Stream, { envelopes, datas, metas, times, purges }: CheckedBatch): Head {
    const batch = this.pending;
    if (!st.saved && !batch.created.includes(st)) {
      batch.ops.push({
        type: 'put',
        key: metaKey(`stream:${st.device}`),
        value: encodeText(JSON.stringify({ id: st.id })),
      });
      batch.created.push(st);
    }
    const capture = !this.fleet || this.listenerCount('append') > 0;
    for (let i = 0; i < envelopes.length; i++) {
      const env = envelopes[i]!;
      const metaJcs = metas[i]!;
      this.strings.intern(env.type, batch.ops);
      this.strings.intern(env.boot, batch.ops);
      if (metaJcs !== null) this.strings.intern(metaJcs, batch.ops);
      batch.ops.push({
        type: 'put',
        key: eventKey(st.id, env.seq),
        value: encodeSealedRecord(env, times[i]!, metaJcs, datas[i]!, this.strings),
      });
      this.index.add(batch, st, env.seq, times[i]!);
      // listeners see a payload purged in this very batch as purged
      if (capture)
        batch.envelopes.push(datas[i] === null && env.data !== null ? { ...env, data: null } : env);
      else batch.captured = false;
      batch.count++;
    }
    for (const seq of purges) batch.purges.push({ s: st, seq });
    const last = envelopes[envelopes.length - 1]!;
    st.seq = last.seq;
    st.hash = unhex(last.hash);
    batch.heads.set(st, { seq: st.seq, hash: st.hash });
    return { seq: last.seq, hash: last.hash };
  }

  /** Resolves with `value` once everything staged so far is written. */
  protected whenWritten<T>(value: T): Promise<T> {
    return this.commits.whenWritten(value);
  }

  protected enqueue(s: Stream, sealed: Sealed, extra: BatchOp | null): Promise<Envelope> {
    this.stage(s, sealed, extra);
    return this.whenWritten(sealed.env);
  }

  /** Add one sealed event to the pending batch; the caller arranges to be told when it is written. */
  protected stage(s: Stream, sealed: Sealed, extra: BatchOp | null): void {
    const { env, rec } = sealed;
    const batch = this.pending;
    this.strings.intern(rec.type, batch.ops);
    this.strings.intern(rec.boot, batch.ops);
    if (rec.metaJcs !== null) this.strings.intern(rec.metaJcs, batch.ops);
    batch.ops.push({ type: 'put', key: eventKey(s.id, env.seq), value: encodeRecord(rec, this.strings) });
    this.index.add(batch, s, env.seq, rec.timeMs);
    if (extra) batch.ops.push(extra);
    batch.envelopes.push(env);
    batch.count++;
    batch.heads.set(s, { seq: env.seq, hash: rec.hash });
    s.seq = env.seq;
    s.hash = rec.hash;
  }

  /** The batch's open runs as writes; what they will be on disk once it is written. */
  protected closeBatch(batch: PendingBatch): Map<Stream, TimeRun> {
    const runs = this.index.close(batch);
    // now and then a batch records that everything up to it is redacted as recorded,
    // so that an open after a crash rescans at most MARK_EVERY events per stream
    for (const [s, h] of batch.heads) {
      if (h.seq - s.marked < MARK_EVERY) continue;
      batch.ops.push(markOp(s.device, h.seq));
      batch.marks.set(s, h.seq);
    }
    if (batch.ops.length > 0 && this.formatVersion < FORMAT.version) {
      batch.ops.push({ type: 'put', key: metaKey('format'), value: encodeText(JSON.stringify(FORMAT)) });
    }
    return runs;
  }

  /** The batch's pending batch: where appends are staged. */
  protected get pending(): PendingBatch {
    return this.commits.pending;
  }

  /**
   * Close a batch about to be written (its runs, marks, format marker; the purges its
   * EventRedacted events call for) and return how the log's state moves once it is on disk.
   */
  protected async prepare(batch: PendingBatch): Promise<() => void> {
    const heads = batch.heads;
    const runs = this.closeBatch(batch);
    const position = this.index.position;
    if (batch.purges.length > 0) await this.stagePurges(batch);
    return () => {
      for (const [s, h] of heads) {
        s.durableSeq = h.seq;
        s.durableHash = h.hash;
      }
      for (const [s, r] of runs) s.durableRun = r;
      for (const [s, m] of batch.marks) s.marked = m;
      for (const s of batch.created) s.saved = true;
      this.formatVersion = FORMAT.version;
      this.index.durablePosition = position;
      this.strings.commit();
      for (const key of batch.redacting) this.redactingNow.delete(key);
    };
  }

  /**
   * Listeners get the batch (null when a fleet store did not keep it: read it back), in a
   * fleet store the position of its first event, and the count.
   */
  protected announce(batch: PendingBatch): void {
    if (batch.count === 0) return;
    const position = this.index.durablePosition;
    this.emit(
      'append',
      batch.captured ? batch.envelopes : null,
      this.fleet ? position - batch.count + 1 : undefined,
      batch.count,
    );
  }

  /**
   * One atomic write. A chained batch hands each op to LevelDB as it is added, several
   * times faster here than batch(array), whose per-op copying dominates small records.
   */
  protected async write(ops: BatchOp[]): Promise<void> {
    const chained = this.db.batch();
    for (const op of ops) chained.put(op.key, op.value);
    await chained.write(this.writeOptions);
  }

  /** A failed batch fails everything queued after it too: their seqs and links depended on it. */
  protected rollback(batch: PendingBatch, later: PendingBatch, cause: unknown): void {
    for (const s of [...this.streams.values()]) {
      if (!s.saved) {
        // made by a batch that did not reach the disk: it never existed
        this.streams.delete(s.device);
        this.byId.delete(s.id);
        continue;
      }
      s.seq = s.durableSeq;
      s.hash = s.durableHash;
      s.run = s.durableRun ? { ...s.durableRun } : null;
    }
    this.index.position = this.index.durablePosition;
    this.strings.rollback();
    this.redactingNow.clear();
    const err = this.closed
      ? fail('LOG_CLOSED', 'the log was closed before the write finished', cause)
      : fail('LOG_WRITE_FAILED', `writing to the log failed: ${(cause as Error).message}`, cause);
    for (const w of [...batch.waiters, ...later.waiters]) w.reject(err);
  }

  /** Resolves when everything appended so far is on disk. */
  flushed(): Promise<void> {
    return this.commits.flushed();
  }

  // ---------------------------------------------------------------- redaction

  /**
   * Purge the payload of event `seq`, recorded as an `EventRedacted` with a reason and an
   * actor. The purge and the EventRedacted are written in one batch.
   */
  async redact(seq: number, reason: string, actor: string, device?: string): Promise<Envelope> {
    this.checkOpen();
    const s = this.stream(device);
    if (typeof reason !== 'string' || reason.trim() === '')
      throw fail('REDACTION_INVALID', 'a redaction needs a reason');
    if (reason.length > 500) throw fail('REDACTION_INVALID', 'the reason is over 500 characters');
    if (typeof actor !== 'string' || !isActor(actor)) {
      throw fail('REDACTION_INVALID', 'a redaction needs an actor (operator:<name> or system)');
    }
    if (!Number.isInteger(seq) || seq < 1 || seq > s.seq)
      throw fail('REDACTION_INVALID', `no event ${seq} in ${s.device}`);
    const key = `${s.id}:${seq}`;
    if (this.redactingNow.has(key)) throw fail('REDACTION_INVALID', `event ${seq} is already being redacted`);
    await this.flushed();
    const raw = await this.db.get(eventKey(s.id, seq));
    if (raw === undefined) throw fail('REDACTION_INVALID', `no event ${seq} in ${s.device}`);
    const rec = this.decode(raw, s.device, seq);
    if (rec.data === null) throw fail('REDACTION_INVALID', `event ${seq} is already redacted`);
    if (rec.type === 'EventRedacted')
      throw fail('REDACTION_INVALID', 'an EventRedacted cannot itself be redacted');
    if (this.redactingNow.has(key)) throw fail('REDACTION_INVALID', `event ${seq} is already being redacted`);
    this.redactingNow.add(key);
    const purged: StoredRecord = { ...rec, data: null, digest: sha256(rec.data) };
    const sealed = this.seal(s, { type: 'EventRedacted', data: { seq, reason }, meta: { actor } });
    this.pending.redacting.add(key);
    const purge: BatchOp = {
      type: 'put',
      key: eventKey(s.id, seq),
      value: encodeRecord(purged, this.strings),
    };
    return this.enqueue(s, sealed, purge);
  }

  /**
   * Add to a batch about to be written the purges its EventRedacted events call for
   * (sealed ones, the hub's copy of a device): each target is read as it will be once
   * the batch is written (staged in it, or on disk: earlier batches are written by now).
   * The purge and the EventRedacted are one atomic write; a target that is not stored,
   * already purged or itself an EventRedacted is left as it is.
   */
  protected async stagePurges(batch: PendingBatch): Promise<void> {
    for (const { s, seq } of batch.purges) {
      const key = eventKey(s.id, seq);
      let staged = -1;
      for (let i = batch.ops.length - 1; i >= 0 && staged < 0; i--)
        if (sameKey(batch.ops[i]!.key, key)) staged = i;
      const raw = staged >= 0 ? batch.ops[staged]!.value : await this.db.get(key);
      if (raw === undefined) continue;
      let purged: StoredRecord | null;
      try {
        purged = purgedRecord(this.decode(raw, s.device, seq));
      } catch {
        continue; // an unreadable target is verify's to report; it must not stop the stream
      }
      if (!purged) continue;
      batch.ops.push({ type: 'put', key, value: encodeRecord(purged, this.strings) });
      if (staged < 0) continue;
      const at = batch.envelopes.findIndex((e) => e.device === s.device && e.seq === seq);
      if (at >= 0) batch.envelopes[at] = { ...batch.envelopes[at]!, data: null };
    }
  }

  /**
   * On open: apply every EventRedacted stored after a stream's mark whose target still
   * has its payload (a store left so by a crash between the two writes of an older hub),
   * and move the marks to the heads, in one atomic write. Idempotent.
   */
  protected async repairRedactions(): Promise<void> {
    const ops: BatchOp[] = [];
    const marks: [Stream, number][] = [];
    for (const s of this.streams.values()) {
      if (s.durableSeq <= s.marked) continue;
      const range = { gte: eventKey(s.id, s.marked + 1), lte: eventKey(s.id, s.durableSeq) };
      const found = await unappliedRedactions(
        prefetched(this.db.iterator(range)),
        (seq) => this.db.get(eventKey(s.id, seq)),
        (raw, seq, full) => this.decode(raw, s.device, seq, full),
      );
      for (const { seq, record } of found) {
        ops.push({ type: 'put', key: eventKey(s.id, seq), value: encodeRecord(record, this.strings) });
        this.repaired.push({ device: s.device, seq });
      }
      ops.push(markOp(s.device, s.durableSeq));
      marks.push([s, s.durableSeq]);
    }
    if (ops.length === 0) return;
    await this.write(ops);
    for (const [s, m] of marks) s.marked = m;
  }

  // ---------------------------------------------------------------- reading

  /** A stored record (without its hashes when not `full`: see decodeRecord), or LOG_CORRUPT. */
  protected decode(raw: Uint8Array, device: string, seq: number, full = true): StoredRecord {
    try {
      return decodeRecord(raw, this.strings, full);
    } catch (err) {
      if (err instanceof RecordDecodeError) {
        throw fail('LOG_CORRUPT', `${device} seq ${seq}: ${err.message}`, err);
      }
      throw err;
    }
  }

  protected toEnvelope(device: string, seq: number, rec: StoredRecord, prev: string): Envelope {
    let data: Record<string, unknown> | null = null;
    let meta: EventMeta | undefined;
    try {
      if (rec.data !== null) data = JSON.parse(decodeText(rec.data));
      if (rec.metaJcs !== null) meta = JSON.parse(rec.metaJcs);
    } catch (err) {
      throw fail('LOG_CORRUPT', `${device} seq ${seq}: payload is not JSON`, err);
    }
    const env: Envelope = {
      device,
      seq,
      type: rec.type,
      time: new Date(rec.timeMs).toISOString(),
      boot: rec.boot,
      mono: rec.mono,
      data,
      digest: rec.digest ? hex(rec.digest) : sha256hex(rec.data as Uint8Array),
      prev,
      hash: hex(rec.hash),
    };
    if (meta !== undefined) env.meta = meta;
    if (rec.sig) env.sig = Buffer.from(rec.sig).toString('base64');
    return env;
  }

  protected async hashBefore(s: Stream, seq: number): Promise<string> {
    if (seq <= 1) return ZERO_HASH;
    const raw = await this.db.get(eventKey(s.id, seq - 1));
    if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq - 1} is missing`);
    return hex(this.decode(raw, s.device, seq - 1).hash);
  }

  /** Raw records of one device in seq order, a chunk at a time (one await per chunk, not per event). */
  protected async *recordChunks(
    s: Stream,
    fromSeq: number,
    toSeq: number,
  ): AsyncGenerator<[Uint8Array, Uint8Array][]> {
    if (toSeq < fromSeq) return;
    const it = this.db.iterator({ gte: eventKey(s.id, fromSeq), lte: eventKey(s.id, toSeq) });
    yield* prefetched(it);
  }

  protected bounds(s: Stream, r: ReadRange): [number, number] {
    const from = Math.max(1, r.fromSeq ?? 1);
    const to = Math.min(s.durableSeq, r.toSeq ?? s.durableSeq);
    return [from, to];
  }

  // ---------------------------------------------------------------- lifecycle

  /** Bytes the store uses on disk (LevelDB's own estimate over the event range). */
  async approximateSize(): Promise<number> {
    const db = this.db as unknown as { approximateSize?: (a: Uint8Array, b: Uint8Array) => Promise<number> };
    if (typeof db.approximateSize !== 'function') return 0;
    return db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff]));
  }

  async compact(): Promise<void> {
    const db = this.db as unknown as { compactRange?: (a: Uint8Array, b: Uint8Array) => Promise<void> };
    if (typeof db.compactRange === 'function')
      await db.compactRange(new Uint8Array([0]), new Uint8Array([0xff]));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Write what is queued, then close. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.flushed();
    // everything written is redacted as recorded: the next open need not rescan it
    const marks: BatchOp[] = [];
    for (const s of this.streams.values())
      if (s.durableSeq > s.marked) marks.push(markOp(s.device, s.durableSeq));
    if (marks.length > 0) await this.write(marks).catch(() => {}); // a lost mark costs one rescan
    this.closed = true;
    await this.db.close();
    this.emit('close');
  }
}

export { RUN_SPAN_MS } from './indexer.js';
export { toMs } from './query.js';
