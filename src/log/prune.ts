// Pruning a stream's oldest events (retention, README "Running for a year → Retention"): the
// events up to a seq, their time-index runs and their snapshots are deleted, and the stream's
// anchor — the seq and hash of the last pruned event, the chain of keys and the projections'
// states as of it — is recorded, all in one atomic write per chunk through the log's one write
// (LogDisk.write), so a crash leaves the log as it was before a chunk or after it, never between.
// The chain continues from the anchor: readers start after it, verify starts from its hash
// (docs/protocol.md §6.1), and a fold starts from its snapshot. The head is never pruned (the
// chain must go on from a stored event), nor anything past what a power cut cannot take back.
import { fail } from '../errors.js';
import { hex, unhex } from './bytes.js';
import {
  decodeText,
  encodeText,
  eventKey,
  KEY,
  metaKey,
  snapshotKeySeq,
  streamRange,
  timeKeyParts,
  timeRunParts,
} from './codec.js';
import { deviceKey } from './device-key.js';
import { deviceState } from './device-state.js';
import type { BatchOp, LogDisk } from './disk.js';
import { PUBLIC_KEY_RE } from './events.js';
import type { Projection } from './projection.js';
import type { LogReader } from './reader.js';
import type { Stream } from './streams.js';

/** Events deleted per atomic write: bounds the batch's memory and lets appends in between. */
export const PRUNE_CHUNK = 20_000;

/**
 * The projections whose state is kept at the anchor, so that folds of the kept range start
 * there (the console's history, `log state`, the key a device signs with).
 */
// biome-ignore lint/suspicious/noExplicitAny: a list of projections of different states
export const ANCHOR_PROJECTIONS: readonly Projection<any>[] = [deviceState, deviceKey];

export function projectionKey(p: { name: string; version: number }): string {
  return `${p.name}@${p.version}`;
}

export interface Anchor {
  seq: number;
  hash: string;
}

/** What is stored at the meta key `anchor:<device>` (docs/protocol.md §13). */
export interface AnchorRecord extends Anchor {
  /** The chain of keys as of the anchor: the key in force (null: none) and every key held. */
  keys: { publicKey: string | null; held: string[] };
  /** Each anchored projection's state as of the anchor, by `name@version`. */
  snapshots: Record<string, unknown>;
}

export function anchorKey(device: string): Uint8Array {
  return metaKey(`anchor:${device}`);
}

function parseRecord(v: Uint8Array): AnchorRecord {
  const r = JSON.parse(decodeText(v)) as Partial<AnchorRecord>;
  if (!Number.isInteger(r.seq) || (r.seq as number) < 1 || !/^[0-9a-f]{64}$/.test(String(r.hash)))
    throw new Error('no seq and hash');
  return {
    seq: r.seq as number,
    hash: r.hash as string,
    keys: {
      publicKey: typeof r.keys?.publicKey === 'string' ? r.keys.publicKey : null,
      held: Array.isArray(r.keys?.held) ? r.keys.held.filter((k) => typeof k === 'string') : [],
    },
    snapshots: r.snapshots && typeof r.snapshots === 'object' ? r.snapshots : {},
  };
}

/** A stored anchor as the stream registry keeps it; LOG_CORRUPT when it cannot be read. */
export function parseAnchor(
  v: Uint8Array | undefined,
  what: string,
): { seq: number; hash: Uint8Array } | null {
  if (v === undefined) return null;
  try {
    const r = parseRecord(v);
    return { seq: r.seq, hash: unhex(r.hash) };
  } catch (err) {
    // without it the kept events cannot be verified: never guessed
    throw fail('LOG_CORRUPT', `${what} is unreadable`, err);
  }
}

export async function readAnchorRecord(disk: LogDisk, s: Stream): Promise<AnchorRecord | null> {
  if (s.anchor === null) return null;
  const v = await disk.db.get(anchorKey(s.device));
  if (v === undefined) throw fail('LOG_CORRUPT', `${s.device}: the anchor at seq ${s.anchor.seq} is missing`);
  try {
    return parseRecord(v);
  } catch (err) {
    throw fail('LOG_CORRUPT', `${s.device}: the anchor at seq ${s.anchor.seq} is unreadable`, err);
  }
}

export function anchorOf(s: Stream): Anchor | null {
  return s.anchor === null ? null : { seq: s.anchor.seq, hash: hex(s.anchor.hash) };
}

export interface PruneResult {
  pruned: number;
  anchor: Anchor | null;
}

export interface PruneOptions {
  /** Compact the pruned range afterwards (default true): a delete alone gives no space back. */
  compact?: boolean;
  /** Events per atomic write (default PRUNE_CHUNK). */
  chunk?: number;
}

