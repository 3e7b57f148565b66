// Chain verification: one pass over a device's events in seq order that reports every
// problem with its seq and a reason. Used on stored logs, on envelopes arriving at the
// hub, and on exported NDJSON.
import { digestOf, type Envelope, hashOf, ZERO_HASH } from './envelope.js';

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
  | 'redaction-invalid';

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
}

export interface CheckOptions {
  /** The stored form derives `digest` from `data`: nothing to compare. */
  digestDerived?: boolean;
  /** For stored records: whether the stored tag of `prev` matched the previous hash. */
  linkOk?: boolean;
  /** The previous hash is not known (stored records after a gap): skip link and hash. */
  prevUnknown?: boolean;
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
  private readonly purged = new Set<number>();
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

  /** Returns true when the event verified. */
  push(env: Envelope, opts: CheckOptions = {}): boolean {
    const before = this.problems.length;
    this.device ??= env.device;
    if (env.device !== this.device) this.report(env.seq, 'wrong-device', env.device);
    this.expectSeq(env.seq);
    this.events++;
    let linked = true;
    if (opts.prevUnknown) {
      linked = false;
    } else if (opts.linkOk === false || (this.lastHash !== null && env.prev !== this.lastHash)) {
      this.report(env.seq, 'broken-link', 'prev does not match the hash of the event before');
      linked = false;
    }
    try {
      if (env.data === null) {
        if (!this.redactions.has(env.seq)) this.purged.add(env.seq);
      } else if (!opts.digestDerived && digestOf(env.data) !== env.digest) {
        this.report(env.seq, 'digest-mismatch', 'data does not match its digest');
      }
      if (linked && hashOf(env) !== env.hash) this.report(env.seq, 'hash-mismatch', 'content does not match its hash');
    } catch (err) {
      // values no canonical JSON can hold (NaN, lone surrogates) cannot have been hashed
      this.report(env.seq, 'undecodable', (err as Error).message);
    }
    if (env.type === 'EventRedacted') this.noteRedaction(env);
    this.lastHash = env.hash;
    return this.problems.length === before;
  }

  private noteRedaction(env: Envelope): void {
    const target = env.data?.seq;
    if (env.data === null) return; // a redacted redaction cannot be read; verify reports the purge
    if (typeof target !== 'number' || !Number.isInteger(target) || target < 1 || target >= env.seq) {
      this.report(env.seq, 'redaction-invalid', 'EventRedacted must name an earlier seq');
      return;
    }
    if (this.redactions.has(target)) {
      this.report(env.seq, 'redaction-invalid', `seq ${target} was already redacted`);
      return;
    }
    this.redactions.set(target, env.seq);
    // Only events this pass has seen can be judged; the purged set holds them all.
    if (!this.purged.delete(target) && target > this.firstSeq) {
      this.report(
        target,
        'redaction-not-applied',
        `EventRedacted at seq ${env.seq} but the payload is still there`,
      );
    }
  }

  finish(): Problem[] {
    for (const seq of this.purged)
      this.report(seq, 'redaction-unrecorded', 'payload purged without an EventRedacted');
    this.purged.clear();
    this.problems.sort((a, b) => a.seq - b.seq);
    return this.problems;
  }
}
