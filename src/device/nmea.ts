// NMEA 0183 for the `nmea` source (docs/protocol.md §8, a contract): pure sentence parsing (GGA, RMC, GLL;
// any talker) and FixEpochs, the state machine that turns sentences sharing one UTC time of day
// into at most one position each. No I/O and no timers: the caller passes the time in.
import type { PositionRecorded } from '../log/events.js';
import { openFrame, type Rejected } from './line-protocol.js';

export type Talker = string;

interface Timed {
  talker: Talker;
  /** UTC time of day in ms since midnight; absent when the receiver sent none. */
  time?: number;
  lat?: number;
  lon?: number;
}
export interface GgaSentence extends Timed {
  kind: 'gga';
  /** 0 none, 1 GPS, 2 DGPS, 3 PPS, 4 RTK, 5 float RTK, 6 estimated, 7 manual, 8 simulation. */
  quality?: number;
  sats?: number;
  hdop?: number;
  /** Metres above mean sea level. */
  alt?: number;
  geoidSep?: number;
}
export interface RmcSentence extends Timed {
  kind: 'rmc';
  status: string;
  speedKnots?: number;
  speedMps?: number;
  /** Degrees from true north. */
  course?: number;
  /** `YYYY-MM-DD`. */
  date?: string;
  /** FAA mode indicator (NMEA 2.3+): A, D, E, F, R, P, N, S, M ... */
  mode?: string;
}
export interface GllSentence extends Timed {
  kind: 'gll';
  status: string;
  mode?: string;
}
export interface OtherSentence {
  kind: 'other';
  /** Absent for proprietary (`$P...`) sentences. */
  talker?: Talker;
  /** `GSV`, `ZDA`, ... or the whole address of a proprietary sentence (`PGRME`). */
  type: string;
}
export type NmeaSentence = GgaSentence | RmcSentence | GllSentence | OtherSentence;
export type NmeaParsed = NmeaSentence | Rejected;

/** PositionRecorded's payload without its `source` (docs/protocol.md §4): what an epoch yields. */
export type Position = Omit<PositionRecorded, 'source'>;

const KNOT_MPS = 1852 / 3600;
const TIME_PATTERN = /^([01]\d|2[0-3])([0-5]\d)([0-5]\d|60)(?:\.(\d{1,9}))?$/;
const DATE_PATTERN = /^(\d\d)(\d\d)(\d\d)$/;
const DECIMAL_PATTERN = /^-?\d+(\.\d+)?$/;
const UNSIGNED_PATTERN = /^\d+(\.\d+)?$/;
const STANDARD_ADDRESS = /^([A-Z]{2})([A-Z0-9]{3})$/;
const PROPRIETARY_ADDRESS = /^P[A-Z0-9]{3,}$/;
/** SiRF writes `$PSRFTXTVersion GSW3...*78`: free text straight after the manufacturer code. */
const PROPRIETARY_TEXT = /^(P[A-Z]{3})/;

/** A bad field makes the whole sentence a rejection, as a bad field does in a line frame. */
class BadField extends Error {}

/** Parses one NMEA line (without its terminator). Never throws. */
export function parseSentence(line: string | Buffer): NmeaParsed {
  const opened = openFrame(line, false);
  if ('kind' in opened) return opened;
  const { reject } = opened;
  const fields = opened.body.toString('latin1').split(',');
  const address = fields[0] ?? '';
  // `P` is never a talker: it marks a proprietary sentence, whatever follows.
  if (PROPRIETARY_ADDRESS.test(address)) return { kind: 'other', type: address };
  const maker = PROPRIETARY_TEXT.exec(address);
  if (maker?.[1] !== undefined) return { kind: 'other', type: maker[1] };
  const standard = STANDARD_ADDRESS.exec(address);
  if (standard === null) return reject('syntax');
  const [, talker = '', type = ''] = standard;
  const f = (i: number): string => fields[i] ?? '';
  try {
    switch (type) {
      case 'GGA':
        return parseGga(talker, f);
      case 'RMC':
        return parseRmc(talker, f);
      case 'GLL':
        return parseGll(talker, f);
      default:
        return { kind: 'other', talker, type };
    }
  } catch (err) {
    if (err instanceof BadField) return reject('field');
    throw err;
  }
}

type Field = (i: number) => string;

function parseGga(talker: Talker, f: Field): GgaSentence {
  const s: GgaSentence = { kind: 'gga', talker };
  setTime(s, f(1));
  setLatLon(s, f(2), f(3), f(4), f(5));
  if (f(6) !== '') s.quality = integer(f(6));
  if (f(7) !== '') s.sats = integer(f(7));
  if (f(8) !== '') s.hdop = decimal(f(8), UNSIGNED_PATTERN);
  if (f(9) !== '') s.alt = decimal(f(9), DECIMAL_PATTERN);
  if (f(11) !== '') s.geoidSep = decimal(f(11), DECIMAL_PATTERN);
  return s;
}

