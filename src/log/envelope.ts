// The event envelope of SPEC §2 (a contract): its shape, its canonical hashing, and
// the validation every envelope or event input from outside goes through.
import { hash as oneShotHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { fail } from '../errors.js';
import { payloadProblem } from './events.js';

export const ZERO_HASH = '0'.repeat(64);

export interface EventMeta {
  actor?: string;
  source?: string;
  schema?: string;
  [key: string]: unknown;
}

export interface Envelope {
  device: string;
  seq: number;
  type: string;
  time: string;
  boot: string;
  mono: number;
  data: Record<string, unknown> | null;
  meta?: EventMeta;
  digest: string;
  prev: string;
  hash: string;
  sig?: string;
}

/** What a writer supplies; the log assigns everything else. */
export interface EventInput {
  type: string;
  data: Record<string, unknown>;
  meta?: EventMeta;
}

const DEVICE_RE = /^[A-Za-z0-9._-]{1,64}$/;
const TYPE_RE = /^[A-Z][A-Za-z0-9]{0,63}$/;
const HEX64_RE = /^[0-9a-f]{64}$/;
const TIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const ACTOR_RE = /^(system|(sensor|operator):[^\s:][^\n\r]{0,63})$/;
/** `system`, `sensor:<name>` or `operator:<name>`: who did it, in `meta.actor`. */
export function isActor(text: string): boolean {
  return ACTOR_RE.test(text);
}
/** Largest canonical payload an event may carry: readings are tiny, notes are short. */
export const MAX_DATA_BYTES = 16 * 1024;

/** A SHA-256 as the envelope carries it: 64 lower-case hex digits. */
export function isHex64(s: string): boolean {
  return HEX64_RE.test(s);
}

export function isDeviceId(s: string): boolean {
  return DEVICE_RE.test(s);
}

/** RFC 8785 canonical JSON, through a maintained implementation. */
export function jcs(value: unknown): string {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const flat = flatObjectJcs(value as Record<string, unknown>);
    if (flat !== undefined) return flat;
  }
  try {
    const out = canonicalize(value);
    if (out === undefined) throw new Error('value has no JSON form');
    return out;
  } catch (err) {
    throw fail('EVENT_INVALID', `not canonicalizable JSON: ${(err as Error).message}`, err);
  }
}

/**
 * The canonical form of a flat object whose values are plain strings, finite numbers,
 * booleans or null (every reading is one), built directly; anything else returns
 * undefined and goes through the library. Tests check both agree on any input.
 */
export function flatObjectJcs(o: Record<string, unknown>): string | undefined {
  if (Object.getPrototypeOf(o) !== Object.prototype) return undefined;
  const keys = Object.keys(o);
  if (keys.length > 16) return undefined;
  keys.sort();
  let out = '{';
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (!PLAIN_RE.test(k)) return undefined;
    const v = o[k];
    let part: string;
    if (typeof v === 'string') {
      if (!PLAIN_RE.test(v)) return undefined;
      part = `"${v}"`;
    } else if (typeof v === 'number') {
      if (!Number.isFinite(v)) return undefined;
      part = JSON.stringify(v);
    } else if (typeof v === 'boolean' || v === null) {
      part = String(v);
    } else if (v === undefined) {
      continue; // JSON drops it, and so does the library
    } else {
      return undefined;
    }
    out += `${out.length > 1 ? ',' : ''}"${k}":${part}`;
  }
  return `${out}}`;
}

export function sha256hex(input: string | Uint8Array): string {
  return oneShotHash('sha256', input, 'hex');
}

export function digestOf(data: Record<string, unknown>): string {
  return sha256hex(jcs(data));
}

export interface HeaderFields {
  boot: string;
  device: string;
  digest: string;
  mono: number;
  prev: string;
  seq: number;
  time: string;
  type: string;
}

const PLAIN_RE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/; // printable ASCII without " and \
const stringForms = new Map<string, string>();

