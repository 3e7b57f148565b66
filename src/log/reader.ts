// Reading a log: envelopes by seq (as objects or JSON text), folds, time and fleet
// queries over the index runs, single events and hashes, and the aside key space. Every
// read of the log is here; nothing here writes events. After a prune (prune.ts) every read
// starts after the stream's anchor, and the event after it links to the anchor's hash.

import { isAscii } from 'node:buffer';
import { fail } from '../errors.js';
import { hex } from './bytes.js';
import { decodeText, encodeText, eventKey, eventKeySeq } from './codec.js';
import { asideKey, type LogDisk, prefetched } from './disk.js';
import { type Envelope, type EventMeta, formatTime, isoTime, sha256hex, ZERO_HASH } from './envelope.js';
import type { RunIndexer } from './indexer.js';
import { inWindow, isFleetRead, type LogQuery, type ReadItem, readLimit, timeWindow, toMs } from './query.js';
import type { RecordCodec } from './records.js';
import type { Stream, StreamRegistry } from './streams.js';

/** Seqs read at a time by a newest-first read. */
const REVERSE_WINDOW = 1000;

export interface ReadRange {
  device?: string;
  fromSeq?: number;
  toSeq?: number;
}

/** One envelope as JSON text (`eventsJson`), with what a sender needs of it beside. */
export interface JsonEvent {
  seq: number;
  hash: string;
  /** The hash of the event before (64 zeros before seq 1). */
  prev: string;
  json: string;
  /** It carries a `sig`. */
  signed: boolean;
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

/** An envelope as folds see it (the hub's and the device's in-memory states fold these). */
export function foldEventOf(e: Envelope): FoldEvent {
  const f: FoldEvent = {
    seq: e.seq,
    type: e.type,
    time: e.time,
    timeMs: Date.parse(e.time),
    boot: e.boot,
    mono: e.mono,
    data: e.data,
  };
  if (e.meta) f.meta = e.meta;
  return f;
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
    return formatTime(this.timeMs); // remembers the last one: events come in bursts per ms
  }
}

/** The last seq no longer stored: the anchor's, or 0. */
function floorOf(s: Stream): number {
  return s.anchor?.seq ?? 0;
}

export class LogReader {
  constructor(
    private readonly disk: LogDisk,
    private readonly streams: StreamRegistry,
    private readonly codec: RecordCodec,
    private readonly index: RunIndexer,
  ) {}

  /** Full envelopes in seq order, streamed. */
  async *events(range: ReadRange = {}): AsyncGenerator<Envelope> {
    const s = this.streams.get(range.device);
    const [from, to] = this.bounds(s, range);
    for await (const chunk of this.envelopeChunks(s, from, to)) yield* chunk;
  }

  /** Envelopes of seqs [from, to] of one stream, a stored chunk at a time. */
  private async *envelopeChunks(s: Stream, from: number, to: number): AsyncGenerator<Envelope[]> {
    if (to < from) return;
    let prev = await this.hashBefore(s, from);
    let expect = from;
    for await (const chunk of this.recordChunks(s, from, to)) {
      const out: Envelope[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const [key, raw] = chunk[i]!;
        const seq = eventKeySeq(key);
        if (seq !== expect) throw fail('LOG_CORRUPT', `${s.device}: seq ${expect} is missing`);
        const env = this.codec.toEnvelope(s.device, seq, this.codec.decode(raw, s.device, seq), prev);
        prev = env.hash;
        expect++;
        out[i] = env;
      }
      yield out;
    }
  }

