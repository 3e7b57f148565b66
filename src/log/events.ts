// The event vocabulary, version 1 (docs/protocol.md §4): the payload of each event type, as a type and
// as the schema every append and the hub's ingest check it against. Types are extended
// freely and never repurposed; readers ignore fields they do not know, so a known payload
// may carry extra keys (forward compatible) but must have the named ones, of their types.
import { z } from 'zod';

export interface DeviceStarted {
  version: string;
  sources: { name: string; driver: string; port: string }[];
  /** Whether the wall clock looked synchronised when the process started. */
  clockSynced: boolean;
  /** What the clock judgement rests on: 'timesyncd', 'plausible', 'before-last-event', 'too-early'. */
  clockCheck?: string;
  node?: string;
  pid?: number;
}
export interface SourceConnected {
  source: string;
  driver: string;
  port: string;
  /** Identity the source announced (line node FLI, Firmata firmware), when known. */
  identity?: string;
}
export interface SourceDisconnected {
  source: string;
  reason: string;
  /** Set when the port could not be opened at all (missing at start, retrying). */
  unavailable?: boolean;
  /** The transport's own words, for people. */
  detail?: string;
}
export interface ReadingRecorded {
  source: string;
  sensor: string;
  value: number;
  unit?: string;
}
export interface PositionRecorded {
  source: string;
  /** `YYYY-MM-DDThh:mm:ss.sssZ` when the epoch's RMC gave a date, else `hh:mm:ss.sssZ`. */
  fixTime: string;
  /** Decimal degrees, south and west negative. */
  lat: number;
  lon: number;
  /** Metres above mean sea level. */
  alt?: number;
  /** Metres per second over ground. */
  speed?: number;
  /** Degrees from true north. */
  course?: number;
  sats?: number;
  hdop?: number;
}
export interface FramesRejected {
  source: string;
  count: number;
  reasons: Record<string, number>;
  sample: string;
}
export interface FramesLost {
  source: string;
  count: number;
  after: number;
  next: number;
}
export interface AlarmRaised {
  alarm: string;
  sensor: string;
  kind: 'above' | 'below';
  limit: number;
  value: number;
}
export interface AlarmCleared {
  alarm: string;
  sensor: string;
  value: number;
}
export interface AlarmAcknowledged {
  alarm: string;
  comment?: string;
}
export interface ThresholdChanged {
  sensor: string;
  above: number | null;
  below: number | null;
  hysteresis?: number;
}
export interface NoteAdded {
  text: string;
}
export interface DeviceStopped {
  /** Why the process stopped: a signal, an operator, a fatal error. */
  reason: string;
}
export interface SourceIdentified {
  source: string;
  nodeId: string;
  firmware: string;
  version: string;
}
export interface SourceFaultReported {
  source: string;
  code: string;
  text: string;
}
export interface SourceCommandAnswered {
  source: string;
  command: string;
  ok: boolean;
  why?: string;
}
export interface EventRedacted {
  seq: number;
  reason: string;
}
/**
 * The payloads of the ReadingRecorded events in [fromSeq, toSeq] were purged to keep the log
 * within its disk budget (envelopes kept, the chain still verifies); `count` of them.
 */
export interface ReadingsPurged {
  fromSeq: number;
  toSeq: number;
  count: number;
  reason: string;
}
/** The log's first device key (docs/protocol.md §2.4); its own `sig` is by that key (proof of possession). */
export interface DeviceKeyAdded {
  alg: 'ed25519';
  /** Standard padded base64 of the 32 raw Ed25519 public key bytes (44 characters). */
  publicKey: string;
}
/** The device switched keys; its own `sig` is by the key in force before it, later ones by `publicKey`. */
export interface DeviceKeyRotated {
  publicKey: string;
}
/**
 * Readings the device could not record (a full filesystem: `disk-full`; the `stop` policy of
 * a disk budget: `disk-budget`), counted and recorded once writing works again: nothing is
 * dropped silently. `since`/`until`: the times of the first and last reading not recorded.
 */
