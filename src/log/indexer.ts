// The log's two indexes, kept as runs (format 2): a stream's time runs (consecutive seqs
// whose recorded times do not go back, spanning at most RUN_SPAN_MS: one entry for many
// events) and a hub's fleet runs (consecutive fleet positions of one stream's consecutive
// seqs). Writing: extend the open run or close it into the batch; a batch's open runs are
// written with it. Reading: the runs that may hold a time window, the seq at a time, and
// where a fleet position's run starts. Kept apart from the group commit and the reads so
// that both index formats (1's entry per event, 2's runs) are read in one place.
import type { AbstractLevel } from 'abstract-level';
import {
  fleetKey,
  fleetKeyPosition,
  fleetValue,
  fleetValueParts,
  type TimeRun,
  timeKey,
  timeKeyParts,
  timeRunKey,
  timeRunParts,
  timeRunValue,
} from './codec.js';

/** A time run spans at most this long, so a time lookup never scans further back. */
export const RUN_SPAN_MS = 3_600_000;

// biome-ignore lint/suspicious/noExplicitAny: abstract-level's generics vary by implementation
type Db = AbstractLevel<any, Uint8Array, Uint8Array>;

export interface FleetRun {
  position: number;
  stream: number;
  seq: number;
  count: number;
}

export interface IndexOp {
  type: 'put';
  key: Uint8Array;
  value: Uint8Array;
}

/** What the indexer keeps of a stream: its id, its open time run and what is on disk. */
export interface RunStream {
  id: number;
  run: TimeRun | null;
  durableSeq: number;
  /** After a prune: the last seq no longer stored (a run may still reach back before it). */
  anchor?: { seq: number } | null;
}

/** What the indexer adds to a pending batch. */
export interface RunBatch<S extends RunStream> {
  ops: { push(op: IndexOp): unknown };
  /** Streams whose open time run changed in this batch. */
  runs: Set<S>;
  /** The batch's last (open) fleet run. */
  fleetRun: FleetRun | null;
}

function timeRunOp(stream: number, r: TimeRun): IndexOp {
  return {
    type: 'put',
    key: timeRunKey(stream, r.firstMs, r.firstSeq),
    value: timeRunValue(r.lastSeq, r.lastMs),
  };
}

function fleetRunOp(f: FleetRun): IndexOp {
  return { type: 'put', key: fleetKey(f.position), value: fleetValue(f.stream, f.seq, f.count) };
}

export class RunIndexer {
  /** The fleet's last position, including events queued but not yet written. */
  position = 0;
  /** The fleet's last position on disk. */
  durablePosition = 0;

  constructor(readonly fleet: boolean) {}

  /** On open: the fleet's head from its last run. */
  async load(db: Db): Promise<void> {
    if (!this.fleet) return;
    const [entry] = await db
      .iterator({ gte: fleetKey(0), lt: fleetKey(2 ** 48 - 1), reverse: true, limit: 1 })
      .all();
    this.position = this.durablePosition = entry
      ? fleetKeyPosition(entry[0]) + fleetValueParts(entry[1]).count - 1
      : 0;
  }

  /** Index one staged event: its stream's time run, and in a hub its fleet position. */
  add<S extends RunStream>(batch: RunBatch<S>, s: S, seq: number, ms: number): void {
    const r = s.run;
    if (r && seq === r.lastSeq + 1 && ms >= r.lastMs && ms - r.firstMs <= RUN_SPAN_MS) {
      r.lastSeq = seq;
      r.lastMs = ms;
    } else {
      if (r && batch.runs.has(s)) batch.ops.push(timeRunOp(s.id, r));
      s.run = { firstMs: ms, firstSeq: seq, lastMs: ms, lastSeq: seq };
    }
    batch.runs.add(s);
    if (!this.fleet) return;
    this.position++;
    const f = batch.fleetRun;
    if (f && f.stream === s.id && f.seq + f.count === seq) {
      f.count++;
      return;
    }
    if (f) batch.ops.push(fleetRunOp(f));
    batch.fleetRun = { position: this.position, stream: s.id, seq, count: 1 };
  }

  /** The batch's open runs as writes; what each stream's run will be on disk once it is written. */
  close<S extends RunStream>(batch: RunBatch<S>): Map<S, TimeRun> {
    const runs = new Map<S, TimeRun>();
    for (const s of batch.runs) {
      if (!s.run) continue;
      batch.ops.push(timeRunOp(s.id, s.run));
      runs.set(s, { ...s.run });
    }
    if (batch.fleetRun) batch.ops.push(fleetRunOp(batch.fleetRun));
    return runs;
  }

  // ---------------------------------------------------------------- reading

