// Reads of the PostgreSQL store, always in chunks with keyset pagination (never a whole
// history in memory): a device's events by seq (partitions pruned by time for since/until),
// the fleet's by position up to the fleet head, a state as of a time or seq by folding,
// and verify, which walks each stored chain recomputing hashes and digests.
import type pg from 'pg';
import { fail } from '../../errors.js';
import { type DeviceState, deviceState } from '../../log/device-state.js';
import {
  canonicalHeader,
  type Envelope,
  type EventMeta,
  MAX_TIME_MS,
  sha256hex,
  ZERO_HASH,
} from '../../log/envelope.js';
import { foldEventOf } from '../../log/reader.js';
import { ChainVerifier, type PurgeRange, purgeRange, redactionTarget } from '../../log/verify.js';
import {
  type AsOfQuery,
  type DeviceQuery,
  type FleetQuery,
  type QuarantinedEvent,
  type StoredEvent,
  sparseTypesOnly,
  type VerifiedChain,
} from '../fleet-store.js';
import { SPARSE_PREDICATE } from './sparse-index.js';

/** Events per read. */
export const CHUNK = 1000;

const COLUMNS = `e.device, e.seq, e.type, (extract(epoch FROM e.time) * 1000)::bigint AS ms, e.boot, e.mono,
  e.data_text, e.meta_text, e.digest, e.prev, e.hash, e.sig`;

interface Row {
  device: string;
  seq: string;
  type: string;
  ms: string;
  boot: string;
  mono: number;
  data_text: string | null;
  meta_text: string | null;
  digest: string;
  prev: string;
  hash: string;
  sig: string | null;
  position?: string;
}

/** The envelope as it arrived: payload and meta from their exact canonical text. */
function toEnvelope(r: Row): Envelope {
  const env: Envelope = {
    device: r.device,
    seq: Number(r.seq),
    type: r.type,
    time: new Date(Number(r.ms)).toISOString(),
    boot: r.boot,
    mono: r.mono,
    data: r.data_text === null ? null : (JSON.parse(r.data_text) as Record<string, unknown>),
    digest: r.digest,
    prev: r.prev,
    hash: r.hash,
  };
  if (r.meta_text !== null) env.meta = JSON.parse(r.meta_text) as EventMeta;
  if (r.sig !== null) env.sig = r.sig;
  return env;
}

/**
 * The time bounds as plain conditions, only those given (parameters from `$first` on): a
 * `$n IS NULL OR …` would keep PostgreSQL from reading only the months they name.
 */
function timeBounds(q: { since?: number; until?: number }, first: number): string {
  let sql = '';
  let n = first;
  if (q.since !== undefined) sql += ` AND e.time >= $${n++}`;
  if (q.until !== undefined) sql += ` AND e.time <= $${n}`;
  return sql;
}

function timeParams(q: { since?: number; until?: number }): string[] {
  const out: string[] = [];
  const iso = (ms: number) => new Date(Math.max(0, Math.min(ms, MAX_TIME_MS))).toISOString();
  if (q.since !== undefined) out.push(iso(q.since));
  if (q.until !== undefined) out.push(iso(q.until));
  return out;
}

/**
 * One chunk of a device read: its SQL and parameters, seqs from..to, at most `n` rows. A read
 * asking only for sparse types repeats the partial index's predicate (sparse-index.ts).
 */
export function deviceChunkQuery(
  q: DeviceQuery,
  from: number,
  to: number,
  n: number,
): { sql: string; params: unknown[] } {
  const times = timeParams(q);
  let types = '';
  if (q.types !== undefined) {
    types = ` AND e.type = ANY($${4 + times.length}::text[])`;
    if (sparseTypesOnly(q.types)) types += ` AND ${SPARSE_PREDICATE}`;
  }
  // only positioned events: what the fleet order also shows
  return {
    sql: `SELECT ${COLUMNS}, b.position + (e.seq - b.first_seq) AS position
       FROM events e JOIN batches b ON b.id = e.batch
       WHERE e.device = $1 AND e.seq BETWEEN $2 AND $3 AND b.position IS NOT NULL
         ${timeBounds(q, 4)}${types}
       ORDER BY e.seq ${q.reverse ? 'DESC' : ''} LIMIT ${n}`,
    params: [q.device, from, to, ...times, ...(q.types === undefined ? [] : [q.types])],
  };
}

