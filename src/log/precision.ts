// How many decimals a sensor's values are shown with, for people (the console, event lines).
// Display only: the log keeps every value exactly as it was measured. A precision known from
// the configuration wins (a Firmata pin's ADC step over its scale, or one given outright);
// otherwise a sensor shows the most decimals it has sent so far, so that a node's 21.50 and
// 21.47 line up, and a computed value never spills fifteen digits of float noise.

/** No sensor is shown with more decimals than this, whatever it sent. */
const MAX_DECIMALS = 6;

const clamp = (d: number) => Math.min(MAX_DECIMALS, Math.max(0, d));

/** Decimals in the shortest text that reads back as `v` (what a node sent, less trailing zeros). */
export function decimalsOf(v: number): number {
  if (!Number.isFinite(v) || Number.isInteger(v)) return 0;
  const s = String(Math.abs(v));
  const e = s.indexOf('e');
  const mantissa = e < 0 ? s : s.slice(0, e);
  const exponent = e < 0 ? 0 : Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const fraction = dot < 0 ? 0 : mantissa.length - dot - 1;
  return Math.max(0, fraction - exponent);
}

/** Decimals that tell apart two values one `step` apart: 100 / 1023 (a 10-bit ADC over 0–100) needs 2. */
export function stepDecimals(step: number): number {
  if (!(step > 0) || !Number.isFinite(step)) return 0;
  // the epsilon keeps an exact power of ten (0.1) at its own count, not one more
  return clamp(Math.ceil(-Math.log10(step) - 1e-9));
}

/** `v` with exactly `decimals` decimals; never "-0.00". */
export function formatFixed(v: number, decimals: number): string {
  if (!Number.isFinite(v)) return String(v);
  const text = v.toFixed(clamp(decimals));
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** What each sensor's values are shown with: configured decimals, else the most seen. */
export class SensorPrecision {
  private readonly seen = new Map<string, number>();

  constructor(private readonly fixed: Readonly<Record<string, number>> = {}) {}

  /** Learn from a recorded value. */
  see(sensor: string, value: number): void {
    if (Object.hasOwn(this.fixed, sensor)) return;
    const d = clamp(decimalsOf(value));
    if (d > (this.seen.get(sensor) ?? -1)) this.seen.set(sensor, d);
  }

  /** Learn from an event if it is a reading. */
  seeEvent(e: { type: string; data: Readonly<Record<string, unknown>> | null }): void {
    if (e.type !== 'ReadingRecorded' || e.data === null) return;
    const { sensor, value } = e.data;
    if (typeof sensor === 'string' && typeof value === 'number') this.see(sensor, value);
  }

  /** Decimals for `sensor`; a value not seen yet counts with its own. */
  decimals(sensor: string, value?: number): number {
    const fixed = Object.hasOwn(this.fixed, sensor) ? this.fixed[sensor] : undefined;
    if (fixed !== undefined) return clamp(fixed);
    const own = value === undefined ? 0 : clamp(decimalsOf(value));
    return Math.max(this.seen.get(sensor) ?? 0, own);
  }

  /** A measured value of `sensor`. */
  format(sensor: string, value: number): string {
    return formatFixed(value, this.decimals(sensor, value));
  }

  /** A limit on `sensor`: the sensor's decimals, but never fewer than the limit was set with. */
  formatLimit(sensor: string, limit: number): string {
    return formatFixed(limit, Math.max(this.decimals(sensor), clamp(decimalsOf(limit))));
  }
}
