// The PostgreSQL store's partial index of sparse events against a real PostgreSQL 15: the
// migration from version 3 builds it over every partition already filled, a partition made
// later has it too, and a read asking only for sparse types is planned on it (EXPLAIN, with
// the planner's statistics of a device whose readings far outnumber the rest, and a generic
// plan, as a prepared statement would keep), while a read by a dense type is not.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceQuery, StoredEvent } from '../../src/hub/fleet-store.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import { deviceChunkQuery } from '../../src/hub/pg/reads.js';
import { SPARSE_INDEX } from '../../src/hub/pg/sparse-index.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

/** Readings one a second from `start`, a note every 500th event. */
async function history(log: EventLog, n: number): Promise<Envelope[]> {
  const from = log.head().seq + 1;
  for (let i = 0; i < n; i += 2000)
    await log.appendMany(
      Array.from({ length: Math.min(2000, n - i) }, (_, k) =>
        (i + k) % 500 === 3
          ? { type: 'NoteAdded', data: { text: `n${i + k}` } }
          : { type: 'ReadingRecorded', data: { source: 'n', sensor: 't', value: i + k, unit: 'C' } },
      ),
    );
  const out: Envelope[] = [];
  for await (const e of log.events({ fromSeq: from })) out.push(e);
  return out;
}

async function sql<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text, params)).rows;
  } finally {
    await c.end();
  }
}

/**
 * The plan of the first chunk of a device read, as text: the generic plan (the one a prepared
 * statement keeps, blind to the parameters' values), so only the query's own text can prove
 * the index's predicate.
 */
async function plan(url: string, q: DeviceQuery): Promise<string> {
  const { sql: text, params } = deviceChunkQuery(q, 1, Number.MAX_SAFE_INTEGER, 1000);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const literal = (v: unknown): string =>
      Array.isArray(v)
        ? `ARRAY[${v.map((x) => c.escapeLiteral(String(x))).join(', ')}]::text[]`
        : typeof v === 'number'
          ? String(v)
          : c.escapeLiteral(String(v));
    await c.query('SET plan_cache_mode = force_generic_plan');
    await c.query(`PREPARE chunk AS ${text}`);
    const rows = await c.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN EXECUTE chunk(${params.map(literal).join(', ')})`,
    );
    return rows.rows.map((r) => r['QUERY PLAN']).join('\n');
  } finally {
    await c.end();
  }
}

describe('PostgreSQL index of sparse events', () => {
  it('is built by the upgrade from version 3 over filled partitions and new ones; sparse reads are planned on it', async () => {
    const url = await cluster.database('sparse');
    // 40,000 events from 30 November 20:00: two months, two partitions
    const log = await EventLog.memory({
      device: 'pi-1',
      clock: fakeClock(Date.parse('2026-11-30T20:00:00Z'), 1000),
    });
    try {
      const old = await openPgFleetStore(url, { create: true, schemaVersion: 3 });
      const first = await history(log, 40_000);
      for (let i = 0; i < first.length; i += 5000) {
        const r = await old.append('pi-1', first.slice(i, i + 5000));
        if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
        await r.written;
      }
      await old.close();
      expect(await sql(url, 'SELECT 1 FROM pg_class WHERE relname = $1', [SPARSE_INDEX])).toEqual([]);
      const store = await openPgFleetStore(url, {});
      try {
        // a month later: a third partition, made after the index
        const clockLater = await EventLog.memory({
          device: 'pi-2',
          clock: fakeClock(Date.parse('2027-01-05T00:00:00Z'), 1000),
        });
        const later = await history(clockLater, 1000);
        await clockLater.close();
        const r = await store.append('pi-2', later);
        if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
        await r.written;
        const parts = await sql<{ n: string }>(
          url,
          "SELECT count(*) AS n FROM pg_inherits WHERE inhparent = 'events'::regclass",
        );
        const indexed = await sql<{ name: string }>(
          url,
          `SELECT inhrelid::regclass::text AS name FROM pg_inherits WHERE inhparent = '${SPARSE_INDEX}'::regclass`,
        );
        expect(Number(parts[0]!.n)).toBe(3);
        expect(indexed).toHaveLength(3);
        await sql(url, 'ANALYZE events');
        const notes = first.filter((e) => e.type === 'NoteAdded');
        const got: StoredEvent[] = [];
        for await (const chunk of store.events({ device: 'pi-1', types: ['NoteAdded'], reverse: true }))
          got.push(...chunk);
        expect(got.map((s) => s.event)).toEqual(notes.reverse());
        const names = indexed.map((i) => i.name);
        const uses = (p: string) => names.some((n) => p.includes(n));
        const since = Date.parse('2026-11-30T21:00:00Z');
        const until = Date.parse('2026-12-01T05:00:00Z');
        for (const q of [
          { device: 'pi-1', types: ['NoteAdded', 'AlarmRaised'] },
          { device: 'pi-1', types: ['NoteAdded'], reverse: true, since, until },
        ]) {
          const p = await plan(url, q);
          expect(uses(p), p).toBe(true);
        }
        // a read that asks for readings cannot use it
        const dense = await plan(url, {
          device: 'pi-1',
          types: ['NoteAdded', 'ReadingRecorded'],
          since,
          until,
        });
        expect(uses(dense), dense).toBe(false);
      } finally {
        await store.close();
      }
    } finally {
      await log.close();
    }
  });
});
