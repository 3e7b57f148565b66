// Sensors, series and tracks folded straight from a device's events: what a store answers
// without rollups (switched off, or raw buckets of 1 ms), and the baseline the rollups are
// measured and checked against.
import type { BucketRange, EventQuery, StoredEvent } from './fleet-store.js';
import {
  type Fix,
  fixOf,
  type Reading,
  RollupFold,
  readingOf,
  type SensorSummary,
  type SeriesData,
  seriesOfReadings,
  summarize,
  type TrackData,
  trackOfFixes,
} from './rollup.js';

type Events = (q: EventQuery) => AsyncGenerator<StoredEvent[]>;

/** The bucket starts a range covers (whole buckets): from `lo` to `hi`, both inclusive. */
export function covered(range: BucketRange): { lo: number; hi: number } {
  const b = range.bucketMs;
  const lo = Math.floor(range.from / b) * b;
  return { lo, hi: Math.floor(range.to / b) * b + b - 1 };
}

export async function foldSensors(events: Events, device: string): Promise<SensorSummary[]> {
  const fold = new RollupFold();
  for await (const chunk of events({ device }))
    for (const { event } of chunk) if (event.type === 'ReadingRecorded') fold.add(device, event);
  const hours = [...fold.readings.values()].filter((x) => x.key.res === 'hour');
  return summarize(hours.map((x) => ({ sensor: x.key.sensor!, b: x.b })));
}

export async function foldSeries(
  events: Events,
  device: string,
  sensor: string,
  range: BucketRange,
): Promise<SeriesData> {
  const { lo, hi } = covered(range);
  const readings: Reading[] = [];
  for await (const chunk of events({ device, since: lo, until: hi }))
    for (const { event } of chunk) {
      const r = readingOf(event);
      if (r && r.sensor === sensor) readings.push(r);
    }
  return seriesOfReadings(readings, range.bucketMs);
}

export async function foldTrack(events: Events, device: string, range: BucketRange): Promise<TrackData> {
  const { lo, hi } = covered(range);
  const fixes: Fix[] = [];
  for await (const chunk of events({ device, since: lo, until: hi }))
    for (const { event } of chunk) {
      const f = fixOf(event);
      if (f) fixes.push(f);
    }
  return trackOfFixes(fixes, range.bucketMs);
}
