// The log's stream registry: one stream per device, its numeric id (what event keys
// carry), its head on disk and its head including queued events, its open time run and
// redaction mark, its anchor after a prune, and the meta keys that record them (the format
// marker, `stream:<device>`).
// Nothing else in the log keeps streams; the stager moves heads, a failed write rolls them back.
import { fail } from '../errors.js';
import { hex } from './bytes.js';
import {
  decodeRecord,
  decodeText,
  encodeText,
  eventKeySeq,
  KEY,
  metaKey,
  streamRange,
  type TimeRun,
} from './codec.js';
import type { LogDisk, PutOp } from './disk.js';
import { isDeviceId, ZERO_HASH } from './envelope.js';
import { anchorKey, parseAnchor } from './prune.js';
import type { RecordCodec } from './records.js';
import { markKey, parseMark } from './redaction.js';

/**
 * Version 2 writes the time and fleet indexes as runs (one entry for many events);
 * version 1 logs (an entry per event) are read as they are and marked 2 on their first write.
 */
export const FORMAT = { format: 'fieldlog-log', version: 2 } as const;
const READS_FORMATS = [1, 2];

const ZERO = new Uint8Array(32);

export interface Head {
  seq: number;
  hash: string;
}

export interface StreamInfo {
  device: string;
  head: Head;
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
  /** The last pruned event (prune.ts): events up to it are gone; null when none was pruned. */
  anchor: { seq: number; hash: Uint8Array } | null;
}

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
    anchor: null,
  };
}

function streamOp(s: Stream): PutOp {
  return { type: 'put', key: metaKey(`stream:${s.device}`), value: encodeText(JSON.stringify({ id: s.id })) };
}

export class StreamRegistry {
  private readonly byName = new Map<string, Stream>();
  private readonly byId = new Map<number, Stream>();
  private defaultDevice: string | undefined;
  /** The format version on disk; older than FORMAT until the first batch marks it. */
  formatVersion: number = FORMAT.version;

  constructor(private readonly disk: LogDisk) {}

  /** On open: the format marker (written when `create` and the store is empty), then every stream and its head. */
  async load(codec: RecordCodec, create: boolean): Promise<void> {
    const db = this.disk.db;
    const where = this.disk.location ?? 'the store';
    const format = await db.get(metaKey('format'));
    if (format === undefined) {
      const any = await db.keys({ limit: 1 }).all();
      if (any.length > 0 || !create) throw fail('LOG_NOT_FOUND', `${where} is not a fieldlog log`);
      await this.disk.put(metaKey('format'), encodeText(JSON.stringify(FORMAT)));
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
    await codec.strings.load(db);
    for await (const [k, v] of db.iterator({ gte: metaKey('stream:'), lt: metaKey('stream;') })) {
      const device = decodeText(k.subarray(1)).slice('stream:'.length);
      const { id } = JSON.parse(decodeText(v)) as { id: number };
      const s: Stream = newStream(id, device);
      const last = await db.iterator({ ...streamRange(KEY.EVENT, id), reverse: true, limit: 1 }).all();
      const entry = last[0];
      if (entry) {
        s.seq = s.durableSeq = eventKeySeq(entry[0]);
        try {
          s.hash = s.durableHash = new Uint8Array(decodeRecord(entry[1], codec.strings).hash);
        } catch (err) {
          throw fail('LOG_CORRUPT', `${where}: the head of ${device} (seq ${s.seq}) cannot be decoded`, err);
        }
      }
      s.marked = Math.min(parseMark(await db.get(markKey(device))), s.durableSeq);
      s.anchor = parseAnchor(await db.get(anchorKey(device)), `${where}: the anchor of ${device}`);
      this.byName.set(device, s);
      this.byId.set(id, s);
    }
  }

  /** The stream `append` writes to: `device` (made when `create`), else the only one. */
  async chooseDefault(device: string | undefined, create: boolean): Promise<void> {
    const where = this.disk.location ?? 'the store';
    if (device !== undefined) {
      if (!this.byName.has(device)) {
        if (!create) throw fail('DEVICE_UNKNOWN', `${where} holds no events of device ${device}`);
        await this.save(this.create(device));
      }
      this.defaultDevice = device;
    } else if (this.byName.size === 1) {
      this.defaultDevice = [...this.byName.keys()][0];
    }
  }

  get defaultName(): string | undefined {
    return this.defaultDevice;
  }

  /** A device's stream (the default one when none is named), or DEVICE_UNKNOWN / DEVICE_AMBIGUOUS. */
  get(device: string | undefined): Stream {
    const name = device ?? this.defaultDevice;
    if (name === undefined) {
      if (this.byName.size === 0) throw fail('DEVICE_UNKNOWN', 'the log holds no devices yet');
      throw fail(
        'DEVICE_AMBIGUOUS',
        `the log holds ${this.byName.size} devices (${this.names().join(', ')}); name one`,
      );
    }
    const s = this.byName.get(name);
    if (!s) throw fail('DEVICE_UNKNOWN', `the log holds no events of device ${name}`);
    return s;
  }

  find(device: string): Stream | undefined {
    return this.byName.get(device);
  }

  withId(id: number): Stream | undefined {
    return this.byId.get(id);
  }

  has(device: string): boolean {
    return this.byName.has(device);
  }

  all(): IterableIterator<Stream> {
    return this.byName.values();
  }

  names(): string[] {
    return [...this.byName.keys()].sort();
  }

  /** The durable head: what is on disk. */
  head(device?: string): Head {
    const s = this.get(device);
    return { seq: s.durableSeq, hash: s.durableSeq === 0 ? ZERO_HASH : hex(s.durableHash) };
  }

  /** The head including events accepted but not yet on disk. */
  pendingHead(device?: string): Head {
    const s = this.get(device);
    return { seq: s.seq, hash: s.seq === 0 ? ZERO_HASH : hex(s.hash) };
  }

  /**
   * A stream known in memory only until `createOp`'s write lands: streams made by
   * concurrent appends take fleet positions in call order, and a failed write leaves no
   * empty stream behind.
   */
  create(device: string): Stream {
    if (!isDeviceId(device))
      throw fail('EVENT_INVALID', `device id "${device}" must match [A-Za-z0-9._-]{1,64}`);
    const id = this.byId.size === 0 ? 0 : Math.max(...this.byId.keys()) + 1;
    const s: Stream = { ...newStream(id, device), saved: false };
    this.byName.set(device, s);
    this.byId.set(id, s);
    return s;
  }

  /** The write that records a new stream, to go with its first batch. */
  createOp(s: Stream): PutOp {
    return streamOp(s);
  }

  /** Record a stream on disk now (a device's own stream, made on open). */
  async save(s: Stream): Promise<Stream> {
    if (s.saved) return s;
    const op = streamOp(s);
    await this.disk.put(op.key, op.value);
    s.saved = true;
    return s;
  }

  /** The format marker, when this log is older than FORMAT: written with the next batch. */
  formatOp(): PutOp | null {
    if (this.formatVersion >= FORMAT.version) return null;
    return { type: 'put', key: metaKey('format'), value: encodeText(JSON.stringify(FORMAT)) };
  }

  /** A write failed: every stream back to its head on disk; streams it was to create never existed. */
  rollback(): void {
    for (const s of [...this.byName.values()]) {
      if (!s.saved) {
        this.byName.delete(s.device);
        this.byId.delete(s.id);
        continue;
      }
      s.seq = s.durableSeq;
      s.hash = s.durableHash;
      s.run = s.durableRun ? { ...s.durableRun } : null;
    }
  }
}
