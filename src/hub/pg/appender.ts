// The PostgreSQL store's write path: group commit with per-device serialization. Batches
// that arrive in the same turn share one transaction; each device's row in `devices` is
// locked (FOR UPDATE, in sorted order so two transactions never deadlock) and every
// decision for a device is made against its locked, committed head, so no two hubs can
// store the same seq. One device's refusal is its own answer and writes nothing; the others
// of the group are stored. Answers other than `stored` are given only after COMMIT.
//
// A device's next batch need not wait for the transaction writing the one before it: when
// it follows that batch exactly (and the gate keeps it), it is answered `stored` at once,
// against the head that transaction will leave, and queued; the next transaction takes every
// such batch of the device in order and decides each again under the lock. Its `written`
// resolves only once it is committed, and rejects (nothing written, no ack) if the decision
// under the lock differs, as when the transaction before it failed. So a device catching up
// with a window of batches in flight fills one transaction with many of them: fewer, longer
// COPYs (bench/pg.bench.ts).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { fail } from '../../errors.js';
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
  /** Set once it was answered `stored` ahead of its transaction (see Appender.answerAhead). */
  ahead?: Ahead;
  resolve: (o: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/** What a batch answered `stored` ahead of its transaction was promised. */
interface Ahead {
  /** The first seq and the number of events it stores. */
  from: number;
  count: number;
  /** Its `written`, settled after its own transaction. */
  written: Deferred<Head>;
}

/**
 * What a device's head and key record will be once its batches decided as writes (in a
 * transaction now, or answered ahead of one and queued) are committed.
 */
interface Pending {
  head: Head;
  keys: KeyRecord;
  /** Those batches not yet settled. */
  open: number;
  /** One of them failed: the rest will too, and no batch is answered ahead until none is left. */
  broken: boolean;
  /** Whether `keys` was read from the store (only when a gate asked for it). */
  keysRead: boolean;
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

/** Events answered ahead of their transaction and queued, at most (the memory they hold). */
const AHEAD_EVENTS = 20_000;

/** No stored hashes: what a batch that follows its head exactly is decided with. */
const NONE_STORED: ReadonlyMap<string, string> = new Map();

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
  /** Devices with batches decided as writes and not yet settled. */
  private readonly pending = new Map<string, Pending>();
  /** Batches of each device not answered yet. */
  private readonly unanswered = new Map<string, number>();
  /** Events of the batches answered ahead and not yet in a transaction. */
  private aheadEvents = 0;

  constructor(private readonly deps: AppenderDeps) {}

  append(device: string, events: Envelope[], gate?: AppendGate): Promise<AppendOutcome> {
    this.unanswered.set(device, (this.unanswered.get(device) ?? 0) + 1);
    return new Promise<AppendOutcome>((resolve, reject) => {
      let answered = false;
      const answer = () => {
        if (answered) return false;
        answered = true;
        const n = this.unanswered.get(device)! - 1;
        if (n === 0) this.unanswered.delete(device);
        else this.unanswered.set(device, n);
        return true;
      };
      this.arrivals.push({
        device,
        events,
        checked: [],
        gate,
        resolve: (o) => answer() && resolve(o),
        reject: (err) => answer() && reject(err),
      });
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
    this.answerAhead(job);
    this.queue.push(job);
    this.schedule();
  }

  /**
   * Answer a batch `stored` before its transaction when the device has writes in flight and
   * the batch follows the head they leave exactly, every earlier batch of the device is
   * answered, and the decision against that head (the gate's too) stores all it would:
   * nothing a transaction decides under the lock can differ unless one of those writes fails
   * (then this one's `written` rejects). Anything else waits for its turn and is decided
   * under the lock as before.
   */
  private answerAhead(job: Job): void {
    const p = this.pending.get(job.device);
    if (p === undefined || p.broken || this.unanswered.get(job.device) !== 1) return;
    if (this.aheadEvents >= AHEAD_EVENTS || job.events[0]!.seq !== p.head.seq + 1) return;
    // a gate decides against the key record, which only a transaction with a gate has read
    if (job.gate && !p.keysRead) return;
    // following the head exactly, nothing of it is held: no stored hashes are needed
    const d = this.decide(job, p.head, p.keys, NONE_STORED);
    if (d.kind !== 'write') return;
    const { fresh, waiting, keys } = d.write;
    const last = fresh[fresh.length - 1]!;
    const written = deferred<Head>();
    written.promise.catch(() => {}); // observed by the caller, maybe only later
    job.ahead = { from: fresh[0]!.seq, count: fresh.length, written };
    this.aheadEvents += fresh.length;
    this.expect(job.device, last, keys ?? p.keys, p.keysRead);
    job.resolve({
      kind: 'stored',
      from: fresh[0]!.seq,
      to: last.seq,
      duplicates: 0,
      ...(waiting > 0 ? { waiting } : {}),
      written: written.promise,
    });
  }

  /**
   * A write of `device` ending on `last` is decided (under the lock, or ahead): its next
   * batches are answered ahead against that head and key record until it is settled.
   */
  private expect(device: string, last: Envelope, keys: KeyRecord, keysRead: boolean): void {
    const head = { seq: last.seq, hash: last.hash };
    const p = this.pending.get(device);
    if (p === undefined) this.pending.set(device, { head, keys, open: 1, broken: false, keysRead });
    else {
      p.head = head;
      p.keys = keys;
      p.keysRead = keysRead;
      p.open++;
    }
  }

  /** One of a device's writes is settled (committed, or failed: `broken`). */
  private settle(device: string, broken: boolean): void {
    const p = this.pending.get(device);
    if (p === undefined) return;
    if (broken) p.broken = true;
    if (--p.open <= 0) this.pending.delete(device);
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
      // devices that take no more jobs in this group (their order is kept)
      const closed = new Set<string>();
      const taken = new Set<string>();
      let events = 0;
      for (const j of this.queue) {
        // none while a previous job of the device is in flight; after the device's first job
        // of the group only the ones answered ahead, in order (they follow it exactly)
        const d = j.device;
        if (
          closed.has(d) ||
          events >= GROUP_EVENTS ||
          (taken.has(d) ? j.ahead === undefined : this.busy.has(d))
        ) {
          closed.add(d);
          rest.push(j);
        } else {
          this.busy.add(d);
          taken.add(d);
          group.push(j);
          events += j.events.length;
          if (j.ahead) this.aheadEvents -= j.ahead.count;
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
    // by device (stable: a device's jobs stay in order, the one decided under the lock first)
    group.sort((a, b) => (a.device < b.device ? -1 : a.device > b.device ? 1 : 0));
    const answers = new Map<Job, AppendOutcome>();
    const waits: { job: Job; seq: number }[] = [];
    const writes: Write[] = [];
    /** Jobs answered ahead whose decision under the lock differs: written rejects. */
    const broken: Job[] = [];
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
      const devices = [...new Set(group.map((j) => j.device))];
      // a device's row is made once (rows are never deleted): after that, no statement for it.
      // Not in the locking statement: its snapshot would miss a row another hub made meanwhile
      if (devices.some((d) => !this.known.has(d))) {
        await client.query(
          'INSERT INTO devices (device) SELECT d FROM unnest($1::text[]) AS d ORDER BY d ON CONFLICT DO NOTHING',
          [devices],
        );
      }
      const keysRead = group.some((j) => j.gate !== undefined);
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
          keysRead ? ', public_key, keys, bound_key' : ''
        } FROM devices WHERE device = ANY($1::text[]) ORDER BY device FOR UPDATE`,
        [devices],
      );
      for (const r of locked.rows) this.known.add(r.device);
      const batchOf = new Map(locked.rows.map((r) => [r.device, r.batch]));
      // each device's head and key record, moved past each of its writes as they are decided
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
      const stored = await this.storedHashes(
        client,
        group.filter((j) => j.ahead === undefined),
        heads,
      );
      const forks: { device: string; e: Envelope }[] = [];
      for (const job of group) {
        const head = heads.get(job.device) ?? { seq: 0, hash: ZERO_HASH };
        const rec = keyRecords.get(job.device) ?? NO_KEYS;
        // answered ahead: it must follow the device's head exactly, all of it kept as promised
        if (job.ahead && job.events[0]!.seq !== head.seq + 1) {
          broken.push(job);
          continue;
        }
        const d = this.decide(job, head, rec, stored);
        if (job.ahead && (d.kind !== 'write' || d.write.fresh.length !== job.ahead.count)) {
          broken.push(job);
          continue;
        }
        if (d.kind === 'answer') answers.set(job, d.answer);
        else if (d.kind === 'wait') waits.push({ job, seq: d.seq });
        else if (d.kind === 'fork') {
          for (const e of d.forked) forks.push({ device: job.device, e });
          answers.set(job, d.answer);
        } else {
          const w = d.write;
          writes.push(w);
          const last = w.fresh[w.fresh.length - 1]!;
          heads.set(job.device, { seq: last.seq, hash: last.hash });
          if (w.keys !== undefined) keyRecords.set(job.device, w.keys);
          // decided now: the device's next batches may be answered ahead of the commit
          if (!job.ahead) this.expect(job.device, last, w.keys ?? rec, keysRead);
        }
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
      // device's next batch is parsed and hashed (and maybe answered ahead) while this one commits
      for (const w of writes) {
        const last = w.fresh[w.fresh.length - 1]!;
        const head = { seq: last.seq, hash: last.hash };
        const ahead = w.job.ahead;
        if (ahead) {
          positioned.then(
            () => ahead.written.resolve(head),
            (err: unknown) => ahead.written.reject(err),
          );
          continue;
        }
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
      for (const j of group) {
        j.reject(err); // no-op for a batch already answered: its `written` rejects
        if (broken.includes(j)) this.breakAhead(j);
        else if (j.ahead) {
          // the device's writes after it fail too: none is answered ahead until all are settled
          this.settle(j.device, true);
          j.ahead.written.reject(err);
        } else if (writes.some((w) => w.job === j)) this.settle(j.device, true);
      }
      return;
    } finally {
      client?.release();
    }
    for (const w of writes) this.settle(w.job.device, false);
    for (const j of broken) this.breakAhead(j);
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

  /**
   * A batch answered `stored` ahead of its transaction that the transaction could not store
   * as promised (the write before it failed, or another hub stored those seqs): nothing of it
   * is written and its `written` rejects, so the hub does not ack it and the device resends.
   */
  private breakAhead(job: Job): void {
    const a = job.ahead!;
    this.settle(job.device, true);
    a.written.reject(
      fail(
        'STORE_UNAVAILABLE',
        `seq ${a.from}..${a.from + a.count - 1} of ${job.device} was not stored: the batch before it was not`,
      ),
    );
  }

  /** What a job comes to against its device's head: an answer, a wait for a gap, a fork or a write. */
  private decide(
    job: Job,
    head: Head,
    rec: KeyRecord,
    stored: ReadonlyMap<string, string>,
  ):
    | { kind: 'answer'; answer: AppendOutcome }
    | { kind: 'wait'; seq: number }
    | { kind: 'fork'; forked: Envelope[]; answer: AppendOutcome }
    | { kind: 'write'; write: Write } {
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
        rec,
      );
      if (v?.kind === 'refuse')
        return { kind: 'answer', answer: { kind: 'refused', head, reason: v.reason, message: v.message } };
      return { kind: 'fork', forked, answer: { kind: 'fork', head, seqs: forked.map((e) => e.seq) } };
    }
    const at = job.events.findIndex((e) => e.seq > head.seq);
    if (at < 0) return { kind: 'answer', answer: { kind: 'duplicate', head, duplicates } };
    let fresh = at === 0 ? job.events : job.events.slice(at);
    let checked = at === 0 ? job.checked : job.checked.slice(at);
    if (fresh[0]!.seq !== head.seq + 1) {
      if (!job.waited && this.deps.gapWaitMs > 0) return { kind: 'wait', seq: fresh[0]!.seq - 1 };
      return { kind: 'answer', answer: { kind: 'gap', head, expected: head.seq + 1, got: fresh[0]!.seq } };
    }
    let keys: KeyRecord | undefined;
    let waiting = 0;
    if (job.gate) {
      const v = job.gate.decide(job.device, fresh, head, rec);
      if (v.kind === 'refuse')
        return { kind: 'answer', answer: { kind: 'refused', head, reason: v.reason, message: v.message } };
      if (v.count === 0) return { kind: 'answer', answer: { kind: 'waiting', head, waiting: fresh.length } };
      waiting = fresh.length - v.count;
      if (waiting > 0) {
        fresh = fresh.slice(0, v.count);
        checked = checked.slice(0, v.count);
      }
      if (!sameKeys(v.keys, rec)) keys = v.keys;
    }
    const problem = linkProblem(job.device, head, fresh, checked);
    if (problem !== undefined) return { kind: 'answer', answer: { kind: 'invalid', head, message: problem } };
    const { datas, purges } = applyRedactions(fresh, checked);
    return {
      kind: 'write',
      write: { job, fresh, datas, metas: checked.map((c) => c.metaJcs), purges, duplicates, waiting, keys },
    };
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
    // the group's rows as bytes, written as the COPY takes them (copy-rows.ts)
    const body = this.buffers.body(
      writes.map((w) => ({
        events: w.fresh,
        datas: w.datas,
        metas: w.metas,
        batch: batchOf.get(w.job.device)!,
      })),
    );
    await pipeline(Readable.from(body), client.query(copyFrom(COPY_EVENTS)));
    // PostgreSQL answered the COPY: it has read every byte (a failed COPY drops its buffers)
    body.release();
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
    // one batch row per device (its writes of this transaction are consecutive: one run of
    // seqs), then the heads and their notification, in one statement (delivered at COMMIT:
    // hubs waiting for this device's predecessor try again)
    const runs = new Map<string, { first: number; count: number; last: Envelope; keys?: KeyRecord }>();
    for (const w of writes) {
      const last = w.fresh[w.fresh.length - 1]!;
      const run = runs.get(w.job.device);
      if (run === undefined) runs.set(w.job.device, { first: w.fresh[0]!.seq, count: w.fresh.length, last });
      else {
        run.count += w.fresh.length;
        run.last = last;
      }
      // the key record after the device's last write that moved it
      if (w.keys !== undefined) runs.get(w.job.device)!.keys = w.keys;
    }
    const ds = [...runs.keys()];
    const rs = [...runs.values()];
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
        ds.map((d) => batchOf.get(d)!),
        ds,
        rs.map((r) => r.first),
        rs.map((r) => r.count),
        rs.map((r) => r.last.seq),
        rs.map((r) => r.last.hash),
        rs.map((r) => `${r.last.seq} ${r.last.device}`),
      ],
    );
    // the key records move with the heads, in the same transaction (one row per keyed device;
    // keys as JSON text: node-postgres has no array-of-arrays parameter)
    const keyed = ds.filter((d) => runs.get(d)!.keys !== undefined);
    if (keyed.length > 0) {
      await client.query(
        `UPDATE devices d SET public_key = u.public_key,
           keys = ARRAY(SELECT jsonb_array_elements_text(u.keys::jsonb)), bound_key = u.bound_key
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(device, public_key, keys, bound_key)
         WHERE d.device = u.device`,
        [
          keyed,
          keyed.map((d) => runs.get(d)!.keys!.publicKey),
          keyed.map((d) => JSON.stringify(runs.get(d)!.keys!.keys)),
          keyed.map((d) => runs.get(d)!.keys!.bound),
        ],
      );
    }
  }
}

/** A promise and the functions that settle it (Node 20 has no Promise.withResolvers before 22). */
interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (err: unknown) => void;
}

function deferred<T = void>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
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