  /**
   * Every read of events in one: a device's events by seq (`{ device, fromSeq, toSeq }`)
   * or the fleet's by position (`{ fleet: true, from, to }`, hub stores), within a recorded
   * time window (`since`, `until`, inclusive) and up to `limit` events, in chunks. A
   * device's time window is narrowed by the time index and filtered exactly at its ends;
   * the fleet order has no time index, so a fleet read with a window filters every event
   * in its position range. A device read may keep only some event `types` and go newest
   * first (`reverse`).
   */
  async *read(q: LogQuery = {}): AsyncGenerator<ReadItem[]> {
    const w = timeWindow(q);
    let left = readLimit(q.limit);
    if (left === 0) return;
    if (isFleetRead(q)) {
      let out: ReadItem[] = [];
      for await (const item of this.fleetEvents(q.from ?? 1, q.to ?? Number.MAX_SAFE_INTEGER)) {
        if (!inWindow(w, item.event)) continue;
        out.push(item);
        if (--left === 0) break;
        if (out.length === 1000) {
          yield out;
          out = [];
        }
      }
      if (out.length > 0) yield out;
      return;
    }
    const s = this.streams.get(q.device);
    let [from, to] = this.bounds(s, q);
    if (w.bounded) {
      if (w.until < w.since) return;
      const b = await this.timeBounds({ device: s.device, since: w.since, until: w.until });
      if (!b) return;
      from = Math.max(from, b.fromSeq);
      to = Math.min(to, b.toSeq);
    }
    // no type index: a type filter reads the range and keeps what matches
    const types = q.types === undefined ? undefined : new Set(q.types);
    const keep = (e: Envelope) => inWindow(w, e) && (types === undefined || types.has(e.type));
    if (q.reverse) {
      // newest first: windows of the range from the top, each read forward (an envelope's
      // `prev` is its predecessor's hash) and turned round
      for (let hi = to; hi >= from; hi -= REVERSE_WINDOW) {
        const lo = Math.max(from, hi - REVERSE_WINDOW + 1);
        const window: Envelope[] = [];
        for await (const chunk of this.envelopeChunks(s, lo, hi)) for (const e of chunk) window.push(e);
        const out: ReadItem[] = [];
        for (let i = window.length - 1; i >= 0 && left > 0; i--) {
          if (!keep(window[i]!)) continue;
          out.push({ event: window[i]! });
          left--;
        }
        if (out.length > 0) yield out;
        if (left === 0) return;
      }
      return;
    }
    for await (const chunk of this.envelopeChunks(s, from, to)) {
      const out: ReadItem[] = [];
      for (const event of chunk) {
        if (!keep(event)) continue;
        out.push({ event });
        if (--left === 0) break;
      }
      if (out.length > 0) yield out;
      if (left === 0) return;
    }
  }

  /**
   * The same envelopes as JSON text, built from the stored canonical payload without
   * parsing it: what replication and exports send. `short`: the form of a batch to a hub that
   * takes it (docs/protocol.md §10.7), without `device`, `prev` and, when `data` is there,
   * `digest` (no hash of the payload is made): the sender puts `prev` back into the first
   * envelope of each batch (each item has it).
   */
  async *eventsJson(range: ReadRange & { short?: boolean } = {}): AsyncGenerator<JsonEvent[]> {
    const short = range.short === true;
    const s = this.streams.get(range.device);
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
    // the first 4 bytes of the hash before, which each record's link tag repeats
    let prevTag = Number.parseInt(prev.slice(0, 8), 16);
    for await (const chunk of this.recordValueChunks(s, from, to)) {
      const out: JsonEvent[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const raw = chunk[i]!;
        const seq = expect;
        // the record's parts are copied straight out of its bytes: no view, no record object
        const p = this.codec.spans(raw, s.device, seq);
        const b = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
        // values come without their keys: a record that does not link to the one before may
        // stand where one is missing (a link that is broken otherwise is for the hub to refuse)
        if (
          b.readUInt32BE(p.linkTagAt) !== prevTag &&
          (await this.disk.db.get(eventKey(s.id, seq))) === undefined
        )
          throw fail('LOG_CORRUPT', `${s.device}: seq ${expect} is missing`);
        prevTag = b.readUInt32BE(p.hashAt);
        const hash = b.toString('hex', p.hashAt, p.hashAt + 32);
        let data = 'null';
        let digest = '';
        if (p.dataAt >= 0) {
          const bytes = b.subarray(p.dataAt);
          // ASCII (every reading) is its own UTF-8; anything else is decoded strictly, as before
          data = isAscii(bytes) ? bytes.toString('latin1') : decodeText(bytes);
          if (!short) digest = sha256hex(bytes);
        } else digest = b.toString('hex', p.digestAt, p.digestAt + 32);
        let json = short ? '{' : `{"device":${device},`;
        json += `"seq":${seq},"type":${quote(p.type)},"time":"${isoTime(p.timeMs)}","boot":${quote(p.boot)},"mono":${JSON.stringify(p.mono)},"data":${data}`;
        if (p.metaJcs !== null) json += `,"meta":${p.metaJcs}`;
        if (digest !== '') json += `,"digest":"${digest}"`;
        if (!short) json += `,"prev":"${prev}"`;
        json += `,"hash":"${hash}"`;
        if (p.sigAt >= 0) json += `,"sig":"${b.toString('base64', p.sigAt, p.sigAt + p.sigLength)}"`;
        out[i] = { seq, hash, prev, json: `${json}}`, signed: p.sigAt >= 0 };
        prev = hash;
        expect++;
      }
      yield out;
    }
  }