export async function* deviceEvents(pool: pg.Pool, q: DeviceQuery): AsyncGenerator<StoredEvent[]> {
  let from = Math.max(1, q.fromSeq ?? 1);
  let to = q.toSeq ?? Number.MAX_SAFE_INTEGER;
  let left = q.limit ?? Number.POSITIVE_INFINITY;
  while (from <= to && left > 0) {
    const n = Math.min(CHUNK, left);
    const { sql, params } = deviceChunkQuery(q, from, to, n);
    const r = await pool.query<Row>(sql, params);
    if (r.rows.length === 0) return;
    yield r.rows.map((row) => ({ position: Number(row.position), event: toEnvelope(row) }));
    left -= r.rows.length;
    if (r.rows.length < n) return;
    const last = Number(r.rows[r.rows.length - 1]!.seq);
    if (q.reverse) to = last - 1;
    else from = last + 1;
  }
}

interface Piece {
  device: string;
  lo: number;
  hi: number;
  /** Position of `lo`. */
  position: number;
}

export async function* fleetEvents(pool: pg.Pool, q: FleetQuery): AsyncGenerator<StoredEvent[]> {
  const head = Number((await pool.query<{ head: string }>('SELECT head FROM fleet WHERE one')).rows[0]!.head);
  let from = Math.max(1, q.from ?? 1);
  const to = Math.min(q.to ?? Number.MAX_SAFE_INTEGER, head);
  let left = q.limit ?? Number.POSITIVE_INFINITY;
  while (from <= to && left > 0) {
    // the batches holding positions from..: the one `from` falls in, then those after it
    const b = await pool.query<{ device: string; first_seq: string; count: number; position: string }>(
      `(SELECT device, first_seq, count, position FROM batches
         WHERE position IS NOT NULL AND position <= $1 ORDER BY position DESC LIMIT 1)
       UNION ALL
       (SELECT device, first_seq, count, position FROM batches
         WHERE position > $1 AND position <= $2 ORDER BY position LIMIT 200)`,
      [from, to],
    );
    const pieces: Piece[] = [];
    let room = CHUNK;
    let next = from;
    for (const row of b.rows) {
      const pos = Number(row.position);
      const firstSeq = Number(row.first_seq);
      const lo = Math.max(next, pos);
      const hi = Math.min(to, pos + row.count - 1, lo + room - 1);
      if (hi < lo) continue;
      pieces.push({ device: row.device, lo: firstSeq + (lo - pos), hi: firstSeq + (hi - pos), position: lo });
      room -= hi - lo + 1;
      next = hi + 1;
      if (room === 0) break;
    }
    if (pieces.length === 0) return;
    const r = await pool.query<Row>(
      `SELECT ${COLUMNS}, p.position + (e.seq - p.lo) AS position
       FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[]) AS p(device, lo, hi, position)
       JOIN events e ON e.device = p.device AND e.seq BETWEEN p.lo AND p.hi
       WHERE true ${timeBounds(q, 5)}`,
      [
        pieces.map((p) => p.device),
        pieces.map((p) => p.lo),
        pieces.map((p) => p.hi),
        pieces.map((p) => p.position),
        ...timeParams(q),
      ],
    );
    from = next;
    if (r.rows.length === 0) continue;
    const chunk = r.rows
      .map((row) => ({ position: Number(row.position), event: toEnvelope(row) }))
      .sort((x, y) => x.position - y.position);
    const out = chunk.length > left ? chunk.slice(0, left) : chunk;
    left -= out.length;
    yield out;
  }
}

/** The seq a state as of `at` folds up to: the last event at or before a time, or a seq. */
async function targetSeq(pool: pg.Pool, device: string, at: AsOfQuery): Promise<number> {
  const head = Number(
    (await pool.query<{ seq: string }>('SELECT seq FROM devices WHERE device = $1', [device])).rows[0]?.seq ??
      0,
  );
  if (at.seq !== undefined) return Math.max(0, Math.min(at.seq, head));
  if (at.time === undefined) return head;
  const r = await pool.query<{ seq: string }>(
    'SELECT seq FROM events WHERE device = $1 AND time <= $2 AND seq <= $3 ORDER BY time DESC, seq DESC LIMIT 1',
    [device, new Date(Math.max(0, Math.min(at.time, MAX_TIME_MS))).toISOString(), head],
  );
  return Number(r.rows[0]?.seq ?? 0);
}

