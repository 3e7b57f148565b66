// The append-only event log: one LevelDB (or any abstract-level store) holding one
// stream per device. Appends from many callers are grouped into one batch per turn and
// resolve only once that batch is written; the chain, seqs and the time index are kept
// by the log itself, never by its callers. The store (writing) is in store.ts, the reads
// in reads.ts; this adds opening, snapshots and verify.

import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { MemoryLevel } from 'memory-level';
import { fail } from '../errors.js';
import {
  bytesToText,
  decodeRecord,
  decodeText,
  encodeText,
  eventKey,
  eventKeySeq,
  KEY,
  LINK_TAG_BYTES,
  type StoredRecord,
  snapshotKey,
  snapshotKeySeq,
  streamRange,
} from './codec.js';
import { canonicalHeader, sha256hex, ZERO_HASH } from './envelope.js';
import { LogReads } from './reads.js';
import { hex, type LogBackend, type LogOptions, mapOpenError, prefetched, sameBytes, ZERO } from './store.js';
import { ChainVerifier, type Observation, redactionTarget, type VerifyReport } from './verify.js';

export type { DeviceRead, FleetRead, LogQuery, ReadItem } from './query.js';
export {
  type Clock,
  FORMAT,
  type FoldEvent,
  type Head,
  type LogBackend,
  type LogOptions,
  type ReadRange,
  RUN_SPAN_MS,
  type StreamInfo,
  systemClock,
  type TimeRange,
} from './store.js';

export class EventLog extends LogReads {
  private constructor(db: LogBackend, location: string | null, opts: LogOptions) {
    super(db, location, opts);
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
}