/** A string's canonical form; strings that need escaping go through the library. */
function jcsString(s: string): string {
  if (PLAIN_RE.test(s)) return `"${s}"`;
  let f = stringForms.get(s);
  if (f === undefined) {
    f = jcs(s);
    if (stringForms.size < 1024) stringForms.set(s, f);
  }
  return f;
}

function jcsNumber(n: number): string {
  if (!Number.isFinite(n)) throw fail('EVENT_INVALID', `${n} is not a finite number`);
  return JSON.stringify(n); // ES number serialisation is JCS's (and -0 becomes 0 in both)
}

/**
 * The canonical JSON (JCS) of the hashed part of an envelope, built directly for its
 * fixed set of keys in their sorted order. `metaJcs` is the canonical form of `meta`
 * (from the library). Tests check this equals the library's output for any envelope.
 */
export function canonicalHeader(h: HeaderFields, metaJcs: string | undefined): string {
  const meta = metaJcs === undefined ? '' : `"meta":${metaJcs},`;
  return `{"boot":${jcsString(h.boot)},"device":${jcsString(h.device)},"digest":${jcsString(h.digest)},${meta}"mono":${jcsNumber(h.mono)},"prev":${jcsString(h.prev)},"seq":${jcsNumber(h.seq)},"time":${jcsString(h.time)},"type":${jcsString(h.type)}}`;
}

/** The hash covers the envelope without `data`, `hash` and `sig` (SPEC §2). */
export function hashOf(env: HeaderFields & { meta?: EventMeta | undefined }): string {
  return sha256hex(canonicalHeader(env, env.meta === undefined ? undefined : jcs(env.meta)));
}

/** Milliseconds since the epoch to the envelope's time format, or an error for out-of-range clocks. */
export function formatTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > 253402300799999) {
    throw fail('EVENT_INVALID', `time ${ms} is outside 1970-01-01..9999-12-31`);
  }
  // appends arrive in bursts within one millisecond
  if (ms !== lastTimeMs) {
    lastTimeMs = ms;
    lastTime = new Date(ms).toISOString();
  }
  return lastTime;
}

let lastTimeMs = -1;
let lastTime = '';

/** Parse an envelope time; only the exact canonical form is accepted, so storing ms is lossless. */
export function parseTime(time: string): number {
  if (time === lastParsed) return lastParsedMs;
  const ms = TIME_RE.test(time) ? Date.parse(time) : Number.NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString() !== time) {
    throw fail(
      'EVENT_INVALID',
      `time "${time}" is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)`,
    );
  }
  lastParsed = time;
  lastParsedMs = ms;
  return ms;
}

let lastParsed = '';
let lastParsedMs = 0;

const metaSchema = z
  .object({
    actor: z.string().regex(ACTOR_RE, 'actor must be system, sensor:<name> or operator:<name>').optional(),
    source: z.string().min(1).max(64).optional(),
    schema: z.string().min(1).max(64).optional(),
  })
  .catchall(z.unknown());

const dataSchema = z.record(z.string(), z.unknown());

export const eventInputSchema = z.strictObject({
  type: z.string().regex(TYPE_RE, 'type must be PascalCase, at most 64 characters'),
  data: dataSchema,
  meta: metaSchema.optional(),
});

export const envelopeSchema = z.strictObject({
  device: z.string().regex(DEVICE_RE),
  seq: z
    .number()
    .int()
    .min(1)
    .max(2 ** 48 - 1),
  type: z.string().regex(TYPE_RE),
  time: z.string().regex(TIME_RE),
  boot: z.string().min(1).max(64),
  mono: z.number().finite().min(0),
  data: dataSchema.nullable(),
  meta: metaSchema.optional(),
  digest: z.string().regex(HEX64_RE),
  prev: z.string().regex(HEX64_RE),
  hash: z.string().regex(HEX64_RE),
  sig: z.string().max(128).optional(),
});

