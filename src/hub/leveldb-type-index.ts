// The LevelDB fleet store's index of sparse events: per device, the seq (in the key) and the
// type (the value) of every event that is neither a reading nor a fix, kept in the log's
// aside key space and written in the same atomic batch as the events (a projection of the
// log's sealed appends, as the rollups are). The device page's timeline asks for those types
// only: with the index, that read touches them alone instead of a month of readings. A
// redaction purges a payload, never an event's type, so no entry changes for one (the
// EventRedacted itself is an entry). Each device's entries carry a mark (the seq they cover
// up to), written with them: at open, a device whose mark is behind its head (a store written
// before the index, or with it off) is indexed from its mark on; a read uses the index only
// when the mark is the device's durable head, and reads the events themselves otherwise.

import { decodeText, encodeText } from '../log/codec.js';
import type { BatchOp } from '../log/disk.js';
import { asideKey } from '../log/disk.js';
import type { Envelope } from '../log/envelope.js';
import type { BatchProjection, EventLog } from '../log/event-log.js';
import { inWindow, readLimit, timeWindow } from '../log/query.js';
import { DENSE_TYPES, type DeviceQuery, type StoredEvent } from './fleet-store.js';

/** The aside namespaces: a new layout takes a new name (and so is rebuilt at open). */
const NS = 'types1';
const MARKS = 'types1-mark';
/** Digits of a seq in a key (any safe integer), so keys sort by seq. */
const SEQ_DIGITS = 16;
/** Entries read at a time, and so events per chunk at most. */
const CHUNK = 1000;

function entryKey(device: string, seq: number): Uint8Array {
  return asideKey(NS, `${device}\u0000${String(seq).padStart(SEQ_DIGITS, '0')}`);
}

function seqOf(key: Uint8Array): number {
  return Number(decodeText(key.subarray(key.length - SEQ_DIGITS)));
}

/** Every entry of one device (the keys from `device\0` up to, not including, `device\1`). */
function deviceRange(device: string): { gte: Uint8Array; lt: Uint8Array } {
  const gte = asideKey(NS, `${device}\u0000`);
  const lt = new Uint8Array(gte);
  lt[lt.length - 1] = 1;
  return { gte, lt };
}

function sparse(type: string): boolean {
  return !DENSE_TYPES.includes(type);
}

interface Staged {
  entries: { device: string; seq: number; type: string }[];
  /** Each device's last seq in the batch: its mark once written. */
  marks: Map<string, number>;
}

export class LevelTypeIndex implements BatchProjection {
  private readonly batches = new WeakMap<object, Staged>();
  /** Each device's mark as on disk (absent: none). */
  private readonly marks = new Map<string, number>();
  /** Devices the open indexed from their events (all or from their mark on). */
  readonly rebuilt: string[] = [];

  constructor(private readonly log: EventLog) {}

  // ---------------------------------------------------------------- the batch hooks

  staged(batch: object, device: string, envelopes: readonly Envelope[]): void {
    let st = this.batches.get(batch);
    if (!st) {
      st = { entries: [], marks: new Map() };
      this.batches.set(batch, st);
    }
    for (const env of envelopes)
      if (sparse(env.type)) st.entries.push({ device, seq: env.seq, type: env.type });
    st.marks.set(device, envelopes[envelopes.length - 1]!.seq);
  }

  async prepare(batch: object): Promise<BatchOp[]> {
    const st = this.batches.get(batch);
    if (!st) return [];
    const ops: BatchOp[] = st.entries.map((e) => ({
      type: 'put',
      key: entryKey(e.device, e.seq),
      value: encodeText(e.type),
    }));
    for (const [device, seq] of st.marks)
      ops.push({ type: 'put', key: asideKey(MARKS, device), value: encodeText(String(seq)) });
    return ops;
  }

  committed(batch: object): void {
    const st = this.batches.get(batch);
    if (!st) return;
    for (const [device, seq] of st.marks) this.marks.set(device, seq);
    this.batches.delete(batch);
  }

  failed(): void {
    // nothing is kept in memory before a batch is on disk
  }

  /** Whether the entries cover every durable event of `device` (else reads scan). */
  covers(device: string): boolean {
    return (this.marks.get(device) ?? 0) === this.log.head(device).seq;
  }

  // ---------------------------------------------------------------- catching up at open

  /**
   * Index what no entry covers yet: each device from its mark on (all of it without one).
   * Runs before the index is attached to the log, while no batch can be written.
   */
  async catchUp(): Promise<string[]> {
    const done: string[] = [];
    const db = this.log.db;
    for (const device of this.log.deviceNames()) {
      const head = this.log.head(device).seq;
      const raw = await db.get(asideKey(MARKS, device));
      const mark = raw === undefined ? null : Number(decodeText(raw));
      if (mark === head || (mark === null && head === 0)) {
        this.marks.set(device, head);
        continue;
      }
      // no mark, or one past the head (not written by this log): index the whole device again
      const from = mark !== null && mark < head ? mark + 1 : 1;
      if (from === 1) await db.clear(deviceRange(device));
      for await (const chunk of this.log.typeChunks({ device, fromSeq: from, toSeq: head })) {
        const batch = db.batch();
        for (const { seq, type } of chunk)
          if (sparse(type)) batch.put(entryKey(device, seq), encodeText(type));
        // the mark moves with the entries: a crash here resumes from the last chunk written
        batch.put(asideKey(MARKS, device), encodeText(String(chunk[chunk.length - 1]!.seq)));
        await batch.write(this.log.disk.writeOptions);
      }
      this.marks.set(device, head);
      done.push(device);
    }
    this.rebuilt.push(...done);
    return done;
  }

  // ---------------------------------------------------------------- reads

  /**
   * A device read asking only for sparse `types`, answered from the entries: the same events,
   * order, time filter and limit as a read of the events (LogReader.read), in chunks.
   */
  async *read(q: DeviceQuery, types: readonly string[]): AsyncGenerator<StoredEvent[]> {
    let left = readLimit(q.limit);
    if (left === 0 || types.length === 0) return;
    const want = new Set(types);
    const head = this.log.head(q.device).seq;
    let from = Math.max(1, q.fromSeq ?? 1);
    let to = Math.min(head, q.toSeq ?? head);
    const w = timeWindow(q);
    if (w.bounded) {
      // the time index narrows the seqs; the window is then checked on each event
      if (w.until < w.since) return;
      const b = await this.log.timeBounds({ device: q.device, since: w.since, until: w.until });
      if (!b) return;
      from = Math.max(from, b.fromSeq);
      to = Math.min(to, b.toSeq);
    }
    if (to < from) return;
    const it = this.log.db.iterator({
      gte: entryKey(q.device, from),
      lte: entryKey(q.device, to),
      reverse: q.reverse ?? false,
    });
    try {
      for (;;) {
        const entries = await it.nextv(CHUNK);
        if (entries.length === 0) return;
        const seqs: number[] = [];
        for (const [k, v] of entries) if (want.has(decodeText(v))) seqs.push(seqOf(k));
        if (seqs.length === 0) continue;
        const out: StoredEvent[] = [];
        for (const event of await this.log.envelopesAt(q.device, seqs)) {
          if (!inWindow(w, event)) continue;
          out.push({ event });
          if (--left === 0) break;
        }
        if (out.length > 0) yield out;
        if (left === 0) return;
      }
    } finally {
      await it.close().catch(() => {});
    }
  }
}
