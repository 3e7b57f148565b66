// The PostgreSQL store's rollups (tables reading_rollups and position_rollups, migration 3):
// aggregated in Node for each transaction's batches and merged with one upsert per table in
// the same transaction as the events; the buckets a purged reading or fix was in are folded
// again from the events (after the purge) in that transaction too. The SQL folds here (the
// migration's backfill and the recompute) follow src/hub/rollup.ts exactly: ties on time go
// to the higher seq.
import type pg from 'pg';
import type { Envelope } from '../../log/envelope.js';
import {
  type BucketKey,
  type FixBucket,
  RESOLUTION_MS,
  type ReadingBucket,
  type Resolution,
  RollupFold,
} from '../rollup.js';

const SECONDS: Record<Resolution, number> = { minute: 60, hour: 3600 };

function bucketExpr(res: Resolution): string {
  const s = SECONDS[res];
  return `to_timestamp((floor(extract(epoch FROM e.time) / ${s}) * ${s})::float8)`;
}

/** One resolution's reading buckets folded from the events matching `where`. */
function readingSelect(res: Resolution, where: string): string {
  return `SELECT e.device, e.data->>'sensor', '${res}', ${bucketExpr(res)},
  min((e.data->>'value')::float8), max((e.data->>'value')::float8), sum((e.data->>'value')::float8), count(*),
  min(e.time), max(e.time),
  (array_agg(e.seq ORDER BY e.time DESC, e.seq DESC))[1],
  (array_agg(e.data->>'unit' ORDER BY e.time DESC, e.seq DESC))[1]
FROM events e
WHERE e.type = 'ReadingRecorded' AND jsonb_typeof(e.data->'sensor') = 'string'
  AND jsonb_typeof(e.data->'value') = 'number' ${where}
GROUP BY 1, 2, 4`;
}

function fixSelect(res: Resolution, where: string): string {
  return `SELECT e.device, '${res}', ${bucketExpr(res)}, count(*), min(e.time), max(e.time),
  (array_agg(e.seq ORDER BY e.time DESC, e.seq DESC))[1],
  (array_agg((e.data->>'lat')::float8 ORDER BY e.time DESC, e.seq DESC))[1],
  (array_agg((e.data->>'lon')::float8 ORDER BY e.time DESC, e.seq DESC))[1]
FROM events e
WHERE e.type = 'PositionRecorded' AND jsonb_typeof(e.data->'lat') = 'number'
  AND jsonb_typeof(e.data->'lon') = 'number' ${where}
GROUP BY 1, 3`;
}

const READING_COLUMNS =
  'device, sensor, resolution, bucket, min, max, sum, count, first, last, last_seq, unit';
const FIX_COLUMNS = 'device, resolution, bucket, count, first, last, last_seq, lat, lon';

/** Migration 3: the tables, filled from the events already stored. */
export const ROLLUPS_MIGRATION = `
-- Per device, sensor and minute/hour: a chart's buckets are merges of these (README: "Rollups").
CREATE TABLE reading_rollups (
  device     text NOT NULL,
  sensor     text NOT NULL,
  resolution text NOT NULL CHECK (resolution IN ('minute', 'hour')),
  bucket     timestamptz NOT NULL,
  min        double precision NOT NULL,
  max        double precision NOT NULL,
  sum        double precision NOT NULL,
  count      bigint NOT NULL,
  first      timestamptz NOT NULL,
  last       timestamptz NOT NULL,
  last_seq   bigint NOT NULL,
  unit       text,
  PRIMARY KEY (device, sensor, resolution, bucket)
);
-- The last fix of each minute/hour of a device, for its track.
CREATE TABLE position_rollups (
  device     text NOT NULL,
  resolution text NOT NULL CHECK (resolution IN ('minute', 'hour')),
  bucket     timestamptz NOT NULL,
  count      bigint NOT NULL,
  first      timestamptz NOT NULL,
  last       timestamptz NOT NULL,
  last_seq   bigint NOT NULL,
  lat        double precision NOT NULL,
  lon        double precision NOT NULL,
  PRIMARY KEY (device, resolution, bucket)
);
INSERT INTO reading_rollups (${READING_COLUMNS}) ${readingSelect('minute', '')};
INSERT INTO reading_rollups (${READING_COLUMNS}) ${readingSelect('hour', '')};
INSERT INTO position_rollups (${FIX_COLUMNS}) ${fixSelect('minute', '')};
INSERT INTO position_rollups (${FIX_COLUMNS}) ${fixSelect('hour', '')};
`;

