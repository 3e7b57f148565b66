// The fleet's event store on PostgreSQL (`fieldlog hub --store postgres://…`), shared by any
// number of hub processes: the schema is migrated at open, appends go through the group
// commit (appender.ts), the fleet order through the sequencer (sequencer.ts), reads through
// reads.ts. One dedicated connection LISTENs for the fleet head (so a live feed on one hub
// sees what another ingested) and for device heads (so a batch that arrived before its
// predecessor was committed by another hub waits for it instead of answering a gap).
import pg from 'pg';
import { fail, isFieldlogError } from '../../errors.js';
import type { Envelope } from '../../log/envelope.js';
import { ZERO_HASH } from '../../log/envelope.js';
import {
  type AppendGate,
  type BucketRange,
  type DeviceHead,
  type EventQuery,
  type FleetStore,
  type Head,
  type KeyRecord,
  NO_KEYS,
} from '../fleet-store.js';
import {
  resolutionFor,
  type SensorSummary,
  type SeriesData,
  seriesOf,
  summarize,
  type TrackData,
  trackOf,
} from '../rollup.js';
import { covered, foldSensors, foldSeries, foldTrack } from '../series-fold.js';
import { Appender } from './appender.js';
import { migrate, ROLLUPS_VERSION } from './migrations.js';
import { Partitions } from './partitions.js';
import * as reads from './reads.js';
import * as rollups from './rollups.js';
import { Sequencer } from './sequencer.js';

export interface PgStoreOptions {
  /** Create the schema in a database that holds none (the hub does; `hub verify` does not). */
  create?: boolean;
  /** Connections in the pool. */
  poolSize?: number;
  /** How long a batch beyond the head waits for its predecessor from another hub (ms). */
  gapWaitMs?: number;
  /** Apply migrations only up to this version (tests of upgrades). */
  schemaVersion?: number;
  /**
   * Keep the rollup tables at ingest (default true). Off is for a benchmark's baseline on a
   * throw-away database only: what is appended meanwhile is missing from them.
   */
  rollups?: boolean;
}

const GAP_WAIT_MS = 1500;
/** A hub that committed batches and died before sequencing them leaves them to this sweep. */
const SWEEP_MS = 2000;

