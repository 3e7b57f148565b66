// Projection snapshots: a projection's state as of a seq, tied to that event's hash, so a
// snapshot that no longer matches the chain is never used. Derived data: not synced. After a
// prune, the states kept with the anchor (prune.ts) are the oldest snapshots there are.
import { hex } from './bytes.js';
import { decodeText, encodeText, eventKey, snapshotKey, snapshotKeySeq } from './codec.js';
import type { LogDisk } from './disk.js';
import { readAnchorRecord } from './prune.js';
import type { RecordCodec } from './records.js';
import type { Stream } from './streams.js';

export class Snapshots {
  constructor(
    private readonly disk: LogDisk,
    private readonly codec: RecordCodec,
  ) {}

  private async hashAt(s: Stream, seq: number): Promise<string | undefined> {
    const raw = await this.disk.db.get(eventKey(s.id, seq));
    return raw === undefined ? undefined : hex(this.codec.decode(raw, s.device, seq).hash);
  }

  async save(s: Stream, projection: string, seq: number, stateJson: string): Promise<void> {
    const hash = await this.hashAt(s, seq);
    if (hash === undefined) return;
    const value = encodeText(`${JSON.stringify({ hash })}\n${stateJson}`);
    await this.disk.db.put(snapshotKey(s.id, projection, seq), value);
  }

  /** The newest snapshot at or before `maxSeq` that still matches; others found on the way are deleted. */
  async load(s: Stream, projection: string, maxSeq: number): Promise<{ seq: number; state: unknown } | null> {
    if (maxSeq < 1) return null;
    const it = this.disk.db.iterator({
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
        if ((await this.hashAt(s, seq)) === hash) return { seq, state: JSON.parse(text.slice(nl + 1)) };
      } catch {
        // an unreadable snapshot is as good as none
      }
      await this.disk.db.del(k);
    }
    // after a prune, the state as of the anchor is the oldest there is
    if (s.anchor !== null && s.anchor.seq <= maxSeq) {
      const record = await readAnchorRecord(this.disk, s);
      if (record !== null && projection in record.snapshots)
        return { seq: record.seq, state: record.snapshots[projection] };
    }
    return null;
  }
}
