// Sealing and checking events, with no database: `seal` turns a device's input into the
// envelope it will publish and the record it will store, given the stream's head, a clock
// and the boot id; `check` is what a hub does with envelopes sealed elsewhere before it
// stores them (every link, digest and hash recomputed). Both are pure so they can be
// property-tested on their own, and so every store (LevelDB, PostgreSQL) shares one copy.
import { fail } from '../errors.js';
import { encodeText, LINK_TAG_BYTES, type StoredRecord } from './codec.js';
import {
  canonicalHeader,
  dataSizeProblem,
  type Envelope,
  type EventInput,
  type EventMeta,
  formatTime,
  isActor,
  isHex64,
  isSig,
  jcs,
  metaJcsOf,
  nonStringMetaKey,
  parseTime,
  plainHeader,
  sha256hex,
  ZERO_HASH,
} from './envelope.js';
import { payloadProblem } from './events.js';
import { purgeTarget } from './redaction.js';

/** What sealing needs of a stream: its name and head (hash as bytes; all zeros before seq 1). */
export interface SealHead {
  device: string;
  seq: number;
  hash: Uint8Array;
}

export interface SealClock {
  /** Wall clock, ms since the epoch. */
  now(): number;
  /** Monotonic ms since this process started. */
  mono(): number;
}

export interface Sealed {
  env: Envelope;
  rec: StoredRecord;
}

/** Envelopes that passed `check`, with what the checks computed for their records. */
export interface CheckedBatch {
  envelopes: Envelope[];
  /** Canonical payload text as it is to be stored; null when purged (as given or by the batch). */
  datas: (string | null)[];
  metas: (string | null)[];
  times: number[];
  /** Earlier events (already staged or stored) that EventRedacted events of the batch purge. */
  purges: number[];
}

const TYPE_RE = /^[A-Z][A-Za-z0-9]{0,63}$/;

function hexOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/**
 * Seal one input on top of `head`: seq, time, boot, mono, digest, prev and hash. Throws
 * EVENT_INVALID for a bad input; `head` is not changed (the caller moves it).
 */
export function seal(input: EventInput, head: SealHead, clock: SealClock, boot: string): Sealed {
  if (typeof input !== 'object' || input === null) throw fail('EVENT_INVALID', 'an event must be an object');
  if (typeof input.type !== 'string' || !TYPE_RE.test(input.type)) {
    throw fail(
      'EVENT_INVALID',
      `event type "${String(input.type)}" must be PascalCase, at most 64 characters`,
    );
  }
  const data = input.data;
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw fail('EVENT_INVALID', 'event data must be a JSON object');
  }
  const wrong = payloadProblem(input.type, data);
  if (wrong !== undefined) throw fail('EVENT_INVALID', wrong);
  const dataJcs = jcs(data);
  const tooBig = dataSizeProblem(dataJcs);
  if (tooBig !== undefined) throw fail('EVENT_INVALID', `event ${tooBig}`);
  const dataBytes = encodeText(dataJcs);
  // the writer omits an empty meta (docs/protocol.md 2.1): `{}` and no meta are one fact
  const meta = input.meta === undefined || isEmptyMeta(input.meta) ? undefined : input.meta;
  const metaJcs = meta === undefined ? null : checkMeta(meta);
  const timeMs = Math.trunc(clock.now());
  const env: Envelope = {
    device: head.device,
    seq: head.seq + 1,
    type: input.type,
    time: formatTime(timeMs),
    boot,
    mono: clock.mono(),
    data,
    digest: sha256hex(dataBytes),
    prev: head.seq === 0 ? ZERO_HASH : hexOf(head.hash),
    hash: '',
  };
  if (meta !== undefined) env.meta = meta;
  env.hash = sha256hex(canonicalHeader(env, metaJcs ?? undefined));
  const rec: StoredRecord = {
    type: env.type,
    timeMs,
    boot: env.boot,
    mono: env.mono,
    linkTag: head.hash.subarray(0, LINK_TAG_BYTES),
    hash: new Uint8Array(Buffer.from(env.hash, 'hex')),
    digest: null,
    sig: null,
    metaJcs,
    data: dataBytes,
  };
  return { env, rec };
}

