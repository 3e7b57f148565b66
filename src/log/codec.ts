// The on-disk form of the log: binary keys that sort by stream and seq, and compact
// records that keep only what cannot be derived. `prev` is the previous record's hash,
// `device` is the stream, and `digest` is recomputed from `data` until a redaction
// purges the payload. A 4-byte tag of `prev` stays, so verify can tell a broken link
// from altered content.
import { fail } from '../errors.js';

export const KEY = {
  META: 0x00,
  EVENT: 0x10,
  TIME: 0x11,
  SNAPSHOT: 0x12,
  STRING: 0x13,
  FLEET: 0x14,
  /** Time runs (format 2); TIME holds format 1's entry per event, never written again. */
  TIME_RUN: 0x15,
  ASIDE: 0x30,
} as const;

const FLAG_META = 1;
const FLAG_REDACTED = 2;
const FLAG_SIG = 4;
export const RECORD_VERSION = 1;
export const LINK_TAG_BYTES = 4;

function writeU48(buf: Uint8Array, at: number, n: number): void {
  const hi = Math.floor(n / 0x100000000);
  const lo = n >>> 0;
  buf[at] = (hi >>> 8) & 0xff;
  buf[at + 1] = hi & 0xff;
  buf[at + 2] = lo >>> 24;
  buf[at + 3] = (lo >>> 16) & 0xff;
  buf[at + 4] = (lo >>> 8) & 0xff;
  buf[at + 5] = lo & 0xff;
}

function readU48(buf: Uint8Array, at: number): number {
  return (
    (buf[at]! * 256 + buf[at + 1]!) * 0x100000000 +
    ((buf[at + 2]! << 24) >>> 0) +
    (buf[at + 3]! << 16) +
    (buf[at + 4]! << 8) +
    buf[at + 5]!
  );
}

function writeU32(buf: Uint8Array, at: number, n: number): void {
  buf[at] = n >>> 24;
  buf[at + 1] = (n >>> 16) & 0xff;
  buf[at + 2] = (n >>> 8) & 0xff;
  buf[at + 3] = n & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) >>> 0) + (buf[at + 1]! << 16) + (buf[at + 2]! << 8) + buf[at + 3]!;
}

const EVENT_KEY_BYTES = 11;

export function eventKey(stream: number, seq: number): Uint8Array {
  const k = fromSlab(EVENT_KEY_BYTES);
  k[0] = KEY.EVENT;
  writeU32(k, 1, stream);
  writeU48(k, 5, seq);
  return k;
}

export function eventKeySeq(key: Uint8Array): number {
  return readU48(key, 5);
}

export function timeKey(stream: number, ms: number, seq: number, kind: number = KEY.TIME): Uint8Array {
  const k = new Uint8Array(17);
  k[0] = kind;
  writeU32(k, 1, stream);
  writeU48(k, 5, ms);
  writeU48(k, 11, seq);
  return k;
}

export function timeKeyParts(key: Uint8Array): { ms: number; seq: number } {
  return { ms: readU48(key, 5), seq: readU48(key, 11) };
}

export function fleetKey(position: number): Uint8Array {
  const k = new Uint8Array(7);
  k[0] = KEY.FLEET;
  writeU48(k, 1, position);
  return k;
}

export function fleetKeyPosition(key: Uint8Array): number {
  return readU48(key, 1);
}

/**
 * A fleet entry is a run: `count` events of one stream with consecutive seqs from `seq`,
 * at consecutive fleet positions from the key's. Format 1 wrote one entry per event
 * (10 bytes, no count); both are read.
 */
export function fleetValue(stream: number, seq: number, count = 1): Uint8Array {
  const v = new Uint8Array(count === 1 ? 10 : 14);
  writeU32(v, 0, stream);
  writeU48(v, 4, seq);
  if (count !== 1) writeU32(v, 10, count);
  return v;
}

export function fleetValueParts(v: Uint8Array): { stream: number; seq: number; count: number } {
  return { stream: readU32(v, 0), seq: readU48(v, 4), count: v.length >= 14 ? readU32(v, 10) : 1 };
}

