// A full filesystem under a running log. A write that fails with ENOSPC puts the log in the
// "full" state: every later write is refused at once (LOG_DISK_FULL) without reaching the
// store, and reads go on from the store as it is. Writing resumes only through a reopen of
// the store, because LevelDB, after a failed write, sync or compaction, may hold a sticky
// background error that refuses every later write, and after a failed write its write-ahead
// log's framing may no longer match the file (a record cut short): records written after it
// could be unreadable at the next recovery. Reopening replays the write-ahead log (its cut
// tail is dropped), writes it out as a table and starts a new one.
//
// Space is probed, not guessed: every `probeMs` the filesystem's free bytes (statfs) are
// compared with what the reopen itself needs (the write-ahead logs to turn into a table, and
// a margin); only then is the store reopened. A reopen that fails, or a write that finds the
// disk full again right after, doubles the wait (up to `maxProbeMs`); a write that works
// resets it.
import { EventEmitter } from 'node:events';
import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { SyncTimers } from './interval-sync.js';

/** Whether `err` (or what caused it) is a filesystem out of space. */
export function isDiskFull(err: unknown): boolean {
  for (
    let e = err as { code?: unknown; message?: unknown; cause?: unknown } | undefined, depth = 0;
    e && depth < 5;
    depth++
  ) {
    // a user's disk quota used up is the same to the log as a full filesystem
    if (e.code === 'ENOSPC' || e.code === 'EDQUOT' || e.code === 'LOG_DISK_FULL') return true;
    // LevelDB's IO errors carry the OS's words only: "IO error: …/000005.log: No space left on device"
    if (typeof e.message === 'string' && /No space left on device|Disk quota exceeded|ENOSPC/.test(e.message))
      return true;
    e = e.cause as typeof e;
  }
  return false;
}

/** Bytes free for an unprivileged writer on the filesystem holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** What reopening the store in `dir` needs: its write-ahead logs become a table, plus a margin. */
export async function reopenNeeds(dir: string): Promise<number> {
  let wal = 0;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.log')) wal += (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size;
  }
  return wal + REOPEN_MARGIN;
}

/** A new manifest, an empty write-ahead log, LevelDB's info log: a few pages; and room to write again. */
const REOPEN_MARGIN = 256 * 1024;

export interface FullDiskParts {
  /** The log's folder (null: a store without one, which needs no reopen). */
  location: string | null;
  timers: SyncTimers;
  /** Close and open the store again, and make the log's state match it. */
  reopen: () => Promise<void>;
  /** Free bytes now, and what the reopen needs (the statfs probe; tests replace it). */
  space?: (dir: string) => Promise<{ free: number; needed: number }>;
  probeMs?: number;
  maxProbeMs?: number;
}

/**
 * Emits 'disk-full' (the first error) when writing stops, and 'writable' once the store is
 * reopened and takes writes again; 'probe-error' when a reopen failed (retried later).
 */
export class FullDisk extends EventEmitter {
  private full = false;
  private cause: unknown = null;
  private timer: unknown = null;
  private probing: Promise<boolean> | null = null;
  private readonly probeMs: number;
  private readonly maxProbeMs: number;
  private waitMs: number;
  private stopped = false;

  constructor(private readonly p: FullDiskParts) {
    super();
    this.probeMs = p.probeMs ?? 1000;
    this.maxProbeMs = p.maxProbeMs ?? 60_000;
    this.waitMs = this.probeMs;
  }

  get isFull(): boolean {
    return this.full;
  }

  /** The error that made the disk full, while it is. */
  get error(): unknown {
    return this.full ? this.cause : null;
  }

  /** A write failed with `cause`: true when that is a full disk (the log is now in the full state). */
  failed(cause: unknown): boolean {
    if (!isDiskFull(cause)) return false;
    if (this.full) return true;
    this.full = true;
    this.cause = cause;
    this.emit('disk-full', cause);
    this.schedule();
    return true;
  }

  /** A write went through: the next full disk is probed quickly again. */
  wrote(): void {
    this.waitMs = this.probeMs;
  }

  private schedule(): void {
    if (this.stopped || this.timer !== null || !this.full) return;
    this.timer = this.p.timers.setTimeout(() => {
      this.timer = null;
      void this.probe();
    }, this.waitMs);
  }

  /**
   * Look for space now and, when there is enough, reopen the store: true when the log takes
   * writes again. One probe at a time; a closed log stops probing.
   */
  probe(): Promise<boolean> {
    if (!this.full) return Promise.resolve(true);
    this.probing ??= this.tryReopen().finally(() => {
      this.probing = null;
    });
    return this.probing;
  }

  private async tryReopen(): Promise<boolean> {
    if (this.stopped) return false;
    if (this.timer !== null) {
      this.p.timers.clearTimeout(this.timer);
      this.timer = null;
    }
    const dir = this.p.location;
    try {
      if (dir !== null) {
        const { free, needed } = await (this.p.space ?? defaultSpace)(dir);
        if (free < needed) {
          this.schedule();
          return false;
        }
      }
      await this.p.reopen();
    } catch (err) {
      this.backOff();
      this.emit('probe-error', err);
      this.schedule();
      return false;
    }
    if (this.stopped) return false;
    // a write failing right after this reopen backs off: the space may be only just enough
    this.backOff();
    this.full = false;
    this.cause = null;
    this.emit('writable');
    return true;
  }

  private backOff(): void {
    this.waitMs = Math.min(this.maxProbeMs, this.waitMs * 2);
  }

  /** The log is closing: no more probes (resolves once one under way has ended). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== null) this.p.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.probing;
  }
}

async function defaultSpace(dir: string): Promise<{ free: number; needed: number }> {
  const [free, needed] = await Promise.all([freeBytes(dir), reopenNeeds(dir)]);
  return { free, needed };
}
