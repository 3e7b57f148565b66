// The fieldlog sensor-node line protocol v1 (docs/protocol.md §7, a contract): pure parsing of node frames,
// encoding of both directions, line splitting with bounded memory, and the frame-counter gap.
// Bad input never throws here: it becomes a `rejected` result the recorder aggregates.
import { fail } from '../errors.js';
import { wrapFrame, xorChecksum } from './frame.js';

/** Longest line in bytes, terminator included (docs/protocol.md §7.1). */
export const MAX_LINE_BYTES = 255;
/**
 * Longest line content. The limit counts the canonical `\r\n`, whatever terminator the line
 * actually had, so a line is accepted or refused the same way on every link.
 */
export const MAX_CONTENT_BYTES = MAX_LINE_BYTES - 2;

export type RejectReason =
  | 'empty' // nothing between two terminators
  | 'overlong' // more than MAX_CONTENT_BYTES
  | 'noise' // bytes outside printable ASCII, or text that is not a frame at all
  | 'truncated' // a frame without its `*CS`
  | 'checksum' // `*CS` does not match the body
  | 'syntax' // malformed framing, address or field count
  | 'field' // a field breaks its format (counter, sensor, value, unit, duplicate sensor, ...)
  | 'unknown-type'; // a well-formed frame of a type this side does not take

export interface Rejected {
  kind: 'rejected';
  reason: RejectReason;
  /** Hex of the first ≤16 bytes of the line, for the aggregated FramesRejected sample. */
  sample: string;
}

export interface Reading {
  sensor: string;
  value: number;
  unit?: string;
}
export interface IdentityFrame {
  kind: 'identity';
  nodeId: string;
  firmware: string;
  version: string;
}
export interface ReadingsFrame {
  kind: 'readings';
  counter: number;
  readings: Reading[];
}
export interface FaultFrame {
  kind: 'fault';
  code: string;
  text: string;
}
export interface AnswerFrame {
  kind: 'answer';
  command: string;
  ok: boolean;
  why?: string;
}
export type NodeFrame = IdentityFrame | ReadingsFrame | FaultFrame | AnswerFrame;
export type ParsedLine = NodeFrame | Rejected;

export type Command = { kind: 'rate'; ms: number } | { kind: 'identify' };

export const SENSOR_PATTERN = /^[a-z0-9_.]{1,32}$/;
/** Counted in characters, not bytes: `°` is one character (two UTF-8 bytes). */
export const UNIT_PATTERN = /^[A-Za-z%/°]{1,8}$/;
const VALUE_PATTERN = /^-?\d+(\.\d+)?$/;
const COUNTER_PATTERN = /^\d{1,5}$/;
const NODE_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Firmware names, versions and fault codes: one printable token without the framing characters. */
const TOKEN_PATTERN = /^[!-~]{1,64}$/;
const FRAMING_CHARS = /[$*,]/;
/** Free text (fault text, answer reason): printable, commas allowed, no framing characters. */
const TEXT_PATTERN = /^[ -~°]*$/;
const COMMAND_PATTERN = /^[A-Z]{1,16}$/;
/** Any well-formed address; only FLI, FLR, FLE and FLA are a node's. */
const FRAME_TYPE_PATTERN = /^[A-Z][A-Z0-9]{1,9}$/;
/** A sample period of one hour at most keeps a node from falling silent by mistake. */
export const MAX_RATE_MS = 3_600_000;

const DEGREE_LEAD = 0xc2;
const DEGREE_TRAIL = 0xb0;

export function sampleHex(bytes: Buffer): string {
  return bytes.subarray(0, 16).toString('hex');
}

/**
 * Printable ASCII, plus `°` as its UTF-8 pair (C2 B0) since units may hold it. Any other byte,
 * including a lone C2 or B0 (a latin1 `°`), makes the line noise.
 */
export function isPrintableLine(bytes: Buffer, allowDegree: boolean): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b >= 0x20 && b <= 0x7e) continue;
    if (allowDegree && b === DEGREE_LEAD && bytes[i + 1] === DEGREE_TRAIL) {
      i++;
      continue;
    }
    return false;
  }
  return true;
}

