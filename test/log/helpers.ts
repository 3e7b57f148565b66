// Small builders shared by the log tests.

import type { EventInput } from '../../src/log/envelope.js';
import type { Clock } from '../../src/log/event-log.js';

/** A clock that advances `step` ms on every reading. */
export function fakeClock(start = Date.parse('2026-11-24T10:00:00.000Z'), step = 10): Clock {
  let t = start - step;
  let m = -step;
  return {
    now: () => (t += step),
    mono: () => (m += step),
  };
}

export function reading(sensor: string, value: number, unit = 'C'): EventInput {
  return { type: 'ReadingRecorded', data: { source: 'node', sensor, value, unit } };
}
