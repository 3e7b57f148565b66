// The write side of the log: sealing a device's own events and checking a hub's sealed
// ones against their stream's head, turning them into the pending batch's writes (records
// encoded with the string table, runs with the indexer), and the group commit's hooks:
// what a batch means for the streams once it is on disk, and what a failed write undoes.
// The group commit (group-commit.ts) is the only path to disk; this is its only user.
import { fail, isFieldlogError } from '../errors.js';
import { hex, unhex } from './bytes.js';
import { decodeText, EventPutsBuilder, encodeText, eventKey, eventKeySeq } from './codec.js';
import { asideKey, type BatchOp, type LogDisk } from './disk.js';
import { type Envelope, type EventInput, isoTime, ZERO_HASH } from './envelope.js';
import { GroupCommit, type Waiter } from './group-commit.js';
import type { FleetRun, RunIndexer } from './indexer.js';
import type { RecordCodec } from './records.js';
import { type CheckedBatch, check, type SealClock, type Sealed, seal } from './seal.js';
import { type Identity, signHash } from './signing.js';
import { FORMAT, type Head, type Stream, type StreamRegistry } from './streams.js';

const ZERO_HEAD = { seq: 0, hash: ZERO_HASH };

/** A record of the aside key space written with a batch of events (the hub's key record). */
export interface AsideRecord {
  namespace: string;
  key: string;
  value: string;
}

export interface PendingBatch {
  ops: BatchOp[];
  waiters: Waiter[];
  /** What the batch holds, for 'append' listeners; `captured` is false when some were not kept. */
  envelopes: Envelope[];
  count: number;
  captured: boolean;
  /** Redactions (`<stream id>:<seq>`) of the log's own events this batch writes. */
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
  /** Each signed stream's last own event in this batch, signed as the batch is closed. */
  toSign: Map<Stream, { sealed: Sealed; op: { value: Uint8Array }; signer: StreamSigner }>;
  /** Signers the batch's key events switch to, in force once it is on disk. */
  signerMoves: Map<Stream, StreamSigner>;
}

/** One staged event as a projection refolds it: what `RollupFold.add` reads. */
export interface StagedEvent {
  seq: number;
  type: string;
  time: string;
  timeMs: number;
  data: Record<string, unknown> | null;
}

/**
 * The events of `device` a batch stages, from seq `from` to `to`, as first staged (before
 * the batch's own purges): decoded from the batch's writes, only when a projection asks.
 */
export type StagedEvents = (device: string, from: number, to: number) => StagedEvent[];

/** The key a stream's own events are signed with, and the first seq it signs (docs/protocol.md §2.4). */
export interface StreamSigner {
  identity: Identity;
  from: number;
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
    toSign: new Map(),
    signerMoves: new Map(),
  };
}

/** What the redaction part adds to each batch (see redactor.ts). */
export interface BatchHooks {
  /** Synchronously, as the batch is closed: writes it carries (the marks). */
  close(batch: PendingBatch): void;
  /** Before it is written: writes that read the store (the purges). */
  prepare(batch: PendingBatch): Promise<void>;
  /** It is on disk. */
  committed(batch: PendingBatch): void;
  /** It failed. */
  failed(): void;
}

export interface StagerParts {
  disk: LogDisk;
  streams: StreamRegistry;
  codec: RecordCodec;
  index: RunIndexer;
  clock: SealClock;
  boot: string;
  redactions: BatchHooks;
  /** Whether the log was closed (a failed write then says LOG_CLOSED). */
  closed: () => boolean;
  /** Whether to keep the staged envelopes for 'append' listeners. */
  capture: () => boolean;
  /** A batch is written (its waiters resolved). */
  written: (batch: PendingBatch) => void;
  /** The error to refuse every write with now (a full disk, full-disk.ts), or null. */
  refusal?: () => Error | null;
  /** A write failed with `cause`: true when that is a full disk (its waiters get LOG_DISK_FULL). */
  writeFailed?: (cause: unknown) => boolean;
}

/**
 * Data derived from sealed appends and written in the same atomic batch as the events it
 * comes from (the hub's rollups): the log calls it, never reads it. A batch is an opaque
 * object here (its identity ties the calls together).
 */
