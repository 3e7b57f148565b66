// Applying a recorded EventRedacted: which target it purges, the purged record, and the
// repair of a store where an EventRedacted was written but its target kept its payload
// (what the hub's old two-step redaction left after a crash between the steps). One rule
// for the hub's ingest and the repair: an EventRedacted purges the event it names when
// that is an earlier event of the same stream that still has its payload and is not
// itself an EventRedacted; anything else (a seq not yet or no longer stored, not a
// number, already purged) purges nothing and is left for verify to report.
import { bytesToText, decodeText, encodeText, eventKeySeq, metaKey, type StoredRecord } from './codec.js';
import { sha256hex } from './envelope.js';

/** After this many events written to a stream without a mark, a batch carries one. */
export const MARK_EVERY = 100_000;

/** The seq an EventRedacted's payload names when it may purge it, else null. */
export function purgeTarget(type: string, seq: number, data: unknown): number | null {
  if (type !== 'EventRedacted' || data === null || typeof data !== 'object') return null;
  const target = (data as Record<string, unknown>).seq;
  if (typeof target !== 'number' || !Number.isInteger(target) || target < 1 || target >= seq) return null;
  return target;
}

/** The record without its payload, keeping the digest the hash covers; null when nothing to purge. */
export function purgedRecord(rec: StoredRecord): StoredRecord | null {
  if (rec.data === null || rec.type === 'EventRedacted') return null;
  return { ...rec, data: null, digest: Buffer.from(sha256hex(rec.data), 'hex') };
}

/**
 * The mark of a stream: every EventRedacted at or below this seq has been applied. It is
 * written with the batch that makes it true, so a store that was cut off between two
 * writes is rescanned only from its last mark on the next open.
 */
export function markKey(device: string): Uint8Array {
  return metaKey(`redactions-applied:${device}`);
}

export function markValue(seq: number): Uint8Array {
  return encodeText(JSON.stringify({ seq }));
}

/** The write that moves `device`'s mark to `seq`. */
export function markOp(device: string, seq: number): { type: 'put'; key: Uint8Array; value: Uint8Array } {
  return { type: 'put', key: markKey(device), value: markValue(seq) };
}

export function parseMark(v: Uint8Array | undefined): number {
  if (v === undefined) return 0;
  try {
    const { seq } = JSON.parse(decodeText(v)) as { seq?: unknown };
    return typeof seq === 'number' && Number.isInteger(seq) && seq >= 0 ? seq : 0;
  } catch {
    return 0; // an unreadable mark costs one full scan, nothing more
  }
}

/**
 * Seqs that an EventRedacted among `records` (one stream's records in seq order, a chunk
 * at a time) names but that still hold their payload, with their purged records. Reads
 * every record once (without hashes), then the target of each EventRedacted found.
 */
export async function unappliedRedactions(
  records: AsyncIterable<[Uint8Array, Uint8Array][]>,
  read: (seq: number) => Promise<Uint8Array | undefined>,
  decode: (raw: Uint8Array, seq: number, full: boolean) => StoredRecord,
): Promise<{ seq: number; record: StoredRecord }[]> {
  const targets: number[] = [];
  for await (const chunk of records) {
    for (const [k, raw] of chunk) {
      const seq = eventKeySeq(k);
      let data: unknown;
      try {
        const rec = decode(raw, seq, false);
        if (rec.type !== 'EventRedacted' || rec.data === null) continue;
        data = JSON.parse(bytesToText(rec.data));
      } catch {
        continue; // an unreadable record is verify's to report; the repair leaves it alone
      }
      const target = purgeTarget('EventRedacted', seq, data);
      if (target !== null) targets.push(target);
    }
  }
  const out: { seq: number; record: StoredRecord }[] = [];
  const seen = new Set<number>();
  for (const seq of targets) {
    if (seen.has(seq)) continue;
    seen.add(seq);
    const raw = await read(seq);
    if (raw === undefined) continue;
    let record: StoredRecord | null;
    try {
      record = purgedRecord(decode(raw, seq, true));
    } catch {
      continue;
    }
    if (record) out.push({ seq, record });
  }
  return out;
}
