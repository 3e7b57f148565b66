// The event envelope of docs/protocol.md §2 (a contract): its shape, its canonical hashing, and
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

/**
 * The one payload-size rule, for writers and the hub alike: the UTF-8 bytes of the
 * canonical JSON of `data`. A UTF-16 code unit is at most 3 bytes, so a short text needs
 * no count (the hub's readings never do).
 */
export function dataSizeProblem(dataJcs: string): string | undefined {
  if (dataJcs.length * 3 <= MAX_DATA_BYTES) return undefined;
  const bytes = Buffer.byteLength(dataJcs, 'utf8');
  return bytes > MAX_DATA_BYTES
    ? `data is ${bytes} bytes of canonical JSON, over ${MAX_DATA_BYTES}`
    : undefined;
}

/** Times storage holds exactly: milliseconds since 1970 as an unsigned 48-bit number, up to 9999. */
export const MIN_TIME_MS = 0;
export const MAX_TIME_MS = 253402300799999; // 9999-12-31T23:59:59.999Z

/** `sig` as the contract has it: 64 bytes in standard base64 with padding, in the one form that decodes and re-encodes to itself. */
const SIG_RE = /^[A-Za-z0-9+/]{85}[AQgw]==$/;
export function isSig(s: string): boolean {
  return SIG_RE.test(s);
}

/** The name of the first `meta` key whose value is not a string, if any (the contract: meta values are strings). */
export function nonStringMetaKey(meta: Record<string, unknown>): string | undefined {
  for (const k in meta) if (typeof meta[k] !== 'string') return k;
  return undefined;
}

/** 1 for each lower-case hex digit, by character code. */
const HEX_DIGIT = new Uint8Array(128);
for (const c of '0123456789abcdef') HEX_DIGIT[c.charCodeAt(0)] = 1;

/**
 * A SHA-256 as the envelope carries it: 64 lower-case hex digits. By table, not by
 * HEX64_RE: the hub checks three per event, and the regular expression takes twice as long.
 */
export function isHex64(s: unknown): s is string {
  if (typeof s !== 'string' || s.length !== 64) return false;
  for (let i = 0; i < 64; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || HEX_DIGIT[c] === 0) return false;
  }
  return true;
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
  const n = keys.length;
  if (n > 16) return undefined;
  let sorted: string[];
  if (n === lastKeys.length && sameStrings(keys, lastKeys)) {
    // the keys of the last object, in the same order: sorted and checked then
    sorted = lastSorted;
  } else {
    const given = keys.slice();
    // by insertion, in place: Array.prototype.sort allocates a work copy per call, and the
    // hub sorts a payload's few keys for every event it receives
    for (let i = 1; i < n; i++) {
      const k = keys[i]!;
      let j = i - 1;
      while (j >= 0 && keys[j]! > k) {
        keys[j + 1] = keys[j]!;
        j--;
      }
      keys[j + 1] = k;
    }
    for (let i = 0; i < n; i++) if (!PLAIN_RE.test(keys[i]!)) return undefined;
    lastKeys = given;
    lastSorted = keys;
    lastPrefixes = keys.map((k, i) => `${i === 0 ? '{' : ','}"${k}":`);
    plainValues.fill(undefined);
    sorted = keys;
  }
  // each key with what precedes it is made once per set of keys: the text is a few pieces
  const prefixes = lastPrefixes;
  let out = '';
  for (let i = 0; i < n; i++) {
    const v = o[sorted[i]!];
    let part: string;
    if (typeof v === 'string') {
      // a payload repeats most of its texts (source, unit): each is matched once
      if (v !== plainValues[i]) {
        if (!PLAIN_RE.test(v)) return undefined;
        plainValues[i] = v;
      }
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
    // after a dropped first key, the first one written opens the object
    out = out === '' ? (i === 0 ? prefixes[0]! : `{"${sorted[i]}":`) + part : out + prefixes[i]! + part;
  }
  return out === '' ? '{}' : `${out}}`;
}

// the last flat object's keys as given and sorted (all plain), and, by sorted position,
// the last plain text seen there
let lastKeys: string[] = [];
let lastSorted: string[] = [];
let lastPrefixes: string[] = [];
const plainValues: (string | undefined)[] = new Array(16).fill(undefined);