export type Unframed = { ok: true; body: Buffer } | { ok: false; reason: RejectReason };

/**
 * Checks the shared `$body*CS` framing of an already printable line. The checksum is the XOR of
 * the body's bytes (not characters), so `°` counts as its two bytes, as on the wire.
 */
export function unframe(bytes: Buffer): Unframed {
  if (bytes[0] !== 0x24) return { ok: false, reason: 'noise' };
  const star = bytes.indexOf(0x2a);
  if (star < 0) return { ok: false, reason: 'truncated' };
  const cs = bytes.subarray(star + 1).toString('latin1');
  if (cs.length < 2 && /^[0-9A-Fa-f]?$/.test(cs)) return { ok: false, reason: 'truncated' };
  if (!/^[0-9A-Fa-f]{2}$/.test(cs)) return { ok: false, reason: 'syntax' };
  const body = bytes.subarray(1, star);
  if (xorChecksum(body) !== cs.toUpperCase()) return { ok: false, reason: 'checksum' };
  return { ok: true, body };
}

export interface OpenedFrame {
  body: Buffer;
  /** A rejection of this line, with its sample, for what the fields turn out to hold. */
  reject(reason: RejectReason): Rejected;
}

/**
 * What every `$body*CS` line (line protocol, commands, NMEA) goes through before its fields
 * are read: not empty, not over-long, printable (`°` only where `allowDegree`), framed,
 * checksummed. Never throws.
 */
export function openFrame(line: string | Buffer, allowDegree: boolean): OpenedFrame | Rejected {
  const bytes = typeof line === 'string' ? Buffer.from(line, 'utf8') : line;
  const reject = (reason: RejectReason): Rejected => ({ kind: 'rejected', reason, sample: sampleHex(bytes) });
  if (bytes.length === 0) return reject('empty');
  if (bytes.length > MAX_CONTENT_BYTES) return reject('overlong');
  if (!isPrintableLine(bytes, allowDegree)) return reject('noise');
  const framed = unframe(bytes);
  if (!framed.ok) return reject(framed.reason);
  return { body: framed.body, reject };
}

/** Parses one node → device line (without its terminator). Never throws. */
export function parseLine(line: string | Buffer): ParsedLine {
  const opened = openFrame(line, true);
  if ('kind' in opened) return opened;
  const { reject } = opened;
  const fields = opened.body.toString('utf8').split(',');
  const type = fields[0] ?? '';
  if (!FRAME_TYPE_PATTERN.test(type)) return reject('syntax');
  const frame = parseFields(type, fields.slice(1));
  return typeof frame === 'string' ? reject(frame) : frame;
}

function parseFields(type: string, f: string[]): NodeFrame | RejectReason {
  switch (type) {
    case 'FLI': {
      if (f.length !== 3) return 'syntax';
      const [nodeId = '', firmware = '', version = ''] = f;
      if (!NODE_ID_PATTERN.test(nodeId) || !isToken(firmware) || !isToken(version)) return 'field';
      return { kind: 'identity', nodeId, firmware, version };
    }
    case 'FLR':
      return parseReadings(f);
    case 'FLE': {
      if (f.length < 2) return 'syntax';
      const [code = '', ...rest] = f;
      const text = rest.join(',');
      if (!isToken(code) || !isText(text)) return 'field';
      return { kind: 'fault', code, text };
    }
    case 'FLA': {
      const [command = '', verdict, ...rest] = f;
      if (!COMMAND_PATTERN.test(command)) return 'field';
      if (verdict === 'OK') return rest.length === 0 ? { kind: 'answer', command, ok: true } : 'syntax';
      if (verdict !== 'ERR') return 'field';
      if (rest.length === 0) return 'syntax';
      const why = rest.join(',');
      return isText(why) ? { kind: 'answer', command, ok: false, why } : 'field';
    }
    default:
      // FLC included: a command coming back from the node side is not something a node sends.
      return 'unknown-type';
  }
}