function parseRmc(talker: Talker, f: Field): RmcSentence {
  const s: RmcSentence = { kind: 'rmc', talker, status: f(2) };
  setTime(s, f(1));
  setLatLon(s, f(3), f(4), f(5), f(6));
  if (f(7) !== '') {
    s.speedKnots = decimal(f(7), UNSIGNED_PATTERN);
    s.speedMps = s.speedKnots * KNOT_MPS;
  }
  if (f(8) !== '') s.course = decimal(f(8), UNSIGNED_PATTERN);
  if (f(9) !== '') s.date = date(f(9));
  if (f(12) !== '') s.mode = f(12);
  return s;
}

function parseGll(talker: Talker, f: Field): GllSentence {
  const s: GllSentence = { kind: 'gll', talker, status: f(6) };
  setLatLon(s, f(1), f(2), f(3), f(4));
  setTime(s, f(5));
  if (f(7) !== '') s.mode = f(7);
  return s;
}

function setTime(s: Timed, text: string): void {
  if (text === '') return;
  const m = TIME_PATTERN.exec(text);
  if (m === null) throw new BadField();
  const [, h = '0', min = '0', sec = '0', frac = ''] = m;
  // Truncated to the millisecond: enough for 10 Hz receivers, and stable as an epoch key.
  const ms = Number(frac.padEnd(3, '0').slice(0, 3));
  s.time = ((Number(h) * 60 + Number(min)) * 60 + Number(sec)) * 1000 + ms;
}

/** `ddmm.mmmm` / `dddmm.mmmm` to decimal degrees, south and west negative. */
function setLatLon(s: Timed, lat: string, ns: string, lon: string, ew: string): void {
  if (lat === '' && ns === '' && lon === '' && ew === '') return;
  const latDeg = angle(lat, 2, 90);
  const lonDeg = angle(lon, 3, 180);
  if ((ns !== 'N' && ns !== 'S') || (ew !== 'E' && ew !== 'W')) throw new BadField();
  s.lat = ns === 'S' && latDeg !== 0 ? -latDeg : latDeg;
  s.lon = ew === 'W' && lonDeg !== 0 ? -lonDeg : lonDeg;
}

function angle(text: string, degreeDigits: number, max: number): number {
  const m = /^(\d+)(\d\d)(\.\d+)?$/.exec(text);
  if (m === null) throw new BadField();
  const [, deg = '', min = '', frac = ''] = m;
  if (deg.length > degreeDigits) throw new BadField();
  // Degrees and minutes are split on the text, so no binary rounding creeps into the degrees.
  const minutes = Number(min + frac);
  const value = Number(deg) + minutes / 60;
  if (minutes >= 60 || value > max) throw new BadField();
  return value;
}

function integer(text: string): number {
  if (!/^\d{1,3}$/.test(text)) throw new BadField();
  return Number(text);
}

function decimal(text: string, pattern: RegExp): number {
  if (!pattern.test(text)) throw new BadField();
  return Number(text);
}

function date(text: string): string {
  const m = DATE_PATTERN.exec(text);
  if (m === null) throw new BadField();
  const [, dd = '', mm = '', yy = ''] = m;
  const day = Number(dd);
  const month = Number(mm);
  if (month < 1 || month > 12 || day < 1 || day > 31) throw new BadField();
  // Two-digit years: GPS time starts in 1980, so 80–99 are 19xx and the rest 20xx.
  const year = Number(yy) >= 80 ? `19${yy}` : `20${yy}`;
  return `${year}-${mm}-${dd}`;
}

// ---- fix epochs ----

export type EpochSentence = GgaSentence | RmcSentence | GllSentence;

/** GGA quality 7 (manual) and 8 (simulation) and mode S/M are not a receiver's own fix. */
const SIMULATED_QUALITIES = new Set([7, 8]);
const NOT_A_FIX_MODES = new Set(['N', 'S', 'M']);
const SIMULATED_MODES = new Set(['S', 'M']);

function hasPosition(s: EpochSentence): s is EpochSentence & { lat: number; lon: number } {
  return s.lat !== undefined && s.lon !== undefined;
}

/** Whether this one sentence reports a usable fix of the receiver's own. */
export function claimsFix(s: EpochSentence): boolean {
  if (!hasPosition(s)) return false;
  if (s.kind === 'gga') return s.quality !== undefined && s.quality >= 1 && s.quality <= 6;
  return s.status === 'A' && !NOT_A_FIX_MODES.has(s.mode ?? 'A');
}

