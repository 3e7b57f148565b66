// What the console shows in HISTORY: the device state as of a moment, folded by the log's
// Projector, with the event tail and trends that led up to it. Loads are async and a newer
// request makes an older one stop between chunks, so scrubbing never piles up work or
// holds the event loop (and the logging behind it) for long. Times in the tail are corrected
// by a ClockSynced of their boot even when it came after the moment shown.
import { type DeviceState, deviceState } from '../log/device-state.js';
import type { EventLog } from '../log/event-log.js';
import type { SensorPrecision } from '../log/precision.js';
import { Projector } from '../log/projection.js';
import { Trends } from './sparkline.js';
import { EventTail } from './tail.js';

export interface PastView {
  /** The moment asked for (ms since the epoch). */
  asOf: number;
  /** The last event at or before it (0: none). */
  seq: number;
  state: DeviceState;
  tail: EventTail;
  trends: Trends;
}

export interface HistoryOptions {
  /** Events other than readings the tail wants to show... */
  tailLines?: number;
  /** ...looked for at most this many events back (readings bury them at 200 a second). */
  tailScan?: number;
  /** At most this many events are read back for the trends. */
  trendEvents?: number;
  trendBucketMs?: number;
  trendBuckets?: number;
  /** The console's: learns from the readings read back, and words the tail with them. */
  precision?: SensorPrecision;
}

const SCAN_WINDOW = 5000;

export class HistoryLoader {
  private readonly projector: Projector<DeviceState>;
  private generation = 0;
  private readonly o: Required<Omit<HistoryOptions, 'precision'>>;
  private readonly precision: SensorPrecision | undefined;

  constructor(
    private readonly log: EventLog,
    opts: HistoryOptions = {},
  ) {
    this.projector = new Projector(log, deviceState);
    this.precision = opts.precision;
    this.o = {
      tailLines: opts.tailLines ?? 40,
      tailScan: opts.tailScan ?? 50_000,
      trendEvents: opts.trendEvents ?? 20_000,
      trendBucketMs: opts.trendBucketMs ?? 10_000,
      trendBuckets: opts.trendBuckets ?? 60,
    };
  }

  /** Make any load in progress give up; its promise resolves to null. */
  cancel(): void {
    this.generation++;
  }

  /** The view as of `asOf`, or null when a newer load (or cancel) overtook this one. */
  async load(asOf: number): Promise<PastView | null> {
    const gen = ++this.generation;
    const stale = () => gen !== this.generation || this.log.isClosed;
    const { state, seq } = await this.projector.stateAt({ time: asOf });
    if (stale()) return null;
    const tail = new EventTail(undefined, this.precision);
    const trends = new Trends(this.o.trendBucketMs, this.o.trendBuckets);
    if (seq > 0) {
      const spanStart = asOf - this.o.trendBucketMs * this.o.trendBuckets;
      const trendFrom = Math.max((await this.log.seqAtTime(spanStart)) + 1, seq - this.o.trendEvents + 1);
      const tailFrom = await this.tailStart(seq, stale);
      if (tailFrom === null) return null;
      for await (const chunk of this.log.foldChunks({ fromSeq: Math.min(trendFrom, tailFrom), toSeq: seq })) {
        if (stale()) return null;
        for (const e of chunk) {
          if (e.type === 'ReadingRecorded' && e.data !== null) {
            const { sensor, value } = e.data;
            if (typeof sensor === 'string' && typeof value === 'number') {
              this.precision?.see(sensor, value);
              if (e.seq >= trendFrom) trends.push(sensor, e.timeMs, value);
            }
          }
          tail.add(e);
        }
      }
      // a clock synchronised after the moment shown still corrects the times shown (rare events)
      for await (const chunk of this.log.read({ fromSeq: seq + 1, types: ['ClockSynced'] })) {
        if (stale()) return null;
        for (const { event } of chunk) tail.sync(event);
      }
    }
    return stale() ? null : { asOf, seq, state, tail, trends };
  }

  /** Where the tail starts: back far enough for `tailLines` events that are not readings. */
  private async tailStart(seq: number, stale: () => boolean): Promise<number | null> {
    let found = 0;
    let hi = seq;
    while (hi >= 1 && seq - hi < this.o.tailScan) {
      const lo = Math.max(1, hi - SCAN_WINDOW + 1);
      const others: number[] = [];
      for await (const chunk of this.log.foldChunks({ fromSeq: lo, toSeq: hi })) {
        if (stale()) return null;
        for (const e of chunk) if (e.type !== 'ReadingRecorded') others.push(e.seq);
      }
      const need = this.o.tailLines - found;
      if (others.length >= need) return others[others.length - need]!;
      found += others.length;
      hi = lo - 1;
    }
    return Math.max(1, hi + 1);
  }
}