/**
 * A time run (KEY.TIME_RUN): the key holds the first event's time and seq, the value the
 * last event's seq and time; seqs are consecutive and times never fall within a run.
 * Format 1 wrote one KEY.TIME entry per event with an empty value (read as a run of one).
 */
export function timeRunKey(stream: number, ms: number, seq: number): Uint8Array {
  return timeKey(stream, ms, seq, KEY.TIME_RUN);
}

export function timeRunValue(lastSeq: number, lastMs: number): Uint8Array {
  const v = new Uint8Array(12);
  writeU48(v, 0, lastSeq);
  writeU48(v, 6, lastMs);
  return v;
}

export interface TimeRun {
  firstMs: number;
  firstSeq: number;
  lastMs: number;
  lastSeq: number;
}

export function timeRunParts(key: Uint8Array, value: Uint8Array): TimeRun {
  const { ms, seq } = timeKeyParts(key);
  if (value.length < 12) return { firstMs: ms, firstSeq: seq, lastMs: ms, lastSeq: seq };
  return { firstMs: ms, firstSeq: seq, lastSeq: readU48(value, 0), lastMs: readU48(value, 6) };
}

export function stringKey(id: number): Uint8Array {
  const k = new Uint8Array(5);
  k[0] = KEY.STRING;
  writeU32(k, 1, id);
  return k;
}

export function stringKeyId(key: Uint8Array): number {
  return readU32(key, 1);
}

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

export function encodeText(s: string): Uint8Array {
  return utf8.encode(s);
}
export function decodeText(b: Uint8Array): string {
  return utf8d.decode(b);
}

/** Lenient and fast: for payloads whose integrity the hash already covers. */
export function bytesToText(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8');
}

export function metaKey(name: string): Uint8Array {
  const body = utf8.encode(name);
  const k = new Uint8Array(body.length + 1);
  k[0] = KEY.META;
  k.set(body, 1);
  return k;
}

export function snapshotKey(stream: number, projection: string, seq: number): Uint8Array {
  const name = utf8.encode(projection);
  const k = new Uint8Array(5 + name.length + 1 + 6);
  k[0] = KEY.SNAPSHOT;
  writeU32(k, 1, stream);
  k.set(name, 5);
  k[5 + name.length] = 0;
  writeU48(k, 6 + name.length, seq);
  return k;
}

export function snapshotKeySeq(key: Uint8Array): number {
  return readU48(key, key.length - 6);
}

/** Key bounds for every key of one kind in one stream: [gte, lt). */
export function streamRange(kind: number, stream: number): { gte: Uint8Array; lt: Uint8Array } {
  const gte = new Uint8Array(5);
  gte[0] = kind;
  writeU32(gte, 1, stream);
  const lt = new Uint8Array(5);
  if (stream === 0xffffffff) {
    lt[0] = kind + 1;
  } else {
    lt[0] = kind;
    writeU32(lt, 1, stream + 1);
  }
  return { gte, lt };
}

/**
 * A string field is a varint n: an even n is the interned string n/2, an odd n is an
 * inline UTF-8 string of (n-1)/2 bytes that follows. Interning keeps repeated types,
 * boot ids and meta objects to a byte or two per record.
 */
export interface Strings {
  idOf(s: string): number | undefined;
  text(id: number): string | undefined;
}

/**
 * The stored form of one event, decoded. `data` is kept as the canonical JSON (JCS)
 * bytes its digest was computed over, so verifying hashes it as it lies, and `meta`
 * as canonical JSON text.
 */
export interface StoredRecord {
  type: string;
  timeMs: number;
  boot: string;
  mono: number;
  linkTag: Uint8Array;
  hash: Uint8Array;
  digest: Uint8Array | null; // kept only after redaction
  sig: Uint8Array | null;
  metaJcs: string | null;
  data: Uint8Array | null; // null after redaction
}