function sameStrings(a: string[], b: string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The canonical JSON of an event's `meta` whose values are all strings (the caller has
 * checked): the last one's text again when it has the same own keys, in the same order,
 * with the same values; a device's events carry the same meta one after another. Tests
 * hold it to jcs.
 */
export function metaJcsOf(meta: Record<string, unknown>): string {
  if (lastMetaJcs !== '') {
    let i = 0;
    let same = true;
    for (const k in meta) {
      if (
        i >= lastMetaKeys.length ||
        k !== lastMetaKeys[i] ||
        meta[k] !== lastMetaValues[i] ||
        !Object.hasOwn(meta, k)
      ) {
        same = false;
        break;
      }
      i++;
    }
    if (same && i === lastMetaKeys.length) return lastMetaJcs;
  }
  const text = jcs(meta);
  const keys = Object.keys(meta);
  if (keys.length <= 8 && keys.every((k) => typeof meta[k] === 'string')) {
    lastMetaKeys = keys;
    lastMetaValues = keys.map((k) => meta[k] as string);
    lastMetaJcs = text;
  }
  return text;
}

let lastMetaKeys: string[] = [];
let lastMetaValues: string[] = [];
let lastMetaJcs = '';

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
  const { digest, prev, time } = h;
  return isHex64(digest) &&
    isHex64(prev) &&
    typeof time === 'string' &&
    PLAIN_RE.test(time) &&
    Number.isSafeInteger(h.seq)
    ? plainHeader(h, metaJcs)
    : anyHeader(h, metaJcs);
}

/**
 * canonicalHeader of fields the caller has checked: `digest` and `prev` are 64 hex digits,
 * `time` has nothing to escape (e.g. it parsed as an instant) and `seq` is a safe integer.
 * The hub builds one per event it receives: the parts a device repeats (boot and device,
 * meta, type) are made once, and the text is a few long pieces (a rope of many short ones
 * took the hash longer to read, and the garbage longer to collect).
 */
export function plainHeader(h: HeaderFields, metaJcs: string | undefined): string {
  const { boot, device, type } = h;
  if (boot !== headBoot || device !== headDevice) {
    headPrefix = `{"boot":${jcsString(boot)},"device":${jcsString(device)},"digest":"`;
    headBoot = boot;
    headDevice = device;
  }
  if (metaJcs !== headMetaJcs) {
    headMeta = metaJcs === undefined ? '","mono":' : `","meta":${metaJcs},"mono":`;
    headMetaJcs = metaJcs;
  }
  if (type !== headType) {
    headSuffix = `,"type":${jcsString(type)}}`;
    headType = type;
  }
  return `${headPrefix}${h.digest}${headMeta}${jcsNumber(h.mono)},"prev":"${h.prev}","seq":${h.seq},"time":"${h.time}"${headSuffix}`;
}

// The last header's repeated parts, and what they were made of (NONE matches no field).
const NONE: unknown = Symbol('none');
let headBoot = NONE;
let headDevice = NONE;
let headPrefix = '';
let headMetaJcs: unknown = NONE;
let headMeta = '';
let headType = NONE;
let headSuffix = '';

/** canonicalHeader for any fields, hashes and times that need escaping included. */
function anyHeader(h: HeaderFields, metaJcs: string | undefined): string {
  const meta = metaJcs === undefined ? '' : `"meta":${metaJcs},`;
  return `{"boot":${jcsString(h.boot)},"device":${jcsString(h.device)},"digest":${jcsString(h.digest)},${meta}"mono":${jcsNumber(h.mono)},"prev":${jcsString(h.prev)},"seq":${jcsNumber(h.seq)},"time":${jcsString(h.time)},"type":${jcsString(h.type)}}`;
}

/** The hash covers the envelope without `data`, `hash` and `sig` (docs/protocol.md §2.3). */
export function hashOf(env: HeaderFields & { meta?: EventMeta | undefined }): string {
  return sha256hex(canonicalHeader(env, env.meta === undefined ? undefined : jcs(env.meta)));
}

/** Milliseconds since the epoch to the envelope's time format, or an error for out-of-range clocks. */
export function formatTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
    throw fail('EVENT_INVALID', `time ${ms} is outside 1970-01-01..9999-12-31`);
  }
  return isoTime(ms);
}

/**
 * `new Date(ms).toISOString()`; for ms in 0..MAX_TIME_MS by arithmetic within the day of
 * the last call: the Date and its formatting cost a device half a microsecond per event it
 * reads for replication (its events are days long runs of milliseconds). Tests hold it to
 * toISOString.
 */