  /** The stored hash of one event (64 zeros for seq 0), or undefined when there is none. */
  async hashAt(seq: number, device?: string): Promise<string | undefined> {
    const s = this.streams.get(device);
    if (seq === 0) return ZERO_HASH;
    if (!Number.isInteger(seq) || seq < 0 || seq > s.durableSeq) return undefined;
    // the anchor's hash is kept; the events before it are gone
    if (s.anchor !== null && seq <= s.anchor.seq)
      return seq === s.anchor.seq ? hex(s.anchor.hash) : undefined;
    const raw = await this.disk.db.get(eventKey(s.id, seq));
    return raw === undefined ? undefined : hex(this.codec.decode(raw, s.device, seq).hash);
  }

  // ---------------------------------------------------------------- aside

  /**
   * A key space the log itself never reads, for data kept beside the streams (the hub's
   * quarantined forks). Written durably.
   */
  async putAside(namespace: string, key: string, value: string): Promise<void> {
    await this.disk.put(asideKey(namespace, key), encodeText(value));
  }

  async *aside(namespace: string): AsyncGenerator<[string, string]> {
    const prefix = asideKey(namespace, '');
    const end = new Uint8Array(prefix);
    end[end.length - 1] = 1;
    for await (const [k, v] of this.disk.db.iterator({ gte: prefix, lt: end })) {
      yield [decodeText(k.subarray(prefix.length)), decodeText(v)];
    }
  }

  async get(seq: number, device?: string): Promise<Envelope | undefined> {
    const s = this.streams.get(device);
    if (!Number.isInteger(seq) || seq <= floorOf(s) || seq > s.durableSeq) return undefined;
    const raw = await this.disk.db.get(eventKey(s.id, seq));
    if (raw === undefined) return undefined;
    return this.codec.toEnvelope(
      s.device,
      seq,
      this.codec.decode(raw, s.device, seq),
      await this.hashBefore(s, seq),
    );
  }

