// The checks the LevelDB hub's appendSealed makes on a sealed batch, in the same order and
// with the same words, split in two: what needs no head (done before any transaction, so
// no lock is held while hashing) and the link to the head (done under the device's lock).
// Also the rows the store writes for a batch that passes, with redaction purges applied.
import { isFieldlogError } from '../../errors.js';
import type { Envelope } from '../../log/envelope.js';
import { applyBatchRedactions, checkEvent as checkSealed } from '../../log/seal.js';

/** What one event's own checks found: a problem, or the canonical texts to store. */
export interface CheckedEvent {
  problem?: string;
  dataJcs: string | null;
  metaJcs: string | null;
}

/** Everything about one event that needs no head: the log's own checks (src/log/seal.ts). */
export function checkEvent(env: Envelope, device: string): CheckedEvent {
  if (env.device !== device)
    return { dataJcs: null, metaJcs: null, problem: 'one call appends to one device' };
  try {
    const { dataJcs, metaJcs } = checkSealed(env, device);
    return { dataJcs, metaJcs };
  } catch (err) {
    // values canonical JSON cannot hold cannot have been hashed: named by their seq too
    const message = (err as Error).message;
    const problem =
      isFieldlogError(err, 'EVENT_INVALID') && message.startsWith('seq ')
        ? message
        : `seq ${env.seq} of ${device}: ${message}`;
    return { dataJcs: null, metaJcs: null, problem };
  }
}

/**
 * The first problem of `fresh` (the batch's events after the head) appended to `head`, as
 * appendSealed words it, or undefined. `checked` holds checkEvent's results for `fresh`.
 */
export function linkProblem(
  device: string,
  head: { seq: number; hash: string },
  fresh: Envelope[],
  checked: CheckedEvent[],
): string | undefined {
  let seq = head.seq;
  let prev = head.hash;
  for (let i = 0; i < fresh.length; i++) {
    const env = fresh[i]!;
    if (env.device !== device) return 'one call appends to one device';
    if (env.seq !== seq + 1) return `seq ${env.seq} does not follow head ${seq} of ${device}`;
    if (env.prev !== prev) return `seq ${env.seq} of ${device} does not link to the head`;
    const p = checked[i]!.problem;
    if (p !== undefined) return p;
    seq = env.seq;
    prev = env.hash;
  }
  return undefined;
}

/**
 * The payload texts to store for `fresh` (a target redacted within the batch is stored
 * purged) and the earlier seqs whose stored payload the batch's EventRedacted purge.
 */
export function applyRedactions(
  fresh: Envelope[],
  checked: CheckedEvent[],
): { datas: (string | null)[]; purges: number[] } {
  const datas = checked.map((c) => c.dataJcs);
  return { datas, purges: applyBatchRedactions(fresh, datas) };
}

/**
 * jsonb cannot hold U+0000 in a string: such a payload keeps its exact text (data_text)
 * and leaves the queryable jsonb column NULL rather than fail the whole transaction.
 */
export function jsonbText(canonical: string | null): string | null {
  if (canonical === null) return null;
  // nearly every payload holds no \u0000 escape at all: nothing for the rule below to find
  if (!canonical.includes('\\u0000')) return canonical;
  return /(^|[^\\])(\\\\)*\\u0000/.test(canonical) ? null : canonical;
}
