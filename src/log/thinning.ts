// Thinning: the payloads of a stream's oldest readings purged to keep a log within its disk
// budget (src/device/disk-budget.ts decides when), recorded as a `ReadingsPurged` in the same
// atomic write as the purges, so there is never a purge without its record. The envelopes
// stay (their digests are kept, as after a redaction), so the chain still verifies, and a
// verifier accepts the purged payloads the ReadingsPurged covers (docs/protocol.md §5.1, §6).
import { eventKey, eventKeySeq } from './codec.js';
import { type BatchOp, type LogDisk, prefetched } from './disk.js';
import type { Envelope } from './envelope.js';
import type { RecordCodec } from './records.js';
import { purgedRecord } from './redaction.js';
import type { Stager } from './stager.js';
import type { Stream } from './streams.js';

export interface ThinRequest {
  /** Only events after this seq are thinned (what the hub has not acknowledged). */
  afterSeq: number;
  /** At most this many payloads in one purge (one atomic write). */
  max: number;
  /** Why, as the ReadingsPurged records it (`disk-budget`). */
  reason: string;
}

export interface Thinned {
  fromSeq: number;
  toSeq: number;
  count: number;
  /** The ReadingsPurged that records it. */
  event: Envelope;
}

/**
 * Purge the payloads of the oldest ReadingRecorded events after `afterSeq` that still have
 * one (at most `max`), and record them as one ReadingsPurged; null when there is none.
 */
export async function thinReadings(
  parts: { disk: LogDisk; codec: RecordCodec; writer: Stager },
  s: Stream,
  req: ThinRequest,
): Promise<Thinned | null> {
  const { disk, codec, writer } = parts;
  await writer.flushed();
  const upTo = s.durableSeq;
  if (req.afterSeq >= upTo || req.max < 1) return null;
  const ops: BatchOp[] = [];
  let fromSeq = 0;
  let toSeq = 0;
  const it = disk.db.iterator({ gt: eventKey(s.id, Math.max(0, req.afterSeq)), lte: eventKey(s.id, upTo) });
  scan: for await (const chunk of prefetched(it)) {
    for (const [k, raw] of chunk) {
      const seq = eventKeySeq(k);
      const rec = codec.decode(raw, s.device, seq);
      if (rec.type !== 'ReadingRecorded') continue;
      const purged = purgedRecord(rec);
      if (!purged) continue; // redacted already
      ops.push({ type: 'put', key: eventKey(s.id, seq), value: codec.encode(purged) });
      fromSeq ||= seq;
      toSeq = seq;
      if (ops.length >= req.max) break scan;
    }
  }
  if (ops.length === 0) return null;
  const count = ops.length;
  const sealed = writer.seal(s, {
    type: 'ReadingsPurged',
    data: { fromSeq, toSeq, count, reason: req.reason },
    meta: { actor: 'system' },
  });
  // the purges join the batch that carries their record: one atomic write
  writer.pending.ops.push(...ops);
  const event = await writer.enqueue(s, sealed, null);
  // the overwritten records take space until LevelDB compacts them away: do it now
  const db = disk.db as unknown as { compactRange?: (a: Uint8Array, b: Uint8Array) => Promise<void> };
  if (typeof db.compactRange === 'function')
    await db.compactRange(eventKey(s.id, fromSeq), eventKey(s.id, toSeq));
  return { fromSeq, toSeq, count, event };
}
