// The low-wear durability mode (`durability: "interval"`): batches are written to LevelDB
// without an fsync each (LevelDB hands them to the OS at once, so a crash of the process loses
// nothing), and one fsync at most every `everyMs` makes everything written before it safe from
// a power cut. What the last fsync covered is the synced head: the replicator publishes only up
// to it, so the hub never holds an event a power cut could still take from the device (that
// would become a fork when the device rewrote the seq after restarting).
//
// The fsync is LevelDB's `sync` write of one tiny record: the format marker, rewritten with the
// version already on disk (no new key, no format change). LevelDB syncs its write-ahead log
// file, which holds every earlier write of that file; earlier files are only deleted once
// their memtable is in a synced table file.
import { EventEmitter } from 'node:events';
import { encodeText, metaKey } from './codec.js';
import type { LogDisk } from './disk.js';
import { FORMAT, type Head } from './streams.js';

export interface SyncTimers {
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(h: unknown): void;
  now(): number;
}

export const systemSyncTimers: SyncTimers = {
  setTimeout: (cb, ms) => {
    // a log waiting to sync never keeps a process alive: close() syncs what is left
    const t = setTimeout(cb, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
};

export interface IntervalSyncParts {
  disk: LogDisk;
  everyMs: number;
  timers: SyncTimers;
  /** Every stream's head as written now (what a sync started now covers). */
  writtenHeads: () => Map<string, Head>;
  /** The format version on disk, rewritten by the sync write. */
  formatVersion: () => number;
  /** True while the store takes no writes (a full disk): syncs wait for `syncNow` after it. */
  paused?: () => boolean;
}

/** Emits 'synced' after each fsync and 'sync-error' (an Error) when one fails (retried next period). */
export class IntervalSync extends EventEmitter {
  private synced = new Map<string, Head>();
  private timer: unknown = null;
  private lastSync = Number.NEGATIVE_INFINITY;
  private dirty = false;
  private running: Promise<void> | null = null;
  private stopped = false;

  constructor(private readonly p: IntervalSyncParts) {
    super();
  }

  /** On open: whatever is on disk now is made safe, and is the synced head. */
  async start(): Promise<void> {
    await this.syncNow();
  }

  /** The head the last fsync covered (seq 0 when nothing of `device` is synced). */
  head(device: string): Head | undefined {
    return this.synced.get(device);
  }

  /** A batch was written without fsync: sync within the period. */
  written(): void {
    this.dirty = true;
    if (this.timer !== null || this.running !== null || this.stopped) return;
    const wait = Math.max(0, this.lastSync + this.p.everyMs - this.p.timers.now());
    this.timer = this.p.timers.setTimeout(() => {
      this.timer = null;
      void this.syncNow().catch(() => {});
    }, wait);
  }

  /** Sync now (close, and the timer): resolves once what was written before the call is on disk. */
  async syncNow(): Promise<void> {
    if (this.running) await this.running.catch(() => {});
    if (this.timer !== null) {
      this.p.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.p.paused?.()) {
      this.dirty = true;
      return;
    }
    this.dirty = false;
    const heads = this.p.writtenHeads();
    const run = (async () => {
      const marker = JSON.stringify({ format: FORMAT.format, version: this.p.formatVersion() });
      await this.p.disk.db.put(metaKey('format'), encodeText(marker), { sync: true } as object);
    })();
    this.running = run;
    try {
      await run;
      this.synced = heads;
      this.emit('synced');
    } catch (err) {
      this.dirty = true;
      this.emit('sync-error', err);
      throw err;
    } finally {
      this.running = null;
      this.lastSync = this.p.timers.now();
      if (this.dirty && !this.stopped) this.written();
    }
  }

  /** Stop the timer (the log is closing; it syncs once more itself). */
  stop(): void {
    this.stopped = true;
    if (this.timer !== null) this.p.timers.clearTimeout(this.timer);
    this.timer = null;
  }
}
