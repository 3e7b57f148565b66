// The event envelope of SPEC §2 (a contract): its shape, its canonical hashing, and
// the validation every envelope or event input from outside goes through.
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { z } from 'zod';
import { fail } from '../errors.js';

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
/** Largest canonical payload an event may carry: readings are tiny, notes are short. */
export const MAX_DATA_BYTES = 16 * 1024;

export function isDeviceId(s: string): boolean {
  return DEVICE_RE.test(s);
}

/** RFC 8785 canonical JSON, through a maintained implementation. */
export function jcs(value: unknown): string {
  try {
    const out = canonicalize(value);
    if (out === undefined) throw new Error('value has no JSON form');
    return out;
  } catch (err) {
    throw fail('EVENT_INVALID', `not canonicalizable JSON: ${(err as Error).message}`, err);
  }
}

export function sha256hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function digestOf(data: Record<string, unknown>): string {
  return sha256hex(jcs(data));
}

/** The hash covers the envelope without `data`, `hash` and `sig` (SPEC §2). */
export function hashOf(env: Omit<Envelope, 'hash' | 'data' | 'sig'> & { data?: unknown }): string {
  const head: Record<string, unknown> = {
    boot: env.boot,
    device: env.device,
    digest: env.digest,
    mono: env.mono,
    prev: env.prev,
    seq: env.seq,
    time: env.time,
    type: env.type,
  };
  if (env.meta !== undefined) head.meta = env.meta;
  return sha256hex(jcs(head));
}

/** Milliseconds since the epoch to the envelope's time format, or an error for out-of-range clocks. */
export function formatTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > 253402300799999) {
    throw fail('EVENT_INVALID', `time ${ms} is outside 1970-01-01..9999-12-31`);
  }
  return new Date(ms).toISOString();
}

/** Parse an envelope time; only the exact canonical form is accepted, so storing ms is lossless. */
export function parseTime(time: string): number {
  const ms = TIME_RE.test(time) ? Date.parse(time) : Number.NaN;
  if (!Number.isFinite(ms) || new Date(ms).toISOString() !== time) {
    throw fail(
      'EVENT_INVALID',
      `time "${time}" is not RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.sssZ)`,
    );
  }
  return ms;
}

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
  if (jcs(data).length > MAX_DATA_BYTES)
    throw fail('EVENT_INVALID', `event data is over ${MAX_DATA_BYTES} bytes`);
  return r.data as EventInput;
}

/** Validate a complete envelope from outside (shape only: the chain is checked by the log). */
export function parseEnvelope(value: unknown): Envelope {
  const r = envelopeSchema.safeParse(value);
  if (!r.success) throw fail('EVENT_INVALID', `envelope ${describe(r.error.issues)}`);
  parseTime(r.data.time);
  return r.data as Envelope;
}
