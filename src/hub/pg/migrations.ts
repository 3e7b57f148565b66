// The PostgreSQL store's schema, as plain SQL migrations applied in order at open. Each is
// applied once, recorded in `fieldlog_migrations`, all pending ones in one transaction under
// an advisory lock, so several hubs starting at once migrate once and none sees half a
// schema. Migrations are kept here as SQL text (not files) so they ship inside dist/ with the
// code that needs them. A migration is never edited once released: add the next one.
import type pg from 'pg';
import { fail } from '../../errors.js';
import { ROLLUPS_MIGRATION } from './rollups.js';
import { SPARSE_INDEX_MIGRATION } from './sparse-index.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Advisory lock keys (one namespace, numbers picked once). */
export const LOCK = { migrate: 0x66_6c_01, partitions: 0x66_6c_02, sequencer: 0x66_6c_03 } as const;

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'events, devices, batches, fleet, quarantine',
    sql: `
CREATE TABLE devices (
  device     text PRIMARY KEY,
  seq        bigint NOT NULL DEFAULT 0,
  hash       text NOT NULL DEFAULT '${'0'.repeat(64)}',
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per appended batch. position is NULL until the sequencer gives the committed
-- batch its place in the fleet order; event positions are position + (seq - first_seq).
CREATE TABLE batches (
  id        bigserial PRIMARY KEY,
  device    text NOT NULL REFERENCES devices (device),
  first_seq bigint NOT NULL,
  count     integer NOT NULL CHECK (count > 0),
  position  bigint UNIQUE,
  stored_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (device, first_seq)
);
CREATE INDEX batches_unpositioned ON batches (id) WHERE position IS NULL;

-- The fleet head: every position up to it is assigned and readable.
CREATE TABLE fleet (
  one  boolean PRIMARY KEY DEFAULT true CHECK (one),
  head bigint NOT NULL
);
INSERT INTO fleet (one, head) VALUES (true, 0);

-- Partitioned by month of the event's time; partitions are created on demand and each
-- holds a UNIQUE (device, seq) index (see README: "Hub on PostgreSQL").
CREATE TABLE events (
  device    text NOT NULL,
  seq       bigint NOT NULL,
  type      text NOT NULL,
  time      timestamptz NOT NULL,
  boot      text NOT NULL,
  mono      double precision NOT NULL,
  data      jsonb,
  data_text text,
  meta      jsonb,
  meta_text text,
  digest    text NOT NULL,
  prev      text NOT NULL,
  hash      text NOT NULL,
  sig       text,
  batch     bigint NOT NULL
) PARTITION BY RANGE (time);
CREATE INDEX events_device_time ON events (device, time);

CREATE TABLE quarantine (
  device      text NOT NULL,
  seq         bigint NOT NULL,
  hash        text NOT NULL,
  event       text NOT NULL,
  received_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (device, seq, hash)
);
`,
  },
  {
    version: 2,
    name: 'fleet_events view',
    sql: `
-- Every readable event with its fleet position, for SQL users.
CREATE VIEW fleet_events AS
SELECT b.position + (e.seq - b.first_seq) AS position,
       e.device, e.seq, e.type, e.time, e.boot, e.mono, e.data, e.data_text, e.meta, e.meta_text,
       e.digest, e.prev, e.hash, e.sig
FROM events e
JOIN batches b ON b.id = e.batch
WHERE b.position IS NOT NULL;
`,
  },
  { version: 3, name: 'reading and position rollups', sql: ROLLUPS_MIGRATION },
  { version: 4, name: 'index of sparse events', sql: SPARSE_INDEX_MIGRATION },
  {
    version: 5,
    name: 'device key records',
    sql: `
-- The key record kept with each device's head (docs/protocol.md §10), moved with it in the
-- same transaction: the key in force after the head, every key the stored chain has had, and
-- the key bound on first use (--tofu). Every hub sharing the store reads the same record.
ALTER TABLE devices
  ADD COLUMN public_key text,
  ADD COLUMN keys text[] NOT NULL DEFAULT '{}',
  ADD COLUMN bound_key text;
`,
  },
];

/** The migration that adds the rollup tables. */
export const ROLLUPS_VERSION = 3;

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/**
 * Bring the schema up to `upTo` (default: the newest). Returns the versions applied. With
 * `create` false a database holding no fieldlog schema at all is refused (LOG_NOT_FOUND).
 */
export async function migrate(
  client: pg.ClientBase,
  opts: { create: boolean; upTo?: number; location: string },
): Promise<number[]> {
  const upTo = opts.upTo ?? SCHEMA_VERSION;
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK.migrate]);
    const exists = await client.query<{ t: string | null }>(
      "SELECT to_regclass('fieldlog_migrations')::text AS t",
    );
    if (exists.rows[0]!.t === null) {
      if (!opts.create) throw fail('LOG_NOT_FOUND', `${opts.location} holds no fieldlog store`);
      await client.query(`CREATE TABLE fieldlog_migrations (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
    }
    const done = new Set(
      (await client.query<{ version: number }>('SELECT version FROM fieldlog_migrations')).rows.map(
        (r) => r.version,
      ),
    );
    const newest = Math.max(0, ...done);
    if (newest > SCHEMA_VERSION) {
      throw fail(
        'STORE_UNAVAILABLE',
        `${opts.location} has schema version ${newest}, newer than this fieldlog knows (${SCHEMA_VERSION})`,
      );
    }
    const applied: number[] = [];
    for (const m of MIGRATIONS) {
      if (m.version > upTo || done.has(m.version)) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO fieldlog_migrations (version, name) VALUES ($1, $2)', [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
    return applied;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  }
}
