// The checks the LevelDB hub's appendSealed makes on a sealed batch, in the same order and
// with the same words, split in two: what needs no head (done before any transaction, so
// no lock is held while hashing) and the link to the head (done under the device's lock).
// Also the rows the store writes for a batch that passes, with redaction purges applied.
import {
  canonicalHeader,
  dataSizeProblem,
  type Envelope,
  isHex64,
  isSig,
  jcs,
  nonStringMetaKey,
  parseTime,
  sha256hex,
} from '../../log/envelope.js';
import { payloadProblem } from '../../log/events.js';
import { purgeTarget } from '../../log/redaction.js';

/** What one event's own checks found: a problem, or the canonical texts to store. */
export interface CheckedEvent {
  problem?: string;
  dataJcs: string | null;
  metaJcs: string | null;
}

/** Everything about one event that needs no head (appendSealed's order of checks). */
export function checkEvent(env: Envelope, device: string): CheckedEvent {
  const out: CheckedEvent = { dataJcs: null, metaJcs: null };
  try {
    if (env.device !== device) return { ...out, problem: 'one call appends to one device' };
    const at = `seq ${env.seq} of ${device}`;
    const wrong = env.data === null ? undefined : payloadProblem(env.type, env.data);
    if (wrong !== undefined) return { ...out, problem: `${at}: ${wrong}` };
    const dataJcs = env.data === null ? null : jcs(env.data);
    if (dataJcs !== null && sha256hex(dataJcs) !== env.digest)
      return { ...out, problem: `${at}: data does not match its digest` };
    if (dataJcs === null && !isHex64(env.digest))
      return { ...out, problem: `${at}: digest is not 64 hex digits` };
    if (env.sig !== undefined && (typeof env.sig !== 'string' || !isSig(env.sig)))
      return { ...out, problem: `${at}: sig is not 88 characters of padded base64` };
    const badMeta = env.meta === undefined ? undefined : nonStringMetaKey(env.meta);
    if (badMeta !== undefined) return { ...out, problem: `${at}: meta.${badMeta} must be a string` };
    const metaJcs = env.meta === undefined ? null : jcs(env.meta);
    if (sha256hex(canonicalHeader(env, metaJcs ?? undefined)) !== env.hash)
      return { ...out, problem: `${at}: hash mismatch` };
    if (dataJcs !== null) {
      const tooBig = dataSizeProblem(dataJcs);
      if (tooBig !== undefined) return { ...out, problem: `${at}: ${tooBig}` };
    }
    try {
      parseTime(env.time);
    } catch (err) {
      return { ...out, problem: `${at}: ${(err as Error).message}` };
    }
    return { dataJcs, metaJcs };
  } catch (err) {
    // values canonical JSON cannot hold cannot have been hashed
    return { ...out, problem: `seq ${env.seq} of ${device}: ${(err as Error).message}` };
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
  const purges: number[] = [];
  const first = fresh[0]!.seq;
  for (const env of fresh) {
    const target = purgeTarget(env.type, env.seq, env.data);
    if (target === null) continue;
    if (target >= first) {
      if (fresh[target - first]!.type !== 'EventRedacted') datas[target - first] = null;
    } else purges.push(target);
  }
  return { datas, purges };
}

/**
 * jsonb cannot hold U+0000 in a string: such a payload keeps its exact text (data_text)
 * and leaves the queryable jsonb column NULL rather than fail the whole transaction.
 */
export function jsonbText(canonical: string | null): string | null {
  if (canonical === null) return null;
  return /(^|[^\\])(\\\\)*\\u0000/.test(canonical) ? null : canonical;
}