export interface BatchProjection {
  /**
   * Sealed events of `device` staged in `batch`, synchronously; `datas[i]` is null when the
   * payload is purged (as given, or by an EventRedacted of the same call); `times[i]` is the
   * event's time in ms since the epoch (read once by the check).
   */
  staged(
    batch: object,
    device: string,
    envelopes: readonly Envelope[],
    datas: readonly (string | null)[],
    times: readonly number[],
  ): void;
  /**
   * Before the batch is written (every earlier batch is on disk): the writes to add. `purges`
   * are the stored or staged events whose payload this batch purges; `staged` reads back the
   * events the batch stages (decoded from its writes: a projection need not hold them).
   */
  prepare(
    batch: object,
    purges: readonly { device: string; seq: number }[],
    staged: StagedEvents,
  ): Promise<BatchOp[]>;
  /** The batch is on disk. */
  committed(batch: object): void;
  /** A write failed: what was prepared and not written is forgotten. */
  failed(): void;
}

export class Stager {
  private readonly commits: GroupCommit<PendingBatch>;
  /** Signers of streams whose events this log signs: as staged, and as on disk (for a rollback). */
  private readonly signers = new Map<Stream, StreamSigner>();
  private readonly durableSigners = new Map<Stream, StreamSigner>();
  private readonly projections: BatchProjection[] = [];

  constructor(private readonly p: StagerParts) {
    this.commits = new GroupCommit<PendingBatch>({
      newBatch,
      prepare: (batch) => this.prepare(batch),
      write: (batch) => {
        // a full disk refuses at once, without touching the store (full-disk.ts says why)
        const refused = p.refusal?.() ?? null;
        return refused === null ? p.disk.write(batch.ops) : Promise.reject(refused);
      },
      failed: (batch, later, cause) => this.rollback(batch, later, cause),
      written: (batch) => p.written(batch),
    });
  }

  /** Keep `p` in every later batch of sealed appends. */
  addProjection(p: BatchProjection): void {
    this.projections.push(p);
  }

  /** Where appends are staged. */
  get pending(): PendingBatch {
    return this.commits.pending;
  }

  seal(s: Stream, input: EventInput): Sealed {
    return seal(input, s, this.p.clock, this.p.boot);
  }

  /** The signer of a stream's own events, from now on (null: they are not signed). */
  setSigner(s: Stream, signer: StreamSigner | null): void {
    if (signer === null) {
      this.signers.delete(s);
      this.durableSigners.delete(s);
    } else {
      this.signers.set(s, signer);
      this.durableSigners.set(s, signer);
    }
  }

  signer(s: Stream): StreamSigner | undefined {
    return this.signers.get(s);
  }

  /**
   * A key event: `DeviceKeyAdded` signed by `next` (proof of possession) or `DeviceKeyRotated`
   * signed by the key in force; every later event of the stream is signed by `next`.
   */
  appendKeyEvent(s: Stream, input: EventInput, next: Identity): Promise<Envelope> {
    const current = this.signers.get(s);
    if (input.type === 'DeviceKeyRotated' && current === undefined)
      throw fail('EVENT_INVALID', 'DeviceKeyRotated needs the key in force to sign it');
    const sealed = this.seal(s, input);
    const by = input.type === 'DeviceKeyAdded' ? next : current!.identity;
    const sig = signHash(by.privateKey, sealed.env.hash);
    sealed.env.sig = sig;
    sealed.rec.sig = Buffer.from(sig, 'base64');
    const signer = {
      identity: next,
      from: input.type === 'DeviceKeyAdded' ? sealed.env.seq : sealed.env.seq + 1,
    };
    const done = this.enqueue(s, sealed, null);
    this.signers.set(s, signer);
    this.pending.signerMoves.set(s, signer);
    return done;
  }

  /** One event of the log's own; resolves once it is on disk. */
  append(s: Stream, input: EventInput): Promise<Envelope> {
    return this.enqueue(s, this.seal(s, input), null);
  }

  /** Several events as one unit of the same batch (all or none); a bad input refuses them all. */
  appendMany(s: Stream, inputs: EventInput[]): Promise<Envelope[]> {
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
  }

