// Monthly partitions of `events`, created on demand before a batch that needs them is
// inserted. Creation is its own short transaction under an advisory lock (two hubs racing
// to create the same month would otherwise collide in the catalog); each partition gets
// its UNIQUE (device, seq) index at birth.
import type pg from 'pg';
import { LOCK } from './migrations.js';

/** The month (`YYYYMM`, UTC) a time in ms falls in. */
export function monthOf(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
}

function bounds(month: string): [string, string] {
  const y = Number(month.slice(0, 4));
  const m = Number(month.slice(4));
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  const pad = (s: string) => s.padStart(7, '0');
  return [`${pad(`${y}-${month.slice(4)}`)}-01 00:00:00+00`, `${pad(next)}-01 00:00:00+00`];
}

const ATTACHED =
  "SELECT substr(c.relname, 8) AS m FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass";

export class Partitions {
  private readonly known = new Set<string>();

  constructor(private readonly pool: pg.Pool) {}

  /** Make sure a partition exists for every month in `months`. */
  async ensure(months: Iterable<string>): Promise<void> {
    const missing = [...new Set(months)].filter((m) => !this.known.has(m)).sort();
    if (missing.length === 0) return;
    const client = await this.pool.connect();
    try {
      const found = await client.query<{ m: string }>(ATTACHED);
      for (const r of found.rows) this.known.add(r.m);
      const todo = missing.filter((m) => !this.known.has(m));
      if (todo.length === 0) return;
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK.partitions]);
        const attached = new Set((await client.query<{ m: string }>(ATTACHED)).rows.map((r) => r.m));
        for (const m of todo) {
          if (attached.has(m)) continue;
          const [from, to] = bounds(m);
          // built apart, then attached: ATTACH takes a lock on events that appends do not
          // wait for (CREATE TABLE … PARTITION OF would lock out every reader and writer)
          await client.query(
            `CREATE TABLE events_${m} (LIKE events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)`,
          );
          await client.query(
            `ALTER TABLE events_${m} ADD CONSTRAINT events_${m}_range CHECK (time >= '${from}' AND time < '${to}')`,
          );
          await client.query(`CREATE UNIQUE INDEX events_${m}_device_seq ON events_${m} (device, seq)`);
          await client.query(
            `ALTER TABLE events ATTACH PARTITION events_${m} FOR VALUES FROM ('${from}') TO ('${to}')`,
          );
        }
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
      for (const m of todo) this.known.add(m);
    } finally {
      client.release();
    }
  }
}