  /**
   * Time runs of one stream that may hold events within [since, until]: format 1's entry
   * per event (exactly those in the range) and format 2's runs (from a run's span before).
   */
  async *timeRuns(db: Db, s: RunStream, since: number, until: number): AsyncGenerator<TimeRun> {
    const ranges = [
      { gte: timeKey(s.id, since, 0), lt: timeKey(s.id, until + 1, 0) },
      { gte: timeRunKey(s.id, Math.max(0, since - RUN_SPAN_MS), 0), lt: timeRunKey(s.id, until + 1, 0) },
    ];
    for (const range of ranges) {
      const it = db.iterator(range);
      try {
        for (;;) {
          const chunk = await it.nextv(1000);
          if (chunk.length === 0) break;
          for (const [k, v] of chunk) {
            const run = timeRunParts(k, v);
            if (run.lastMs >= since && run.firstSeq <= s.durableSeq) yield run;
          }
        }
      } finally {
        await it.close().catch(() => {});
      }
    }
  }

  /**
   * The smallest seq range holding every event recorded within [since, until] (it may
   * hold others too: filter by time while reading); undefined when there are none.
   */
  async timeBounds(
    db: Db,
    s: RunStream,
    since: number,
    until: number,
  ): Promise<{ fromSeq: number; toSeq: number } | undefined> {
    if (until < since) return undefined;
    let fromSeq = Number.POSITIVE_INFINITY;
    let toSeq = 0;
    for await (const run of this.timeRuns(db, s, since, until)) {
      fromSeq = Math.min(fromSeq, run.firstSeq);
      toSeq = Math.max(toSeq, Math.min(run.lastSeq, s.durableSeq));
    }
    return toSeq === 0 ? undefined : { fromSeq, toSeq };
  }

  /**
   * The seq of the latest event (by recorded time) at or before `ms`; 0 if none.
   * `timeOf` reads one event's recorded time (for a bisection within a run).
   */
  async seqAtTime(
    db: Db,
    s: RunStream,
    ms: number,
    timeOf: (seq: number) => Promise<number>,
  ): Promise<number> {
    // format 1's entries are single events in (time, seq) order: the last one wins
    const [v1] = await db
      .keys({ gte: timeKey(s.id, 0, 0), lt: timeKey(s.id, ms + 1, 0), reverse: true, limit: 1 })
      .all();
    let best = { ms: -1, seq: 0 };
    if (v1) {
      const { ms: at, seq } = timeKeyParts(v1);
      if (seq <= s.durableSeq) best = { ms: at, seq };
    }
    const it = db.iterator({ gte: timeRunKey(s.id, 0, 0), lt: timeRunKey(s.id, ms + 1, 0), reverse: true });
    try {
      for (;;) {
        const chunk = await it.nextv(100);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) {
          const run = timeRunParts(k, v);
          // a run's events all lie within RUN_SPAN_MS of its first: older runs cannot win
          if (run.firstMs + RUN_SPAN_MS < best.ms) return best.seq;
          const last = Math.min(run.lastSeq, s.durableSeq);
          // a run reaching back before the anchor is read from the first event still stored
          const floor = s.anchor?.seq ?? 0;
          const first = Math.max(run.firstSeq, floor + 1);
          if (last < first) continue;
          let cand = { ms: run.firstMs, seq: run.firstSeq };
          if (run.lastMs <= ms && last === run.lastSeq) cand = { ms: run.lastMs, seq: last };
          else {
            // times never fall within a run: the last event at or before `ms` by bisection
            let lo = first;
            let hi = last;
            while (lo < hi) {
              const mid = Math.ceil((lo + hi) / 2);
              if ((await timeOf(mid)) <= ms) lo = mid;
              else hi = mid - 1;
            }
            const at = await timeOf(lo);
            // only pruned events were at or before `ms`: the anchor is the latest there is
            cand = at <= ms || first === run.firstSeq ? { ms: at, seq: lo } : { ms: run.firstMs, seq: floor };
          }
          if (cand.ms > best.ms || (cand.ms === best.ms && cand.seq > best.seq)) best = cand;
        }
      }
    } finally {
      await it.close();
    }
    return best.seq;
  }

  /** The fleet runs covering positions [from, to], in order: each run's first position and parts. */
  async *fleetRuns(
    db: Db,
    from: number,
    to: number,
  ): AsyncGenerator<{ position: number; stream: number; seq: number; count: number }> {
    // the run holding `from` may start before it
    const before = await db.keys({ gte: fleetKey(0), lte: fleetKey(from), reverse: true, limit: 1 }).all();
    const start = before[0] ? fleetKeyPosition(before[0]) : from;
    const it = db.iterator({ gte: fleetKey(start), lte: fleetKey(to) });
    try {
      for (;;) {
        const chunk = await it.nextv(1000);
        if (chunk.length === 0) break;
        for (const [k, v] of chunk) yield { position: fleetKeyPosition(k), ...fleetValueParts(v) };
      }
    } finally {
      await it.close().catch(() => {});
    }
  }
}