/** The URL without its password, for messages and `location`. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

function unavailable(location: string, err: unknown): Error {
  if (isFieldlogError(err)) return err;
  return fail('STORE_UNAVAILABLE', `${location}: ${(err as Error).message}`, err);
}

export async function openPgFleetStore(url: string, opts: PgStoreOptions = {}): Promise<FleetStore> {
  const location = redactUrl(url);
  const poolSize = Math.max(3, opts.poolSize ?? 10);
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  // a connection cut while idle (PostgreSQL restarted) must not crash the hub: the next
  // query takes a new one
  pool.on('error', () => {});
  // a connection cut during a query rejects that query; its 'error' event must not crash the hub
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    const client = await pool.connect();
    try {
      const enc = await client.query<{ server_encoding: string }>('SHOW server_encoding');
      if (enc.rows[0]!.server_encoding !== 'UTF8')
        throw fail(
          'STORE_UNAVAILABLE',
          `${location}: the database must be UTF8 (it is ${enc.rows[0]!.server_encoding})`,
        );
      await migrate(client, {
        create: opts.create ?? false,
        location,
        ...(opts.schemaVersion === undefined ? {} : { upTo: opts.schemaVersion }),
      });
    } finally {
      client.release();
    }
  } catch (err) {
    await pool.end().catch(() => {});
    throw unavailable(location, err);
  }
  // a schema held back below the rollups' migration (tests of upgrades) has no tables for them
  const rollups = (opts.rollups ?? true) && (opts.schemaVersion ?? ROLLUPS_VERSION) >= ROLLUPS_VERSION;
  const store = new PgFleetStore(url, location, pool, opts.gapWaitMs ?? GAP_WAIT_MS, poolSize, rollups);
  try {
    await store.start();
  } catch (err) {
    await store.close();
    throw unavailable(location, err);
  }
  return store;
}

type Listener = (fleetHead: number, batch?: { first: number; events: Envelope[] }) => void;

class PgFleetStore implements FleetStore {
  readonly kind = 'postgres' as const;
  private readonly listeners = new Set<Listener>();
  private readonly headWaiters = new Map<string, Set<{ seq: number; wake: () => void }>>();
  private readonly sequencer: Sequencer;
  private readonly appender: Appender;
  private listenClient: pg.Client | null = null;
  private emitted = 0;
  private closed = false;
  private sweep: NodeJS.Timeout | null = null;
  private reconnect: NodeJS.Timeout | null = null;

  constructor(
    private readonly url: string,
    readonly location: string,
    private readonly pool: pg.Pool,
    gapWaitMs: number,
    poolSize: number,
    private readonly rollups: boolean,
  ) {
    this.sequencer = new Sequencer(pool, (head) => this.moved(head));
    this.appender = new Appender({
      pool,
      partitions: new Partitions(pool),
      sequence: () => this.sequencer.sequence(),
      waitForHead: (device, seq, ms) => this.waitForHead(device, seq, ms),
      gapWaitMs,
      // leave connections for reads and the sequencer
      concurrency: Math.max(1, poolSize - 2),
      rollups,
    });
  }

  async start(): Promise<void> {
    await this.listen();
    this.emitted = await this.fleetHead();
    // batches a hub committed but did not live to sequence
    await this.sequencer.sequence();
    this.sweep = setInterval(() => void this.sweepUnpositioned(), SWEEP_MS);
    this.sweep.unref();
  }

  private async sweepUnpositioned(): Promise<void> {
    try {
      const r = await this.pool.query('SELECT 1 FROM batches WHERE position IS NULL LIMIT 1');
      if (r.rows.length > 0) await this.sequencer.sequence();
    } catch {
      // PostgreSQL away: the next sweep tries again
    }
  }

  private async listen(): Promise<void> {
    const c = new pg.Client({ connectionString: this.url });
    c.on('error', () => this.lostListener(c));
    c.on('end', () => this.lostListener(c));
    c.on('notification', (n) => {
      if (n.channel === 'fieldlog_fleet') this.moved(Number(n.payload));
      else if (n.channel === 'fieldlog_heads' && n.payload) {
        const space = n.payload.indexOf(' ');
        this.headMoved(n.payload.slice(space + 1), Number(n.payload.slice(0, space)));
      }
    });
    await c.connect();
    await c.query('LISTEN fieldlog_fleet');
    await c.query('LISTEN fieldlog_heads');
    this.listenClient = c;
  }

  /** The listening connection died (PostgreSQL restarted): listen again, catch up on what was missed. */
  private lostListener(c: pg.Client): void {
    if (this.closed || this.listenClient !== c) return;
    this.listenClient = null;
    c.end().catch(() => {});
    // notifications were lost meanwhile: waiters try again rather than wait out their time
    for (const set of this.headWaiters.values()) for (const w of set) w.wake();
    const retry = (delay: number) => {
      this.reconnect = setTimeout(async () => {
        this.reconnect = null;
        if (this.closed) return;
        try {
          await this.listen();
          this.moved(await this.fleetHead());
          await this.sequencer.sequence();
        } catch {
          retry(Math.min(delay * 2, 2000));
        }
      }, delay);
      this.reconnect.unref();
    };
    retry(100);
  }

  private moved(head: number): void {
    if (head <= this.emitted) return;
    this.emitted = head;
    for (const l of this.listeners) {
      try {
        l(head);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  private headMoved(device: string, seq: number): void {
    const set = this.headWaiters.get(device);
    if (!set) return;
    for (const w of set) if (seq >= w.seq) w.wake();
  }

  private waitForHead(device: string, seq: number, ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      let set = this.headWaiters.get(device);
      if (!set) {
        set = new Set();
        this.headWaiters.set(device, set);
      }
      const w = {
        seq,
        wake: () => {
          clearTimeout(timer);
          set.delete(w);
          if (set.size === 0) this.headWaiters.delete(device);
          resolve();
        },
      };
      const timer = setTimeout(w.wake, ms);
      set.add(w);
      // the predecessor may have committed between our read of the head and now
      void this.head(device).then(
        (h) => {
          if (h.seq >= seq) w.wake();
        },
        () => {},
      );
    });
  }

  async heads(): Promise<DeviceHead[]> {
    const r = await this.pool.query<{ device: string; seq: string; hash: string }>(
      'SELECT device, seq, hash FROM devices WHERE seq > 0 ORDER BY device COLLATE "C"',
    );
    return r.rows.map((row) => ({ device: row.device, head: { seq: Number(row.seq), hash: row.hash } }));
  }

  async head(device: string): Promise<Head> {
    const r = await this.pool.query<{ seq: string; hash: string }>(
      'SELECT seq, hash FROM devices WHERE device = $1',
      [device],
    );
    const row = r.rows[0];
    return row ? { seq: Number(row.seq), hash: row.hash } : { seq: 0, hash: ZERO_HASH };
  }

  append(device: string, events: Envelope[], gate?: AppendGate) {
    if (this.closed) return Promise.reject(fail('LOG_CLOSED', 'the fleet store is closed'));
    if (events.length === 0) return Promise.reject(fail('EVENT_INVALID', 'nothing to append'));
    return this.appender.append(device, events, gate);
  }

  async keyRecord(device: string): Promise<KeyRecord> {
    const r = await this.pool.query<{ public_key: string | null; keys: string[]; bound_key: string | null }>(
      'SELECT public_key, keys, bound_key FROM devices WHERE device = $1',
      [device],
    );
    const row = r.rows[0];
    return row ? { publicKey: row.public_key, keys: row.keys, bound: row.bound_key } : NO_KEYS;
  }

  quarantined(device?: string) {
    return reads.quarantined(this.pool, device);
  }

  events(q: EventQuery) {
    return 'fleet' in q ? reads.fleetEvents(this.pool, q) : reads.deviceEvents(this.pool, q);
  }

  async fleetHead(): Promise<number> {
    const r = await this.pool.query<{ head: string }>('SELECT head FROM fleet WHERE one');
    return Number(r.rows[0]!.head);
  }

  stateAt(device: string, at: { time?: number; seq?: number }) {
    return reads.stateAt(this.pool, device, at);
  }

  verify(device?: string) {
    return reads.verify(this.pool, device);
  }

  onAppended(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async sensors(device: string): Promise<SensorSummary[]> {
    if (!this.rollups) return foldSensors((q) => this.events(q), device);
    return summarize(await rollups.sensorHours(this.pool, device));
  }

  async series(device: string, sensor: string, range: BucketRange): Promise<SeriesData> {
    const res = resolutionFor(range.bucketMs);
    if (res === 'raw' || !this.rollups) return foldSeries((q) => this.events(q), device, sensor, range);
    const { lo, hi } = covered(range);
    return seriesOf(await rollups.readingBuckets(this.pool, device, sensor, res, lo, hi), range.bucketMs);
  }

  async track(device: string, range: BucketRange): Promise<TrackData> {
    const res = resolutionFor(range.bucketMs);
    if (res === 'raw' || !this.rollups) return foldTrack((q) => this.events(q), device, range);
    const { lo, hi } = covered(range);
    return trackOf(await rollups.fixBuckets(this.pool, device, res, lo, hi), range.bucketMs);
  }

  async sizeBytes(): Promise<number | undefined> {
    const r = await this.pool.query<{ n: string | null }>(
      `SELECT sum(pg_total_relation_size(relid)) AS n FROM (
         SELECT relid FROM pg_partition_tree('events')
         UNION ALL SELECT unnest(ARRAY['devices', 'batches', 'fleet', 'quarantine']::regclass[])
       ) t`,
    );
    return Number(r.rows[0]!.n ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.sweep) clearInterval(this.sweep);
    if (this.reconnect) clearTimeout(this.reconnect);
    for (const set of this.headWaiters.values()) for (const w of set) w.wake();
    const c = this.listenClient;
    this.listenClient = null;
    await c?.end().catch(() => {});
    await this.pool.end().catch(() => {});
  }
}