export interface ReadingsNotRecorded {
  count: number;
  /** `disk-full` or `disk-budget`; a reader treats another value as another cause. */
  reason: string;
  since: string;
  until: string;
  /** Readings not recorded per sensor (a GPS's positions under its source's name). */
  sensors: Record<string, number>;
  /** Other events not recorded, per type (a full disk outlasting what is held for later). */
  events?: Record<string, number>;
}

/** The wall clock moved against the monotonic clock by `deltaMs` (positive: forward) between two checks. */
export interface ClockJumped {
  deltaMs: number;
}
/**
 * The wall clock became trustworthy (docs/protocol.md §4.1): the trusted time when this event was
 * sealed was its own `time` plus `offsetMs` (0 when the clock was already stepped, as by timesyncd).
 */
export interface ClockSynced {
  offsetMs: number;
  /** Whose word: 'hub' (the hub's time message), 'timesyncd', or 'jump' (a step after a sync, docs/protocol.md §4.1). */
  source: string;
}

export interface EventTypes {
  DeviceStarted: DeviceStarted;
  SourceConnected: SourceConnected;
  SourceDisconnected: SourceDisconnected;
  ReadingRecorded: ReadingRecorded;
  PositionRecorded: PositionRecorded;
  FramesRejected: FramesRejected;
  FramesLost: FramesLost;
  AlarmRaised: AlarmRaised;
  AlarmCleared: AlarmCleared;
  AlarmAcknowledged: AlarmAcknowledged;
  ThresholdChanged: ThresholdChanged;
  NoteAdded: NoteAdded;
  EventRedacted: EventRedacted;
  DeviceStopped: DeviceStopped;
  SourceIdentified: SourceIdentified;
  SourceFaultReported: SourceFaultReported;
  SourceCommandAnswered: SourceCommandAnswered;
  DeviceKeyAdded: DeviceKeyAdded;
  DeviceKeyRotated: DeviceKeyRotated;
  ClockJumped: ClockJumped;
  ClockSynced: ClockSynced;
  ReadingsPurged: ReadingsPurged;
  ReadingsNotRecorded: ReadingsNotRecorded;
}

export type EventType = keyof EventTypes;

/** A device public key as the log carries it: 32 bytes in standard padded base64 (the last digit carries 4 bits). */
export const PUBLIC_KEY_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

