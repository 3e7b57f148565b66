// The log's records as the rest of the log meets them: a stored record decoded (or
// LOG_CORRUPT naming the device and seq), a record turned into an envelope, and records
// encoded against the log's string table (types, boot ids and metas interned).
import { fail } from '../errors.js';
import { hex } from './bytes.js';
import {
  decodeRecord,
  decodeText,
  encodeRecord,
  RecordDecodeError,
  type RecordSpans,
  recordSpans,
  type StoredRecord,
} from './codec.js';
import { type Envelope, type EventMeta, isoTime, sha256hex } from './envelope.js';
import type { StringTable } from './strings.js';

export class RecordCodec {
  constructor(readonly strings: StringTable) {}

  /** A stored record (without its hashes when not `full`: see decodeRecord), or LOG_CORRUPT. */
  decode(raw: Uint8Array, device: string, seq: number, full = true): StoredRecord {
    try {
      return decodeRecord(raw, this.strings, full);
    } catch (err) {
      if (err instanceof RecordDecodeError) {
        throw fail('LOG_CORRUPT', `${device} seq ${seq}: ${err.message}`, err);
      }
      throw err;
    }
  }

  /** Where a stored record's parts lie (an object reused by the next call: see recordSpans), or LOG_CORRUPT. */
  spans(raw: Uint8Array, device: string, seq: number): RecordSpans {
    try {
      return recordSpans(raw, this.strings);
    } catch (err) {
      if (err instanceof RecordDecodeError) {
        throw fail('LOG_CORRUPT', `${device} seq ${seq}: ${err.message}`, err);
      }
      throw err;
    }
  }

  /** A record whose strings are already interned (a purge of a stored record). */
  encode(rec: StoredRecord): Uint8Array {
    return encodeRecord(rec, this.strings);
  }

  toEnvelope(device: string, seq: number, rec: StoredRecord, prev: string): Envelope {
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
      time: isoTime(rec.timeMs),
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
}