/**
 * Check envelopes sealed elsewhere (one device, consecutive) against that device's head
 * (`{ seq: 0, hash: ZERO_HASH }` for a device not seen yet). Each must follow exactly and
 * verify; the first that does not throws CHAIN_BROKEN / EVENT_INVALID naming its seq.
 * An EventRedacted purges its target: within the batch (its `datas` entry is null) or an
 * earlier event (listed in `purges`).
 */
export function check(envelopes: Envelope[], head: { seq: number; hash: string }): CheckedBatch {
  if (envelopes.length === 0) throw fail('EVENT_INVALID', 'nothing to append');
  const device = envelopes[0]!.device;
  let seq = head.seq;
  let prev = head.seq > 0 ? head.hash : ZERO_HASH;
  const n = envelopes.length;
  const checked: CheckedBatch = {
    envelopes,
    datas: new Array(n),
    metas: new Array(n),
    times: new Array(n),
    purges: [],
  };
  for (let i = 0; i < n; i++) {
    const env = envelopes[i]!;
    if (env.device !== device) throw fail('EVENT_INVALID', 'one call appends to one device');
    if (env.seq !== seq + 1)
      throw fail('CHAIN_BROKEN', `seq ${env.seq} does not follow head ${seq} of ${device}`);
    if (env.prev !== prev)
      throw fail('CHAIN_BROKEN', `seq ${env.seq} of ${device} does not link to the head`);
    const c = checkEvent(env, device);
    checked.datas[i] = c.dataJcs;
    checked.metas[i] = c.metaJcs;
    checked.times[i] = c.timeMs;
    seq = env.seq;
    prev = env.hash;
  }
  checked.purges = applyBatchRedactions(envelopes, checked.datas);
  return checked;
}

/** What one sealed event's own checks computed: its canonical texts and its time. */
export interface CheckedEvent {
  dataJcs: string | null;
  metaJcs: string | null;
  timeMs: number;
}

/**
 * The checks of one sealed event that need no head (payload schema, digest, shape, hash,
 * size, time), in the order `check` makes them; EVENT_INVALID naming the seq otherwise.
 * A store that links under a lock (PostgreSQL) runs these before taking it.
 */
export function checkEvent(env: Envelope, device: string): CheckedEvent {
  // a redacted event (data null) has no payload left to check
  const wrong = env.data === null ? undefined : payloadProblem(env.type, env.data);
  if (wrong !== undefined) throw invalidEvent(env, device, wrong);
  // a digest a short envelope left out was made from this very payload (restoreDigest)
  const d = (env as Restored)[RESTORED];
  const derived = d !== undefined && d.data === env.data ? d.jcs : undefined;
  const dataJcs = env.data === null ? null : (derived ?? jcs(env.data));
  if (dataJcs !== null && derived === undefined && sha256hex(dataJcs) !== env.digest) {
    throw invalidEvent(env, device, 'data does not match its digest');
  }
  // a purged payload's digest is stored as it came: it must at least be a digest
  if (dataJcs === null && !isHex64(env.digest)) {
    throw invalidEvent(env, device, 'digest is not 64 hex digits');
  }
  // what the message check already refused, for any other caller: stored, these would not read back as given
  if (env.sig !== undefined && (typeof env.sig !== 'string' || !isSig(env.sig)))
    throw invalidEvent(env, device, 'sig is not 88 characters of padded base64');
  const badMeta = env.meta === undefined ? undefined : nonStringMetaKey(env.meta);
  if (badMeta !== undefined) throw invalidEvent(env, device, `meta.${badMeta} must be a string`);
  const metaJcs = env.meta === undefined ? null : metaJcsOf(env.meta);
  const timeMs = storableTime(env, device);
  // the digest is 64 hex digits (ours, or checked above) and the time parsed: the header
  // needs no escaping when prev is known too (the hash this checked last, in a chain)
  const plain = (env.prev === lastHash || isHex64(env.prev)) && Number.isSafeInteger(env.seq);
  const header = plain ? plainHeader(env, metaJcs ?? undefined) : canonicalHeader(env, metaJcs ?? undefined);
  if (sha256hex(header) !== env.hash) throw invalidEvent(env, device, 'hash mismatch');
  lastHash = env.hash;
  if (dataJcs !== null) {
    const tooBig = dataSizeProblem(dataJcs);
    if (tooBig !== undefined) throw invalidEvent(env, device, tooBig);
  }
  return { dataJcs, metaJcs, timeMs };
}

