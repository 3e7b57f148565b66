// Alarm decisions, pure: given a sensor's limits, whether its alarms are active, and a
// new value, which AlarmRaised / AlarmCleared events follow. Hysteresis keeps a value
// hovering at a limit from raising and clearing on every sample.
import type { AlarmCleared, AlarmRaised } from '../log/events.js';

export interface Limits {
  above: number | null;
  below: number | null;
  /** How far back past the limit a value must go to clear. */
  hysteresis?: number;
}

export type AlarmEvent =
  | { type: 'AlarmRaised'; data: AlarmRaised }
  | { type: 'AlarmCleared'; data: AlarmCleared };

export function alarmId(sensor: string, kind: 'above' | 'below'): string {
  return `${sensor}-${kind}`;
}

/** Default hysteresis: 1 % of the limit's magnitude, at least 0.01. */
export function hysteresisFor(limits: Limits, limit: number): number {
  return limits.hysteresis ?? Math.max(Math.abs(limit) * 0.01, 0.01);
}

/**
 * Decide the alarm events for one reading. `active(id)` says whether an alarm is raised
 * now. An alarm whose limit was removed clears on the next reading.
 */
export function decideAlarms(
  sensor: string,
  value: number,
  limits: Limits | undefined,
  active: (id: string) => boolean,
): AlarmEvent[] {
  const out: AlarmEvent[] = [];
  for (const kind of ['above', 'below'] as const) {
    const id = alarmId(sensor, kind);
    const limit = limits?.[kind] ?? null;
    const on = active(id);
    if (limit === null) {
      if (on) out.push({ type: 'AlarmCleared', data: { alarm: id, sensor, value } });
      continue;
    }
    const h = hysteresisFor(limits!, limit);
    const beyond = kind === 'above' ? value > limit : value < limit;
    const backInside = kind === 'above' ? value < limit - h : value > limit + h;
    if (!on && beyond) out.push({ type: 'AlarmRaised', data: { alarm: id, sensor, kind, limit, value } });
    else if (on && backInside) out.push({ type: 'AlarmCleared', data: { alarm: id, sensor, value } });
  }
  return out;
}
