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
  /**
   * The same step, in place, on a state the caller owns (a fresh initial state or a
   * parsed snapshot): what long replays use, since copying per event dominates them.
   */
  foldInto?(state: S, event: FoldEvent): void;
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

/** Fold a chunk into a state this fold owns. */
function foldChunk<S>(p: Projection<S>, state: S, chunk: FoldEvent[]): S {
  if (p.foldInto) {
    for (const e of chunk) p.foldInto(state, e);
    return state;
  }
  let s = state;
  for (const e of chunk) s = p.apply(s, e);
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
    // before the anchor (a pruned log) the state as of the anchor is the oldest there is
    const floor = this.log.anchor(this.opts.device)?.seq ?? 0;
    if (at.seq !== undefined) return Math.max(floor, Math.min(at.seq, head));
    if (at.time !== undefined) return Math.max(floor, await this.log.seqAtTime(at.time, this.opts.device));
    return head;
  }

  /** State as of a seq or a time (default: the head). */
  async stateAt(at: AsOf = {}): Promise<Folded<S>> {
    const target = await this.targetSeq(at);
    const snap = await this.log.loadSnapshot(this.key, target, this.opts.device);
    let state = snap ? (snap.state as S) : this.projection.initial();
    const fromSnapshot = snap?.seq ?? 0;
    let seq = fromSnapshot;
    const every = this.every;
    for await (const chunk of this.log.foldChunks({
      device: this.opts.device,
      fromSeq: seq + 1,
      toSeq: target,
    })) {
      // cut the chunk at snapshot boundaries so each snapshot holds the state exactly there
      let from = 0;
      while (from < chunk.length) {
        const boundary = (Math.floor(chunk[from]!.seq / every) + 1) * every;
        let to = from;
        while (to < chunk.length && chunk[to]!.seq < boundary) to++;
        if (to < chunk.length) to++; // include the boundary event itself
        state = foldChunk(
          this.projection,
          state,
          from === 0 && to === chunk.length ? chunk : chunk.slice(from, to),
        );
        seq = chunk[to - 1]!.seq;
        if (seq % every === 0)
          await this.log.saveSnapshot(this.key, seq, JSON.stringify(state), this.opts.device);
        from = to;
      }
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
