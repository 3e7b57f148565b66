// The chart endpoints of the hub's HTTP API: a device's sensors, one sensor's series and the
// GPS track, answered from the rollups kept at ingest whatever the range. The bucket is the
// smallest round span (1, 2, 5, … minutes, hours, days) that keeps the answer within
// `points` buckets, aligned to the epoch so that each is an exact merge of minute or hour
// rollups: min and max are the readings' own, so a spike is never averaged away. When the
// range holds no more readings than `points`, the readings themselves are answered.
import type { ServerResponse } from 'node:http';
import type { BucketRange, FleetStore } from './fleet-store.js';
import { badParameter, HttpError, Params } from './http-params.js';
import { DAY, HOUR, MINUTE } from './rollup.js';
import { covered } from './series-fold.js';

export const DEFAULT_POINTS = 1000;
export const MAX_POINTS = 10_000;

const STEPS = [
  ...[1, 2, 3, 5, 10, 15, 20, 30].map((m) => m * MINUTE),
  ...[1, 2, 3, 4, 6, 8, 12].map((h) => h * HOUR),
];

/** How many aligned buckets of `b` the range [from, to] touches. */
function bucketsIn(from: number, to: number, b: number): number {
  return Math.floor(to / b) - Math.floor(from / b) + 1;
}

/** The smallest round bucket (a multiple of a minute) giving at most `points` buckets over [from, to]. */
export function bucketFor(from: number, to: number, points: number): number {
  for (const b of STEPS) if (bucketsIn(from, to, b) <= points) return b;
  // whole days; a range crossing a day boundary may need one day more than its length says
  let k = Math.max(1, Math.floor((to - from) / (points * DAY)));
  while (bucketsIn(from, to, k * DAY) > points) k++;
  return k * DAY;
}

function resolutionName(bucketMs: number): 'raw' | 'minute' | 'hour' {
  return bucketMs === 1 ? 'raw' : bucketMs % HOUR === 0 ? 'hour' : 'minute';
}

/**
 * The bucket for [from, to] and `points`, and the answer: rollups at that bucket, or the
 * readings themselves when the rollups say there are no more than `points` of them.
 */
export async function planned<T extends { count: number[] }>(
  from: number,
  to: number,
  points: number,
  fetch: (range: BucketRange) => Promise<T>,
): Promise<{ range: BucketRange; data: T }> {
  let range = { from, to, bucketMs: bucketFor(from, to, points) };
  let data = await fetch(range);
  let n = 0;
  for (const c of data.count) n += c;
  if (n <= points) {
    range = { from, to, bucketMs: 1 };
    data = await fetch(range);
  }
  return { range, data };
}

interface Range {
  from: number;
  to: number;
  points: number;
}

/** from, to and points of a request; `to` defaults to the device's last event time, `from` to a day before. */
async function rangeOf(q: Params, store: FleetStore, id: string, head: number): Promise<Range> {
  const points = q.int('points', 1) ?? DEFAULT_POINTS;
  if (points > MAX_POINTS) throw badParameter(`points must be at most ${MAX_POINTS}, not ${points}`);
  const from = q.time('from');
  let to = q.time('to');
  if (from !== undefined && from < 0) throw badParameter('from must not be before 1970-01-01T00:00:00Z');
  if (to !== undefined && to < 0) throw badParameter('to must not be before 1970-01-01T00:00:00Z');
  if (from !== undefined && to !== undefined && to < from)
    throw badParameter(`to (${q.text('to')}) is before from (${q.text('from')}): the range would be empty`);
  if (to === undefined) {
    to = await lastEventTime(store, id, head);
    if (from !== undefined && to < from) to = from;
  }
  return { from: from ?? Math.max(0, to - DAY), to, points };
}

async function lastEventTime(store: FleetStore, device: string, head: number): Promise<number> {
  for await (const chunk of store.events({ device, fromSeq: head, toSeq: head }))
    for (const { event } of chunk) return Date.parse(event.time);
  return 0;
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

type Json = (res: ServerResponse, status: number, body: unknown) => void;

/** GET /devices/ID/sensors */
export async function serveSensors(store: FleetStore, id: string, url: URL, res: ServerResponse, json: Json) {
  new Params(url, []);
  const sensors = await store.sensors(id);
  json(res, 200, {
    device: id,
    sensors: sensors.map((s) => ({
      sensor: s.sensor,
      unit: s.unit,
      first: iso(s.first),
      last: iso(s.last),
      count: s.count,
    })),
  });
}

/** GET /devices/ID/series?sensor=S[&from][&to][&points] */
export async function serveSeries(
  store: FleetStore,
  dev: { id: string; head: number },
  url: URL,
  res: ServerResponse,
  json: Json,
) {
  const q = new Params(url, ['sensor', 'from', 'to', 'points']);
  const sensor = q.text('sensor');
  if (sensor === undefined)
    throw badParameter('sensor is missing: name one (GET /devices/ID/sensors lists them)');
  const { from, to, points } = await rangeOf(q, store, dev.id, dev.head);
  const { range, data } = await planned(from, to, points, (r) => store.series(dev.id, sensor, r));
  let unit = data.unit;
  if (data.t.length === 0) {
    // an empty answer: a sensor with no readings in the range, or none at all
    const known = (await store.sensors(dev.id)).find((s) => s.sensor === sensor);
    if (!known)
      throw new HttpError(404, 'SENSOR_UNKNOWN', `device ${dev.id} has no readings of sensor ${sensor}`);
    unit = known.unit;
  }
  const { lo, hi } = covered(range);
  json(res, 200, {
    device: dev.id,
    sensor,
    unit,
    from: iso(lo),
    to: iso(hi),
    resolution: resolutionName(range.bucketMs),
    bucketMs: range.bucketMs,
    t: data.t,
    min: data.min,
    max: data.max,
    avg: data.sum.map((s, i) => s / data.count[i]!),
    count: data.count,
  });
}

/** GET /devices/ID/track[?from][&to][&points] */
export async function serveTrack(
  store: FleetStore,
  dev: { id: string; head: number },
  url: URL,
  res: ServerResponse,
  json: Json,
) {
  const q = new Params(url, ['from', 'to', 'points']);
  const { from, to, points } = await rangeOf(q, store, dev.id, dev.head);
  const { range, data } = await planned(from, to, points, (r) => store.track(dev.id, r));
  const { lo, hi } = covered(range);
  json(res, 200, {
    device: dev.id,
    from: iso(lo),
    to: iso(hi),
    resolution: resolutionName(range.bucketMs),
    bucketMs: range.bucketMs,
    t: data.t,
    lat: data.lat,
    lon: data.lon,
  });
}
