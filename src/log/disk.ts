// The log's disk: the abstract-level store, its write options (durable or fast), and the
// one atomic write every batch goes through. The fault-injection seam of the tests is
// `LogDisk.write`: every write of events, purges, marks, repairs and prunes passes there. The
// store can be swapped for a fresh open of itself (`reopen`: after a full disk, see full-disk.ts).
import type { AbstractLevel } from 'abstract-level';
import { fail } from '../errors.js';
import { type EventPuts, encodeText, KEY } from './codec.js';

// biome-ignore lint/suspicious/noExplicitAny: abstract-level's generics vary by implementation
export type LogBackend = AbstractLevel<any, Uint8Array, Uint8Array>;

export interface PutOp {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

/** A delete: how pruning (prune.ts) removes events, index runs and snapshots. */
export interface DelOp {
  type: 'del';
  key: Uint8Array;
}

/** Puts of a hub's staged events, one op per message (codec.ts says why). */
export type BatchOp = PutOp | DelOp | EventPuts;

export class LogDisk {
  /** LevelDB's `sync`: not in abstract-level's option types, honoured by classic-level. */
  readonly writeOptions: { sync: boolean; keyEncoding?: 'view' };

  /**
   * `durable`: what is written survives a power cut, by an fsync of each write or, with
   * `syncEachWrite` false (the low-wear mode, see interval-sync.ts), by one every period.
   */
  constructor(
    private store: LogBackend,
    readonly location: string | null,
    readonly durable: boolean,
    syncEachWrite = durable,
  ) {
    this.writeOptions = { sync: syncEachWrite };
  }

  /** The store; read it through here each time, never keep it (a reopen replaces it). */
  get db(): LogBackend {
    return this.store;
  }

  /**
   * Close the store and open it again with `open`. When the open fails, the closed store
   * stays (reads fail) until a later reopen works.
   */
  async reopen(open: () => Promise<LogBackend>): Promise<void> {
    await this.store.close();
    this.store = await open();
  }

  /**
   * One atomic write. A chained batch hands each op to LevelDB as it is added, several
   * times faster here than batch(array), whose per-op copying dominates small records.
   */
  async write(ops: BatchOp[]): Promise<void> {
    const chained = this.db.batch();
    for (const op of ops) {
      if (op.type === 'put') chained.put(op.key, op.value);
      else if (op.type === 'puts') for (let i = 0; i < op.count; i++) chained.put(op.key(i), op.value(i));
      else chained.del(op.key);
    }
    await chained.write(this.writeOptions);
  }

  /** One key, written as durably as the batches. */
  put(key: Uint8Array, value: Uint8Array): Promise<void> {
    return this.db.put(key, value, this.writeOptions);
  }

  /** Bytes the store uses on disk (LevelDB's own estimate over the whole key range). */
  async approximateSize(): Promise<number> {
    const db = this.db as unknown as { approximateSize?: (a: Uint8Array, b: Uint8Array) => Promise<number> };
    if (typeof db.approximateSize !== 'function') return 0;
    return db.approximateSize(new Uint8Array([0]), new Uint8Array([0xff]));
  }

  async compact(): Promise<void> {
    await this.compactRange(new Uint8Array([0]), new Uint8Array([0xff]));
  }

  /**
   * Have LevelDB rewrite the files holding [from, to] so that deleted keys really give
   * their space back (a delete alone only adds a tombstone). A store without it: nothing.
   */
  async compactRange(from: Uint8Array, to: Uint8Array): Promise<void> {
    const db = this.db as unknown as { compactRange?: (a: Uint8Array, b: Uint8Array) => Promise<void> };
    if (typeof db.compactRange === 'function') await db.compactRange(from, to);
  }
}

/**
 * Chunks of an iterator, asking for the next chunk before handing out the current one,
 * so LevelDB reads while JavaScript decodes and hashes.
 */
export async function* prefetched<T>(it: {
  nextv(n: number): Promise<T[]>;
  close(): Promise<void>;
}): AsyncGenerator<T[]> {
  try {
    let next = it.nextv(1000);
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) return;
      next = it.nextv(1000);
      yield chunk;
    }
  } finally {
    await it.close().catch(() => {});
  }
}

/** The key of `key` in the aside key space `namespace`: data kept beside the streams. */
export function asideKey(namespace: string, key: string): Uint8Array {
  const ns = encodeText(namespace);
  const k = encodeText(key);
  const out = new Uint8Array(2 + ns.length + k.length);
  out[0] = KEY.ASIDE;
  out.set(ns, 1);
  out[1 + ns.length] = 0;
  out.set(k, 2 + ns.length);
  return out;
}

export function mapOpenError(dir: string, err: unknown): Error {
  const e = err as { code?: string; cause?: { code?: string } };
  if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED') {
    return fail('LOG_LOCKED', `${dir} is in use by another process (one writer per log)`, err);
  }
  if (e.cause?.code === 'LEVEL_CORRUPTION' || e.code === 'LEVEL_CORRUPTION') {
    return fail(
      'LOG_CORRUPT',
      `${dir}: the store is damaged: ${(e.cause as Error | undefined)?.message ?? ''}`,
      err,
    );
  }
  return fail(
    'LOG_NOT_FOUND',
    `${dir} cannot be opened as a fieldlog log: ${(e.cause as Error)?.message ?? (err as Error).message}`,
    err,
  );
}