export function isoTime(ms: number): string {
  if (!(ms >= MIN_TIME_MS && ms <= MAX_TIME_MS) || !Number.isInteger(ms)) return new Date(ms).toISOString();
  let d = ms - dayStart;
  if (d < 0 || d >= DAY_MS) {
    dayStart = ms - (ms % DAY_MS);
    dayPrefix = new Date(dayStart).toISOString().slice(0, 11); // YYYY-MM-DDT
    d = ms - dayStart;
  }
  const s = Math.floor(d / 1000);
  return `${dayPrefix}${TWO_DIGITS[Math.floor(s / 3600)]}:${TWO_DIGITS[Math.floor(s / 60) % 60]}:${TWO_DIGITS[s % 60]}.${THREE_DIGITS[d - s * 1000]}Z`;
}

const DAY_MS = 86_400_000;
const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => String(i).padStart(2, '0'));
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let dayStart = Number.NEGATIVE_INFINITY;
let dayPrefix = '';

/**
 * Parse an envelope time: only the exact canonical form of an instant storage holds
 * exactly (1970-01-01T00:00:00.000Z to 9999-12-31T23:59:59.999Z), so storing ms is lossless.
 */
export function parseTime(time: string): number {
  const ms = parseInstant(time);
  if (ms < MIN_TIME_MS) {
    throw fail(
      'EVENT_INVALID',
      `time "${time}" is before 1970-01-01T00:00:00.000Z, which the log cannot hold`,
    );
  }
  return ms; // four year digits: never after 9999-12-31T23:59:59.999Z
}

/**
 * The exact canonical form of a real instant, in any year 0000–9999: what
 * `new Date(ms).toISOString()` gives back (months 01–12, days that month has, 00:00:00 to
 * 23:59:59, no leap second). Read by arithmetic: Date.parse and the round trip cost the
 * hub more than a microsecond per event. Tests hold it to the round trip.
 */
function parseInstant(time: string): number {
  if (time === lastParsed) return lastParsedMs;
  const ms = instantMs(time);
  if (ms === undefined) {
    throw fail(
      'EVENT_INVALID',
      `time "${time}" is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)`,
    );
  }
  lastParsed = time;
  lastParsedMs = ms;
  return ms;
}

/** `YYYY-MM-DDTHH:MM:SS.sssZ` as ms since 1970 (proleptic Gregorian), or undefined. */
export function instantMs(t: string): number | undefined {
  if (
    t.length !== 24 ||
    t.charCodeAt(4) !== 0x2d ||
    t.charCodeAt(7) !== 0x2d ||
    t.charCodeAt(10) !== 0x54 ||
    t.charCodeAt(13) !== 0x3a ||
    t.charCodeAt(16) !== 0x3a ||
    t.charCodeAt(19) !== 0x2e ||
    t.charCodeAt(23) !== 0x5a
  )
    return undefined;
  const year = digits(t, 0, 4);
  const month = digits(t, 5, 2);
  const day = digits(t, 8, 2);
  const hour = digits(t, 11, 2);
  const minute = digits(t, 14, 2);
  const second = digits(t, 17, 2);
  const milli = digits(t, 20, 3);
  // a non-digit makes its field negative
  if ((year | month | day | hour | minute | second | milli) < 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (month === 2 ? (leap ? 29 : 28) : DAYS_IN_MONTH[month]!)) return undefined;
  return (
    daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli
  );
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The decimal number of `n` digits at `at`, or -1 when one is not a digit. */
function digits(t: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = t.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146_097 + doe - 719_468;
}

let lastParsed = '';
let lastParsedMs = 0;

const metaSchema = z
  .object({
    actor: z.string().regex(ACTOR_RE, 'actor must be system, sensor:<name> or operator:<name>').optional(),
    source: z.string().min(1).max(64).optional(),
    schema: z.string().min(1).max(64).optional(),
  })
  .catchall(z.string({ error: 'meta values must be strings' }));

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
  sig: z
    .string()
    .regex(SIG_RE, 'sig must be 64 bytes in standard base64 with padding (88 characters)')
    .optional(),
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
  const tooBig = dataSizeProblem(jcs(data));
  if (tooBig !== undefined) throw fail('EVENT_INVALID', `event ${tooBig}`);
  return r.data as EventInput;
}