export class Pruner {
  /** One prune at a time: each starts from the anchor the last one left. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly disk: LogDisk,
    private readonly reader: LogReader,
  ) {}

  /**
   * Prune stream `s` through `throughSeq`, but never its head nor past `limit` (the synced
   * head): events are deleted oldest first, a chunk per atomic write that also moves the anchor.
   */
  prune(s: Stream, throughSeq: number, limit: number, opts: PruneOptions = {}): Promise<PruneResult> {
    if (!Number.isInteger(throughSeq) || throughSeq < 0)
      return Promise.reject(fail('EVENT_INVALID', `cannot prune through seq ${throughSeq}: not a seq`));
    const run = this.queue.then(() => this.run(s, throughSeq, limit, opts));
    this.queue = run.catch(() => {});
    return run;
  }

  /**
   * Run `fn` between prunes, never beside one: thinning and redaction read records and write
   * them back purged; a prune between the read and the write would have its deletes undone
   * (records below the anchor again), or see its anchor's record change under it.
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async run(s: Stream, throughSeq: number, limit: number, opts: PruneOptions): Promise<PruneResult> {
    const floor = s.anchor?.seq ?? 0;
    const last = Math.min(throughSeq, s.durableSeq - 1, limit);
    if (last <= floor) return { pruned: 0, anchor: anchorOf(s) };
    const chunk = Math.max(1, opts.chunk ?? PRUNE_CHUNK);
    const record: AnchorRecord = (await readAnchorRecord(this.disk, s)) ?? {
      seq: 0,
      hash: '',
      keys: { publicKey: null, held: [] },
      snapshots: Object.fromEntries(ANCHOR_PROJECTIONS.map((p) => [projectionKey(p), p.initial()])),
    };
    let pruned = 0;
    for (let from = floor + 1; from <= last; from += chunk) {
      const to = Math.min(last, from + chunk - 1);
      await this.fold(s, record, from, to);
      const hash = await this.reader.hashAt(to, s.device);
      if (hash === undefined) throw fail('LOG_CORRUPT', `${s.device} seq ${to} is missing`);
      record.seq = to;
      record.hash = hash;
      const ops: BatchOp[] = [];
      for (let seq = from; seq <= to; seq++) ops.push({ type: 'del', key: eventKey(s.id, seq) });
      await this.indexDeletes(s, to, ops);
      ops.push({ type: 'put', key: anchorKey(s.device), value: encodeText(JSON.stringify(record)) });
      await this.disk.write(ops);
      s.anchor = { seq: to, hash: unhex(hash) };
      pruned += to - from + 1;
    }
    if (opts.compact ?? true) await this.compact(s);
    return { pruned, anchor: anchorOf(s) };
  }

  /** Give the space of everything pruned from `s` back (LevelDB's compaction of those ranges). */
  async compact(s: Stream): Promise<void> {
    if (s.anchor === null) return;
    await this.disk.compactRange(eventKey(s.id, 0), eventKey(s.id, s.anchor.seq));
    for (const kind of [KEY.TIME_RUN, KEY.TIME, KEY.SNAPSHOT]) {
      const r = streamRange(kind, s.id);
      await this.disk.compactRange(r.gte, r.lt);
    }
  }

  /** Fold events [from, to] into the anchor's projection states and chain of keys. */
  private async fold(s: Stream, record: AnchorRecord, from: number, to: number): Promise<void> {
    const keys = record.keys;
    for await (const events of this.reader.foldChunks({ device: s.device, fromSeq: from, toSeq: to })) {
      for (const p of ANCHOR_PROJECTIONS) {
        const k = projectionKey(p);
        // a projection added after an earlier prune has no state here: it cannot get one
        if (!(k in record.snapshots)) continue;
        let state = record.snapshots[k];
        for (const e of events) {
          if (p.foldInto) p.foldInto(state, e);
          else state = p.apply(state, e);
        }
        record.snapshots[k] = state;
      }
      for (const e of events) {
        if (e.type !== 'DeviceKeyAdded' && e.type !== 'DeviceKeyRotated') continue;
        // as KeyChain (signing.ts) reads it: a key event naming no key leaves none in force
        const next = e.data?.publicKey;
        keys.publicKey = typeof next === 'string' && PUBLIC_KEY_RE.test(next) ? next : null;
        if (keys.publicKey !== null && !keys.held.includes(keys.publicKey)) keys.held.push(keys.publicKey);
      }
    }
  }

  /** Deletes of the index entries and snapshots that cover only events up to `to`. */
  private async indexDeletes(s: Stream, to: number, ops: BatchOp[]): Promise<void> {
    const db = this.disk.db;
    // time runs: a run reaching past `to` stays (readers start after the anchor)
    for await (const [k, v] of db.iterator(streamRange(KEY.TIME_RUN, s.id)))
      if (timeRunParts(k, v).lastSeq <= to) ops.push({ type: 'del', key: k });
    // format 1's entry per event, ordered by time: all of them are looked at
    for await (const k of db.keys(streamRange(KEY.TIME, s.id)))
      if (timeKeyParts(k).seq <= to) ops.push({ type: 'del', key: k });
    for await (const k of db.keys(streamRange(KEY.SNAPSHOT, s.id)))
      if (snapshotKeySeq(k) <= to) ops.push({ type: 'del', key: k });
  }
}
