// The PostgreSQL fleet store against a real, throw-away PostgreSQL 15 cluster: migrations
// (from empty, from the previous version, twice, concurrently), several hubs (separate
// pools) appending while a reader follows the fleet order, the gap wait across hubs, a
// failed transaction that acks nothing, redaction, verify, and the partitioning.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppendGate, AppendOutcome, FleetStore, StoredEvent } from '../../src/hub/fleet-store.js';
import { SCHEMA_VERSION } from '../../src/hub/pg/migrations.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import { type Envelope, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

let cluster: TestPostgres;
let dbs = 0;
/** A fresh database of the cluster. */
const freshDb = () => cluster.database(`t${++dbs}`);

beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

/** `n` sealed events of device `id`, written by the device's own log. */
async function sealed(
  id: string,
  n: number,
  start = Date.parse('2026-11-24T10:00:00.000Z'),
): Promise<Envelope[]> {
  const log = await EventLog.memory({ device: id, clock: fakeClock(start, 1000) });
  try {
    for (let i = 0; i < n; i += 500)
      await log.appendMany(
        Array.from({ length: Math.min(500, n - i) }, (_, k) => ({
          type: 'ReadingRecorded',
          data: { source: 'node', sensor: 'temp', value: i + k, unit: 'C' },
        })),
      );
    const out: Envelope[] = [];
    for await (const e of log.events()) out.push(e);
    return out;
  } finally {
    await log.close();
  }
}

async function all(store: FleetStore, q: Parameters<FleetStore['events']>[0]): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const chunk of store.events(q)) out.push(...chunk);
  return out;
}