/** The newer of two (last, last_seq) pairs, in SQL: `n` (EXCLUDED) over `r` (stored). */
const NEWER = '(EXCLUDED.last, EXCLUDED.last_seq) > (r.last, r.last_seq)';

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A transaction's share of the rollups: its batches' events, and the targets they purge. */
export class PgRollupWrite {
  private readonly fold = new RollupFold();

  /** Count the stored payloads of a device's new events (`datas[i]` null: purged, not counted). */
  add(device: string, events: readonly Envelope[], datas: readonly (string | null)[]): void {
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (datas[i] === null || (e.type !== 'ReadingRecorded' && e.type !== 'PositionRecorded')) continue;
      this.fold.add(device, e);
    }
  }

  /**
   * The buckets the purge targets (read before they are purged) were counted in: once the
   * purge is done, `write` folds them again from the events.
   */
  async staleOf(client: pg.ClientBase, devices: string[], seqs: number[]): Promise<BucketKey[]> {
    if (devices.length === 0) return [];
    const r = await client.query<{
      device: string;
      seq: string;
      type: string;
      ms: number;
      data_text: string;
    }>(
      `SELECT e.device, e.seq, e.type, (extract(epoch FROM e.time) * 1000)::float8 AS ms, e.data_text
       FROM unnest($1::text[], $2::bigint[]) AS p(device, seq)
       JOIN events e ON e.device = p.device AND e.seq = p.seq
       WHERE e.type IN ('ReadingRecorded', 'PositionRecorded') AND e.data_text IS NOT NULL`,
      [devices, seqs],
    );
    const keys = new Map<string, BucketKey>();
    for (const row of r.rows) {
      const one = new RollupFold();
      one.add(row.device, {
        type: row.type,
        seq: Number(row.seq),
        time: iso(row.ms),
        data: JSON.parse(row.data_text) as Envelope['data'],
      });
      for (const [k, { key }] of one.readings) keys.set(k, key);
      for (const [k, { key }] of one.fixes) keys.set(k, key);
    }
    return [...keys.values()];
  }

  /** Merge the batches' buckets (one upsert per table), then fold the stale ones again. */
  async write(client: pg.ClientBase, stale: BucketKey[]): Promise<void> {
    const rs = [...this.fold.readings.values()];
    if (rs.length > 0) {
      const col = <T>(f: (k: BucketKey, b: ReadingBucket) => T) => rs.map(({ key, b }) => f(key, b));
      await client.query(
        `INSERT INTO reading_rollups AS r (${READING_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::float8[], $6::float8[],
                              $7::float8[], $8::bigint[], $9::timestamptz[], $10::timestamptz[], $11::bigint[], $12::text[])
         ON CONFLICT (device, sensor, resolution, bucket) DO UPDATE SET
           min = LEAST(r.min, EXCLUDED.min), max = GREATEST(r.max, EXCLUDED.max),
           sum = r.sum + EXCLUDED.sum, count = r.count + EXCLUDED.count,
           first = LEAST(r.first, EXCLUDED.first), last = GREATEST(r.last, EXCLUDED.last),
           last_seq = CASE WHEN ${NEWER} THEN EXCLUDED.last_seq ELSE r.last_seq END,
           unit = CASE WHEN ${NEWER} THEN EXCLUDED.unit ELSE r.unit END`,
        [
          col((k) => k.device),
          col((k) => k.sensor),
          col((k) => k.res),
          col((k) => iso(k.t)),
          col((_, b) => b.min),
          col((_, b) => b.max),
          col((_, b) => b.sum),
          col((_, b) => b.count),
          col((_, b) => iso(b.first)),
          col((_, b) => iso(b.last)),
          col((_, b) => b.lastSeq),
          col((_, b) => b.unit),
        ],
      );
    }
    const fs = [...this.fold.fixes.values()];
    if (fs.length > 0) {
      const col = <T>(f: (k: BucketKey, b: FixBucket) => T) => fs.map(({ key, b }) => f(key, b));
      await client.query(
        `INSERT INTO position_rollups AS r (${FIX_COLUMNS})
         SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[], $5::timestamptz[],
                              $6::timestamptz[], $7::bigint[], $8::float8[], $9::float8[])
         ON CONFLICT (device, resolution, bucket) DO UPDATE SET
           count = r.count + EXCLUDED.count,
           first = LEAST(r.first, EXCLUDED.first), last = GREATEST(r.last, EXCLUDED.last),
           last_seq = CASE WHEN ${NEWER} THEN EXCLUDED.last_seq ELSE r.last_seq END,
           lat = CASE WHEN ${NEWER} THEN EXCLUDED.lat ELSE r.lat END,
           lon = CASE WHEN ${NEWER} THEN EXCLUDED.lon ELSE r.lon END`,
        [
          col((k) => k.device),
          col((k) => k.res),
          col((k) => iso(k.t)),
          col((_, b) => b.count),
          col((_, b) => iso(b.first)),
          col((_, b) => iso(b.last)),
          col((_, b) => b.lastSeq),
          col((_, b) => b.lat),
          col((_, b) => b.lon),
        ],
      );
    }
    // a purged reading never counts: its buckets are folded again, without it (rare: one by one)
    for (const k of stale) {
      const span = [k.device, iso(k.t), iso(k.t + RESOLUTION_MS[k.res])];
      const inSpan = 'AND e.device = $1 AND e.time >= $2 AND e.time < $3';
      if (k.sensor === null) {
        await client.query(
          'DELETE FROM position_rollups WHERE device = $1 AND resolution = $2 AND bucket = $3',
          [k.device, k.res, iso(k.t)],
        );
        await client.query(`INSERT INTO position_rollups (${FIX_COLUMNS}) ${fixSelect(k.res, inSpan)}`, span);
      } else {
        await client.query(
          'DELETE FROM reading_rollups WHERE device = $1 AND sensor = $2 AND resolution = $3 AND bucket = $4',
          [k.device, k.sensor, k.res, iso(k.t)],
        );
        await client.query(
          `INSERT INTO reading_rollups (${READING_COLUMNS}) ${readingSelect(k.res, `${inSpan} AND e.data->>'sensor' = $4`)}`,
          [...span, k.sensor],
        );
      }
    }
  }
}