/**
 * On an envelope whose digest was made here (restoreDigest): the payload it was made from and
 * its canonical text, so that checkEvent neither writes the payload out nor hashes it again.
 * A symbol key: JSON and the key checks do not see it. A copy of the envelope with another
 * payload (a purge) carries it along, so it counts only while `data` is that same object.
 * (A WeakMap cost the hub 0.3 µs per event.)
 */
const RESTORED = Symbol('restored digest');
type Restored = { [RESTORED]?: { data: unknown; jcs: string } };

/**
 * Give an envelope that left out its `digest` (a short envelope, docs/protocol.md §10.7) the
 * digest of its payload, `data` being a JSON object: SHA-256 of JCS(data). Its hash covers the
 * digest, so checkEvent still proves that the device wrote that payload.
 */
export function restoreDigest(env: { data: object; digest?: unknown }): void {
  const dataJcs = jcs(env.data);
  env.digest = sha256hex(dataJcs);
  (env as Restored)[RESTORED] = { data: env.data, jcs: dataJcs };
}

/** The hash of the last event checkEvent verified: 64 hex digits, ours (ZERO_HASH at first). */
let lastHash = ZERO_HASH;

/** EVENT_INVALID naming the event; its text is made only for the refusal (not for every event checked). */
function invalidEvent(env: Envelope, device: string, what: string): Error {
  return fail('EVENT_INVALID', `seq ${env.seq} of ${device}: ${what}`);
}

/**
 * An EventRedacted purges its target in the same write: a target in the batch is stored
 * purged (`datas` set to null, unless it is itself an EventRedacted); the earlier seqs
 * (already stored) whose payload the batch purges are returned.
 */
export function applyBatchRedactions(envelopes: Envelope[], datas: (string | null)[]): number[] {
  const purges: number[] = [];
  const first = envelopes[0]!.seq;
  for (const env of envelopes) {
    const target = purgeTarget(env.type, env.seq, env.data);
    if (target === null) continue;
    if (target >= first) {
      if (envelopes[target - first]!.type !== 'EventRedacted') datas[target - first] = null;
    } else purges.push(target);
  }
  return purges;
}

/** Validate meta; returns its canonical JSON. */
export function checkMeta(meta: EventMeta): string {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
    throw fail('EVENT_INVALID', 'meta must be an object');
  const key = nonStringMetaKey(meta);
  if (key !== undefined)
    throw fail('EVENT_INVALID', `meta.${key} must be a string (meta values are strings)`);
  if (meta.actor !== undefined && (typeof meta.actor !== 'string' || !isActor(meta.actor))) {
    throw fail(
      'EVENT_INVALID',
      `meta.actor "${String(meta.actor)}" must be system, sensor:<name> or operator:<name>`,
    );
  }
  return jcs(meta);
}

function isEmptyMeta(meta: EventMeta): boolean {
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta) && Object.keys(meta).length === 0;
}

/** An incoming envelope's time as stored, or EVENT_INVALID naming the seq. */
function storableTime(env: Envelope, device: string): number {
  try {
    return parseTime(env.time);
  } catch (err) {
    throw fail('EVENT_INVALID', `seq ${env.seq} of ${device}: ${(err as Error).message}`, err);
  }
}