async function stored(o: AppendOutcome): Promise<void> {
  if (o.kind !== 'stored') throw new Error(`expected stored, got ${JSON.stringify(o)}`);
  await o.written;
}

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe('PostgreSQL fleet store: migrations', () => {
  it('creates the schema in an empty database, and refuses one without it unless asked to create', async () => {
    const url = await freshDb();
    await expect(openPgFleetStore(url, {})).rejects.toMatchObject({ code: 'LOG_NOT_FOUND' });
    const store = await openPgFleetStore(url, { create: true });
    await store.close();
    const versions = await query<{ version: number }>(
      url,
      'SELECT version FROM fieldlog_migrations ORDER BY 1',
    );
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
    expect(SCHEMA_VERSION).toBe(5);
  });

  it('refuses a database it cannot reach in one line, STORE_UNAVAILABLE, without the password', async () => {
    const url = `postgres://someone:secret@${encodeURIComponent('/nonexistent-socket-dir')}/fieldlog`;
    const err = (await openPgFleetStore(url, { create: true }).then(
      () => new Error('opened'),
      (e: unknown) => e as Error,
    )) as Error & { code?: string };
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(err.message).not.toContain('secret');
    expect(err.message).not.toContain('\n');
  });

  it('upgrades from the previous version, keeping the data', async () => {
    const url = await freshDb();
    const old = await openPgFleetStore(url, { create: true, schemaVersion: 1 });
    await stored(await old.append('pi-1', await sealed('pi-1', 3)));
    await old.close();
    await expect(query(url, 'SELECT * FROM fleet_events')).rejects.toThrow(/fleet_events/);
    const store = await openPgFleetStore(url, {});
    try {
      expect((await all(store, { device: 'pi-1' })).map((e) => e.event.seq)).toEqual([1, 2, 3]);
      const rows = await query<{ position: string; seq: string }>(
        url,
        'SELECT position, seq FROM fleet_events ORDER BY position',
      );
      expect(rows.map((r) => [Number(r.position), Number(r.seq)])).toEqual([
        [1, 1],
        [2, 2],
        [3, 3],
      ]);
    } finally {
      await store.close();
    }
  });

  it('upgrades from version 2 with its rollups folded from the events already stored', async () => {
    const url = await freshDb();
    const events = await sealed('pi-1', 1500);
    const old = await openPgFleetStore(url, { create: true, schemaVersion: 2 });
    await stored(await old.append('pi-1', events));
    await old.close();
    await expect(query(url, 'SELECT * FROM reading_rollups')).rejects.toThrow(/reading_rollups/);
    const store = await openPgFleetStore(url, {});
    try {
      const range = { from: Date.parse(events[0]!.time), to: Date.parse(events[1499]!.time) };
      for (const bucketMs of [60_000, 3_600_000]) {
        const got = await store.series('pi-1', 'temp', { ...range, bucketMs });
        const folded = await store.series('pi-1', 'temp', { ...range, bucketMs: 1 });
        // the readings are 0..1499, one a second: a bucket's min, max, count follow from its span
        const byBucket = new Map<number, number[]>();
        for (const [i, t] of folded.t.entries()) {
          const k = Math.floor(t / bucketMs) * bucketMs;
          byBucket.set(k, [...(byBucket.get(k) ?? []), folded.min[i]!]);
        }
        expect(got.t).toEqual([...byBucket.keys()]);
        expect(got.min).toEqual([...byBucket.values()].map((v) => Math.min(...v)));
        expect(got.max).toEqual([...byBucket.values()].map((v) => Math.max(...v)));
        expect(got.count).toEqual([...byBucket.values()].map((v) => v.length));
      }
      const rows = await query<{ n: string }>(
        url,
        "SELECT count(*) AS n FROM reading_rollups WHERE resolution = 'hour'",
      );
      expect(Number(rows[0]!.n)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('upgrades from version 4 to the key records (migration 5): devices stored before have none, and get one', async () => {
    const url = await freshDb();
    const old = await openPgFleetStore(url, { create: true, schemaVersion: 4 });
    const events = await sealed('pi-1', 4);
    await stored(await old.append('pi-1', events.slice(0, 2)));
    await old.close();
    await expect(query(url, 'SELECT public_key FROM devices')).rejects.toThrow(/public_key/);
    const store = await openPgFleetStore(url, {});
    try {
      expect(await store.keyRecord('pi-1')).toEqual({ publicKey: null, keys: [], bound: null });
      const key = `${'A'.repeat(43)}=`;
      const keys = { publicKey: key, keys: [key], bound: key };
      await stored(
        await store.append('pi-1', events.slice(2), {
          decide: () => ({ kind: 'keep', count: 2, keys }),
        }),
      );
      expect(await store.keyRecord('pi-1')).toEqual(keys);
      expect((await all(store, { device: 'pi-1' })).map((e) => e.event.seq)).toEqual([1, 2, 3, 4]);
    } finally {
      await store.close();
    }
  });

  it('is idempotent: opened twice, and by several hubs at once, it migrates once', async () => {
    const url = await freshDb();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openPgFleetStore(url, { create: true })),
    );
    await Promise.all(stores.map((s) => s.close()));
    const again = await openPgFleetStore(url, { create: true });
    await again.close();
    const versions = await query<{ version: number }>(
      url,
      'SELECT version FROM fieldlog_migrations ORDER BY 1',
    );
    expect(versions.map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
  });
});

describe('PostgreSQL fleet store: several hubs', () => {
  it('gives a fleet order without skip or repeat while hubs append different and the same devices', async () => {
    const url = await freshDb();
    const hubs = await Promise.all(Array.from({ length: 3 }, () => openPgFleetStore(url, { create: true })));
    const reader = await openPgFleetStore(url, {});
    try {
      const devices = ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'];
      const logs = await Promise.all(devices.map((d) => sealed(d, 120)));
      const total = logs.reduce((a, l) => a + l.length, 0);
      // the reader follows the fleet order as a live feed does: from its last position on
      const seen: StoredEvent[] = [];
      let following = true;
      const follow = (async () => {
        while (following || seen.length < total) {
          const from = seen.length + 1;
          for await (const chunk of reader.events({ fleet: true, from })) seen.push(...chunk);
          if (seen.length >= total) break;
          await new Promise<void>((resolve) => {
            const off = reader.onAppended(() => {
              off();
              resolve();
            });
            // the head may have moved between the read and the subscription
            void reader.fleetHead().then((h) => {
              if (h >= seen.length + 1) {
                off();
                resolve();
              }
            });
          });
        }
      })();
      // every device's batches are dealt round-robin over the hubs (as a shared
      // subscription does); each device's batches one after another, devices in parallel
      await Promise.all(
        logs.map(async (log, d) => {
          for (let i = 0, b = 0; i < log.length; i += 10, b++) {
            const hub = hubs[(d + b) % hubs.length]!;
            await stored(await hub.append(devices[d]!, log.slice(i, i + 10)));
          }
        }),
      );
      following = false;
      await follow;
      expect(seen.map((s) => s.position)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
      const keys = new Set(seen.map((s) => `${s.event.device}/${s.event.seq}`));
      expect(keys.size).toBe(total);
      // each device's events appear in the fleet order in seq order
      for (const d of devices) {
        const seqs = seen.filter((s) => s.event.device === d).map((s) => s.event.seq);
        expect(seqs).toEqual(Array.from({ length: 120 }, (_, i) => i + 1));
      }
      expect(await reader.fleetHead()).toBe(total);
      for (const r of await reader.verify()) expect(r).toMatchObject({ ok: true, events: 120 });
    } finally {
      await Promise.all([...hubs, reader].map((s) => s.close()));
    }
  });

  it('stores one copy when two hubs get the same batch at once (one stored, one duplicate)', async () => {
    const url = await freshDb();
    const a = await openPgFleetStore(url, { create: true });
    const b = await openPgFleetStore(url, {});
    try {
      const log = await sealed('twin', 20);
      await stored(await a.append('twin', log.slice(0, 10)));
      const [x, y] = await Promise.all([a.append('twin', log.slice(10)), b.append('twin', log.slice(10))]);
      expect([x.kind, y.kind].sort()).toEqual(['duplicate', 'stored']);
      if (x.kind === 'stored') await x.written;
      if (y.kind === 'stored') await y.written;
      expect((await all(a, { device: 'twin' })).map((e) => e.event.seq)).toEqual(
        Array.from({ length: 20 }, (_, i) => i + 1),
      );
      expect(await a.fleetHead()).toBe(20);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('waits for a predecessor another hub is committing instead of answering a gap', async () => {
    const url = await freshDb();
    // a wait long enough that only the predecessor's commit can end it
    const a = await openPgFleetStore(url, { create: true, gapWaitMs: 600_000 });
    const b = await openPgFleetStore(url, {});
    try {
      const log = await sealed('rr', 20);
      const later = a.append('rr', log.slice(10));
      const first = await b.append('rr', log.slice(0, 10));
      await stored(first);
      const outcome = await later;
      expect(outcome).toMatchObject({ kind: 'stored', from: 11, to: 20 });
      await stored(outcome);
      expect(await a.head('rr')).toEqual({ seq: 20, hash: log[19]!.hash });
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('answers a gap after the bounded wait when no predecessor comes', async () => {
    const url = await freshDb();
    const a = await openPgFleetStore(url, { create: true, gapWaitMs: 50 });
    try {
      const log = await sealed('lone', 20);
      expect(await a.append('lone', log.slice(10))).toEqual({
        kind: 'gap',
        head: { seq: 0, hash: ZERO_HASH },
        expected: 1,
        got: 11,
      });
    } finally {
      await a.close();
    }
  });
});

describe('PostgreSQL fleet store: failures', () => {
  /**
   * A store on a fresh database and a second connection to it, which holds the locks the
   * tests stop the store's transactions with and ends their backends; both closed after `fn`.
   */
  async function withAdmin(
    fn: (store: Awaited<ReturnType<typeof openPgFleetStore>>, admin: pg.Client) => Promise<void>,
  ): Promise<void> {
    const url = await freshDb();
    const store = await openPgFleetStore(url, { create: true });
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await fn(store, admin);
    } finally {
      await admin.end();
      await store.close();
    }
  }

  /** The backend of the store's transaction waiting for a lock in a statement holding `statement`. */
  async function blockedOn(admin: pg.Client, statement: string): Promise<number> {
    for (;;) {
      // pg_stat_activity is read once per transaction: clear that snapshot on each look
      await admin.query('SELECT pg_stat_clear_snapshot()');
      const r = await admin.query<{ pid: number }>(
        "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1 AND pid <> pg_backend_pid()",
        [`%${statement}%`],
      );
      if (r.rows[0]) return r.rows[0].pid;
    }
  }

  it('acks nothing of a transaction whose connection is killed before COMMIT', () =>
    withAdmin(async (store, admin) => {
      const log = await sealed('cut', 10);
      await stored(await store.append('cut', log.slice(0, 5)));
      // hold the device's row so the next append's transaction stops at its lock, then kill it
      await admin.query('BEGIN');
      await admin.query("SELECT * FROM devices WHERE device = 'cut' FOR UPDATE");
      const pending = store.append('cut', log.slice(5));
      const pid = await blockedOn(admin, 'FOR UPDATE');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.query('ROLLBACK');
      await expect(pending).rejects.toThrow();
      expect(await store.head('cut')).toEqual({ seq: 5, hash: log[4]!.hash });
      expect((await all(store, { device: 'cut' })).length).toBe(5);
      // the device resends and the store carries on
      await stored(await store.append('cut', log.slice(5)));
      expect(await store.head('cut')).toEqual({ seq: 10, hash: log[9]!.hash });
    }));

  it('answers stored before COMMIT but rejects written when the transaction dies after the decision', () =>
    withAdmin(async (store, admin) => {
      const log = await sealed('late', 10);
      await stored(await store.append('late', log.slice(0, 5)));
      // the next append decides, then stops at its insert into batches, which this lock holds back
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE batches IN EXCLUSIVE MODE');
      const outcome = await store.append('late', log.slice(5));
      expect(outcome).toMatchObject({ kind: 'stored', from: 6, to: 10 });
      const pid = await blockedOn(admin, 'INSERT INTO batches');
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.query('ROLLBACK');
      if (outcome.kind === 'stored') await expect(outcome.written).rejects.toThrow();
      expect(await store.head('late')).toEqual({ seq: 5, hash: log[4]!.hash });
      expect(await store.fleetHead()).toBe(5);
    }));

  it("answers a device's next batches while the one before them commits, and stores them in one transaction", () =>
    withAdmin(async (store, admin) => {
      const log = await sealed('ahead', 20);
      await stored(await store.append('ahead', log.slice(0, 5)));
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE batches IN EXCLUSIVE MODE');
      const first = await store.append('ahead', log.slice(5, 10));
      expect(first).toMatchObject({ kind: 'stored', from: 6, to: 10 });
      await blockedOn(admin, 'INSERT INTO batches');
      // the transaction of 6..10 is held back: these are answered all the same (without the
      // answer ahead they would wait for it, and this test for ever)
      const next = await store.append('ahead', log.slice(10, 15));
      const last = await store.append('ahead', log.slice(15));
      expect(next).toMatchObject({ kind: 'stored', from: 11, to: 15, duplicates: 0 });
      expect(last).toMatchObject({ kind: 'stored', from: 16, to: 20, duplicates: 0 });
      // a batch that does not follow them is not answered ahead: it waits for its turn
      const resent = store.append('ahead', log.slice(12, 17));
      await admin.query('ROLLBACK');
      for (const o of [first, next, last]) await stored(o);
      expect(await resent).toMatchObject({ kind: 'duplicate', duplicates: 5 });
      expect(await store.head('ahead')).toEqual({ seq: 20, hash: log[19]!.hash });
      // 11..20 went in one transaction: one batch row, one run of fleet positions
      const rows = await admin.query<{ first_seq: string; count: number }>(
        "SELECT first_seq, count FROM batches WHERE device = 'ahead' ORDER BY first_seq",
      );
      expect(rows.rows.map((r) => [Number(r.first_seq), r.count])).toEqual([
        [1, 5],
        [6, 5],
        [11, 10],
      ]);
      expect(await store.fleetHead()).toBe(20);
      const fleet = await all(store, { fleet: true });
      expect(fleet.map((e) => [e.position, e.event.hash])).toEqual(log.map((e, i) => [i + 1, e.hash]));
    }));

  it('stores nothing of a batch answered ahead when the one before it fails; the resend is stored', () =>
    withAdmin(async (store, admin) => {
      const log = await sealed('broken', 15);
      await stored(await store.append('broken', log.slice(0, 5)));
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE batches IN EXCLUSIVE MODE');
      const first = await store.append('broken', log.slice(5, 10));
      const pid = await blockedOn(admin, 'INSERT INTO batches');
      const next = await store.append('broken', log.slice(10));
      expect(next).toMatchObject({ kind: 'stored', from: 11, to: 15 });
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await admin.query('ROLLBACK');
      if (first.kind !== 'stored' || next.kind !== 'stored') throw new Error('not stored');
      await expect(first.written).rejects.toThrow();
      await expect(next.written).rejects.toThrow(/seq 11\.\.15 of broken was not stored/);
      expect(await store.head('broken')).toEqual({ seq: 5, hash: log[4]!.hash });
      // nothing is answered ahead of a failed write: the device's next batch is decided under
      // the lock (a gap), and its resend from the head is stored
      expect(await store.append('broken', log.slice(10))).toMatchObject({ kind: 'gap', expected: 6 });
      await stored(await store.append('broken', log.slice(5)));
      expect(await store.head('broken')).toEqual({ seq: 15, hash: log[14]!.hash });
      expect(await store.fleetHead()).toBe(15);
      expect((await store.verify('broken'))[0]).toMatchObject({ ok: true, events: 15 });
    }));

  it('answers a gated batch ahead only against the key record read from the store', () =>
    withAdmin(async (store, admin) => {
      const log = await sealed('keyed', 15);
      await stored(await store.append('keyed', log.slice(0, 5)));
      await admin.query("UPDATE devices SET public_key = 'K' WHERE device = 'keyed'");
      // a gate that keeps a batch only for a device with no key in force
      const gate: AppendGate = {
        decide: (_d, fresh, _h, keys) =>
          keys.publicKey === null
            ? { kind: 'keep', count: fresh.length, keys }
            : { kind: 'refuse', reason: 'keyed', message: 'the device has a key' },
      };
      await admin.query('BEGIN');
      await admin.query('LOCK TABLE batches IN EXCLUSIVE MODE');
      // stored without a gate: its transaction did not read the key record
      const first = await store.append('keyed', log.slice(5, 10));
      await blockedOn(admin, 'INSERT INTO batches');
      const next = store.append('keyed', log.slice(10), gate);
      // the store checks it on its next turn of the event loop (one slice: 5 events), which
      // runs before this one, while 6..10 is still held back
      await new Promise((resolve) => setImmediate(resolve));
      await admin.query('ROLLBACK');
      await stored(first);
      // decided under the lock, against the device's key: refused, not answered ahead as stored
      expect(await next).toMatchObject({ kind: 'refused', reason: 'keyed' });
      expect(await store.head('keyed')).toEqual({ seq: 10, hash: log[9]!.hash });
    }));

  it('survives a PostgreSQL restart: appends fail while it is down, then resume', async () => {
    const url = await freshDb();
    const store = await openPgFleetStore(url, { create: true });
    try {
      const log = await sealed('rs', 10);
      await stored(await store.append('rs', log.slice(0, 5)));
      await cluster.restart();
      // the pool's connections were cut: the first use may fail, a retry gets a new one
      let outcome: AppendOutcome | undefined;
      while (!outcome) outcome = await store.append('rs', log.slice(5)).catch(() => undefined);
      await stored(outcome);
      expect(await store.head('rs')).toEqual({ seq: 10, hash: log[9]!.hash });
      expect(await store.fleetHead()).toBe(10);
      // its listening connection came back too: it hears what another hub appends
      const heard = new Promise<number>((resolve) => store.onAppended((head) => head >= 13 && resolve(head)));
      const other = await openPgFleetStore(url, {});
      try {
        await stored(await other.append('rs2', await sealed('rs2', 3)));
        expect(await heard).toBe(13);
      } finally {
        await other.close();
      }
    } finally {
      await store.close();
    }
  });
});

describe('PostgreSQL fleet store: what is stored', () => {
  it('keeps the exact payload text, partitions by month and reads by time', async () => {
    const url = await freshDb();
    const store = await openPgFleetStore(url, { create: true });
    try {
      // 40 days at one event an hour: two months
      const log = await EventLog.memory({
        device: 'tm',
        clock: fakeClock(Date.parse('2026-11-20T00:00:00.000Z'), 3_600_000),
      });
      await log.appendMany(
        Array.from({ length: 960 }, (_, i) => ({
          type: 'ReadingRecorded',
          data: { source: 'n', sensor: 'temp', value: i / 10, unit: 'C' },
        })),
      );
      await log.append({ type: 'NoteAdded', data: { text: 'nul \u0000 inside' } });
      const envs: Envelope[] = [];
      for await (const e of log.events()) envs.push(e);
      await log.close();
      await stored(await store.append('tm', envs));
      const parts = await query<{ relname: string }>(
        url,
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'events'::regclass ORDER BY 1",
      );
      expect(parts.map((p) => p.relname)).toEqual(['events_202611', 'events_202612']);
      const since = Date.parse('2026-12-01T00:00:00.000Z');
      const until = Date.parse('2026-12-01T05:00:00.000Z');
      const got = await all(store, { device: 'tm', since, until });
      expect(got.map((e) => e.event.time)).toEqual(
        Array.from({ length: 6 }, (_, h) => `2026-12-01T0${h}:00:00.000Z`),
      );
      // every envelope reads back exactly as it was sealed
      expect((await all(store, { device: 'tm' })).map((e) => e.event)).toEqual(envs);
      const nul = await query<{ data: unknown; data_text: string }>(
        url,
        "SELECT data, data_text FROM events WHERE device = 'tm' AND type = 'NoteAdded'",
      );
      expect(nul[0]).toEqual({ data: null, data_text: '{"text":"nul \\u0000 inside"}' });
      const [report] = await store.verify('tm');
      expect(report).toMatchObject({ ok: true, events: 961 });
      expect(await store.sizeBytes()).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });

  it('creates a new month without waiting for transactions that are writing events', async () => {
    const url = await freshDb();
    const store = await openPgFleetStore(url, { create: true });
    const writer = new pg.Client({ connectionString: url });
    await writer.connect();
    try {
      await stored(await store.append('m1', await sealed('m1', 2, Date.parse('2026-11-30T00:00:00.000Z'))));
      // another hub's transaction, in the middle of writing events
      await writer.query('BEGIN');
      await writer.query('LOCK TABLE events IN ROW EXCLUSIVE MODE');
      await stored(await store.append('m2', await sealed('m2', 2, Date.parse('2027-01-15T00:00:00.000Z'))));
      await writer.query('COMMIT');
      expect((await all(store, { device: 'm2' })).map((e) => e.event.time.slice(0, 7))).toEqual([
        '2027-01',
        '2027-01',
      ]);
    } finally {
      await writer.end();
      await store.close();
    }
  });

  it('purges a redacted payload in the same transaction and still verifies; verify finds an altered row', async () => {
    const url = await freshDb();
    const store = await openPgFleetStore(url, { create: true });
    try {
      const log = await EventLog.memory({ device: 'rd', clock: fakeClock() });
      await log.append({ type: 'NoteAdded', data: { text: 'secret' } });
      await log.append({ type: 'NoteAdded', data: { text: 'kept' } });
      await log.redact(1, 'privacy', 'operator:ana');
      const envs: Envelope[] = [];
      for await (const e of log.events()) envs.push(e);
      await log.close();
      await stored(await store.append('rd', envs.slice(0, 2)));
      // the EventRedacted arrives as the device sent it: with its target's payload still on the device's copy
      await stored(await store.append('rd', envs.slice(2)));
      const rows = await query<{ seq: string; data_text: string | null }>(
        url,
        "SELECT seq, data_text FROM events WHERE device = 'rd' ORDER BY seq",
      );
      expect(rows.map((r) => [Number(r.seq), r.data_text === null])).toEqual([
        [1, true],
        [2, false],
        [3, false],
      ]);
      expect((await store.verify('rd'))[0]).toMatchObject({ ok: true, events: 3 });
      await query(url, `UPDATE events SET data_text = '{"text":"forged"}' WHERE device = 'rd' AND seq = 2`);
      const [bad] = await store.verify('rd');
      expect(bad!.ok).toBe(false);
      expect(bad!.errors).toEqual([expect.objectContaining({ seq: 2, reason: 'digest-mismatch' })]);
    } finally {
      await store.close();
    }
  });
});