  /**
   * Envelopes sealed elsewhere (the hub's copy of a device log), checked against the
   * stream's head first: a refusal leaves nothing staged.
   */
  appendSealed(envelopes: Envelope[], beside?: AsideRecord): Promise<Head> {
    const device = envelopes[0]!.device;
    const s = this.p.streams.find(device);
    const checked = check(envelopes, s && s.seq > 0 ? { seq: s.seq, hash: hex(s.hash) } : ZERO_HEAD);
    const head = this.stageSealed(s ?? this.p.streams.create(device), checked);
    if (beside)
      this.pending.ops.push({
        type: 'put',
        key: asideKey(beside.namespace, beside.key),
        value: encodeText(beside.value),
      });
    return this.commits.whenWritten(head);
  }

  /**
   * Stage checked envelopes. Nothing here keeps them once their records are encoded, unless
   * an 'append' listener wants them: a hub's copy of a backlog is not held in memory.
   */
  private stageSealed(st: Stream, { envelopes, datas, metas, times, purges }: CheckedBatch): Head {
    const batch = this.pending;
    const { codec, index } = this.p;
    if (!st.saved && !batch.created.includes(st)) {
      batch.ops.push(this.p.streams.createOp(st));
      batch.created.push(st);
    }
    const capture = this.p.capture();
    // the records go in after the strings they name are interned (the order of a batch's
    // writes only matters for one key, and no other write here has an event's key)
    const puts = new EventPutsBuilder(st.id, envelopes[0]!.seq);
    for (let i = 0; i < envelopes.length; i++) {
      const env = envelopes[i]!;
      const metaJcs = metas[i]!;
      codec.strings.intern(env.type, batch.ops);
      codec.strings.intern(env.boot, batch.ops);
      if (metaJcs !== null) codec.strings.intern(metaJcs, batch.ops);
      puts.add(env, times[i]!, metaJcs, datas[i]!, codec.strings);
      index.add(batch, st, env.seq, times[i]!);
      // listeners see a payload purged in this very batch as purged
      if (capture)
        batch.envelopes.push(datas[i] === null && env.data !== null ? { ...env, data: null } : env);
      else batch.captured = false;
      batch.count++;
    }
    batch.ops.push(puts.done());
    for (const seq of purges) batch.purges.push({ s: st, seq });
    for (const p of this.projections) p.staged(batch, st.device, envelopes, datas, times);
    const last = envelopes[envelopes.length - 1]!;
    st.seq = last.seq;
    st.hash = unhex(last.hash);
    batch.heads.set(st, { seq: st.seq, hash: st.hash });
    return { seq: last.seq, hash: last.hash };
  }

  /** Stage one sealed event (and `extra`, a write that goes with it); resolves once it is on disk. */
  enqueue(s: Stream, sealed: Sealed, extra: BatchOp | null): Promise<Envelope> {
    this.stage(s, sealed, extra);
    return this.commits.whenWritten(sealed.env);
  }

  private stage(s: Stream, sealed: Sealed, extra: BatchOp | null): void {
    const { env, rec } = sealed;
    const batch = this.pending;
    const strings = this.p.codec.strings;
    strings.intern(rec.type, batch.ops);
    strings.intern(rec.boot, batch.ops);
    if (rec.metaJcs !== null) strings.intern(rec.metaJcs, batch.ops);
    const op = { type: 'put' as const, key: eventKey(s.id, env.seq), value: this.p.codec.encode(rec) };
    batch.ops.push(op);
    // at most one signature per group commit: the stream's last event in it (an event signed
    // already, a key event, ends the need)
    const signer = this.signers.get(s);
    if (signer !== undefined) {
      if (rec.sig === null) batch.toSign.set(s, { sealed, op, signer });
      else batch.toSign.delete(s);
    }
    this.p.index.add(batch, s, env.seq, rec.timeMs);
    if (extra) batch.ops.push(extra);
    batch.envelopes.push(env);
    batch.count++;
    batch.heads.set(s, { seq: env.seq, hash: rec.hash });
    s.seq = env.seq;
    s.hash = rec.hash;
  }

  /** Resolves when everything staged so far is on disk (or has failed). */
  flushed(): Promise<void> {
    return this.commits.flushed();
  }