// ---------------------------------------------------------------- reads

interface ReadingRow {
  sensor: string;
  t: number;
  min: number;
  max: number;
  sum: number;
  count: string;
  first: number;
  last: number;
  last_seq: string;
  unit: string | null;
}

const READING_READ = `sensor, (extract(epoch FROM bucket) * 1000)::float8 AS t, min, max, sum, count,
  (extract(epoch FROM first) * 1000)::float8 AS first, (extract(epoch FROM last) * 1000)::float8 AS last, last_seq, unit`;

function readingBucketOf(r: ReadingRow): ReadingBucket {
  return {
    t: r.t,
    min: r.min,
    max: r.max,
    sum: r.sum,
    count: Number(r.count),
    first: r.first,
    last: r.last,
    lastSeq: Number(r.last_seq),
    unit: r.unit,
  };
}

/** Every sensor's hour buckets of a device. */
export async function sensorHours(
  db: pg.Pool,
  device: string,
): Promise<{ sensor: string; b: ReadingBucket }[]> {
  const r = await db.query<ReadingRow>(
    `SELECT ${READING_READ} FROM reading_rollups WHERE device = $1 AND resolution = 'hour'`,
    [device],
  );
  return r.rows.map((row) => ({ sensor: row.sensor, b: readingBucketOf(row) }));
}

/** One sensor's buckets with a start in [lo, hi]. */
export async function readingBuckets(
  db: pg.Pool,
  device: string,
  sensor: string,
  res: Resolution,
  lo: number,
  hi: number,
): Promise<ReadingBucket[]> {
  const r = await db.query<ReadingRow>(
    `SELECT ${READING_READ} FROM reading_rollups
     WHERE device = $1 AND sensor = $2 AND resolution = $3 AND bucket BETWEEN $4 AND $5`,
    [device, sensor, res, iso(lo), iso(hi)],
  );
  return r.rows.map(readingBucketOf);
}

export async function fixBuckets(
  db: pg.Pool,
  device: string,
  res: Resolution,
  lo: number,
  hi: number,
): Promise<FixBucket[]> {
  const r = await db.query<{
    t: number;
    count: string;
    first: number;
    last: number;
    last_seq: string;
    lat: number;
    lon: number;
  }>(
    `SELECT (extract(epoch FROM bucket) * 1000)::float8 AS t, count,
       (extract(epoch FROM first) * 1000)::float8 AS first, (extract(epoch FROM last) * 1000)::float8 AS last,
       last_seq, lat, lon
     FROM position_rollups WHERE device = $1 AND resolution = $2 AND bucket BETWEEN $3 AND $4`,
    [device, res, iso(lo), iso(hi)],
  );
  return r.rows.map((row) => ({
    t: row.t,
    count: Number(row.count),
    first: row.first,
    last: row.last,
    lastSeq: Number(row.last_seq),
    lat: row.lat,
    lon: row.lon,
  }));
}
