// Chain verification: one pass over a device's events in seq order that reports every
// problem with its seq and a reason. Used on stored logs, on envelopes arriving at the
// hub, and on exported NDJSON.
import { digestOf, type Envelope, hashOf, ZERO_HASH } from './envelope.js';
import type { SignatureSummary } from './verify-signatures.js';

export type ProblemReason =
  | 'undecodable'
  | 'gap'
  | 'out-of-order'
  | 'wrong-device'
  | 'broken-link'
  | 'digest-mismatch'
  | 'hash-mismatch'
  | 'redaction-unrecorded'
  | 'redaction-not-applied'
  | 'redaction-invalid'
  | 'bad-signature'
  | 'key-change-unsigned'
  | 'key-unknown'
  | 'unsigned-tail';

export interface Problem {
  seq: number;
  reason: ProblemReason;
  detail?: string;
}

export interface VerifyReport {
  ok: boolean;
  events: number;
  head: { seq: number; hash: string };
  errors: Problem[];
  /** When signatures were checked: null for an old log with no device key (verify-signatures.ts). */
  signatures?: SignatureSummary | null;
  /**
   * A pruned log: the chain starts after this event (its seq and hash), not at seq 1, with
   * this key in force (null: none) — what a verifier of the kept events starts from.
   */
  anchor?: { seq: number; hash: string; publicKey?: string | null };
}

/** What a checker found out about one event, for the verifier's bookkeeping. */
export interface Observation {
  seq: number;
  type: string;
  /** The event's own hash (hex), which the next event must link to. */
  hash: string;
  /** Whether `prev` matched the previous hash; null when that cannot be known. */
  linked: boolean | null;
  /** Whether the content matched the hash; null when not checkable. */
  hashOk: boolean | null;
  digestOk?: boolean;
  /** The payload is gone (redacted). */
  purged: boolean;
  /** For an EventRedacted: the seq it names (NaN when it names none). */
  redactionTarget?: number;
  /** For a ReadingsPurged: the range it names (NaN when it names none). */
  purgeRange?: PurgeRange;
  device?: string;
  /** Set when the content could not be hashed at all. */
  undecodable?: string;
}

/**
 * Feed events of one device in seq order; `problems` collects what is wrong. After an
 * error the verifier resynchronises on the event's own hash, so one bad event is
 * reported once and the events after it are still checked.
 */
export class ChainVerifier {
  readonly problems: Problem[] = [];
  events = 0;
  lastSeq = 0;
  lastHash: string | null = ZERO_HASH;
  private device: string | undefined;
  /** Purged events no EventRedacted or ReadingsPurged has covered yet: seq -> type. */
  private readonly purged = new Map<number, string>();
  private readonly redactions = new Map<number, number>(); // target seq -> EventRedacted seq
  private readonly maxProblems: number;
  private readonly firstSeq: number;

  constructor(opts: { device?: string; from?: { seq: number; hash: string }; maxProblems?: number } = {}) {
    this.device = opts.device;
    if (opts.from) {
      this.lastSeq = opts.from.seq;
      this.lastHash = opts.from.hash;
    }
    this.firstSeq = this.lastSeq;
    this.maxProblems = opts.maxProblems ?? 10_000;
  }

  report(seq: number, reason: ProblemReason, detail?: string): void {
    if (this.problems.length < this.maxProblems) {
      this.problems.push(detail === undefined ? { seq, reason } : { seq, reason, detail });
    }
  }

  /** Whether `seq` follows the last one; a gap makes the previous hash unknown. */
  follows(seq: number): boolean {
    return seq === this.lastSeq + 1 && this.lastHash !== null;
  }

  /** A record that could not be decoded at all: the link after it cannot be checked. */
  undecodable(seq: number, detail: string): void {
    this.expectSeq(seq);
    this.events++;
    this.report(seq, 'undecodable', detail);
    this.lastHash = null;
  }

  private expectSeq(seq: number): void {
    if (seq === this.lastSeq + 1) {
      this.lastSeq = seq;
      return;
    }
    if (seq <= this.lastSeq) {
      this.report(seq, 'out-of-order', `after seq ${this.lastSeq}`);
    } else {
      this.report(seq, 'gap', `seqs ${this.lastSeq + 1}..${seq - 1} are missing`);
      this.lastHash = null; // the link across a gap cannot be checked
    }
    this.lastSeq = Math.max(seq, this.lastSeq);
  }