function isSimulated(s: EpochSentence): boolean {
  if (s.kind === 'gga') return s.quality !== undefined && SIMULATED_QUALITIES.has(s.quality);
  return s.mode !== undefined && SIMULATED_MODES.has(s.mode);
}

/**
 * Merges one epoch's sentences into its position, or none.
 * - The epoch is a fix when any of its GGA (quality 1–6), RMC or GLL (status A, mode not
 *   N/S/M) says so: the contract's "GGA quality 1–6, or RMC status A", with GLL as a third
 *   witness because some receivers report a fix in GLL alone (gpsd records those too).
 * - One sentence saying simulation or manual input (GGA 7/8, mode S/M) vetoes the epoch: a
 *   demo-mode receiver must never leave a position in the log.
 * - Only sentences that claim the fix contribute values: a GGA with quality 0 does not lend its
 *   altitude, an RMC with status V not its speed or date. lat/lon come from GGA, else RMC,
 *   else GLL; within one type the first sentence wins.
 */
export function epochPosition(sentences: readonly EpochSentence[]): Position | undefined {
  if (sentences.some(isSimulated)) return undefined;
  const fixes = sentences.filter(claimsFix);
  const gga = fixes.find((s): s is GgaSentence => s.kind === 'gga');
  const rmc = fixes.find((s): s is RmcSentence => s.kind === 'rmc');
  const gll = fixes.find((s): s is GllSentence => s.kind === 'gll');
  const where = gga ?? rmc ?? gll;
  if (where?.lat === undefined || where.lon === undefined || where.time === undefined) return undefined;
  const p: Position = { fixTime: fixTime(where.time, rmc?.date), lat: where.lat, lon: where.lon };
  if (gga?.alt !== undefined) p.alt = gga.alt;
  if (rmc?.speedMps !== undefined) p.speed = rmc.speedMps;
  if (rmc?.course !== undefined) p.course = rmc.course;
  if (gga?.sats !== undefined) p.sats = gga.sats;
  if (gga?.hdop !== undefined) p.hdop = gga.hdop;
  return p;
}

function fixTime(timeMs: number, date: string | undefined): string {
  const pad = (n: number, w = 2) => String(n).padStart(w, '0');
  const clock = `${pad(Math.floor(timeMs / 3_600_000))}:${pad(Math.floor(timeMs / 60_000) % 60)}:${pad(
    Math.floor(timeMs / 1000) % 60,
  )}.${pad(timeMs % 1000, 3)}Z`;
  return date === undefined ? clock : `${date}T${clock}`;
}

/**
 * Groups sentences into fix epochs by their UTC time of day and yields one position per epoch
 * with a fix: when a sentence with another time arrives, when `idle` finds the epoch's last
 * sentence `silenceMs` old, or at `flush`. Only GGA, RMC and GLL carry the epoch's time; other
 * sentences and rejections neither join nor close an epoch, so a receiver that keeps chattering
 * GSV still has its epoch closed by `idle`. Sentences without a time cannot be placed and are
 * ignored. A sentence arriving for the epoch just closed (late, after the silence) is ignored,
 * so an epoch is never recorded twice.
 */
export class FixEpochs {
  readonly #silenceMs: number;
  #pending: EpochSentence[] = [];
  #pendingTime: number | undefined;
  #lastHeardMs = 0;
  #closedTime: number | undefined;

  constructor(options: { silenceMs?: number } = {}) {
    this.#silenceMs = options.silenceMs ?? 1000;
  }

  push(sentence: NmeaParsed, nowMs: number): Position[] {
    if (sentence.kind !== 'gga' && sentence.kind !== 'rmc' && sentence.kind !== 'gll') return [];
    if (sentence.time === undefined) return [];
    const out = this.idle(nowMs);
    if (sentence.time !== this.#pendingTime) {
      out.push(...this.flush());
      if (sentence.time === this.#closedTime) return out;
      this.#pendingTime = sentence.time;
    }
    this.#pending.push(sentence);
    this.#lastHeardMs = nowMs;
    return out;
  }

  /** Call periodically; closes the pending epoch once it has been silent for `silenceMs`. */
  idle(nowMs: number): Position[] {
    return this.#pendingTime !== undefined && nowMs - this.#lastHeardMs >= this.#silenceMs
      ? this.flush()
      : [];
  }

  /** Closes the pending epoch now (shutdown, end of input). */
  flush(): Position[] {
    if (this.#pendingTime === undefined) return [];
    const position = epochPosition(this.#pending);
    this.#closedTime = this.#pendingTime;
    this.#pendingTime = undefined;
    this.#pending = [];
    return position === undefined ? [] : [position];
  }
}