function describe(issues: z.core.$ZodIssue[]): string {
  const first = issues[0];
  if (!first) return 'invalid';
  const at = first.path.length ? first.path.join('.') : '(root)';
  return `${at}: ${first.message}`;
}

/** Validate writer input at the edge; returns the narrowed value or throws EVENT_INVALID. */
export function parseEventInput(value: unknown): EventInput {
  const r = eventInputSchema.safeParse(value);
  if (!r.success) throw fail('EVENT_INVALID', `event ${describe(r.error.issues)}`);
  const data = r.data.data;
  const wrong = payloadProblem(r.data.type, data);
  if (wrong !== undefined) throw fail('EVENT_INVALID', wrong);
  if (jcs(data).length > MAX_DATA_BYTES)
    throw fail('EVENT_INVALID', `event data is over ${MAX_DATA_BYTES} bytes`);
  return r.data as EventInput;
}

const ENVELOPE_KEYS = new Set([
  'device',
  'seq',
  'type',
  'time',
  'boot',
  'mono',
  'data',
  'meta',
  'digest',
  'prev',
  'hash',
  'sig',
]);
const MAX_SEQ = 2 ** 48 - 1;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function optionalText(v: unknown, max: number): boolean {
  return v === undefined || (typeof v === 'string' && v.length >= 1 && v.length <= max);
}

/**
 * The envelope schema, checked by hand: what the hub runs on every event it receives.
 * True only for what `envelopeSchema` accepts (property tests hold the two together);
 * anything it refuses goes through zod, which names the first problem.
 */
export function isEnvelopeShape(v: unknown): v is Envelope {
  if (!isPlainObject(v)) return false;
  for (const k in v) if (!ENVELOPE_KEYS.has(k)) return false;
  if (Object.getOwnPropertySymbols(v).length > 0) return false;
  const { device, seq, type, time, boot, mono, data, meta, digest, prev, hash, sig } = v;
  if (typeof device !== 'string' || !DEVICE_RE.test(device)) return false;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) return false;
  if (typeof type !== 'string' || !TYPE_RE.test(type)) return false;
  if (typeof time !== 'string' || !TIME_RE.test(time)) return false;
  if (typeof boot !== 'string' || boot.length < 1 || boot.length > 64) return false;
  if (typeof mono !== 'number' || !Number.isFinite(mono) || mono < 0) return false;
  if (data !== null) {
    if (!isPlainObject(data) || Object.hasOwn(data, '__proto__')) return false;
    if (Object.getOwnPropertySymbols(data).length > 0) return false;
  }
  if (meta !== undefined) {
    if (!isPlainObject(meta) || Object.hasOwn(meta, '__proto__')) return false;
    if (Object.getOwnPropertySymbols(meta).length > 0) return false;
    const { actor, source, schema } = meta;
    if (actor !== undefined && (typeof actor !== 'string' || !ACTOR_RE.test(actor))) return false;
    if (!optionalText(source, 64) || !optionalText(schema, 64)) return false;
  }
  if (typeof digest !== 'string' || !HEX64_RE.test(digest)) return false;
  if (typeof prev !== 'string' || !HEX64_RE.test(prev)) return false;
  if (typeof hash !== 'string' || !HEX64_RE.test(hash)) return false;
  if (sig !== undefined && (typeof sig !== 'string' || sig.length > 128)) return false;
  return true;
}

/** Validate a complete envelope from outside (shape only: the chain is checked by the log). */
export function parseEnvelope(value: unknown): Envelope {
  if (isEnvelopeShape(value)) {
    parseTime(value.time);
    return value;
  }
  const r = envelopeSchema.safeParse(value);
  if (!r.success) throw fail('EVENT_INVALID', `envelope ${describe(r.error.issues)}`);
  parseTime(r.data.time);
  return r.data as Envelope;
}
