// Redaction in the log: the log's own redactions (an EventRedacted and the purge of its
// target in one batch), the purges a hub's sealed EventRedacted events call for (read as
// the batch is written), the marks that bound the rescan on open, and the repair on open
// of a store where an EventRedacted was written without its purge. The rules of what an
// EventRedacted purges are in redaction.ts; this is where they meet the store and batches.
import { fail } from '../errors.js';
import { sameKey, sha256 } from './bytes.js';
import { eventKey, type StoredRecord } from './codec.js';
import { type LogDisk, type PutOp, prefetched } from './disk.js';
import { type Envelope, isActor } from './envelope.js';
import type { RecordCodec } from './records.js';
import { MARK_EVERY, markOp, purgedRecord, unappliedRedactions } from './redaction.js';
import type { BatchHooks, PendingBatch, Stager } from './stager.js';
import type { Stream, StreamRegistry } from './streams.js';

export class Redactor implements BatchHooks {
  /** Redactions of the log's own events staged and not yet written (`<stream id>:<seq>`). */
  private readonly redactingNow = new Set<string>();
  /** Targets whose payload the repair on open purged (see repair). */
  readonly repaired: { device: string; seq: number }[] = [];

  constructor(
    private readonly disk: LogDisk,
    private readonly streams: StreamRegistry,
    private readonly codec: RecordCodec,
  ) {}

  /**
   * Purge the payload of event `seq` of stream `s`, recorded as an `EventRedacted` with a
   * reason and an actor, staged through `writer`: the purge and the EventRedacted are
   * written in one batch.
   */
  async redact(writer: Stager, s: Stream, seq: number, reason: string, actor: string): Promise<Envelope> {
    if (typeof reason !== 'string' || reason.trim() === '')
      throw fail('REDACTION_INVALID', 'a redaction needs a reason');
    if (reason.length > 500) throw fail('REDACTION_INVALID', 'the reason is over 500 characters');
    if (typeof actor !== 'string' || !isActor(actor)) {
      throw fail('REDACTION_INVALID', 'a redaction needs an actor (operator:<name> or system)');
    }
    if (!Number.isInteger(seq) || seq < 1 || seq > s.seq)
      throw fail('REDACTION_INVALID', `no event ${seq} in ${s.device}`);
    // a pruned event is gone: there is no payload left to purge
    if (s.anchor !== null && seq <= s.anchor.seq)
      throw fail(
        'REDACTION_INVALID',
        `event ${seq} of ${s.device} was pruned (the log starts after seq ${s.anchor.seq})`,
      );
    const key = `${s.id}:${seq}`;
    if (this.redactingNow.has(key)) throw fail('REDACTION_INVALID', `event ${seq} is already being redacted`);
    await writer.flushed();
    const raw = await this.disk.db.get(eventKey(s.id, seq));
    if (raw === undefined) throw fail('REDACTION_INVALID', `no event ${seq} in ${s.device}`);
    // pruned while this waited: its purge must not write the record back
    if (s.anchor !== null && seq <= s.anchor.seq)
      throw fail('REDACTION_INVALID', `event ${seq} of ${s.device} was pruned`);
    const rec = this.codec.decode(raw, s.device, seq);
    if (rec.data === null) throw fail('REDACTION_INVALID', `event ${seq} is already redacted`);
    if (rec.type === 'EventRedacted')
      throw fail('REDACTION_INVALID', 'an EventRedacted cannot itself be redacted');
    // the key a signature is checked against must stay readable (docs/protocol.md §2.4)
    if (rec.type === 'DeviceKeyAdded' || rec.type === 'DeviceKeyRotated')
      throw fail('REDACTION_INVALID', `a ${rec.type} cannot be redacted: later signatures rest on it`);
    if (this.redactingNow.has(key)) throw fail('REDACTION_INVALID', `event ${seq} is already being redacted`);
    this.redactingNow.add(key);
    const purged: StoredRecord = { ...rec, data: null, digest: sha256(rec.data) };
    const sealed = writer.seal(s, { type: 'EventRedacted', data: { seq, reason }, meta: { actor } });
    writer.pending.redacting.add(key);
    const purge: PutOp = { type: 'put', key: eventKey(s.id, seq), value: this.codec.encode(purged) };
    return writer.enqueue(s, sealed, purge);
  }