/** One scratch buffer, reused by every encode: records are copied out at the end. */
class Writer {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  /** The same memory as a Buffer, for writing hex and text without a copy in between. */
  node = Buffer.from(this.buf.buffer, 0, this.buf.length);
  len = 0;
  ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.len));
    this.buf = b;
    this.view = new DataView(b.buffer);
    this.node = Buffer.from(b.buffer, 0, size);
  }
  /** `n` bytes from the front of a hex string (checked: the caller validated its form). */
  hex(s: string, n: number): void {
    this.ensure(n);
    if (this.node.write(s, this.len, n, 'hex') !== n) throw fail('EVENT_INVALID', `"${s}" is not a hash`);
    this.len += n;
  }
  text(s: string): void {
    this.ensure(s.length * 3);
    this.len += this.node.write(s, this.len, 'utf8');
  }
  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }
  varint(n: number): void {
    this.ensure(8);
    while (n >= 0x80) {
      this.buf[this.len++] = (n & 0x7f) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.len++] = n;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }
  str(s: string, strings: Strings): void {
    const id = strings.idOf(s);
    if (id !== undefined) {
      this.varint(id * 2);
      return;
    }
    const b = utf8.encode(s);
    this.varint(b.length * 2 + 1);
    this.bytes(b);
  }
  f64(n: number): void {
    this.ensure(8);
    this.view.setFloat64(this.len, n);
    this.len += 8;
  }
  u48(n: number): void {
    this.ensure(6);
    writeU48(this.buf, this.len, n);
    this.len += 6;
  }
  done(): Uint8Array {
    return copyOut(this.buf, this.len);
  }
}

/**
 * Records and event keys are cut from shared slabs rather than each given an ArrayBuffer of
 * its own: one allocation for hundreds of them, far less for the collector to track. A
 * slab is never written again once handed out, so the views stay as they were.
 */
const SLAB_BYTES = 64 * 1024;
let slab = new Uint8Array(SLAB_BYTES);
let slabUsed = 0;

function fromSlab(n: number): Uint8Array {
  if (slabUsed + n > SLAB_BYTES) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}

function copyOut(src: Uint8Array, len: number): Uint8Array {
  if (len > SLAB_BYTES / 8) return src.slice(0, len);
  const out = fromSlab(len);
  out.set(src.subarray(0, len));
  return out;
}

const w = new Writer();

export function encodeRecord(r: StoredRecord, strings: Strings): Uint8Array {
  w.len = 0;
  let flags = RECORD_VERSION << 4;
  if (r.metaJcs !== null) flags |= FLAG_META;
  if (r.data === null) flags |= FLAG_REDACTED;
  if (r.sig !== null) flags |= FLAG_SIG;
  w.byte(flags);
  w.str(r.type, strings);
  w.u48(r.timeMs);
  w.str(r.boot, strings);
  w.f64(r.mono);
  w.bytes(r.linkTag);
  w.bytes(r.hash);
  if (r.data === null) w.bytes(r.digest ?? new Uint8Array(32));
  if (r.sig !== null) {
    w.varint(r.sig.length);
    w.bytes(r.sig);
  }
  if (r.metaJcs !== null) w.str(r.metaJcs, strings);
  if (r.data !== null) w.bytes(r.data);
  return w.done();
}

/** An event sealed elsewhere, as the hub receives it: hashes as hex (its envelope's fields). */
export interface SealedFields {
  type: string;
  boot: string;
  mono: number;
  prev: string;
  hash: string;
  /** Written only when `dataJcs` is null (a redacted payload). */
  digest: string;
  sig?: string | undefined;
}

/** The same bytes `encodeRecord` writes for that event, without building them piece by piece. */
export function encodeSealedRecord(
  r: SealedFields,
  timeMs: number,
  metaJcs: string | null,
  dataJcs: string | null,
  strings: Strings,
): Uint8Array {
  writeSealed(r, timeMs, metaJcs, dataJcs, strings);
  return w.done();
}

/**
 * The puts of consecutive sealed events of one stream (one message a hub receives): their
 * records in one buffer, their keys made when read. A hub stages thousands of events while
 * the write before them is on its way to disk (an fsync, 50 to 200 ms on a busy machine): as
 * an op and two views each they outlived two young-generation collections, which copied,
 * then promoted, about 300 bytes per event; this is a few objects per message.
 */