function parseReadings(f: string[]): ReadingsFrame | RejectReason {
  const [counterText = '', ...items] = f;
  if (items.length === 0) return 'syntax';
  if (!COUNTER_PATTERN.test(counterText)) return 'field';
  const counter = Number(counterText);
  if (counter > 0xffff) return 'field';
  const seen = new Set<string>();
  const readings: Reading[] = [];
  for (const item of items) {
    const parts = item.split(':');
    if (parts.length < 2 || parts.length > 3) return 'field';
    const [sensor = '', valueText = '', unit] = parts;
    if (!SENSOR_PATTERN.test(sensor) || !VALUE_PATTERN.test(valueText)) return 'field';
    if (unit !== undefined && !UNIT_PATTERN.test(unit)) return 'field';
    if (seen.has(sensor)) return 'field';
    seen.add(sensor);
    const value = Number(valueText);
    // `-0` is written by some firmware; the event log has no use for a negative zero.
    const reading: Reading = { sensor, value: value === 0 ? 0 : value };
    if (unit !== undefined) reading.unit = unit;
    readings.push(reading);
  }
  return { kind: 'readings', counter, readings };
}

function isToken(s: string): boolean {
  return TOKEN_PATTERN.test(s) && !FRAMING_CHARS.test(s);
}
function isText(s: string): boolean {
  return TEXT_PATTERN.test(s) && !/[$*]/.test(s);
}

/**
 * Frames lost between two consecutive counters, modulo 2^16: 0 when `next` follows `prev`.
 * A repeated counter (`next === prev`) is a duplicate, not 65 535 lost frames: it returns 0 as
 * well, and a caller that drops duplicates compares the counters itself. A node that restarts
 * counts from an arbitrary value again; the caller resets its `prev` on the node's FLI.
 */
export function counterGap(prev: number, next: number): number {
  const p = prev & 0xffff;
  const n = next & 0xffff;
  if (p === n) return 0;
  return (n - p - 1 + 0x10000) & 0xffff;
}

// ---- encoding (device → node commands, and the node side for the firmware simulator) ----
// Encoders are for trusted callers: they throw on input that would not parse back.

function finish(body: string, what: string): string {
  const line = wrapFrame(body);
  if (Buffer.byteLength(line, 'utf8') > MAX_LINE_BYTES) {
    throw fail('EVENT_INVALID', `${what} frame is over ${MAX_LINE_BYTES} bytes`);
  }
  return line;
}

export function encodeCommand(cmd: Command): string {
  if (cmd.kind === 'identify') return wrapFrame('FLC,ID');
  if (!Number.isInteger(cmd.ms) || cmd.ms < 1 || cmd.ms > MAX_RATE_MS) {
    throw fail('COMMAND_REJECTED', `sample period must be an integer from 1 to ${MAX_RATE_MS} ms`);
  }
  return wrapFrame(`FLC,RATE,${cmd.ms}`);
}

/** The node side's view of a command line; the device never receives these. */
export function parseCommand(line: string | Buffer): Command | Rejected {
  const opened = openFrame(line, false);
  if ('kind' in opened) return opened;
  const { reject } = opened;
  const [type, name, arg, ...extra] = opened.body.toString('latin1').split(',');
  if (type !== 'FLC') return reject('unknown-type');
  if (name === 'ID' && arg === undefined) return { kind: 'identify' };
  if (name !== 'RATE') return reject('field');
  if (arg === undefined || extra.length > 0) return reject('syntax');
  const ms = /^\d{1,7}$/.test(arg) ? Number(arg) : Number.NaN;
  return ms >= 1 && ms <= MAX_RATE_MS ? { kind: 'rate', ms } : reject('field');
}

