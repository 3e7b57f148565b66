// Recent values per sensor for the console's trend column: fixed time buckets in a ring, so
// feeding a reading is O(1) and memory stays bounded however fast the sensors report.

/** Block characters (needs a font with U+2581..2588) and a fallback for bare console fonts. */
export const SPARK_CHARS = {
  blocks: '▁▂▃▄▅▆▇█',
  ascii: '_.-:=+*#',
} as const;
export type SparkStyle = keyof typeof SPARK_CHARS;

/** The mean of each time bucket of one sensor, for the last `buckets` buckets. */
export class TrendBuffer {
  private readonly index: Float64Array;
  private readonly sum: Float64Array;
  private readonly count: Uint32Array;

  constructor(
    readonly bucketMs: number,
    readonly buckets: number,
  ) {
    this.index = new Float64Array(buckets).fill(-1);
    this.sum = new Float64Array(buckets);
    this.count = new Uint32Array(buckets);
  }

  push(timeMs: number, value: number): void {
    const b = Math.floor(timeMs / this.bucketMs);
    const slot = b % this.buckets;
    if (this.index[slot] !== b) {
      // a reading older than what the slot holds (a clock step back) would wipe newer data
      if ((this.index[slot] ?? -1) > b) return;
      this.index[slot] = b;
      this.sum[slot] = 0;
      this.count[slot] = 0;
    }
    this.sum[slot]! += value;
    this.count[slot]!++;
  }

  /** The last `n` bucket means ending at `nowMs`, oldest first; NaN where nothing arrived. */
  series(nowMs: number, n: number): number[] {
    const last = Math.floor(nowMs / this.bucketMs);
    const out: number[] = [];
    for (let k = Math.min(n, this.buckets) - 1; k >= 0; k--) {
      const b = last - k;
      const slot = ((b % this.buckets) + this.buckets) % this.buckets;
      out.push(
        this.index[slot] === b && this.count[slot]! > 0 ? this.sum[slot]! / this.count[slot]! : Number.NaN,
      );
    }
    return out;
  }
}

/** One TrendBuffer per sensor. */
export class Trends {
  private readonly bySensor = new Map<string, TrendBuffer>();
  constructor(
    readonly bucketMs = 10_000,
    readonly buckets = 60,
  ) {}

  push(sensor: string, timeMs: number, value: number): void {
    let t = this.bySensor.get(sensor);
    if (!t) {
      t = new TrendBuffer(this.bucketMs, this.buckets);
      this.bySensor.set(sensor, t);
    }
    t.push(timeMs, value);
  }

  series(sensor: string, nowMs: number, n: number): number[] {
    return (
      this.bySensor.get(sensor)?.series(nowMs, n) ??
      new Array<number>(Math.min(n, this.buckets)).fill(Number.NaN)
    );
  }

  /** How far back `n` buckets reach, in ms. */
  span(n: number): number {
    return Math.min(n, this.buckets) * this.bucketMs;
  }
}

/** Values scaled between their own min and max; gaps (NaN) are blanks. */
export function sparkline(values: readonly number[], style: SparkStyle = 'blocks'): string {
  const chars = SPARK_CHARS[style];
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (Number.isNaN(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const top = chars.length - 1;
  let out = '';
  for (const v of values) {
    if (Number.isNaN(v)) out += ' ';
    else if (hi === lo) out += chars[Math.floor(top / 2)];
    else out += chars[Math.round(((v - lo) / (hi - lo)) * top)];
  }
  return out;
}