  /**
   * Envelopes at these seqs of one stream, in the order given (a read by a hub's index of
   * seqs): each record and its predecessor's, read in one go. LOG_CORRUPT when one is missing.
   */
  async envelopesAt(device: string, seqs: readonly number[]): Promise<Envelope[]> {
    const s = this.streams.get(device);
    if (seqs.length === 0) return [];
    const keys: Uint8Array[] = [];
    for (const seq of seqs) {
      if (!Number.isInteger(seq) || seq <= floorOf(s) || seq > s.durableSeq)
        throw fail('LOG_CORRUPT', `${s.device} seq ${seq} is not stored`);
      keys.push(eventKey(s.id, seq));
      if (seq - 1 > floorOf(s)) keys.push(eventKey(s.id, seq - 1));
    }
    const raws = await this.disk.db.getMany(keys);
    const out: Envelope[] = new Array(seqs.length);
    let k = 0;
    for (let i = 0; i < seqs.length; i++) {
      const seq = seqs[i]!;
      const raw = raws[k++];
      if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq} is missing`);
      let prev = ZERO_HASH;
      if (s.anchor !== null && seq - 1 === s.anchor.seq) prev = hex(s.anchor.hash);
      else if (seq > 1) {
        const before = raws[k++];
        if (before === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq - 1} is missing`);
        prev = hex(this.codec.decode(before, s.device, seq - 1).hash);
      }
      out[i] = this.codec.toEnvelope(s.device, seq, this.codec.decode(raw, s.device, seq), prev);
    }
    return out;
  }

  /** Each event's seq and type, a chunk at a time: no payload parsed, no hashing (index rebuilds). */
  async *typeChunks(range: ReadRange = {}): AsyncGenerator<{ seq: number; type: string }[]> {
    const s = this.streams.get(range.device);
    const [from, to] = this.bounds(s, range);
    for await (const chunk of this.recordChunks(s, from, to)) {
      yield chunk.map(([key, raw]) => {
        const seq = eventKeySeq(key);
        return { seq, type: this.codec.decode(raw, s.device, seq, false).type };
      });
    }
  }

  /** Events for folds, a chunk at a time: no hashing, no hex. */
  async *foldChunks(range: ReadRange = {}): AsyncGenerator<FoldEvent[]> {
    const s = this.streams.get(range.device);
    const [from, to] = this.bounds(s, range);
    const metas = new Map<string, EventMeta>();
    for await (const chunk of this.recordChunks(s, from, to)) {
      const out: FoldEvent[] = new Array(chunk.length);
      for (let i = 0; i < chunk.length; i++) {
        const [key, raw] = chunk[i]!;
        const seq = eventKeySeq(key);
        const rec = this.codec.decode(raw, s.device, seq, false); // folds need no hashes
        let data: Record<string, unknown> | null = null;
        try {
          if (rec.data !== null) data = JSON.parse(decodeText(rec.data));
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

  /**
   * The smallest seq range holding every event recorded within [since, until] (it may
   * hold others too: filter by time while reading); undefined when there are none.
   */
  async timeBounds(range: TimeRange = {}): Promise<{ fromSeq: number; toSeq: number } | undefined> {
    const s = this.streams.get(range.device);
    return this.index.timeBounds(this.disk.db, s, toMs(range.since, 0), toMs(range.until, 2 ** 48 - 2));
  }

  /** Envelopes whose recorded time is within [since, until], in seq order. */
  async *eventsByTime(range: TimeRange = {}): AsyncGenerator<Envelope> {
    for await (const chunk of this.read(range)) for (const { event } of chunk) yield event;
  }

  private async timeOf(s: Stream, seq: number): Promise<number> {
    const raw = await this.disk.db.get(eventKey(s.id, seq));
    if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq} is missing`);
    return this.codec.decode(raw, s.device, seq).timeMs;
  }

  /** The seq of the latest event (by recorded time) at or before `time`; 0 if none. */
  async seqAtTime(time: string | number, device?: string): Promise<number> {
    const s = this.streams.get(device);
    return this.index.seqAtTime(this.disk.db, s, toMs(time, 0), (seq) => this.timeOf(s, seq));
  }

  /** The fleet's events in arrival order (hub stores only). */
  async *fleetEvents(
    fromPosition = 1,
    toPosition = Number.MAX_SAFE_INTEGER,
  ): AsyncGenerator<{ position: number; event: Envelope }> {
    if (!this.index.fleet) throw fail('EVENT_INVALID', 'this log keeps no fleet order');
    const to = Math.min(toPosition, this.index.durablePosition);
    const from = Math.max(1, fromPosition);
    if (to < from) return;
    for await (const run of this.index.fleetRuns(this.disk.db, from, to)) {
      const s = this.streams.withId(run.stream);
      if (!s) throw fail('LOG_CORRUPT', `fleet position ${run.position} names an unknown stream`);
      const lo = Math.max(from, run.position);
      const hi = Math.min(to, run.position + run.count - 1);
      if (hi < lo) continue;
      let p = lo;
      const range = {
        device: s.device,
        fromSeq: run.seq + (lo - run.position),
        toSeq: run.seq + (hi - run.position),
      };
      for await (const event of this.events(range)) yield { position: p++, event };
    }
  }

  get fleetHead(): number {
    return this.index.durablePosition;
  }

  // ---------------------------------------------------------------- records

  /** The hash of the event before `seq` (64 zeros before the first). */
  private async hashBefore(s: Stream, seq: number): Promise<string> {
    if (seq <= 1) return ZERO_HASH;
    if (s.anchor !== null && seq - 1 === s.anchor.seq) return hex(s.anchor.hash);
    const raw = await this.disk.db.get(eventKey(s.id, seq - 1));
    if (raw === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${seq - 1} is missing`);
    return hex(this.codec.decode(raw, s.device, seq - 1).hash);
  }

  /** Raw records of one device in seq order, a chunk at a time (one await per chunk, not per event). */
  private async *recordChunks(
    s: Stream,
    fromSeq: number,
    toSeq: number,
  ): AsyncGenerator<[Uint8Array, Uint8Array][]> {
    if (toSeq < fromSeq) return;
    const it = this.disk.db.iterator({ gte: eventKey(s.id, fromSeq), lte: eventKey(s.id, toSeq) });
    yield* prefetched(it);
  }

  /**
   * The same records without their keys: a key per record costs the read a buffer and a
   * pair more, and replication reads every record of a backlog.
   */
  private async *recordValueChunks(s: Stream, fromSeq: number, toSeq: number): AsyncGenerator<Uint8Array[]> {
    if (toSeq < fromSeq) return;
    yield* prefetched(this.disk.db.values({ gte: eventKey(s.id, fromSeq), lte: eventKey(s.id, toSeq) }));
  }

  /** A read starts after the anchor: the events up to it were pruned (see startOf). */
  private bounds(s: Stream, r: ReadRange): [number, number] {
    const from = Math.max(floorOf(s) + 1, r.fromSeq ?? 1);
    const to = Math.min(s.durableSeq, r.toSeq ?? s.durableSeq);
    return [from, to];
  }
}
