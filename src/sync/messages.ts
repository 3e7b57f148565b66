// The MQTT replication contract (docs/protocol.md §10): topics and one schema per message. Everything
// that arrives from the broker goes through here before anything else looks at it.
import { isAscii, isUtf8 } from 'node:buffer';
import { z } from 'zod';
import { fail } from '../errors.js';
import type { Envelope } from '../log/envelope.js';
import { envelopeSchema, parseEnvelopeShape } from '../log/envelope.js';
import { parseIJson } from '../log/ijson.js';
import { restoreDigest } from '../log/seal.js';

export const DEFAULT_PREFIX = 'fieldlog';
export const MAX_PAYLOAD = 1024 * 1024;
export const MAX_BATCH_EVENTS = 1000;
const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export type Channel = 'hello' | 'events' | 'ack' | 'status' | 'time';

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

export function deviceTopic(prefix: string, fleet: string, device: string, channel: Channel): string {
  return `${prefix}/${fleet}/${device}/${channel}`;
}

export function hubStatusTopic(prefix: string, fleet: string): string {
  return `${prefix}/${fleet}/hub/status`;
}

/** Parse `<p>/<f>/<d>/<channel>`; undefined for anything else (`hub` is not a device). */
export function parseTopic(
  prefix: string,
  topic: string,
): { fleet: string; device: string; channel: Channel } | undefined {
  if (!topic.startsWith(`${prefix}/`)) return undefined;
  const parts = topic.slice(prefix.length + 1).split('/');
  if (parts.length !== 3) return undefined;
  const [fleet, device, channel] = parts as [string, string, string];
  if (!isId(fleet) || !isId(device) || device === 'hub') return undefined;
  if (
    channel !== 'hello' &&
    channel !== 'events' &&
    channel !== 'ack' &&
    channel !== 'status' &&
    channel !== 'time'
  )
    return undefined;
  return { fleet, device, channel };
}

const head = z.strictObject({ seq: z.number().int().min(0), hash: z.string().regex(HEX64) });
export const helloSchema = z.strictObject({ head });
export const ackSchema = z.strictObject({
  upTo: z.number().int().min(0),
  hash: z.string().regex(HEX64),
  error: z.enum(['gap', 'fork', 'invalid']).optional(),
  detail: z.string().max(1000).optional(),
  /**
   * Accepted and ignored (docs/protocol.md §10.6): no hub sends it, since devices before issue 13
   * refuse an ack with any key they do not know; the hub's time comes on the `time` channel.
   */
  time: z.iso.datetime({ offset: false }).optional(),
});
/**
 * The hub's clock on `<p>/<f>/<d>/time` (docs/protocol.md §10.6). Not strict, unlike the other
 * messages: a later hub may add keys, and the ack showed what a strict schema costs in the field.
 */
export const hubTimeSchema = z.object({
  time: z.iso.datetime({ offset: false }),
  /**
   * What the hub takes besides the messages of protocol version 1 (§10.7: `"short-envelopes"`);
   * anything else than a list of strings is taken as nothing, the time still counts.
   */
  accepts: z.array(z.string().max(64)).max(64).optional().catch(undefined),
});
/** The hub takes short envelopes in `events` (docs/protocol.md §10.7). */
export const SHORT_ENVELOPES = 'short-envelopes';
export const statusSchema = z.strictObject({
  online: z.boolean(),
  boot: z.string().max(64).optional(),
  time: z.string().max(40),
});
const eventsShape = z.strictObject({
  device: z.string().regex(ID_RE),
  events: z.array(z.unknown()).min(1).max(MAX_BATCH_EVENTS),
});

export type Hello = z.infer<typeof helloSchema>;
export type Ack = z.infer<typeof ackSchema>;
export type Status = z.infer<typeof statusSchema>;
export type HubTime = z.infer<typeof hubTimeSchema>;
export interface EventsMessage {
  device: string;
  events: Envelope[];
}

/** Scratch for building batches, grown as needed: each body is copied out at its exact size. */
let scratch = Buffer.allocUnsafe(256 * 1024);

/**
 * The body of an events message, `{"device":…,"events":[…]}`, from the events' JSON texts,
 * as UTF-8. Each text is written straight into the bytes: joining a batch's texts into one
 * string first and encoding that cost the device more CPU than reading its log.
 */