/** A key the envelope has. By switch, not a Set: the hub asks for each key of each event, and the Set took four times as long. */
function isEnvelopeKey(k: string): boolean {
  switch (k) {
    case 'device':
    case 'seq':
    case 'type':
    case 'time':
    case 'boot':
    case 'mono':
    case 'data':
    case 'meta':
    case 'digest':
    case 'prev':
    case 'hash':
    case 'sig':
      return true;
    default:
      return false;
  }
}
const MAX_SEQ = 2 ** 48 - 1;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function optionalText(v: unknown, max: number): boolean {
  return v === undefined || (typeof v === 'string' && v.length >= 1 && v.length <= max);
}

// strings that matched their pattern last (never set to one that did not)
let okDevice: string | undefined;
let okType: string | undefined;
let okActor: string | undefined;
let okHash: string | undefined;

/**
 * The envelope schema, checked by hand: what the hub runs on every event it receives.
 * True only for what `envelopeSchema` accepts (property tests hold the two together);
 * anything it refuses goes through zod, which names the first problem. `parsed`: `v` is
 * what JSON.parse made of I-JSON text (parseIJson), which has no symbol keys and no
 * "__proto__" key anywhere: those checks are skipped.
 */
export function isEnvelopeShape(v: unknown, parsed = false): v is Envelope {
  if (!isPlainObject(v)) return false;
  for (const k in v) if (!isEnvelopeKey(k)) return false;
  if (!parsed && Object.getOwnPropertySymbols(v).length > 0) return false;
  const { device, seq, type, time, boot, mono, data, meta, digest, prev, hash, sig } = v;
  // a batch repeats its device, type and actor: each is matched once, then compared
  if (typeof device !== 'string' || (device !== okDevice && !DEVICE_RE.test(device))) return false;
  okDevice = device;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1 || seq > MAX_SEQ) return false;
  if (typeof type !== 'string' || (type !== okType && !TYPE_RE.test(type))) return false;
  okType = type;
  if (typeof time !== 'string' || !TIME_RE.test(time)) return false;
  if (typeof boot !== 'string' || boot.length < 1 || boot.length > 64) return false;
  if (typeof mono !== 'number' || !Number.isFinite(mono) || mono < 0) return false;
  if (data !== null) {
    if (!isPlainObject(data)) return false;
    if (!parsed && (Object.hasOwn(data, '__proto__') || Object.getOwnPropertySymbols(data).length > 0))
      return false;
  }
  if (meta !== undefined) {
    if (!isPlainObject(meta)) return false;
    if (!parsed && (Object.hasOwn(meta, '__proto__') || Object.getOwnPropertySymbols(meta).length > 0))
      return false;
    if (nonStringMetaKey(meta) !== undefined) return false;
    const { actor, source, schema } = meta;
    if (actor !== undefined && actor !== okActor && !ACTOR_RE.test(actor as string)) return false;
    if (actor !== undefined) okActor = actor as string;
    if (!optionalText(source, 64) || !optionalText(schema, 64)) return false;
  }
  if (!isHex64(digest)) return false;
  // in a batch, each prev is the hash checked just before
  if (typeof prev !== 'string' || (prev !== okHash && !isHex64(prev))) return false;
  if (!isHex64(hash)) return false;
  okHash = hash;
  if (sig !== undefined && (typeof sig !== 'string' || !SIG_RE.test(sig))) return false;
  return true;
}

/**
 * An envelope's shape (2.1 of docs/protocol.md), its time an exact instant, in any year:
 * what the hub's message check needs. Whether the log can hold that time is checked when
 * it is stored (`appendSealed`), so that the hub answers a sealed event it cannot keep as
 * an invalid event, naming its seq. `parsed` as for isEnvelopeShape.
 */
export function parseEnvelopeShape(value: unknown, parsed = false): Envelope {
  if (isEnvelopeShape(value, parsed)) {
    parseInstant(value.time);
    return value;
  }
  const r = envelopeSchema.safeParse(value);
  if (!r.success) throw fail('EVENT_INVALID', `envelope ${describe(r.error.issues)}`);
  parseInstant(r.data.time);
  return r.data as Envelope;
}

/** Validate a complete envelope from outside (not its chain: the log checks that). */
export function parseEnvelope(value: unknown): Envelope {
  const env = parseEnvelopeShape(value);
  parseTime(env.time);
  return env;
}
