// The log's table of interned strings (event types, boot ids, meta objects): each is
// stored once under its id, and records refer to it by a varint. New entries are
// written in the same batch as the first record that uses them.
import { decodeText, encodeText, KEY, type Strings, stringKey, stringKeyId } from './codec.js';

/** Strings longer than this, or past the table's size, are stored inline instead. */
const MAX_INTERNED_BYTES = 200;
const MAX_ENTRIES = 262_144;

interface Op {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

interface Backend {
  iterator(opts: { gte: Uint8Array; lt: Uint8Array }): AsyncIterable<[Uint8Array, Uint8Array]>;
}

export class StringTable implements Strings {
  private readonly ids = new Map<string, number>();
  private readonly texts: string[] = [];
  private durable = 0;

  async load(db: Backend): Promise<void> {
    const lt = new Uint8Array([KEY.STRING + 1]);
    for await (const [k, v] of db.iterator({ gte: new Uint8Array([KEY.STRING]), lt })) {
      const id = stringKeyId(k);
      const s = decodeText(v);
      this.texts[id] = s;
      this.ids.set(s, id);
    }
    this.durable = this.texts.length;
  }

  /**
   * The last strings looked up, with their ids: a record names the same type, boot and meta
   * as the one before, and comparing a few strings costs less than hashing one afresh
   * (the hub's are new strings of each message).
   */
  private readonly recent: string[] = ['', '', '', ''];
  private readonly recentIds = [-1, -1, -1, -1];
  private nextRecent = 0;

  idOf(s: string): number | undefined {
    const r = this.recent;
    for (let i = 0; i < 4; i++) if (r[i] === s && this.recentIds[i]! >= 0) return this.recentIds[i];
    const id = this.ids.get(s);
    if (id !== undefined) {
      const at = this.nextRecent;
      r[at] = s;
      this.recentIds[at] = id;
      this.nextRecent = (at + 1) & 3;
    }
    return id;
  }

  text(id: number): string | undefined {
    return this.texts[id];
  }

  /** Give `s` an id if it is worth one, adding the write of a new entry to `ops`. */
  intern(s: string, ops: { push(op: Op): unknown }): void {
    if (this.idOf(s) !== undefined || this.texts.length >= MAX_ENTRIES || s.length > MAX_INTERNED_BYTES)
      return;
    const id = this.texts.length;
    this.texts.push(s);
    this.ids.set(s, id);
    ops.push({ type: 'put', key: stringKey(id), value: encodeText(s) });
  }

  /** Everything interned so far is on disk. */
  commit(): void {
    this.durable = this.texts.length;
  }

  /** Forget entries whose batch failed: no record on disk refers to them. */
  rollback(): void {
    for (let id = this.durable; id < this.texts.length; id++) this.ids.delete(this.texts[id]!);
    this.texts.length = this.durable;
    this.recentIds.fill(-1);
  }
}
