// The append-only event log: one LevelDB (or any abstract-level store) holding one
// stream per device. Appends from many callers are grouped into one batch per turn and
// resolve only once that batch is written; the chain, seqs and the time index are kept
// by the log itself, never by its callers.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { AbstractLevel } from 'abstract-level';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { fail } from '../errors.js';
import {
  bytesToText,
  decodeRecord,
  decodeText,
  encodeRecord,
  encodeSealedRecord,
  encodeText,
  eventKey,
  eventKeySeq,
  fleetKey,
  fleetKeyPosition,
  fleetValue,
  fleetValueParts,
  KEY,
  LINK_TAG_BYTES,
  metaKey,
  RecordDecodeError,
  type StoredRecord,
  snapshotKey,
  snapshotKeySeq,
  streamRange,
  type TimeRun,
  timeKey,
  timeRunParts,
  timeRunValue,
} from './codec.js';
import {
  canonicalHeader,
  type Envelope,
  type EventInput,
  type EventMeta,
  formatTime,
  isDeviceId,
  jcs,
  MAX_DATA_BYTES,
  parseTime,
  sha256hex,
  ZERO_HASH,
} from './envelope.js';
import { StringTable } from './strings.js';
import { ChainVerifier, type Observation, redactionTarget, type VerifyReport } from './verify.js';

// biome-ignore lint/suspicious/noExplicitAny: abstract-level's generics vary by implementation
export type LogBackend = AbstractLevel<any, Uint8Array, Uint8Array>;

/**
 * Version 2 writes the time and fleet indexes as runs (one entry for many events);
 * version 1 logs (an entry per event) are read as they are and marked 2 on their first write.
 */
export const FORMAT = { format: 'fieldlog-log', version: 2 } as const;
const READS_FORMATS = [1, 2];
/** A time run spans at most this long, so a time lookup never scans further back. */
export const RUN_SPAN_MS = 3_600_000;

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

/** Formats `time` only when a reducer asks for it: most folds never do. */
class FoldRecord implements FoldEvent {
  meta?: EventMeta;
  constructor(
    public seq: number,
    public type: string,
    public timeMs: number,
    public boot: string,
    public mono: number,
    public data: Record<string, unknown> | null,
  ) {}
  get time(): string {
    return new Date(this.timeMs).toISOString();
  }
}

interface Stream {
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
}

interface FleetRun {
  position: number;
  stream: number;
  seq: number;
  count: number;
}

interface BatchOp {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Sealed {
  env: Envelope;
  rec: StoredRecord;
}

interface PendingBatch {
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
  };
}

const ZERO = new Uint8Array(32);

function newStream(id: number, device: string): Stream {
  return { id, device, seq: 0, hash: ZERO, durableSeq: 0, durableHash: ZERO, run: null, durableRun: null };
}

function timeRunOp(stream: number, r: TimeRun): BatchOp {
  return {
    type: 'put',
    key: timeKey(stream, r.firstMs, r.firstSeq),
    value: timeRunValue(r.lastSeq, r.lastMs),
  };
}

function fleetRunOp(f: FleetRun): BatchOp {
  return { type: 'put', key: fleetKey(f.position), value: fleetValue(f.stream, f.seq, f.count) };
}
const TYPE_RE = /^[A-Z][A-Za-z0-9]{0,63}$/;
const ACTOR_RE = /^(system|(sensor|operator):[^\s:][^\n\r]{0,63})$/;