export class EventPuts {
  readonly type = 'puts';
  constructor(
    readonly stream: number,
    /** The seq of the first event. */
    readonly first: number,
    private readonly records: Uint8Array,
    /** Where each record ends in `records` (the next one starts there). */
    private readonly ends: Uint32Array,
  ) {}

  get count(): number {
    return this.ends.length;
  }

  /** The key of the `i`th event (a fresh one). */
  key(i: number): Uint8Array {
    return eventKey(this.stream, this.first + i);
  }

  /** The record of the `i`th event. */
  value(i: number): Uint8Array {
    return this.records.subarray(i === 0 ? 0 : this.ends[i - 1]!, this.ends[i]!);
  }

  /** The record of this stream's `seq`, if it is one of these. */
  valueOf(stream: number, seq: number): Uint8Array | undefined {
    if (stream !== this.stream || seq < this.first || seq >= this.first + this.ends.length) return undefined;
    return this.value(seq - this.first);
  }
}

/** Records encoded for one EventPuts, one after another; grown as needed. */
let runBuf = new Uint8Array(256 * 1024);

/**
 * Collects the records of one message's events (`add` each, in seq order), then `done`
 * makes their EventPuts. Encoding is synchronous: one builder at a time.
 */
export class EventPutsBuilder {
  private len = 0;
  private readonly ends: number[] = [];
  constructor(
    private readonly stream: number,
    private readonly first: number,
  ) {}

  add(
    r: SealedFields,
    timeMs: number,
    metaJcs: string | null,
    dataJcs: string | null,
    strings: Strings,
  ): void {
    writeSealed(r, timeMs, metaJcs, dataJcs, strings);
    const n = w.len;
    if (this.len + n > runBuf.length) {
      const bigger = new Uint8Array(Math.max(runBuf.length * 2, this.len + n));
      bigger.set(runBuf.subarray(0, this.len));
      runBuf = bigger;
    }
    runBuf.set(w.buf.subarray(0, n), this.len);
    this.len += n;
    this.ends.push(this.len);
  }

  done(): EventPuts {
    const records = this.len > SLAB_BYTES / 8 ? new Uint8Array(this.len) : fromSlab(this.len);
    records.set(runBuf.subarray(0, this.len));
    return new EventPuts(this.stream, this.first, records, Uint32Array.from(this.ends));
  }
}

/** Record fields into the one writer (`w.len` bytes from `w.buf`). */
function writeSealed(
  r: SealedFields,
  timeMs: number,
  metaJcs: string | null,
  dataJcs: string | null,
  strings: Strings,
): void {
  w.len = 0;
  const sig = r.sig === undefined ? null : Buffer.from(r.sig, 'base64');
  let flags = RECORD_VERSION << 4;
  if (metaJcs !== null) flags |= FLAG_META;
  if (dataJcs === null) flags |= FLAG_REDACTED;
  if (sig !== null) flags |= FLAG_SIG;
  w.byte(flags);
  w.str(r.type, strings);
  w.u48(timeMs);
  w.str(r.boot, strings);
  w.f64(r.mono);
  w.hex(r.prev, LINK_TAG_BYTES);
  w.hex(r.hash, 32);
  if (dataJcs === null) w.hex(r.digest, 32);
  if (sig !== null) {
    w.varint(sig.length);
    w.bytes(sig);
  }
  if (metaJcs !== null) w.str(metaJcs, strings);
  if (dataJcs !== null) w.text(dataJcs);
}

export class RecordDecodeError extends Error {}

const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);

class Reader {
  at = 0;
  constructor(public buf: Uint8Array) {}
  skip(n: number): void {
    this.need(n);
    this.at += n;
  }
  need(n: number): void {
    if (this.at + n > this.buf.length) throw new RecordDecodeError('record is truncated');
  }
  byte(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }
  varint(): number {
    let n = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      const b = this.byte();
      n += (b & 0x7f) * mul;
      if (b < 0x80) return n;
      mul *= 128;
    }
    throw new RecordDecodeError('varint is too long');
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const b = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return b;
  }
  str(strings: Strings): string {
    const n = this.varint();
    if (n % 2 === 0) {
      const s = strings.text(n / 2);
      if (s === undefined) throw new RecordDecodeError(`unknown string id ${n / 2}`);
      return s;
    }
    try {
      return utf8d.decode(this.bytes((n - 1) / 2));
    } catch {
      throw new RecordDecodeError('string is not UTF-8');
    }
  }
  f64(): number {
    this.need(8);
    scratch.set(this.buf.subarray(this.at, this.at + 8));
    this.at += 8;
    return scratchView.getFloat64(0);
  }
  u48(): number {
    this.need(6);
    const v = readU48(this.buf, this.at);
    this.at += 6;
    return v;
  }
}

