// Watches the wall clock of a device without a real-time clock (docs/protocol.md §4.1): a step
// of the wall clock against the monotonic clock is recorded as ClockJumped, and the moment the
// clock becomes trustworthy (timesyncd says so, or a hub's ack carries a time far from ours)
// as ClockSynced, so that earlier times of this boot can be corrected when shown. A step after a
// sync is followed by a ClockSynced carrying the known offset across it (source "jump").
import { existsSync } from 'node:fs';
import type { EventInput } from '../log/envelope.js';

export interface ClockWatchClock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic clock, ms (the same one the log seals as `mono`). */
  mono(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ClockWatchOptions {
  clock: ClockWatchClock;
  /** Writes one event (the recorder's append). */
  record: (input: EventInput) => unknown;
  /** Between two comparisons of the clocks (default 1000 ms). */
  intervalMs?: number;
  /** A difference of wall and monotonic progress above this is a jump (default 2000 ms). */
  jumpMs?: number;
  /** A hub time further than this from ours makes a ClockSynced (default 2000 ms). */
  syncMs?: number;
  /** The file systemd-timesyncd creates once it has synchronised the clock. */
  timesyncPath?: string;
  exists?: (path: string) => boolean;
}

export const TIMESYNC_PATH = '/run/systemd/timesync/synchronized';
const SYSTEM = { actor: 'system' };

export class ClockWatch {
  private readonly o: Required<ClockWatchOptions>;
  private lastWall = 0;
  private lastMono = 0;
  private timer: unknown = null;
  private timesynced = false;
  /**
   * What we believe the clock is off by (trusted − ours), after the last ClockSynced of this
   * process and the jumps since; null until a hub said. A hub repeating what we know is no news.
   */
  private knownOffset: number | null = null;

  constructor(opts: ClockWatchOptions) {
    this.o = {
      intervalMs: 1000,
      jumpMs: 2000,
      syncMs: 2000,
      timesyncPath: TIMESYNC_PATH,
      exists: existsSync,
      ...opts,
    };
  }

  /** Start comparing; a clock already synchronised by timesyncd at start is not news. */
  start(): void {
    if (this.timer !== null) return;
    this.lastWall = this.o.clock.now();
    this.lastMono = this.o.clock.mono();
    this.timesynced = this.o.exists(this.o.timesyncPath);
    this.arm();
  }

  stop(): void {
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    this.timer = this.o.clock.setTimeout(() => {
      this.check();
      if (this.timer !== null) this.arm();
    }, this.o.intervalMs);
  }

  /** Compare the clocks now: records a jump, then a timesyncd synchronisation. */
  check(): void {
    const wall = this.o.clock.now();
    const mono = this.o.clock.mono();
    const delta = Math.round(wall - this.lastWall - (mono - this.lastMono));
    this.lastWall = wall;
    this.lastMono = mono;
    let carry = false;
    if (Math.abs(delta) > this.o.jumpMs) {
      this.o.record({ type: 'ClockJumped', data: { deltaMs: delta }, meta: SYSTEM });
      if (this.knownOffset !== null) {
        this.knownOffset -= delta;
        carry = true;
      }
    }
    if (!this.timesynced && this.o.exists(this.o.timesyncPath)) {
      this.timesynced = true;
      // timesyncd steps the clock before it says so: our own time is the trusted one now
      this.knownOffset = 0;
      carry = false;
      this.o.record({ type: 'ClockSynced', data: { offsetMs: 0, source: 'timesyncd' }, meta: SYSTEM });
    }
    // A step after a sync: what we knew, moved by the step, anchors the events recorded since
    // the sync (their clock was off by the old offset; a correction needs a sync after them).
    if (carry && this.knownOffset !== null)
      this.o.record({
        type: 'ClockSynced',
        data: { offsetMs: this.knownOffset, source: 'jump' },
        meta: SYSTEM,
      });
  }

  /** A hub's time (ms since the epoch), as an ack carried it. */
  hubTime(hubMs: number): void {
    if (this.timer !== null) this.check(); // a step not seen yet is not the hub's news
    const offset = Math.round(hubMs - this.o.clock.now());
    const known = this.knownOffset ?? 0;
    if (Math.abs(offset - known) <= this.o.syncMs) return;
    this.knownOffset = offset;
    this.o.record({ type: 'ClockSynced', data: { offsetMs: offset, source: 'hub' }, meta: SYSTEM });
  }
}