export function eventsBody(device: string, events: readonly string[]): Buffer {
  const head = `{"device":${JSON.stringify(device)},"events":[`;
  let most = head.length * 3 + 2 + events.length;
  for (const e of events) most += e.length * 3; // a UTF-16 code unit is at most 3 bytes of UTF-8
  if (scratch.length < most) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const b = scratch;
  let at = b.write(head, 0, 'utf8');
  for (let i = 0; i < events.length; i++) {
    if (i > 0) b[at++] = 0x2c; // ,
    at += b.write(events[i]!, at, 'utf8');
  }
  b[at++] = 0x5d; // ]
  b[at++] = 0x7d; // }
  const out = Buffer.allocUnsafe(at);
  b.copy(out, 0, 0, at);
  return out;
}

/**
 * A short envelope's text as the first of its batch (docs/protocol.md §10.7): with the `prev`
 * every later one is restored from. `json` is `eventsJson({ short: true })`'s text of it.
 */
export function withPrev(json: string, prev: string): string {
  return `{"prev":"${prev}",${json.slice(1)}`;
}

function json(payload: Buffer | string): unknown {
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (size > MAX_PAYLOAD)
    throw fail('SYNC_MESSAGE_INVALID', `payload of ${size} bytes is over ${MAX_PAYLOAD}`);
  let text: string;
  if (typeof payload === 'string') text = payload;
  // replication batches are ASCII: latin1 decodes them as UTF-8 would, several times faster
  else if (isAscii(payload)) text = payload.toString('latin1');
  // anything else must be UTF-8: a decoder would replace bad bytes silently
  else if (isUtf8(payload)) text = payload.toString();
  else throw fail('SYNC_MESSAGE_INVALID', 'payload is not UTF-8');
  // I-JSON (no duplicate keys, lone surrogates, inexact numbers or "__proto__"): the one
  // rule for outside JSON; JSON.parse alone would keep a normalised copy
  return parseIJson(text, 'SYNC_MESSAGE_INVALID', 'payload: ');
}

function check<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const i = r.error.issues[0];
    throw fail(
      'SYNC_MESSAGE_INVALID',
      `${what}: ${i ? `${i.path.join('.') || '(root)'}: ${i.message}` : 'invalid'}`,
    );
  }
  return r.data;
}

export function parseHello(payload: Buffer | string): Hello {
  return check(helloSchema, json(payload), 'hello');
}

export function parseAck(payload: Buffer | string): Ack {
  return check(ackSchema, json(payload), 'ack');
}

export function parseHubTime(payload: Buffer | string): HubTime {
  return check(hubTimeSchema, json(payload), 'time');
}

export function parseStatus(payload: Buffer | string): Status {
  return check(statusSchema, json(payload), 'status');
}

/** A batch of envelopes for `device`: every one its own, with contiguous seqs. */
export function parseEvents(payload: Buffer | string, device: string): EventsMessage {
  const m = check(eventsShape, json(payload), 'events');
  if (m.device !== device)
    throw fail('SYNC_MESSAGE_INVALID', `events for ${m.device} on the topic of ${device}`);
  const events: Envelope[] = [];
  const raws = m.events;
  for (let i = 0; i < raws.length; i++) {
    const raw = raws[i];
    let env: Envelope;
    try {
      // a short envelope (docs/protocol.md §10.7) is made whole before anything else looks at
      // it (a payload too deep to write out canonically cannot be: the message is malformed)
      if (typeof raw === 'object' && raw !== null && !Array.isArray(raw))
        restoreShort(raw as Record<string, unknown>, device, events[i - 1]);
      env = parseEnvelopeShape(raw, true); // json() parsed it from I-JSON text
    } catch (err) {
      throw fail('SYNC_MESSAGE_INVALID', `events[${i}]: ${(err as Error).message}`);
    }
    if (env.device !== device) throw fail('SYNC_MESSAGE_INVALID', `events[${i}] belongs to ${env.device}`);
    const prev = events[i - 1];
    if (prev && env.seq !== prev.seq + 1)
      throw fail('SYNC_MESSAGE_INVALID', `events[${i}]: seqs are not contiguous`);
    events.push(env);
  }
  return { device, events };
}

/**
 * What a short envelope leaves out, put back (docs/protocol.md §10.7): `device` is the
 * message's, `prev` the hash of the envelope before it in the batch (the first must carry
 * its own), `digest` that of its payload. Each is covered by the event's hash, which the hub
 * checks before storing it: a wrong guess here is a refused event, never a stored one.
 */
function restoreShort(raw: Record<string, unknown>, device: string, before: Envelope | undefined): void {
  if (raw.device === undefined) raw.device = device;
  if (raw.prev === undefined && before !== undefined) raw.prev = before.hash;
  if (raw.digest === undefined) {
    const data = raw.data;
    if (typeof data === 'object' && data !== null && !Array.isArray(data))
      restoreDigest(raw as { data: object });
  }
}

export { envelopeSchema };
