// Timers for the low-wear mode's periodic fsync that a test moves by hand.
import type { SyncTimers } from '../../src/log/event-log.js';

/** Timers the test moves by hand. */
export function manualTimers(): SyncTimers & { t: number; due: (() => void) | null; fire(): void } {
  const m = {
    t: 0,
    due: null as (() => void) | null,
    at: 0,
    now: () => m.t,
    setTimeout: (cb: () => void, ms: number) => {
      m.due = cb;
      m.at = m.t + ms;
      return cb;
    },
    clearTimeout: (h: unknown) => {
      if (m.due === h) m.due = null;
    },
    /** Move the clock to the timer's time and run it. */
    fire: () => {
      const cb = m.due;
      if (!cb) throw new Error('no sync is due');
      m.due = null;
      m.t = Math.max(m.t, m.at);
      cb();
    },
  };
  return m;
}