function sha256(input: string | Uint8Array): Uint8Array {
  return unhex(sha256hex(input));
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/**
 * Chunks of an iterator, asking for the next chunk before handing out the current one,
 * so LevelDB reads while JavaScript decodes and hashes.
 */
async function* prefetched<K, V>(it: {
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

function asideKey(namespace: string, key: string): Uint8Array {
  const ns = encodeText(namespace);
  const k = encodeText(key);
  const out = new Uint8Array(2 + ns.length + k.length);
  out[0] = KEY.ASIDE;
  out.set(ns, 1);
  out[1 + ns.length] = 0;
  out.set(k, 2 + ns.length);
  return out;
}

function sameBytes(a: Uint8Array, b: Uint8Array, n = a.length): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

function mapOpenError(dir: string, err: unknown): Error {
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

export class EventLog extends EventEmitter {
  readonly db: LogBackend;
  readonly boot: string;
  readonly durable: boolean;
  readonly location: string | null;
  private readonly clock: Clock;
  private readonly strings: StringTable;
  private readonly streams = new Map<string, Stream>();
  private readonly byId = new Map<number, Stream>();
  private defaultDevice: string | undefined;
  private readonly fleet: boolean;
  private fleetPosition = 0;
  private durableFleetPosition = 0;
  private pending: PendingBatch = newBatch();
  private formatVersion: number = FORMAT.version;
  private writing = false;
  private scheduled = false;
  private closed = false;
  private redactingNow = new Set<string>();
  /** LevelDB's `sync`: not in abstract-level's option types, honoured by classic-level. */
  private readonly writeOptions: { sync: boolean; keyEncoding?: 'view' };

  private constructor(db: LogBackend, location: string | null, opts: LogOptions) {
    super();
    this.db = db;
    this.location = location;
    this.clock = opts.clock ?? systemClock;
    this.boot = opts.boot ?? randomBytes(8).toString('hex');
    this.durable = opts.sync ?? true;
    this.writeOptions = { sync: this.durable };
    this.fleet = opts.fleet ?? false;
    this.strings = new StringTable();
  }

  /** Open (or with `create`, make) the log in folder `dir`. */
  static async open(dir: string, opts: LogOptions = {}): Promise<EventLog> {
    if (!opts.create) {
      if (!existsSync(dir)) throw fail('LOG_NOT_FOUND', `${dir} does not exist`);
      if (!statSync(dir).isDirectory() || !existsSync(join(dir, 'CURRENT'))) {
        throw fail('LOG_NOT_FOUND', `${dir} is not a fieldlog log`);
      }
    }
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: opts.create ?? false,
    });
    try {
      await db.open();
    } catch (err) {
      throw mapOpenError(dir, err);
    }
    return EventLog.fromBackend(db, { ...opts }, dir);
  }

  /** A log held in memory, for tests and what-if work. */
  static async memory(opts: LogOptions = {}): Promise<EventLog> {
    const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    return EventLog.fromBackend(db, { create: true, ...opts }, null);
  }

  /** Use an already open abstract-level store (`keyEncoding` and `valueEncoding` 'view'). */
  static async fromBackend(db: LogBackend, opts: LogOptions, location: string | null): Promise<EventLog> {
    const log = new EventLog(db, location, opts);
    try {
      await log.load(opts);
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    return log;
  }

  private async load(opts: LogOptions): Promise<void> {
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
      this.streams.set(device, s);
      this.byId.set(id, s);
    }
    if (this.fleet) {
      const last = await this.db
        .iterator({ gte: fleetKey(0), lt: fleetKey(2 ** 48 - 1), reverse: true, limit: 1 })
        .all();
      const entry = last[0];
      this.fleetPosition = this.durableFleetPosition = entry
        ? fleetKeyPosition(entry[0]) + fleetValueParts(entry[1]).count - 1
        : 0;
    }
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

  private async addStream(device: string): Promise<Stream> {
    const existing = this.streams.get(device);
    if (existing) return existing;
    if (!isDeviceId(device))
      throw fail('EVENT_INVALID', `device id "${device}" must match [A-Za-z0-9._-]{1,64}`);
    const id = this.streams.size === 0 ? 0 : Math.max(...this.byId.keys()) + 1;
    const s: Stream = newStream(id, device);
    this.streams.set(device, s);
    this.byId.set(id, s);
    await this.db.put(metaKey(`stream:${device}`), encodeText(JSON.stringify({ id })), this.writeOptions);
    return s;
  }

  private stream(device: string | undefined): Stream {
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

  private checkOpen(): void {
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

  private seal(s: Stream, input: EventInput): Sealed {
    if (typeof input !== 'object' || input === null)
      throw fail('EVENT_INVALID', 'an event must be an object');
    if (typeof input.type !== 'string' || !TYPE_RE.test(input.type)) {
      throw fail(
        'EVENT_INVALID',
        `event type "${String(input.type)}" must be PascalCase, at most 64 characters`,
      );
    }
    const data = input.data;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      throw fail('EVENT_INVALID', 'event data must be a JSON object');
    }
    const dataBytes = encodeText(jcs(data));
    if (dataBytes.length > MAX_DATA_BYTES)
      throw fail('EVENT_INVALID', `event data is over ${MAX_DATA_BYTES} bytes`);
    const metaJcs = input.meta === undefined ? null : checkMeta(input.meta);
    const timeMs = Math.trunc(this.clock.now());
    const env: Envelope = {
      device: s.device,
      seq: s.seq + 1,
      type: input.type,
      time: formatTime(timeMs),
      boot: this.boot,
      mono: this.clock.mono(),
      data,
      digest: sha256hex(dataBytes),
      prev: s.seq === 0 ? ZERO_HASH : hex(s.hash),
      hash: '',
    };
    if (input.meta !== undefined) env.meta = input.meta;
    env.hash = sha256hex(canonicalHeader(env, metaJcs ?? undefined));
    const hash = unhex(env.hash);
    const rec: StoredRecord = {
      type: env.type,
      timeMs,
      boot: env.boot,
      mono: env.mono,
      linkTag: s.hash.subarray(0, LINK_TAG_BYTES),
      hash,
      digest: null,
      sig: null,
      metaJcs,
      data: dataBytes,
    };
    return { env, rec };
  }

  /**
   * Append envelopes sealed elsewhere (the hub's copy of a device log). Each must follow
   * the stream's head exactly and verify; the first that does not stops the call with
   * CHAIN_BROKEN / EVENT_INVALID and nothing from that call is written.
   */
  appendSealed(envelopes: Envelope[]): Promise<Head> {
    try {
      this.checkOpen();
      if (envelopes.length === 0) return Promise.reject(fail('EVENT_INVALID', 'nothing to append'));
      const device = envelopes[0]!.device;
      const s = this.streams.get(device);
      let seq = s?.seq ?? 0;
      let prev = s && s.seq > 0 ? hex(s.hash) : ZERO_HASH;
      // check everything first: a refusal leaves nothing staged
      const n = envelopes.length;
      const datas: (string | null)[] = new Array(n);
      const metas: (string | null)[] = new Array(n);
      const times: number[] = new Array(n);
      for (let i = 0; i < n; i++) {
        const env = envelopes[i]!;
        if (env.device !== device) throw fail('EVENT_INVALID', 'one call appends to one device');
        if (env.seq !== seq + 1)
          throw fail('CHAIN_BROKEN', `seq ${env.seq} does not follow head ${seq} of ${device}`);
        if (env.prev !== prev)
          throw fail('CHAIN_BROKEN', `seq ${env.seq} of ${device} does not link to the head`);
        const dataJcs = env.data === null ? null : jcs(env.data);
        if (dataJcs !== null && sha256hex(dataJcs) !== env.digest) {
          throw fail('EVENT_INVALID', `seq ${env.seq} of ${device}: data does not match its digest`);
        }
        const metaJcs = env.meta === undefined ? null : jcs(env.meta);
        if (sha256hex(canonicalHeader(env, metaJcs ?? undefined)) !== env.hash) {
          throw fail('EVENT_INVALID', `seq ${env.seq} of ${device}: hash mismatch`);
        }
        datas[i] = dataJcs;
        metas[i] = metaJcs;
        times[i] = parseTime(env.time);
        seq = env.seq;
        prev = env.hash;
      }
      if (s) return this.whenWritten(this.stageSealed(s, envelopes, datas, metas, times));
      return this.appendSealedToNew(device, envelopes, datas, metas, times);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private async appendSealedToNew(
    device: string,
    envelopes: Envelope[],
    datas: (string | null)[],
    metas: (string | null)[],
    times: number[],
  ): Promise<Head> {
    const st = this.streams.get(device) ?? (await this.addStream(device));
    // the stream may have moved while it was being created
    if (st.seq !== envelopes[0]!.seq - 1) throw fail('CHAIN_BROKEN', `${device} moved on while appending`);
    return this.whenWritten(this.stageSealed(st, envelopes, datas, metas, times));
  }

  /**
   * Stage checked envelopes. Nothing here keeps them once their records are encoded, unless
   * an 'append' listener wants them: a hub's copy of a backlog is not held in memory.
   */
  private stageSealed(
    st: Stream,
    envelopes: Envelope[],
    datas: (string | null)[],
    metas: (string | null)[],
    times: number[],
  ): Head {
    const batch = this.pending;
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
      this.indexTime(batch, st, env.seq, times[i]!);
      if (this.fleet) this.indexFleet(batch, st, env.seq);
      if (capture) batch.envelopes.push(env);
      else batch.captured = false;
      batch.count++;
    }
    const last = envelopes[envelopes.length - 1]!;
    st.seq = last.seq;
    st.hash = unhex(last.hash);
    batch.heads.set(st, { seq: st.seq, hash: st.hash });
    return { seq: last.seq, hash: last.hash };
  }

  /** Resolves with `head` once everything staged so far is written. */
  private whenWritten(head: Head): Promise<Head> {
    return new Promise<Head>((resolve, reject) => {
      this.pending.waiters.push({ resolve: () => resolve(head), reject });
      this.schedule();
    });
  }

  private enqueue(s: Stream, sealed: Sealed, extra: BatchOp | null): Promise<Envelope> {
    this.stage(s, sealed, extra);
    const env = sealed.env;
    const done = new Promise<Envelope>((resolve, reject) =>
      this.pending.waiters.push({ resolve: () => resolve(env), reject }),
    );
    this.schedule();
    return done;
  }

  /** Add one sealed event to the pending batch; the caller arranges to be told when it is written. */
  private stage(s: Stream, sealed: Sealed, extra: BatchOp | null): void {
    const { env, rec } = sealed;
    const batch = this.pending;
    this.strings.intern(rec.type, batch.ops);
    this.strings.intern(rec.boot, batch.ops);
    if (rec.metaJcs !== null) this.strings.intern(rec.metaJcs, batch.ops);
    batch.ops.push({ type: 'put', key: eventKey(s.id, env.seq), value: encodeRecord(rec, this.strings) });
    this.indexTime(batch, s, env.seq, rec.timeMs);
    if (this.fleet) this.indexFleet(batch, s, env.seq);
    if (extra) batch.ops.push(extra);
    batch.envelopes.push(env);
    batch.count++;
    batch.heads.set(s, { seq: env.seq, hash: rec.hash });
    s.seq = env.seq;
    s.hash = rec.hash;
  }

  /** Extend the stream's open time run, or close it and open another. */
  private indexTime(batch: PendingBatch, s: Stream, seq: number, ms: number): void {
    const r = s.run;
    if (r && seq === r.lastSeq + 1 && ms >= r.lastMs && ms - r.firstMs <= RUN_SPAN_MS) {
      r.lastSeq = seq;
      r.lastMs = ms;
    } else {
      if (r && batch.runs.has(s)) batch.ops.push(timeRunOp(s.id, r));
      s.run = { firstMs: ms, firstSeq: seq, lastMs: ms, lastSeq: seq };
    }
    batch.runs.add(s);
  }

  private indexFleet(batch: PendingBatch, s: Stream, seq: number): void {
    this.fleetPosition++;
    const f = batch.fleetRun;
    if (f && f.stream === s.id && f.seq + f.count === seq) {
      f.count++;
      return;
    }
    if (f) batch.ops.push(fleetRunOp(f));
    batch.fleetRun = { position: this.fleetPosition, stream: s.id, seq, count: 1 };
  }

  /** The batch's open runs as writes; what they will be on disk once it is written. */
  private closeBatch(batch: PendingBatch): Map<Stream, TimeRun> {
    const runs = new Map<Stream, TimeRun>();
    for (const s of batch.runs) {
      if (!s.run) continue;
      batch.ops.push(timeRunOp(s.id, s.run));
      runs.set(s, { ...s.run });
    }
    if (batch.fleetRun) batch.ops.push(fleetRunOp(batch.fleetRun));
    if (batch.ops.length > 0 && this.formatVersion < FORMAT.version) {
      batch.ops.push({ type: 'put', key: metaKey('format'), value: encodeText(JSON.stringify(FORMAT)) });
    }
    return runs;
  }

  private schedule(): void {
    if (this.scheduled || this.writing) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.drain();
    });
  }

  private async drain(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.pending.ops.length > 0 || this.pending.waiters.length > 0) {
        const batch = this.pending;
        this.pending = newBatch();
        const heads = batch.heads;
        const runs = this.closeBatch(batch);
        const position = this.fleetPosition;
        try {
          if (batch.ops.length > 0) await this.write(batch.ops);
        } catch (err) {
          this.rollback(batch, err);
          continue;
        }
        for (const [s, h] of heads) {
          s.durableSeq = h.seq;
          s.durableHash = h.hash;
        }
        for (const [s, r] of runs) s.durableRun = r;
        this.formatVersion = FORMAT.version;
        this.durableFleetPosition = position;
        this.strings.commit();
        for (const key of batch.redacting) this.redactingNow.delete(key);
        for (const w of batch.waiters) w.resolve();
        // listeners get the batch (null when a fleet store did not keep it: read it back),
        // in a fleet store the position of its first event, and the count
        if (batch.count > 0) {
          this.emit(
            'append',
            batch.captured ? batch.envelopes : null,
            this.fleet ? position - batch.count + 1 : undefined,
            batch.count,
          );
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /**
   * One atomic write. A chained batch hands each op to LevelDB as it is added, several
   * times faster here than batch(array), whose per-op copying dominates small records.
   */
  private async write(ops: BatchOp[]): Promise<void> {
    const chained = this.db.batch();
    for (const op of ops) chained.put(op.key, op.value);
    await chained.write(this.writeOptions);
  }

  /** A failed batch fails everything queued after it too: their seqs and links depended on it. */
  private rollback(batch: PendingBatch, cause: unknown): void {
    const later = this.pending;
    this.pending = newBatch();
    for (const s of this.streams.values()) {
      s.seq = s.durableSeq;
      s.hash = s.durableHash;
      s.run = s.durableRun ? { ...s.durableRun } : null;
    }
    this.fleetPosition = this.durableFleetPosition;
    this.strings.rollback();
    this.redactingNow.clear();
    const err = this.closed
      ? fail('LOG_CLOSED', 'the log was closed before the write finished', cause)
      : fail('LOG_WRITE_FAILED', `writing to the log failed: ${(cause as Error).message}`, cause);
    for (const w of [...batch.waiters, ...later.waiters]) w.reject(err);
  }

  /** Resolves when everything appended so far is on disk. */
  async flushed(): Promise<void> {
    if (this.pending.waiters.length === 0 && !this.writing) return;
    await new Promise<void>((resolve) => {
      this.pending.waiters.push({ resolve, reject: () => resolve() });
      this.schedule();
    });
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
    if (typeof actor !== 'string' || !ACTOR_RE.test(actor)) {
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
   * Apply an EventRedacted that arrived sealed (the hub copying a device): purge the
   * target's payload if it still has one. Idempotent.
   */
  async applyRedaction(device: string, seq: number): Promise<boolean> {
    const s = this.stream(device);
    const raw = await this.db.get(eventKey(s.id, seq));
    if (raw === undefined) return false;
    const rec = this.decode(raw, device, seq);
    if (rec.data === null || rec.type === 'EventRedacted') return false;
    const purged: StoredRecord = { ...rec, data: null, digest: sha256(rec.data) };
    await this.db.put(eventKey(s.id, seq), encodeRecord(purged, this.strings), {
      ...this.writeOptions,
    });
    return true;
  }

  // ---------------------------------------------------------------- reading

  private decode(raw: Uint8Array, device: string, seq: number): StoredRecord {
    try {
      return decodeRecord(raw, this.strings);
    } catch (err) {
      if (err instanceof RecordDecodeError) {
        throw fail('LOG_CORRUPT', `${device} seq ${seq}: ${err.message}`, err);
      }
      throw err;
    }
  }

  private toEnvelope(device: string, seq: number, rec: StoredRecord, prev: string): Envelope {
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

  private async hashBefore(s: Stream, seq: number): Promise<string> {
    if (seq <= 1) return ZERO_HASH;
    const raw = await this.db.get(eventKey(s.id, seq - 1));
    if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq - 1} is missing`);
    return hex(this.decode(raw, s.device, seq - 1).hash);
  }

  /** Raw records of one device in seq order, a chunk at a time (one await per chunk, not per event). */
  private async *recordChunks(
    s: Stream,
    fromSeq: number,
    toSeq: number,
  ): AsyncGenerator<[Uint8Array, Uint8Array][]> {
    if (toSeq < fromSeq) return;
    const it = this.db.iterator({ gte: eventKey(s.id, fromSeq), lte: eventKey(s.id, toSeq) });
    yield* prefetched(it);
  }

  private bounds(s: Stream, r: ReadRange): [number, number] {
    const from = Math.max(1, r.fromSeq ?? 1);
    const to = Math.min(s.durableSeq, r.toSeq ?? s.durableSeq);
    return [from, to];
  }

  /** Full envelopes in seq order, streamed. */
  async *events(range: ReadRange = {}): AsyncGenerator<Envelope> {
    const s = this.stream(range.device);
    const [from, to] = this.bounds(s, range);
    if (to < from) return;
    let prev = await this.hashBefore(s, from);
    let expect = from;
    for await (const chunk of this.recordChunks(s, from, to)) {
      for (const [key, raw] of chunk) {
        const seq = eventKeySeq(key);
        if (seq !== expect) throw fail('LOG_CORRUPT', `${s.device}: seq ${expect} is missing`);
        const env = this.toEnvelope(s.device, seq, this.decode(raw, s.device, seq), prev);
        prev = env.hash;
        expect++;
        yield env;
      }
    }
  }

  /**
   * The same envelopes as JSON text, built from the stored canonical payload without
   * parsing it: what replication and exports send.
   */
  async *eventsJson(range: ReadRange = {}): AsyncGenerator<{ seq: number; hash: string; json: string }[]> {
    const s = this.stream(range.device);
    const [from, to] = this.bounds(s, range);
    if (to < from) return;
    let prev = await this.hashBefore(s, from);
    let expect = from;
    const device = JSON.stringify(s.device);
    // types and boot ids repeat (interned): their JSON forms are made once per read
    const quoted = new Map<string, string>();
    const quote = (v: string) => {
      let q = quoted.get(v);
      if (q === undefined) {
        q = JSON.stringify(v);
        if (quoted.size < 256) quoted.set(v, q);
      }
      return q;
    };
    let lastMs = -1;
    let lastTime = '';
    for await (const chunk of this.recordChunks(s, from, to)) {
      const out: { seq: number; hash: string; json: string }[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const [key, raw] = chunk[i]!;
        const seq = eventKeySeq(key);
        if (seq !== expect) throw fail('LOG_CORRUPT', `${s.device}: seq ${expect} is missing`);
        const rec = this.decode(raw, s.device, seq);
        const hash = hex(rec.hash);
        const data = rec.data === null ? 'null' : decodeText(rec.data);
        const digest = rec.digest ? hex(rec.digest) : sha256hex(rec.data as Uint8Array);
        if (rec.timeMs !== lastMs) {
          lastMs = rec.timeMs;
          lastTime = new Date(lastMs).toISOString();
        }
        let json = `{"device":${device},"seq":${seq},"type":${quote(rec.type)},"time":"${lastTime}","boot":${quote(rec.boot)},"mono":${JSON.stringify(rec.mono)},"data":${data}`;
        if (rec.metaJcs !== null) json += `,"meta":${rec.metaJcs}`;
        json += `,"digest":"${digest}","prev":"${prev}","hash":"${hash}"`;
        if (rec.sig) json += `,"sig":"${Buffer.from(rec.sig).toString('base64')}"`;
        out[i] = { seq, hash, json: `${json}}` };
        prev = hash;
        expect++;
      }
      yield out;
    }
  }

  /** The stored hash of one event (64 zeros for seq 0), or undefined when there is none. */
  async hashAt(seq: number, device?: string): Promise<string | undefined> {
    const s = this.stream(device);
    if (seq === 0) return ZERO_HASH;
    if (!Number.isInteger(seq) || seq < 0 || seq > s.durableSeq) return undefined;
    const raw = await this.db.get(eventKey(s.id, seq));
    return raw === undefined ? undefined : hex(this.decode(raw, s.device, seq).hash);
  }

  // ---------------------------------------------------------------- aside

  /**
   * A key space the log itself never reads, for data kept beside the streams (the hub's
   * quarantined forks). Written durably.
   */
  async putAside(namespace: string, key: string, value: string): Promise<void> {
    this.checkOpen();
    await this.db.put(asideKey(namespace, key), encodeText(value), this.writeOptions);
  }

  async *aside(namespace: string): AsyncGenerator<[string, string]> {
    const prefix = asideKey(namespace, '');
    const end = new Uint8Array(prefix);
    end[end.length - 1] = 1;
    for await (const [k, v] of this.db.iterator({ gte: prefix, lt: end })) {
      yield [decodeText(k.subarray(prefix.length)), decodeText(v)];
    }
  }

  async get(seq: number, device?: string): Promise<Envelope | undefined> {
    const s = this.stream(device);
    if (!Number.isInteger(seq) || seq < 1 || seq > s.durableSeq) return undefined;
    const raw = await this.db.get(eventKey(s.id, seq));
    if (raw === undefined) return undefined;
    return this.toEnvelope(s.device, seq, this.decode(raw, s.device, seq), await this.hashBefore(s, seq));
  }

  /** Events for folds, a chunk at a time: no hashing, no hex. */
  async *foldChunks(range: ReadRange = {}): AsyncGenerator<FoldEvent[]> {
    const s = this.stream(range.device);
    const [from, to] = this.bounds(s, range);
    const metas = new Map<string, EventMeta>();
    for await (const chunk of this.recordChunks(s, from, to)) {
      const out: FoldEvent[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const [key, raw] = chunk[i]!;
        const seq = eventKeySeq(key);
        const rec = this.decode(raw, s.device, seq);
        let data: Record<string, unknown> | null = null;
        try {
          if (rec.data !== null) data = JSON.parse(bytesToText(rec.data));
        } catch (err) {
          throw fail('LOG_CORRUPT', `${s.device} seq ${seq}: payload is not JSON`, err);
        }
        const ev = new FoldRecord(seq, rec.type, rec.timeMs, rec.boot, rec.mono, data);
        if (rec.metaJcs !== null) {
          let meta = metas.get(rec.metaJcs);
          if (meta === undefined) {
            meta = JSON.parse(rec.metaJcs) as EventMeta;
            if (metas.size < 1000) metas.set(rec.metaJcs, meta);
          }
          ev.meta = meta;
        }
        out[i] = ev;
      }
      yield out;
    }
  }

  /** Events for folds, one at a time. */
  async *foldEvents(range: ReadRange = {}): AsyncGenerator<FoldEvent> {
    for await (const chunk of this.foldChunks(range)) yield* chunk;
  }

  /** Time runs of one stream that may hold events from `since` on, oldest first. */
  private async *timeRuns(s: Stream, since: number, until: number): AsyncGenerator<TimeRun> {
    const it = this.db.iterator({
      gte: timeKey(s.id, Math.max(0, since - RUN_SPAN_MS), 0),
      lt: timeKey(s.id, until + 1, 0),
    });
    for await (const chunk of prefetched(it)) {
      for (const [k, v] of chunk) {
        const run = timeRunParts(k, v);
        if (run.lastMs >= since && run.firstSeq <= s.durableSeq) yield run;
      }
    }
  }

  /**
   * The smallest seq range holding every event recorded within [since, until] (it may
   * hold others too: filter by time while reading); undefined when there are none.
   */
  async timeBounds(range: TimeRange = {}): Promise<{ fromSeq: number; toSeq: number } | undefined> {
    const s = this.stream(range.device);
    const since = toMs(range.since, 0);
    const until = toMs(range.until, 2 ** 48 - 2);
    if (until < since) return undefined;
    let fromSeq = Number.POSITIVE_INFINITY;
    let toSeq = 0;
    for await (const run of this.timeRuns(s, since, until)) {
      fromSeq = Math.min(fromSeq, run.firstSeq);
      toSeq = Math.max(toSeq, Math.min(run.lastSeq, s.durableSeq));
    }
    return toSeq === 0 ? undefined : { fromSeq, toSeq };
  }

  /** Envelopes whose recorded time is within [since, until], in seq order. */
  async *eventsByTime(range: TimeRange = {}): AsyncGenerator<Envelope> {
    const s = this.stream(range.device);
    const bounds = await this.timeBounds(range);
    if (!bounds) return;
    const since = toMs(range.since, 0);
    const until = toMs(range.until, 2 ** 48 - 2);
    for await (const env of this.events({ device: s.device, ...bounds })) {
      const t = parseTime(env.time);
      if (t >= since && t <= until) yield env;
    }
  }

  private async timeOf(s: Stream, seq: number): Promise<number> {
    const raw = await this.db.get(eventKey(s.id, seq));
    if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq} is missing`);
    return this.decode(raw, s.device, seq).timeMs;
  }

  /** The seq of the latest event (by recorded time) at or before `time`; 0 if none. */
  async seqAtTime(time: string | number, device?: string): Promise<number> {
    const s = this.stream(device);
    const ms = toMs(time, 0);
    let best = { ms: -1, seq: 0 };
    const it = this.db.iterator({ gte: timeKey(s.id, 0, 0), lt: timeKey(s.id, ms + 1, 0), reverse: true });
    try {
      for (;;) {
        const chunk = await it.nextv(100);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) {
          const run = timeRunParts(k, v);
          // a run's events all lie within RUN_SPAN_MS of its first: older runs cannot win
          if (run.firstMs + RUN_SPAN_MS < best.ms) return best.seq;
          const last = Math.min(run.lastSeq, s.durableSeq);
          if (last < run.firstSeq) continue;
          let cand = { ms: run.firstMs, seq: run.firstSeq };
          if (run.lastMs <= ms && last === run.lastSeq) cand = { ms: run.lastMs, seq: last };
          else {
            // times never fall within a run: the last event at or before `ms` by bisection
            let lo = run.firstSeq;
            let hi = last;
            while (lo < hi) {
              const mid = Math.ceil((lo + hi) / 2);
              if ((await this.timeOf(s, mid)) <= ms) lo = mid;
              else hi = mid - 1;
            }
            cand = { ms: await this.timeOf(s, lo), seq: lo };
          }
          if (cand.ms > best.ms || (cand.ms === best.ms && cand.seq > best.seq)) best = cand;
        }
      }
    } finally {
      await it.close();
    }
    return best.seq;
  }

  /** The fleet's events in arrival order (hub stores only). */
  async *fleetEvents(
    fromPosition = 1,
    toPosition = Number.MAX_SAFE_INTEGER,
  ): AsyncGenerator<{ position: number; event: Envelope }> {
    if (!this.fleet) throw fail('EVENT_INVALID', 'this log keeps no fleet order');
    const to = Math.min(toPosition, this.durableFleetPosition);
    const from = Math.max(1, fromPosition);
    if (to < from) return;
    // the run holding `from` may start before it
    const before = await this.db
      .keys({ gte: fleetKey(0), lte: fleetKey(from), reverse: true, limit: 1 })
      .all();
    const start = before[0] ? fleetKeyPosition(before[0]) : from;
    const it = this.db.iterator({ gte: fleetKey(start), lte: fleetKey(to) });
    for await (const chunk of prefetched(it)) {
      for (const [k, v] of chunk) {
        const position = fleetKeyPosition(k);
        const run = fleetValueParts(v);
        const s = this.byId.get(run.stream);
        if (!s) throw fail('LOG_CORRUPT', `fleet position ${position} names an unknown stream`);
        const lo = Math.max(from, position);
        const hi = Math.min(to, position + run.count - 1);
        if (hi < lo) continue;
        let p = lo;
        for await (const event of this.events({
          device: s.device,
          fromSeq: run.seq + (lo - position),
          toSeq: run.seq + (hi - position),
        })) {
          yield { position: p++, event };
        }
      }
    }
  }

  get fleetHead(): number {
    return this.durableFleetPosition;
  }

  // ---------------------------------------------------------------- snapshots

  /** Store a projection's state as of `seq`, tied to that event's hash. Derived data: not synced. */
  async saveSnapshot(projection: string, seq: number, stateJson: string, device?: string): Promise<void> {
    const s = this.stream(device);
    const raw = await this.db.get(eventKey(s.id, seq));
    if (raw === undefined) return;
    const hash = hex(this.decode(raw, s.device, seq).hash);
    const value = encodeText(`${JSON.stringify({ hash })}\n${stateJson}`);
    await this.db.put(snapshotKey(s.id, projection, seq), value);
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
    const s = this.stream(device);
    if (maxSeq < 1) return null;
    const it = this.db.iterator({
      gte: snapshotKey(s.id, projection, 0),
      lte: snapshotKey(s.id, projection, maxSeq),
      reverse: true,
      limit: 8,
    });
    const found = await it.all();
    for (const [k, v] of found) {
      const seq = snapshotKeySeq(k);
      try {
        const text = decodeText(v);
        const nl = text.indexOf('\n');
        const { hash } = JSON.parse(text.slice(0, nl)) as { hash: string };
        const raw = await this.db.get(eventKey(s.id, seq));
        if (raw !== undefined && hex(this.decode(raw, s.device, seq).hash) === hash) {
          return { seq, state: JSON.parse(text.slice(nl + 1)) };
        }
      } catch {
        // an unreadable snapshot is as good as none
      }
      await this.db.del(k);
    }
    return null;
  }

  // ---------------------------------------------------------------- verification

  /**
   * Walk one device's stored chain and report every problem with its seq. The payload
   * is hashed as it lies on disk; nothing is parsed but the targets of redactions.
   */
  async verify(device?: string): Promise<VerifyReport> {
    const s = this.stream(device);
    const v = new ChainVerifier({ device: s.device });
    let prev: Uint8Array = ZERO;
    let prevHex = ZERO_HASH;
    const it = this.db.iterator(streamRange(KEY.EVENT, s.id));
    for await (const chunk of prefetched(it)) {
      for (const [k, raw] of chunk) {
        const seq = eventKeySeq(k);
        let rec: StoredRecord;
        try {
          rec = decodeRecord(raw, this.strings);
        } catch (err) {
          v.undecodable(seq, (err as Error).message);
          continue;
        }
        // After a gap or an undecodable record the previous hash is unknown: the link
        // and the hash (which covers prev) cannot be checked for this one record.
        const known = v.follows(seq);
        const hashHex = hex(rec.hash);
        const o: Observation = {
          seq,
          type: rec.type,
          hash: hashHex,
          linked: known ? sameBytes(rec.linkTag, prev, LINK_TAG_BYTES) : null,
          hashOk: null,
          purged: rec.data === null,
        };
        try {
          if (known) {
            const header = canonicalHeader(
              {
                boot: rec.boot,
                device: s.device,
                digest: rec.data === null ? hex(rec.digest!) : sha256hex(rec.data),
                mono: rec.mono,
                prev: prevHex,
                seq,
                time: new Date(rec.timeMs).toISOString(),
                type: rec.type,
              },
              rec.metaJcs ?? undefined,
            );
            o.hashOk = sha256hex(header) === hashHex;
          }
          if (rec.type === 'EventRedacted' && rec.data !== null) {
            o.redactionTarget = redactionTarget(JSON.parse(bytesToText(rec.data)));
          }
        } catch (err) {
          o.undecodable = (err as Error).message;
        }
        v.observe(o);
        prev = rec.hash;
        prevHex = hashHex;
      }
    }
    const errors = v.finish();
    return {
      ok: errors.length === 0,
      events: v.events,
      head: { seq: v.lastSeq, hash: v.lastHash ?? prevHex },
      errors,
    };
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
    this.closed = true;
    await this.db.close();
    this.emit('close');
  }
}

/** Validate meta; returns its canonical JSON. */
function checkMeta(meta: EventMeta): string {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw fail('EVENT_INVALID', 'meta must be an object');
  if (meta.actor !== undefined && (typeof meta.actor !== 'string' || !ACTOR_RE.test(meta.actor))) {
    throw fail(
      'EVENT_INVALID',
      `meta.actor "${String(meta.actor)}" must be system, sensor:<name> or operator:<name>`,
    );
  }
  return jcs(meta);
}

function toMs(t: string | number | undefined, dflt: number): number {
  if (t === undefined) return dflt;
  if (typeof t === 'number') return Math.max(0, Math.min(t, 2 ** 48 - 2));
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw fail('EVENT_INVALID', `"${t}" is not a time`);
  return Math.max(0, ms);
}
