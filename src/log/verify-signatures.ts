// The signature half of verifying a stored log (docs/protocol.md §6, steps 9–11): every
// event fed to KeyChain (signing.ts) in seq order, its problems reported with their seqs, and
// at the end where the signed history stops: the events after the last valid signature are
// `unsigned-tail`, and a key the verifier was told to expect (`--keys`) that the log never
// held is `key-unknown`. A log with no key event and no signature is an old, unsigned log:
// reported as such, never as a problem.
import { fingerprint, KeyChain, type KeyProblem } from './signing.js';
import type { Problem } from './verify.js';

/** What a verify says of the signatures, beside its problems. */
export interface SignatureSummary {
  /** The key in force at the head (null: the log has none). */
  publicKey: string | null;
  fingerprint: string | null;
  /** How many keys the log has held. */
  keys: number;
  /** Seq of the last event with a valid signature (0: none). */
  lastSigned: number;
  /** Events after the last signature (null when the head is signed, or the log has no key). */
  unsignedTail: { from: number; to: number } | null;
}

export interface SignatureCheckOptions {
  /** The key a keys file names for this device: the log must hold it. */
  expectKey?: string;
}

/** Where a check starts after a prune: the chain of keys as of the anchor (prune.ts). */
export interface AnchorKeys {
  seq: number;
  publicKey: string | null;
  /** Every key held up to the anchor, in order. */
  held: string[];
}

export class SignatureCheck {
  private readonly chain: KeyChain;
  private readonly problems: Problem[] = [];
  private firstKeySeq = 0;
  private last = 0;
  private signatures = 0;

  constructor(
    private readonly opts: SignatureCheckOptions = {},
    from?: AnchorKeys,
  ) {
    this.chain = new KeyChain(from === undefined ? undefined : { publicKey: from.publicKey, seq: from.seq });
    if (from !== undefined) {
      this.last = from.seq;
      // the keys held before the anchor, in the order they came (a --keys key may be an old one)
      const keys = this.chain.keys;
      keys.splice(0, keys.length, ...from.held);
      if (from.publicKey !== null && !keys.includes(from.publicKey)) keys.push(from.publicKey);
    }
  }

  feed(e: {
    seq: number;
    type: string;
    data: Record<string, unknown> | null;
    hash: string;
    sig?: string;
  }): void {
    this.last = e.seq;
    if (e.sig !== undefined) this.signatures++;
    if (this.firstKeySeq === 0 && (e.type === 'DeviceKeyAdded' || e.type === 'DeviceKeyRotated'))
      this.firstKeySeq = e.seq;
    const v = this.chain.feed(e);
    if (v.problem !== undefined) this.report(e.seq, v.problem, v.detail);
  }

  private report(seq: number, reason: KeyProblem | 'unsigned-tail', detail?: string): void {
    this.problems.push(detail === undefined ? { seq, reason } : { seq, reason, detail });
  }

  /** The problems found (to merge with the chain's) and the summary. */
  finish(): { problems: Problem[]; summary: SignatureSummary | null } {
    const key = this.chain.key;
    const expect = this.opts.expectKey;
    if (expect !== undefined && !this.chain.keys.includes(expect)) {
      const held = this.chain.keys.map(fingerprint).join(', ');
      this.report(
        this.firstKeySeq || Math.min(1, this.last),
        'key-unknown',
        held === ''
          ? `the keys file names ${fingerprint(expect)} but the log has no key event`
          : `the keys file names ${fingerprint(expect)}; the log's keys are ${held}`,
      );
    }
    // an old log: no key, no signature, nothing expected
    if (this.chain.keys.length === 0 && this.signatures === 0)
      return { problems: this.problems, summary: null };
    const lastSigned = this.chain.lastSigned;
    const unsignedTail =
      lastSigned < this.last ? { from: Math.max(lastSigned, this.firstKeySeq - 1) + 1, to: this.last } : null;
    if (unsignedTail !== null && unsignedTail.from <= unsignedTail.to)
      this.report(
        unsignedTail.from,
        'unsigned-tail',
        `events ${unsignedTail.from}..${unsignedTail.to} come after the last valid signature${lastSigned ? ` (seq ${lastSigned})` : ''}`,
      );
    return {
      problems: this.problems,
      summary: {
        publicKey: key,
        fingerprint: key === null ? null : fingerprint(key),
        keys: this.chain.keys.length,
        lastSigned,
        unsignedTail,
      },
    };
  }
}
