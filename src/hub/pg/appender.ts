// The PostgreSQL store's write path: group commit with per-device serialization. Batches
// that arrive in the same turn share one transaction; each device's row in `devices` is
// locked (FOR UPDATE, in sorted order so two transactions never deadlock) and every
// decision for a device is made against its locked, committed head, so no two hubs can
// store the same seq. One device's refusal is its own answer and writes nothing; the others
// of the group are stored. Answers are given only after COMMIT.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Envelope } from '../../log/envelope.js';
import { ZERO_HASH } from '../../log/envelope.js';
import {
  type AppendGate,
  type AppendOutcome,
  type Head,
  type KeyRecord,
  NO_KEYS,
  sameKeys,
} from '../fleet-store.js';
import { applyRedactions, type CheckedEvent, checkEvent, linkProblem } from './check.js';
import { COPY_EVENTS, CopyBuffers } from './copy-rows.js';
import { monthOf, type Partitions } from './partitions.js';
import { PgRollupWrite } from './rollups.js';

interface Job {
  device: string;
  events: Envelope[];
  checked: CheckedEvent[];
  /** The months its events fall in (their partitions). */
  months: Set<string>;
  gate: AppendGate | undefined;
  /** Whether a gap was already waited for once. */
  waited: boolean;
  resolve: (o: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/** What a decided job writes. */
interface Write {
  job: Job;
  fresh: Envelope[];
  datas: (string | null)[];
  metas: (string | null)[];
  purges: number[];
  duplicates: number;
  /** New events of the batch the gate did not keep. */
  waiting: number;
  /** The key record to keep with the new head (unchanged without a gate). */
  keys: KeyRecord | undefined;
}

export interface AppenderDeps {
  pool: pg.Pool;
  partitions: Partitions;
  /** Give committed batches their fleet positions; resolves once that was tried. */
  sequence(): Promise<void>;
  /** Resolves when `device`'s head may have reached `seq` (a notification), or after `ms`. */
  waitForHead(device: string, seq: number, ms: number): Promise<void>;
  /** How long a batch beyond the head waits for its predecessor from another hub. */
  gapWaitMs: number;
  /** Transactions in flight at once. */
  concurrency: number;
  /** Keep the rollup tables (default); off only for a baseline (bench/series.bench.ts): they go stale. */
  rollups: boolean;
}

/** A group takes no more batches once it holds this many events. */
const GROUP_EVENTS = 20_000;

/** Events checked per turn of the event loop (see checkNext). */
const CHECK_SLICE = 64;

/** A batch not checked yet. */
interface Arrival {
  device: string;
  events: Envelope[];
  /** The checks of its first events, made so far. */
  checked: CheckedEvent[];
  gate: AppendGate | undefined;
  resolve: (o: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

export class Appender {
  private arrivals: Arrival[] = [];
  private checking = false;
  private queue: Job[] = [];
  private scheduled = false;
  private inflight = 0;
  /** Devices with a job in a transaction now: their next job waits for the next group. */
  private readonly busy = new Set<string>();
  /** Devices whose row in `devices` exists (rows are never deleted). */
  private readonly known = new Set<string>();
  private readonly buffers = new CopyBuffers();

  constructor(private readonly deps: AppenderDeps) {}

  append(device: string, events: Envelope[], gate?: AppendGate): Promise<AppendOutcome> {
    return new Promise<AppendOutcome>((resolve, reject) => {
      this.arrivals.push({ device, events, checked: [], gate, resolve, reject });
      this.checkNext();
    });
  }

  /**
   * Hashing happens before any transaction holds a lock, a slice of a batch per turn of the
   * event loop: between two, the socket takes more of the COPY text in flight, so PostgreSQL
   * parses one group while the next is checked (checked all at once, the next group's
   * batches held the text back and PostgreSQL waited; a whole batch per turn, 263 events of
   * the benchmark's, still kept it waiting more than slices of 64 do: 48.7k against 53k
   * events/s, medians of 6 alternations).
   */
  private checkNext(): void {
    if (this.checking || this.arrivals.length === 0) return;
    this.checking = true;
    setImmediate(() => {
      this.checking = false;
      const a = this.arrivals[0]!;
      try {
        const end = Math.min(a.events.length, a.checked.length + CHECK_SLICE);
        for (let i = a.checked.length; i < end; i++) a.checked.push(checkEvent(a.events[i]!, a.device));
        if (a.checked.length === a.events.length) {
          this.arrivals.shift();
          this.enqueue({
            device: a.device,
            events: a.events,
            checked: a.checked,
            months: monthsOf(a.events, a.checked),
            gate: a.gate,
            waited: false,
            resolve: a.resolve,
            reject: a.reject,
          });
        }
      } catch (err) {
        this.arrivals.shift();
        a.reject(err);
      }
      this.checkNext();
    });
  }

  private enqueue(job: Job): void {
    this.queue.push(job);
    this.schedule();
  }

  /**
   * Start a group at the end of this turn, unless enough transactions are in flight: then
   * what arrives meanwhile waits and goes, all of it, into the next one (group commit).
   */
  private schedule(): void {
    if (this.scheduled || this.inflight >= this.deps.concurrency || this.queue.length === 0) return;
    // while a transaction is in flight, batches still being checked join the next group
    // rather than each start a small one of its own
    if (this.inflight > 0 && this.arrivals.length > 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const group: Job[] = [];
      const rest: Job[] = [];
      let events = 0;
      for (const j of this.queue) {
        // one job per device per transaction, and none while its previous one is in flight
        if (this.busy.has(j.device) || events >= GROUP_EVENTS) rest.push(j);
        else {
          this.busy.add(j.device);
          group.push(j);
          events += j.events.length;
        }
      }
      this.queue = rest;
      if (group.length === 0) return;
      this.inflight++;
      void this.commit(group).finally(() => {
        this.inflight--;
        for (const j of group) this.busy.delete(j.device);
        this.schedule();
      });
      this.schedule();
    });
  }

  private async commit(group: Job[]): Promise<void> {
    group.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    const answers = new Map<Job, AppendOutcome>();
    const waits: { job: Job; seq: number }[] = [];
    const writes: Write[] = [];
    let client: pg.PoolClient | null = null;
    const commit = deferred();
    const positioned = commit.promise.then(() => this.deps.sequence());
    positioned.catch(() => {}); // observed through each batch's `written`
    try {
      const months = new Set<string>();
      for (const j of group) for (const m of j.months) months.add(m);
      await this.deps.partitions.ensure(months);
      client = await this.deps.pool.connect();
      await client.query('BEGIN');
      const devices = group.map((j) => j.device);
      // a device's row is made once (rows are never deleted): after that, no statement for it.
      // Not in the locking statement: its snapshot would miss a row another hub made meanwhile
      if (devices.some((d) => !this.known.has(d))) {
        await client.query(
          'INSERT INTO devices (device) SELECT d FROM unnest($1::text[]) AS d ORDER BY d ON CONFLICT DO NOTHING',
          [devices],
        );
      }
      const locked = await client.query<{
        device: string;
        seq: string;
        hash: string;
        batch: string;
        public_key: string | null;
        keys: string[];
        bound_key: string | null;
      }>(
        // each device's batch id comes with its lock (one statement fewer per transaction; an
        // id a device does not use is a gap, as a rolled-back insert leaves one). The key
        // records only when a gate asks for them (a store opened at an older schema version,
        // as the migration tests do, has none)
        `SELECT device, seq, hash, nextval('batches_id_seq') AS batch${
          group.some((j) => j.gate !== undefined) ? ', public_key, keys, bound_key' : ''
        } FROM devices WHERE device = ANY($1::text[]) ORDER BY device FOR UPDATE`,
        [devices],
      );
      for (const r of locked.rows) this.known.add(r.device);
      const batchOf = new Map(locked.rows.map((r) => [r.device, r.batch]));
      const heads = new Map<string, Head>(
        locked.rows.map((r) => [r.device, { seq: Number(r.seq), hash: r.hash }]),
      );
      // the key record of the locked head: what the gate decides against (docs/protocol.md §10)
      const keyRecords = new Map<string, KeyRecord>(
        locked.rows.map((r) => [
          r.device,
          { publicKey: r.public_key ?? null, keys: r.keys ?? [], bound: r.bound_key ?? null },
        ]),
      );
      const stored = await this.storedHashes(client, group, heads);
      const forks: { device: string; e: Envelope }[] = [];
      for (const job of group) {
        const head = heads.get(job.device) ?? { seq: 0, hash: ZERO_HASH };
        const forked: Envelope[] = [];
        let duplicates = 0;
        for (const e of job.events) {
          if (e.seq > head.seq) break;
          if (stored.get(`${job.device}\u0000${e.seq}`) === e.hash) duplicates++;
          else forked.push(e);
        }
        if (forked.length > 0) {
          // an enrolled device's fork is kept only when its batch ends on the device's signature
          const v = job.gate?.fork?.(
            job.device,
            job.events,
            forked.map((e) => e.seq),
            keyRecords.get(job.device) ?? NO_KEYS,
          );
          if (v?.kind === 'refuse') {
            answers.set(job, { kind: 'refused', head, reason: v.reason, message: v.message });
            continue;
          }
          for (const e of forked) forks.push({ device: job.device, e });
          answers.set(job, { kind: 'fork', head, seqs: forked.map((e) => e.seq) });
          continue;
        }
        const at = job.events.findIndex((e) => e.seq > head.seq);
        if (at < 0) {
          answers.set(job, { kind: 'duplicate', head, duplicates });
          continue;
        }
        let fresh = at === 0 ? job.events : job.events.slice(at);
        let checked = at === 0 ? job.checked : job.checked.slice(at);
        if (fresh[0]!.seq !== head.seq + 1) {
          if (!job.waited && this.deps.gapWaitMs > 0) waits.push({ job, seq: fresh[0]!.seq - 1 });
          else answers.set(job, { kind: 'gap', head, expected: head.seq + 1, got: fresh[0]!.seq });
          continue;
        }
        let keys: KeyRecord | undefined;
        let waiting = 0;
        if (job.gate) {
          const v = job.gate.decide(job.device, fresh, head, keyRecords.get(job.device) ?? NO_KEYS);
          if (v.kind === 'refuse') {
            answers.set(job, { kind: 'refused', head, reason: v.reason, message: v.message });
            continue;
          }
          if (v.count === 0) {
            answers.set(job, { kind: 'waiting', head, waiting: fresh.length });
            continue;
          }
          waiting = fresh.length - v.count;
          if (waiting > 0) {
            fresh = fresh.slice(0, v.count);
            checked = checked.slice(0, v.count);
          }
          if (!sameKeys(v.keys, keyRecords.get(job.device) ?? NO_KEYS)) keys = v.keys;
        }
        const problem = linkProblem(job.device, head, fresh, checked);
        if (problem !== undefined) {
          answers.set(job, { kind: 'invalid', head, message: problem });
          continue;
        }
        const { datas, purges } = applyRedactions(fresh, checked);
        writes.push({
          job,
          fresh,
          datas,
          metas: checked.map((c) => c.metaJcs),
          purges,
          duplicates,
          waiting,
          keys,
        });
      }
      if (forks.length > 0) {
        await client.query(
          `INSERT INTO quarantine (device, seq, hash, event)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING`,
          [
            forks.map((f) => f.device),
            forks.map((f) => f.e.seq),
            forks.map((f) => f.e.hash),
            forks.map((f) => JSON.stringify(f.e)),
          ],
        );
      }
      // a stored batch is answered now, its `written` once committed and positioned: the
      // device's next batch is parsed and hashed while this one commits
      for (const w of writes) {
        const last = w.fresh[w.fresh.length - 1]!;
        const head = { seq: last.seq, hash: last.hash };
        const written = positioned.then(() => head);
        // a caller that looks at `written` only later must not count as an unhandled rejection
        written.catch(() => {});
        w.job.resolve({
          kind: 'stored',
          from: w.fresh[0]!.seq,
          to: last.seq,
          duplicates: w.duplicates,
          ...(w.waiting > 0 ? { waiting: w.waiting } : {}),
          written,
        });
      }
      if (writes.length > 0) await this.write(client, writes, batchOf);
      await client.query('COMMIT');
      commit.resolve();
    } catch (err) {
      commit.reject(err);
      if (client) await client.query('ROLLBACK').catch(() => {});
      client?.release(err instanceof Error ? err : true);
      client = null;
      for (const j of group) j.reject(err); // no-op for a batch already answered: its `written` rejects
      return;
    } finally {
      client?.release();
    }
    // every other answer only now: its head and any quarantined fork are committed
    for (const [job, answer] of answers) job.resolve(answer);
    for (const { job, seq } of waits) {
      // the predecessor may be committing on another hub: wait for its head, then try again
      void this.deps.waitForHead(job.device, seq, this.deps.gapWaitMs).then(() => {
        job.waited = true;
        this.enqueue(job);
      });
    }
  }

  /** Stored hashes of every event of the group at or below its device's head. */
  private async storedHashes(
    client: pg.PoolClient,
    group: Job[],
    heads: Map<string, Head>,
  ): Promise<Map<string, string>> {
    const ds: string[] = [];
    const los: number[] = [];
    const his: number[] = [];
    for (const j of group) {
      const head = heads.get(j.device)?.seq ?? 0;
      const lo = j.events[0]!.seq;
      if (lo > head) continue;
      ds.push(j.device);
      los.push(lo);
      his.push(Math.min(head, j.events[j.events.length - 1]!.seq));
    }
    const out = new Map<string, string>();
    if (ds.length === 0) return out;
    const r = await client.query<{ device: string; seq: string; hash: string }>(
      `SELECT e.device, e.seq, e.hash FROM unnest($1::text[], $2::bigint[], $3::bigint[]) AS r(device, lo, hi)
       JOIN events e ON e.device = r.device AND e.seq BETWEEN r.lo AND r.hi`,
      [ds, los, his],
    );
    for (const row of r.rows) out.set(`${row.device}\u0000${row.seq}`, row.hash);
    return out;
  }

  /** Insert the decided batches, purge what their EventRedacted name, move the heads. */
  private async write(client: pg.PoolClient, writes: Write[], batchOf: Map<string, string>): Promise<void> {
    // COPY, not INSERT … unnest: the rows go as one text stream that PostgreSQL parses as it
    // reads, with no array parameters to build, escape and parse (measured: bench/pg.bench.ts);
    // the group's rows as one body of bytes, sent at once
    const body = this.buffers.body(
      writes.map((w) => ({
        events: w.fresh,
        datas: w.datas,
        metas: w.metas,
        batch: batchOf.get(w.job.device)!,
      })),
    );
    await pipeline(Readable.from([body]), client.query(copyFrom(COPY_EVENTS)));
    // PostgreSQL answered the COPY: it has read every byte (a failed COPY drops its buffer)
    this.buffers.release(body);
    const pd: string[] = [];
    const ps: number[] = [];
    for (const w of writes)
      for (const seq of w.purges) {
        pd.push(w.job.device);
        ps.push(seq);
      }
    const rollups = this.deps.rollups ? new PgRollupWrite() : null;
    // the buckets a purge target counted in, read before the purge
    const stale = rollups ? await rollups.staleOf(client, pd, ps) : [];
    if (pd.length > 0) {
      // the rule of purgedRecord: a stored payload, not an EventRedacted's own
      await client.query(
        `UPDATE events e SET data = NULL, data_text = NULL
         FROM unnest($1::text[], $2::bigint[]) AS p(device, seq)
         WHERE e.device = p.device AND e.seq = p.seq AND e.type <> 'EventRedacted' AND e.data_text IS NOT NULL`,
        [pd, ps],
      );
    }
    if (rollups) {
      for (const w of writes) rollups.add(w.job.device, w.fresh, w.datas);
      await rollups.write(client, stale);
    }
    // the batches, the heads and their notification in one statement (delivered at COMMIT:
    // hubs waiting for this device's predecessor try again)
    const heads = writes.map((w) => w.fresh[w.fresh.length - 1]!);
    await client.query(
      `WITH b AS (
         INSERT INTO batches (id, device, first_seq, count)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::int[])
       ), d AS (
         UPDATE devices d SET seq = u.seq, hash = u.hash, updated_at = now()
         FROM unnest($2::text[], $5::bigint[], $6::text[]) AS u(device, seq, hash) WHERE d.device = u.device
       )
       SELECT pg_notify('fieldlog_heads', h) FROM unnest($7::text[]) AS h`,
      [
        writes.map((w) => batchOf.get(w.job.device)!),
        heads.map((e) => e.device),
        writes.map((w) => w.fresh[0]!.seq),
        writes.map((w) => w.fresh.length),
        heads.map((e) => e.seq),
        heads.map((e) => e.hash),
        heads.map((e) => `${e.seq} ${e.device}`),
      ],
    );
    // the key records move with the heads, in the same transaction (one row per keyed batch;
    // keys as JSON text: node-postgres has no array-of-arrays parameter)
    const keyed = writes.filter((w) => w.keys !== undefined);
    if (keyed.length > 0) {
      await client.query(
        `UPDATE devices d SET public_key = u.public_key,
           keys = ARRAY(SELECT jsonb_array_elements_text(u.keys::jsonb)), bound_key = u.bound_key
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(device, public_key, keys, bound_key)
         WHERE d.device = u.device`,
        [
          keyed.map((w) => w.job.device),
          keyed.map((w) => w.keys!.publicKey),
          keyed.map((w) => JSON.stringify(w.keys!.keys)),
          keyed.map((w) => w.keys!.bound),
        ],
      );
    }
  }
}

/** A promise and the functions that settle it (Node 20 has no Promise.withResolvers before 22). */
function deferred(): { promise: Promise<void>; resolve: () => void; reject: (err: unknown) => void } {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** The months (partitions) the events that passed their own checks fall in. */
function monthsOf(events: Envelope[], checked: CheckedEvent[]): Set<string> {
  const months = new Set<string>();
  let month = '';
  for (let i = 0; i < events.length; i++) {
    if (checked[i]!.problem !== undefined) continue;
    const time = events[i]!.time;
    // the same YYYY-MM, the same month: a batch's events nearly always fall in one
    if (month === '' || !time.startsWith(month)) {
      month = time.slice(0, 7);
      months.add(monthOf(Date.parse(time)));
    }
  }
  return months;
}
