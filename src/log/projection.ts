// Projections: state is a fold of events with a pure reducer. A Projector folds a
// stream up to a seq or a time, starting from the newest snapshot that still matches
// the chain, writes snapshots every N events as it passes them, and answers what-if
// questions by folding hypothetical events in memory without writing them.
import type { EventInput } from './envelope.js';
import type { EventLog, FoldEvent } from './event-log.js';

export interface Projection<S> {
  /** Stable name; with `version`, it keys the snapshots. */
  readonly name: string;
  /** Bump when `apply` changes meaning: older snapshots are then ignored. */
  readonly version: number;
  initial(): S;
  /** Pure: returns the next state and leaves `state` as it was. */
  apply(state: S, event: FoldEvent): S;
}

export interface Folded<S> {
  state: S;
  /** The last seq folded in (0: none). */
  seq: number;
  /** Where the fold started from a snapshot, its seq. */
  fromSnapshot: number;
}

export interface AsOf {
  seq?: number;
  time?: string | number;
}

export function foldAll<S>(p: Projection<S>, events: Iterable<FoldEvent>, from: S = p.initial()): S {
  let s = from;
  for (const e of events) s = p.apply(s, e);
  return s;
}

export class Projector<S> {
  private readonly key: string;
  constructor(
    readonly log: EventLog,
    readonly projection: Projection<S>,
    readonly opts: { device?: string; snapshotEvery?: number } = {},
  ) {
    this.key = `${projection.name}@${projection.version}`;
  }

  private get every(): number {
    return this.opts.snapshotEvery ?? 10_000;
  }

  /** Resolve an as-of target to a seq within the stream's durable head. */
  async targetSeq(at: AsOf = {}): Promise<number> {
    const head = this.log.head(this.opts.device).seq;
    if (at.seq !== undefined) return Math.max(0, Math.min(at.seq, head));
    if (at.time !== undefined) return this.log.seqAtTime(at.time, this.opts.device);
    return head;
  }

  /** State as of a seq or a time (default: the head). */
  async stateAt(at: AsOf = {}): Promise<Folded<S>> {
    const target = await this.targetSeq(at);
    const snap = await this.log.loadSnapshot(this.key, target, this.opts.device);
    let state = snap ? (snap.state as S) : this.projection.initial();
    const fromSnapshot = snap?.seq ?? 0;
    let seq = fromSnapshot;
    for await (const e of this.log.foldEvents({
      device: this.opts.device,
      fromSeq: seq + 1,
      toSeq: target,
    })) {
      state = this.projection.apply(state, e);
      seq = e.seq;
      if (seq % this.every === 0)
        await this.log.saveSnapshot(this.key, seq, JSON.stringify(state), this.opts.device);
    }
    return { state, seq, fromSnapshot };
  }

  /**
   * Fold the real history up to `at`, then the hypothetical events, in memory. Nothing is
   * written; hypothetical events get the seqs and times that would follow.
   */
  async whatIf(hypothetical: EventInput[], at: AsOf = {}): Promise<Folded<S>> {
    const base = await this.stateAt(at);
    let { state, seq } = base;
    let timeMs = Date.now();
    for (const h of hypothetical) {
      seq++;
      timeMs++;
      const e: FoldEvent = {
        seq,
        type: h.type,
        timeMs,
        time: new Date(timeMs).toISOString(),
        boot: 'what-if',
        mono: 0,
        data: h.data,
      };
      if (h.meta) e.meta = h.meta;
      state = this.projection.apply(state, e);
    }
    return { state, seq, fromSnapshot: base.fromSnapshot };
  }
}