/** One schema per known type; the compiler holds each to its payload type above. */
export const payloadSchemas: { [K in EventType]: z.ZodType<EventTypes[K]> } = {
  DeviceStarted: z.object({
    version: z.string(),
    sources: z.array(z.object({ name: z.string(), driver: z.string(), port: z.string() })),
    clockSynced: z.boolean(),
    clockCheck: z.string().optional(),
    node: z.string().optional(),
    pid: z.number().int().optional(),
  }),
  SourceConnected: z.object({
    source: z.string(),
    driver: z.string(),
    port: z.string(),
    identity: z.string().optional(),
  }),
  SourceDisconnected: z.object({
    source: z.string(),
    reason: z.string(),
    unavailable: z.boolean().optional(),
    detail: z.string().optional(),
  }),
  ReadingRecorded: z.object({
    source: z.string(),
    sensor: z.string(),
    value: z.number(),
    unit: z.string().optional(),
  }),
  PositionRecorded: z.object({
    source: z.string(),
    fixTime: z.string(),
    lat: z.number(),
    lon: z.number(),
    alt: z.number().optional(),
    speed: z.number().optional(),
    course: z.number().optional(),
    sats: z.number().int().min(0).optional(),
    hdop: z.number().optional(),
  }),
  FramesRejected: z.object({
    source: z.string(),
    count: z.number().int().min(0),
    reasons: z.record(z.string(), z.number()),
    sample: z.string(),
  }),
  FramesLost: z.object({
    source: z.string(),
    count: z.number().int().min(0),
    after: z.number().int(),
    next: z.number().int(),
  }),
  AlarmRaised: z.object({
    alarm: z.string(),
    sensor: z.string(),
    kind: z.enum(['above', 'below']),
    limit: z.number(),
    value: z.number(),
  }),
  AlarmCleared: z.object({ alarm: z.string(), sensor: z.string(), value: z.number() }),
  AlarmAcknowledged: z.object({ alarm: z.string(), comment: z.string().optional() }),
  ThresholdChanged: z.object({
    sensor: z.string(),
    above: z.number().nullable(),
    below: z.number().nullable(),
    hysteresis: z.number().optional(),
  }),
  NoteAdded: z.object({ text: z.string() }),
  EventRedacted: z.object({ seq: z.number().int().min(1), reason: z.string() }),
  DeviceStopped: z.object({ reason: z.string() }),
  SourceIdentified: z.object({
    source: z.string(),
    nodeId: z.string(),
    firmware: z.string(),
    version: z.string(),
  }),
  SourceFaultReported: z.object({ source: z.string(), code: z.string(), text: z.string() }),
  SourceCommandAnswered: z.object({
    source: z.string(),
    command: z.string(),
    ok: z.boolean(),
    why: z.string().optional(),
  }),
  DeviceKeyAdded: z.object({ alg: z.literal('ed25519'), publicKey: z.string().regex(PUBLIC_KEY_RE) }),
  DeviceKeyRotated: z.object({ publicKey: z.string().regex(PUBLIC_KEY_RE) }),
  ClockJumped: z.object({ deltaMs: z.number().int() }),
  ClockSynced: z.object({ offsetMs: z.number().int(), source: z.string() }),
  ReadingsPurged: z.object({
    fromSeq: z.number().int().min(1),
    toSeq: z.number().int().min(1),
    count: z.number().int().min(0),
    reason: z.string(),
  }),
  ReadingsNotRecorded: z.object({
    count: z.number().int().min(0),
    reason: z.string(),
    since: z.string(),
    until: z.string(),
    sensors: z.record(z.string(), z.number().int().min(0)),
    events: z.record(z.string(), z.number().int().min(0)).optional(),
  }),
};

/**
 * The hand-made check for ReadingRecorded, nearly all the traffic: true exactly when its
 * schema accepts `data` (a property test holds the two together).
 */
export function isReadingPayload(data: Record<string, unknown>): boolean {
  const { source, sensor, value, unit } = data;
  return (
    typeof source === 'string' &&
    typeof sensor === 'string' &&
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (unit === undefined || typeof unit === 'string')
  );
}

/**
 * What is wrong with the payload of a known event type, in plain words, or undefined when
 * it fits (unknown types always fit: the vocabulary is open). Only checks, never changes
 * `data` (the schemas' output, which drops extra keys, is not used).
 */
export function payloadProblem(type: string, data: Record<string, unknown>): string | undefined {
  if (type === 'ReadingRecorded' && isReadingPayload(data)) return undefined;
  if (!Object.hasOwn(payloadSchemas, type)) return undefined;
  const r = payloadSchemas[type as EventType].safeParse(data);
  if (r.success) return undefined;
  const issue = r.error.issues[0];
  if (!issue) return `${type} data is not valid`;
  const at = ['data', ...issue.path.map(String)].join('.');
  if (issue.code === 'invalid_type') {
    let value: unknown = data;
    for (const k of issue.path) value = (value as Record<PropertyKey, unknown> | undefined)?.[k];
    const expected = issue.expected === 'int' ? 'integer' : issue.expected;
    if (value === undefined) return `${type} needs ${at} (${expected})`;
    return `${type} ${at} must be ${/^[aeiou]/.test(expected) ? 'an' : 'a'} ${expected}, not ${describeValue(value)}`;
  }
  if (issue.code === 'invalid_value')
    return `${type} ${at} must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'too_small' || issue.code === 'too_big')
    return `${type} ${at} is out of range (${issue.message})`;
  return `${type} ${at}: ${issue.message}`;
}

function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${JSON.stringify(v)?.slice(0, 40)}`;
}