  /**
   * Now and then a batch records that everything up to it is redacted as recorded, so
   * that an open after a crash rescans at most MARK_EVERY events per stream.
   */
  close(batch: PendingBatch): void {
    for (const [s, h] of batch.heads) {
      if (h.seq - s.marked < MARK_EVERY) continue;
      batch.ops.push(markOp(s.device, h.seq));
      batch.marks.set(s, h.seq);
    }
  }

  /**
   * Add to a batch about to be written the purges its EventRedacted events call for
   * (sealed ones, the hub's copy of a device): each target is read as it will be once
   * the batch is written (staged in it, or on disk: earlier batches are written by now).
   * The purge and the EventRedacted are one atomic write; a target that is not stored,
   * already purged or itself an EventRedacted is left as it is.
   */
  async prepare(batch: PendingBatch): Promise<void> {
    for (const { s, seq } of batch.purges) {
      const key = eventKey(s.id, seq);
      // the last write of it staged in the batch, if any (a put, a delete, or one of a message's puts)
      let staged = false;
      let raw: Uint8Array | undefined;
      for (let i = batch.ops.length - 1; i >= 0 && !staged; i--) {
        const op = batch.ops[i]!;
        if (op.type === 'puts') {
          raw = op.valueOf(s.id, seq);
          staged = raw !== undefined;
        } else if (sameKey(op.key, key)) {
          staged = true;
          raw = op.type === 'put' ? op.value : undefined;
        }
      }
      if (!staged) raw = await this.disk.db.get(key);
      if (raw === undefined) continue;
      let purged: StoredRecord | null;
      try {
        purged = purgedRecord(this.codec.decode(raw, s.device, seq));
      } catch {
        continue; // an unreadable target is verify's to report; it must not stop the stream
      }
      if (!purged) continue;
      batch.ops.push({ type: 'put', key, value: this.codec.encode(purged) });
      if (!staged) continue;
      const at = batch.envelopes.findIndex((e) => e.device === s.device && e.seq === seq);
      if (at >= 0) batch.envelopes[at] = { ...batch.envelopes[at]!, data: null };
    }
  }

  committed(batch: PendingBatch): void {
    for (const [s, m] of batch.marks) s.marked = m;
    for (const key of batch.redacting) this.redactingNow.delete(key);
  }

  failed(): void {
    this.redactingNow.clear();
  }

  /**
   * On open: apply every EventRedacted stored after a stream's mark whose target still
   * has its payload (a store left so by a crash between the two writes of an older hub),
   * and move the marks to the heads, in one atomic write. Idempotent.
   */
  async repair(): Promise<void> {
    const db = this.disk.db;
    const ops: PutOp[] = [];
    const marks: [Stream, number][] = [];
    for (const s of this.streams.all()) {
      if (s.durableSeq <= s.marked) continue;
      const range = { gte: eventKey(s.id, s.marked + 1), lte: eventKey(s.id, s.durableSeq) };
      const found = await unappliedRedactions(
        prefetched(db.iterator(range)),
        (seq) => db.get(eventKey(s.id, seq)),
        (raw, seq, full) => this.codec.decode(raw, s.device, seq, full),
      );
      for (const { seq, record } of found) {
        ops.push({ type: 'put', key: eventKey(s.id, seq), value: this.codec.encode(record) });
        this.repaired.push({ device: s.device, seq });
      }
      ops.push(markOp(s.device, s.durableSeq));
      marks.push([s, s.durableSeq]);
    }
    if (ops.length === 0) return;
    await this.disk.write(ops);
    for (const [s, m] of marks) s.marked = m;
  }

  /** On close: everything written is redacted as recorded, so the next open need not rescan it. */
  async markAll(): Promise<void> {
    const marks: PutOp[] = [];
    for (const s of this.streams.all())
      if (s.durableSeq > s.marked) marks.push(markOp(s.device, s.durableSeq));
    if (marks.length > 0) await this.disk.write(marks).catch(() => {}); // a lost mark costs one rescan
  }
}