const NO_BYTES: Uint8Array = new Uint8Array(0);
/** Decoding is synchronous and never re-entered: one reader serves every record. */
const reader = new Reader(NO_BYTES);

/**
 * Where a stored record's parts lie in its bytes (offsets into it; -1 for what it does not
 * hold), with its strings read: for a read that copies hashes and payload straight out of
 * the record (replication's JSON) without a view of each.
 */
export interface RecordSpans {
  type: string;
  timeMs: number;
  boot: string;
  mono: number;
  linkTagAt: number;
  hashAt: number;
  /** Kept only after redaction. */
  digestAt: number;
  sigAt: number;
  sigLength: number;
  metaJcs: string | null;
  /** From here to the end; -1 after redaction. */
  dataAt: number;
}

/** Decoding is synchronous: callers copy out what they keep before the next record. */
const spans: RecordSpans = {
  type: '',
  timeMs: 0,
  boot: '',
  mono: 0,
  linkTagAt: -1,
  hashAt: -1,
  digestAt: -1,
  sigAt: -1,
  sigLength: 0,
  metaJcs: null,
  dataAt: -1,
};

/**
 * The spans of one stored record, in an object reused by every call (read it before the
 * next). The one parser of records: decodeRecord cuts its views by these.
 */
export function recordSpans(buf: Uint8Array, strings: Strings): RecordSpans {
  const r = reader;
  r.buf = buf;
  r.at = 0;
  const flags = r.byte();
  if (flags >> 4 !== RECORD_VERSION) throw new RecordDecodeError(`unknown record version ${flags >> 4}`);
  if ((flags & 0x08) !== 0) throw new RecordDecodeError('unknown record flag');
  const out = spans;
  out.type = r.str(strings);
  out.timeMs = r.u48();
  out.boot = r.str(strings);
  out.mono = r.f64();
  const redacted = (flags & FLAG_REDACTED) !== 0;
  out.linkTagAt = r.at;
  r.skip(LINK_TAG_BYTES);
  out.hashAt = r.at;
  r.skip(32);
  out.digestAt = -1;
  if (redacted) {
    out.digestAt = r.at;
    r.skip(32);
  }
  out.sigAt = -1;
  out.sigLength = 0;
  if ((flags & FLAG_SIG) !== 0) {
    const n = r.varint();
    out.sigAt = r.at;
    out.sigLength = n;
    r.skip(n);
  }
  out.metaJcs = (flags & FLAG_META) !== 0 ? r.str(strings) : null;
  out.dataAt = -1;
  if (!redacted) out.dataAt = r.at;
  else if (r.at !== buf.length) throw new RecordDecodeError('redacted record has trailing bytes');
  return out;
}

/**
 * One stored record. With `full` false (what folds need) the link tag, hash, digest and
 * signature come back empty and null.
 */
export function decodeRecord(buf: Uint8Array, strings: Strings, full = true): StoredRecord {
  const p = recordSpans(buf, strings);
  const cut = (at: number, n: number) => buf.subarray(at, at + n);
  return {
    type: p.type,
    timeMs: p.timeMs,
    boot: p.boot,
    mono: p.mono,
    linkTag: full ? cut(p.linkTagAt, LINK_TAG_BYTES) : NO_BYTES,
    hash: full ? cut(p.hashAt, 32) : NO_BYTES,
    digest: full && p.digestAt >= 0 ? cut(p.digestAt, 32) : null,
    sig: full && p.sigAt >= 0 ? cut(p.sigAt, p.sigLength) : null,
    metaJcs: p.metaJcs,
    data: p.dataAt >= 0 ? buf.subarray(p.dataAt) : null,
  };
}