  /** Record what was found about one event. Returns true when it verified. */
  observe(o: Observation): boolean {
    const before = this.problems.length;
    if (o.device !== undefined) {
      this.device ??= o.device;
      if (o.device !== this.device) this.report(o.seq, 'wrong-device', o.device);
    }
    this.expectSeq(o.seq);
    this.events++;
    if (o.undecodable !== undefined) {
      this.report(o.seq, 'undecodable', o.undecodable);
    } else {
      if (o.linked === false)
        this.report(o.seq, 'broken-link', 'prev does not match the hash of the event before');
      if (o.digestOk === false) this.report(o.seq, 'digest-mismatch', 'data does not match its digest');
      if (o.linked !== false && o.hashOk === false)
        this.report(o.seq, 'hash-mismatch', 'content does not match its hash');
    }
    if (o.purged && !this.redactions.has(o.seq)) this.purged.set(o.seq, o.type);
    if (o.redactionTarget !== undefined) this.noteRedaction(o.seq, o.redactionTarget);
    if (o.purgeRange !== undefined) this.notePurge(o.seq, o.purgeRange);
    this.lastHash = o.hash;
    return this.problems.length === before;
  }

  /** Check a complete envelope (hub ingest, exported NDJSON). */
  push(env: Envelope): boolean {
    const known = this.follows(env.seq);
    const o: Observation = {
      seq: env.seq,
      type: env.type,
      hash: env.hash,
      device: env.device,
      linked: known ? env.prev === this.lastHash : null,
      hashOk: null,
      purged: env.data === null,
    };
    try {
      if (env.data !== null) o.digestOk = digestOf(env.data) === env.digest;
      o.hashOk = hashOf(env) === env.hash;
    } catch (err) {
      // values no canonical JSON can hold (NaN, lone surrogates) cannot have been hashed
      o.undecodable = (err as Error).message;
    }
    if (env.type === 'EventRedacted' && env.data !== null) o.redactionTarget = redactionTarget(env.data);
    if (env.type === 'ReadingsPurged' && env.data !== null) o.purgeRange = purgeRange(env.data);
    return this.observe(o);
  }

  /**
   * A ReadingsPurged covers the purged ReadingRecorded payloads of its range (docs/protocol.md
   * §5.1, §6). A payload still there is no error: a copy taken before the purge (the hub's) keeps it.
   */
  private notePurge(seq: number, r: PurgeRange): void {
    if (
      !Number.isInteger(r.fromSeq) ||
      !Number.isInteger(r.toSeq) ||
      r.fromSeq < 1 ||
      r.fromSeq > r.toSeq ||
      r.toSeq >= seq
    ) {
      this.report(seq, 'redaction-invalid', 'ReadingsPurged must name an earlier range fromSeq..toSeq');
      return;
    }
    for (const [target, type] of this.purged)
      if (type === 'ReadingRecorded' && target >= r.fromSeq && target <= r.toSeq) this.purged.delete(target);
  }

  private noteRedaction(seq: number, target: number): void {
    if (!Number.isInteger(target) || target < 1 || target >= seq) {
      this.report(seq, 'redaction-invalid', 'EventRedacted must name an earlier seq');
      return;
    }
    if (this.redactions.has(target)) {
      this.report(seq, 'redaction-invalid', `seq ${target} was already redacted`);
      return;
    }
    this.redactions.set(target, seq);
    // Only events this pass has seen can be judged; the purged set holds them all.
    if (!this.purged.delete(target) && target > this.firstSeq) {
      this.report(
        target,
        'redaction-not-applied',
        `EventRedacted at seq ${seq} but the payload is still there`,
      );
    }
  }

  finish(): Problem[] {
    for (const seq of this.purged.keys())
      this.report(seq, 'redaction-unrecorded', 'payload purged without an EventRedacted or a ReadingsPurged');
    this.purged.clear();
    this.problems.sort((a, b) => a.seq - b.seq);
    return this.problems;
  }
}

export interface PurgeRange {
  fromSeq: number;
  toSeq: number;
}

/** The range a ReadingsPurged payload names (NaN where it names none). */
export function purgeRange(data: Record<string, unknown>): PurgeRange {
  const n = (v: unknown) => (typeof v === 'number' ? v : Number.NaN);
  return { fromSeq: n(data.fromSeq), toSeq: n(data.toSeq) };
}

/** The seq an EventRedacted payload names, or NaN. */
export function redactionTarget(data: Record<string, unknown>): number {
  return typeof data.seq === 'number' ? data.seq : Number.NaN;
}