/** A decimal string without exponent that parses back to exactly `value`. */
export function decimalString(value: number): string {
  if (!Number.isFinite(value)) throw fail('EVENT_INVALID', 'a reading value must be a finite number');
  const shortest = String(value); // "-0" prints as "0"
  const m = /^(-?)(\d+)(?:\.(\d+))?e([+-]\d+)$/.exec(shortest);
  if (m === null) return shortest;
  const [, sign = '', int = '', frac = '', expText = '0'] = m;
  const digits = int + frac;
  const point = int.length + Number(expText);
  if (point <= 0) return `${sign}0.${'0'.repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${'0'.repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

export function encodeReadings(counter: number, readings: readonly Reading[]): string {
  if (!Number.isInteger(counter) || counter < 0 || counter > 0xffff) {
    throw fail('EVENT_INVALID', 'counter must be an integer from 0 to 65535');
  }
  if (readings.length === 0) throw fail('EVENT_INVALID', 'a readings frame needs at least one reading');
  const seen = new Set<string>();
  const items = readings.map(({ sensor, value, unit }) => {
    if (!SENSOR_PATTERN.test(sensor) || seen.has(sensor)) {
      throw fail('EVENT_INVALID', `bad or repeated sensor name ${JSON.stringify(sensor)}`);
    }
    seen.add(sensor);
    if (unit !== undefined && !UNIT_PATTERN.test(unit)) {
      throw fail('EVENT_INVALID', `bad unit ${JSON.stringify(unit)}`);
    }
    const text = `${sensor}:${decimalString(value)}`;
    return unit === undefined ? text : `${text}:${unit}`;
  });
  return finish(`FLR,${counter},${items.join(',')}`, 'readings');
}

export function encodeIdentity(id: Omit<IdentityFrame, 'kind'>): string {
  if (!NODE_ID_PATTERN.test(id.nodeId) || !isToken(id.firmware) || !isToken(id.version)) {
    throw fail('EVENT_INVALID', 'bad node id, firmware or version');
  }
  return finish(`FLI,${id.nodeId},${id.firmware},${id.version}`, 'identity');
}

export function encodeFault(code: string, text: string): string {
  if (!isToken(code) || !isText(text)) throw fail('EVENT_INVALID', 'bad fault code or text');
  return finish(`FLE,${code},${text}`, 'fault');
}

export function encodeAnswer(command: string, ok: boolean, why = ''): string {
  if (!COMMAND_PATTERN.test(command))
    throw fail('EVENT_INVALID', `bad command name ${JSON.stringify(command)}`);
  if (ok) return finish(`FLA,${command},OK`, 'answer');
  if (!isText(why)) throw fail('EVENT_INVALID', 'bad answer reason');
  return finish(`FLA,${command},ERR,${why}`, 'answer');
}

/** Encodes any node frame; the inverse of parseLine for every frame it accepts. */
export function encodeNodeFrame(frame: NodeFrame): string {
  switch (frame.kind) {
    case 'identity':
      return encodeIdentity(frame);
    case 'readings':
      return encodeReadings(frame.counter, frame.readings);
    case 'fault':
      return encodeFault(frame.code, frame.text);
    case 'answer':
      return encodeAnswer(frame.command, frame.ok, frame.why);
  }
}

/**
 * Cuts a byte stream into lines at `\n`, dropping one `\r` before it. Memory stays bounded: a
 * line that grows past MAX_CONTENT_BYTES without a terminator is cut there and returned as its
 * first MAX_CONTENT_BYTES + 1 bytes (so parseLine rejects it as 'overlong'), and the rest of it,
 * up to the next `\n`, is skipped.
 */
export class LineSplitter {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #skipping = false;

  push(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      if (!this.#skipping) this.#take(chunk.subarray(start, end), lines);
      if (nl < 0) break;
      if (this.#skipping) this.#skipping = false;
      else lines.push(this.#line());
      start = nl + 1;
    }
    return lines;
  }

  /** The unterminated tail at the end of the stream, if any: an incomplete line by definition. */
  end(): Buffer | undefined {
    const tail = this.#skipping || this.#pendingBytes === 0 ? undefined : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipping = false;
    return tail;
  }

  #take(piece: Buffer, lines: Buffer[]): void {
    // One byte of slack: a content of exactly MAX_CONTENT_BYTES may still be followed by `\r\n`.
    const room = MAX_CONTENT_BYTES + 1 - this.#pendingBytes;
    if (piece.length <= room) {
      // Copied, so a pending tail never pins a large chunk in memory.
      if (piece.length > 0) this.#pending.push(Buffer.from(piece));
      this.#pendingBytes += piece.length;
      return;
    }
    lines.push(Buffer.concat([...this.#pending, piece.subarray(0, room)]));
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#skipping = true;
  }

  #line(): Buffer {
    let line = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    this.#pending = [];
    this.#pendingBytes = 0;
    if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, -1);
    return line;
  }
}
