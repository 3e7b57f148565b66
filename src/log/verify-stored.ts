// Verifying a stored stream: its records walked in key order, each payload hashed as it
// lies on disk (nothing is parsed but the targets of redactions), and every problem
// reported with its seq by the ChainVerifier (verify.ts), which judges them. A pruned stream
// is walked from its anchor (prune.ts): its hash and chain of keys are where the walk starts.
import { hex, sameBytes, unhex, ZERO } from './bytes.js';
import {
  bytesToText,
  decodeRecord,
  eventKey,
  eventKeySeq,
  KEY,
  LINK_TAG_BYTES,
  type StoredRecord,
  streamRange,
} from './codec.js';
import { type LogDisk, prefetched } from './disk.js';
import { canonicalHeader, sha256hex, ZERO_HASH } from './envelope.js';
import { readAnchorRecord } from './prune.js';
import type { RecordCodec } from './records.js';
import type { Stream } from './streams.js';
import { ChainVerifier, type Observation, purgeRange, redactionTarget, type VerifyReport } from './verify.js';
import { SignatureCheck, type SignatureCheckOptions } from './verify-signatures.js';

/** With `signatures`, each event's `sig` and the chain of keys are checked too. */
export async function verifyStored(
  disk: LogDisk,
  codec: RecordCodec,
  s: Stream,
  signatures?: SignatureCheckOptions,
): Promise<VerifyReport> {
  // a pruned stream is verified from its anchor: the chain goes on from the anchor's hash,
  // and the keys from the chain of keys recorded with it
  const anchor = await readAnchorRecord(disk, s);
  const v = new ChainVerifier(
    anchor === null
      ? { device: s.device }
      : { device: s.device, from: { seq: anchor.seq, hash: anchor.hash } },
  );
  const sigs =
    signatures === undefined
      ? null
      : new SignatureCheck(
          signatures,
          anchor === null
            ? undefined
            : { seq: anchor.seq, publicKey: anchor.keys.publicKey, held: anchor.keys.held },
        );
  let prev: Uint8Array = anchor === null ? ZERO : unhex(anchor.hash);
  let prevHex = anchor === null ? ZERO_HASH : anchor.hash;
  const range = streamRange(KEY.EVENT, s.id);
  const it = disk.db.iterator(anchor === null ? range : { gt: eventKey(s.id, anchor.seq), lt: range.lt });
  for await (const chunk of prefetched(it)) {
    for (const [k, raw] of chunk) {
      const seq = eventKeySeq(k);
      let rec: StoredRecord;
      try {
        rec = decodeRecord(raw, codec.strings);
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
        if (rec.type === 'ReadingsPurged' && rec.data !== null) {
          o.purgeRange = purgeRange(JSON.parse(bytesToText(rec.data)));
        }
      } catch (err) {
        o.undecodable = (err as Error).message;
      }
      v.observe(o);
      if (sigs !== null) {
        let keyData: Record<string, unknown> | null = null;
        if ((rec.type === 'DeviceKeyAdded' || rec.type === 'DeviceKeyRotated') && rec.data !== null) {
          try {
            keyData = JSON.parse(bytesToText(rec.data));
          } catch {
            keyData = null;
          }
        }
        const e = { seq, type: rec.type, data: keyData, hash: hashHex };
        sigs.feed(rec.sig ? { ...e, sig: Buffer.from(rec.sig).toString('base64') } : e);
      }
      prev = rec.hash;
      prevHex = hashHex;
    }
  }
  const errors = v.finish();
  const signed = sigs?.finish();
  if (signed) {
    errors.push(...signed.problems);
    errors.sort((a, b) => a.seq - b.seq);
  }
  const report: VerifyReport = {
    ok: errors.length === 0,
    events: v.events,
    head: { seq: v.lastSeq, hash: v.lastHash ?? prevHex },
    errors,
  };
  if (anchor !== null)
    report.anchor = { seq: anchor.seq, hash: anchor.hash, publicKey: anchor.keys.publicKey };
  if (signed) report.signatures = signed.summary;
  return report;
}