export async function stateAt(
  pool: pg.Pool,
  device: string,
  at: AsOfQuery,
): Promise<{ seq: number; state: DeviceState }> {
  const target = await targetSeq(pool, device, at);
  let state = deviceState.initial();
  let seq = 0;
  if (target > 0) {
    for await (const chunk of deviceEvents(pool, { device, toSeq: target })) {
      for (const { event: e } of chunk) {
        const f = foldEventOf(e);
        if (deviceState.foldInto) deviceState.foldInto(state, f);
        else state = deviceState.apply(state, f);
        seq = e.seq;
      }
    }
  }
  return { seq, state };
}

/** Check every stored chain (or one device's) from the stored columns, as `log verify` does. */
export async function verify(pool: pg.Pool, device?: string): Promise<VerifiedChain[]> {
  const devices = (
    await pool.query<{ device: string }>(
      'SELECT device FROM devices WHERE seq > 0 AND ($1::text IS NULL OR device = $1) ORDER BY device COLLATE "C"',
      [device ?? null],
    )
  ).rows.map((r) => r.device);
  const reports: VerifiedChain[] = [];
  for (const d of devices) {
    const v = new ChainVerifier({ device: d });
    let head = { seq: 0, hash: ZERO_HASH };
    let from = 0;
    for (;;) {
      // every stored event, positioned or not
      const r = await pool.query<Row>(
        `SELECT ${COLUMNS} FROM events e WHERE e.device = $1 AND e.seq > $2 ORDER BY e.seq LIMIT ${CHUNK}`,
        [d, from],
      );
      for (const row of r.rows) {
        const seq = Number(row.seq);
        const time = new Date(Number(row.ms)).toISOString();
        const known = v.follows(seq);
        let hashOk: boolean | null = null;
        let undecodable: string | undefined;
        try {
          const header = { ...row, seq, time };
          hashOk = sha256hex(canonicalHeader(header, row.meta_text ?? undefined)) === row.hash;
        } catch (err) {
          undecodable = (err as Error).message;
        }
        let target: number | undefined;
        if (row.type === 'EventRedacted' && row.data_text !== null) {
          try {
            target = redactionTarget(JSON.parse(row.data_text) as Record<string, unknown>);
          } catch {
            target = Number.NaN;
          }
        }
        let range: PurgeRange | undefined;
        if (row.type === 'ReadingsPurged' && row.data_text !== null) {
          try {
            range = purgeRange(JSON.parse(row.data_text) as Record<string, unknown>);
          } catch {
            range = { fromSeq: Number.NaN, toSeq: Number.NaN };
          }
        }
        v.observe({
          seq,
          type: row.type,
          hash: row.hash,
          device: row.device,
          linked: known ? row.prev === v.lastHash : null,
          hashOk,
          ...(row.data_text === null ? {} : { digestOk: sha256hex(row.data_text) === row.digest }),
          purged: row.data_text === null,
          ...(target === undefined ? {} : { redactionTarget: target }),
          ...(range === undefined ? {} : { purgeRange: range }),
          ...(undecodable === undefined ? {} : { undecodable }),
        });
        head = { seq, hash: row.hash };
      }
      if (r.rows.length < CHUNK) break;
      from = Number(r.rows[r.rows.length - 1]!.seq);
    }
    const errors = v.finish();
    reports.push({ device: d, ok: errors.length === 0, events: v.events, head, errors });
  }
  return reports;
}

export async function* quarantined(pool: pg.Pool, device?: string): AsyncGenerator<QuarantinedEvent> {
  let after: [string, number, string] = ['', 0, ''];
  for (;;) {
    const r = await pool.query<{
      device: string;
      seq: string;
      hash: string;
      event: string;
      received_at: Date;
    }>(
      `SELECT device, seq, hash, event, received_at FROM quarantine
       WHERE ($1::text IS NULL OR device = $1) AND (device, seq, hash) > ($2, $3, $4)
       ORDER BY device, seq, hash LIMIT ${CHUNK}`,
      [device ?? null, ...after],
    );
    for (const row of r.rows) {
      let event: Envelope;
      try {
        event = JSON.parse(row.event) as Envelope;
      } catch (err) {
        throw fail('LOG_CORRUPT', `quarantined ${row.device} seq ${row.seq} is not JSON`, err);
      }
      yield {
        device: row.device,
        seq: Number(row.seq),
        hash: row.hash,
        event,
        at: row.received_at.toISOString(),
      };
    }
    if (r.rows.length < CHUNK) return;
    const last = r.rows[r.rows.length - 1]!;
    after = [last.device, Number(last.seq), last.hash];
  }
}