  /**
   * Close a batch about to be written (its runs, marks, format marker; the purges its
   * EventRedacted events call for) and return how the log's state moves once it is on disk.
   */
  private async prepare(batch: PendingBatch): Promise<() => void> {
    const { index, streams, redactions } = this.p;
    const heads = batch.heads;
    for (const { sealed, op, signer } of batch.toSign.values()) {
      const sig = signHash(signer.identity.privateKey, sealed.env.hash);
      sealed.env.sig = sig;
      sealed.rec.sig = Buffer.from(sig, 'base64');
      op.value = this.p.codec.encode(sealed.rec);
    }
    const runs = index.close(batch);
    redactions.close(batch);
    if (batch.ops.length > 0) {
      const marker = streams.formatOp();
      if (marker) batch.ops.push(marker);
    }
    const position = index.position;
    if (batch.purges.length > 0) await redactions.prepare(batch);
    if (this.projections.length > 0) {
      const purges = batch.purges.map(({ s, seq }) => ({ device: s.device, seq }));
      const staged: StagedEvents = (device, from, to) => this.stagedEvents(batch, device, from, to);
      for (const p of this.projections)
        for (const op of await p.prepare(batch, purges, staged)) batch.ops.push(op);
    }
    return () => {
      for (const [s, h] of heads) {
        s.durableSeq = h.seq;
        s.durableHash = h.hash;
      }
      for (const [s, r] of runs) s.durableRun = r;
      for (const s of batch.created) s.saved = true;
      for (const [s, signer] of batch.signerMoves) this.durableSigners.set(s, signer);
      streams.formatVersion = FORMAT.version;
      index.durablePosition = position;
      this.p.codec.strings.commit();
      redactions.committed(batch);
      for (const p of this.projections) p.committed(batch);
    };
  }

  /**
   * The events of `device` from `from` to `to` staged in `batch`, read back from its writes
   * (the first write of each: a purge of a staged event comes after it). Only a batch with
   * purges needs them, so nothing holds the envelopes of every batch until it is written.
   */
  private stagedEvents(batch: PendingBatch, device: string, from: number, to: number): StagedEvent[] {
    const s = this.p.streams.find(device);
    if (!s) return [];
    // the stream's event keys from `from` to `to` sort between these two, and only they
    const lo = eventKey(s.id, from);
    const hi = eventKey(s.id, to);
    const found = new Map<number, StagedEvent>();
    const add = (seq: number, value: Uint8Array) => {
      if (found.has(seq)) return;
      const rec = this.p.codec.decode(value, device, seq, false);
      let data: Record<string, unknown> | null = null;
      try {
        if (rec.data !== null) data = JSON.parse(decodeText(rec.data)) as Record<string, unknown>;
      } catch (err) {
        throw fail('LOG_CORRUPT', `${device} seq ${seq}: payload is not JSON`, err);
      }
      found.set(seq, { seq, type: rec.type, time: isoTime(rec.timeMs), timeMs: rec.timeMs, data });
    };
    for (const op of batch.ops) {
      if (op.type === 'puts') {
        if (op.stream !== s.id) continue;
        for (let seq = Math.max(from, op.first); seq <= Math.min(to, op.first + op.count - 1); seq++)
          add(seq, op.value(seq - op.first));
        continue;
      }
      if (op.type !== 'put' || op.key.length !== lo.length) continue;
      if (Buffer.compare(op.key, lo) < 0 || Buffer.compare(op.key, hi) > 0) continue;
      add(eventKeySeq(op.key), op.value);
    }
    return [...found.values()].sort((a, b) => a.seq - b.seq);
  }

  /** A failed batch fails everything queued after it too: their seqs and links depended on it. */
  private rollback(batch: PendingBatch, later: PendingBatch, cause: unknown): void {
    this.p.streams.rollback();
    this.signers.clear();
    for (const [s, signer] of this.durableSigners) this.signers.set(s, signer);
    this.p.index.position = this.p.index.durablePosition;
    this.p.codec.strings.rollback();
    this.p.redactions.failed();
    for (const p of this.projections) p.failed();
    const full = this.p.writeFailed?.(cause) ?? false;
    const err = this.p.closed()
      ? fail('LOG_CLOSED', 'the log was closed before the write finished', cause)
      : full
        ? isFieldlogError(cause, 'LOG_DISK_FULL')
          ? cause
          : fail(
              'LOG_DISK_FULL',
              `the log's filesystem is full (${(cause as Error).message}); writing resumes when space returns`,
              cause,
            )
        : fail('LOG_WRITE_FAILED', `writing to the log failed: ${(cause as Error).message}`, cause);
    for (const w of [...batch.waiters, ...later.waiters]) w.reject(err);
  }
}
