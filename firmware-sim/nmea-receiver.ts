// A simulated NMEA 0183 GPS receiver: drives a loop around a centre point and sends one epoch
// (RMC, GGA, GSA, GSV) per period with real checksums; tunnels (fix loss), start-up text and line
// faults on request. It records the position a correct device must derive from each epoch.

import { wrapFrame } from '../src/device/frame.js';
import type { Position } from '../src/device/nmea.js';
import { fail } from '../src/errors.js';
import { type BoardClock, systemClock } from './firmata-board.js';
import { gaussian, noiseLine, spoilDigit } from './line-node.js';
import type { SerialSimulator } from './mock-port.js';

export const NMEA_FAULTS = ['garbage', 'checksum', 'fixloss'] as const;
export type NmeaFault = (typeof NMEA_FAULTS)[number];

/** The tunnel schedule the `fixloss` fault uses when no `fixLoss` option is given. */
export const DEFAULT_FIX_LOSS = { everyMs: 60_000, forMs: 10_000 } as const;

export interface NmeaReceiverOptions {
  /** `GP` (GPS only) or `GN` (combined, with GLONASS satellites too); any two letters. Default GP. */
  talker?: string;
  /** Centre of the loop the receiver drives around; altitude in metres above sea level. */
  centre?: { lat: number; lon: number; alt?: number };
  radiusM?: number;
  speedMps?: number;
  /** One epoch per period. Default 1000 ms. */
  periodMs?: number;
  /** UTC (ms since 1970) at start; defaults to Date.now(), cut to the whole second as receivers do. */
  utcStart?: number;
  /** No fix before this long after start, like a cold start. Default 0. */
  firstFixMs?: number;
  /** A tunnel every `everyMs` (first one then) lasting `forMs`: quality 0, status V, empty lat/lon. */
  fixLoss?: { everyMs: number; forMs: number };
  /** Non-NMEA text at power-on: true for a built-in banner, or the lines themselves. */
  startupText?: boolean | readonly string[];
  faults?: Iterable<NmeaFault>;
  /** Chance per epoch of a `garbage` or `checksum` fault. Default 0.05. */
  faultRate?: number;
  /** Keep the expected position of every fix epoch for positions(). Off by default. */
  record?: boolean;
  clock?: BoardClock;
  random?: () => number;
}

export interface NmeaReceiverStats {
  epochs: number;
  fixEpochs: number;
  sentences: number;
  /** Start-up lines that are not NMEA. */
  textLines: number;
  faults: { garbage: number; checksum: number };
}

interface Satellite {
  talker: string;
  prn: number;
  elevation: number;
  azimuth: number;
  snr: number;
}

interface FixFields {
  lat: string;
  ns: string;
  lon: string;
  ew: string;
  alt: string;
  knots: string;
  course: string;
  used: Satellite[];
  hdop: string;
}

const EARTH_RADIUS_M = 6_371_008.8;
const KNOT_MPS = 1852 / 3600;
const GEOID_SEPARATION = 47.3;
const BANNER = ['', 'GNSS-SIM receiver 2.1 (fieldlog firmware-sim)', 'Copyright (c) fieldlog', 'booting...'];

export class NmeaReceiver implements SerialSimulator {
  readonly #options: NmeaReceiverOptions;
  readonly #talker: string;
  readonly #centre: { lat: number; lon: number; alt: number };
  readonly #radiusM: number;
  readonly #speedMps: number;
  readonly #periodMs: number;
  readonly #fixLoss: { everyMs: number; forMs: number } | undefined;
  readonly #faults: readonly ('garbage' | 'checksum')[];
  readonly #faultRate: number;
  readonly #clock: BoardClock;
  readonly #random: () => number;
  readonly #listeners = new Set<(bytes: Buffer) => void>();
  readonly #positions: Position[] = [];
  readonly #satellites: Satellite[];
  #stats: NmeaReceiverStats = emptyStats();
  #timer: unknown = null;
  #epoch = 0;
  #utcStart = 0;

  constructor(options: NmeaReceiverOptions = {}) {
    this.#options = options;
    this.#talker = options.talker ?? 'GP';
    if (!/^[A-Z]{2}$/.test(this.#talker) || this.#talker.startsWith('P'))
      throw fail('CONFIG_INVALID', `talker must be two letters like GP or GN, got "${this.#talker}"`);
    const c = options.centre ?? { lat: 47.3769, lon: 8.5417, alt: 408 };
    if (!(Math.abs(c.lat) <= 85 && Math.abs(c.lon) <= 180))
      throw fail('CONFIG_INVALID', 'centre: lat must be within ±85°, lon within ±180°');
    this.#centre = { lat: c.lat, lon: c.lon, alt: c.alt ?? 120 };
    this.#radiusM = positive('radiusM', options.radiusM ?? 400);
    this.#speedMps = positive('speedMps', options.speedMps ?? 13.9);
    this.#periodMs = positive('periodMs', options.periodMs ?? 1000);
    const faults = new Set(options.faults ?? []);
    for (const f of faults) {
      if (!(NMEA_FAULTS as readonly string[]).includes(f))
        throw fail('CONFIG_INVALID', `unknown fault "${f}"`);
    }
    this.#fixLoss = options.fixLoss ?? (faults.has('fixloss') ? DEFAULT_FIX_LOSS : undefined);
    if (this.#fixLoss && !(this.#fixLoss.forMs > 0 && this.#fixLoss.forMs < this.#fixLoss.everyMs))
      throw fail('CONFIG_INVALID', 'fixLoss: forMs must be above 0 and below everyMs');
    this.#faults = [...faults].filter((f): f is 'garbage' | 'checksum' => f !== 'fixloss');
    this.#faultRate = options.faultRate ?? 0.05;
    if (!(this.#faultRate >= 0 && this.#faultRate <= 1))
      throw fail('CONFIG_INVALID', `faultRate must be from 0 to 1, got ${this.#faultRate}`);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#satellites = this.#sky();
  }

  get running(): boolean {
    return this.#timer !== null;
  }
  get stats(): NmeaReceiverStats {
    return { ...this.#stats, faults: { ...this.#stats.faults } };
  }
  /** For every fix epoch, in order, the position a correct device records (needs `record: true`). */
  positions(): readonly Position[] {
    return this.#positions;
  }

  onData(listener: (bytes: Buffer) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Configuration sentences ($PMTK, UBX) are not modelled: the receiver ignores its input. */
  receive(_bytes: Buffer): void {}

  /** Power on: start-up text, then one epoch per period. */
  start(): void {
    this.stop();
    this.#epoch = 0;
    this.#utcStart = Math.floor((this.#options.utcStart ?? Date.now()) / 1000) * 1000;
    const text = this.#options.startupText;
    const lines = text === true ? BANNER : text === false || text === undefined ? [] : text;
    if (lines.length > 0) {
      this.#stats.textLines += lines.length;
      this.#send(Buffer.from(lines.map((l) => `${l}\r\n`).join(''), 'latin1'));
    }
    this.#timer = this.#clock.setInterval(() => this.#tick(), this.#periodMs);
  }

  stop(): void {
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  /** Whether the receiver has a fix `elapsedMs` after start. */
  hasFix(elapsedMs: number): boolean {
    if (elapsedMs < (this.#options.firstFixMs ?? 0)) return false;
    const loss = this.#fixLoss;
    return loss === undefined || elapsedMs < loss.everyMs || elapsedMs % loss.everyMs >= loss.forMs;
  }

  #tick(): void {
    this.#epoch++;
    const elapsed = this.#epoch * this.#periodMs;
    // Centiseconds are all an NMEA time field carries.
    const utc = this.#utcStart + Math.round(elapsed / 10) * 10;
    const fix = this.hasFix(elapsed) ? this.#fix(elapsed) : undefined;
    const fault =
      this.#faults.length > 0 && this.#random() < this.#faultRate
        ? this.#faults[Math.floor(this.#random() * this.#faults.length)]
        : undefined;
    const sentences = this.#epochSentences(utc, fix);
    const lines: Buffer[] = sentences.map((s) => Buffer.from(wrapFrame(s.body), 'latin1'));
    let spoiled: string | undefined;
    if (fault === 'checksum') {
      const i = Math.floor(this.#random() * lines.length);
      spoiled = sentences[i]!.type;
      lines[i] = spoilDigit(lines[i]!, this.#random);
    }
    if (fault === 'garbage') lines.unshift(noiseLine(this.#random));
    if (fault !== undefined) this.#stats.faults[fault]++;
    this.#stats.epochs++;
    this.#stats.sentences += sentences.length;
    if (fix) {
      this.#stats.fixEpochs++;
      if (this.#options.record) this.#positions.push(expectedPosition(utc, fix, spoiled));
    }
    this.#send(Buffer.concat(lines));
  }

  /** Where the receiver is: counter-clockwise on the loop, with gentle hills. */
  #where(elapsedMs: number): { lat: number; lon: number; alt: number; course: number } {
    const theta = (this.#speedMps * elapsedMs) / 1000 / this.#radiusM;
    const north = this.#radiusM * Math.sin(theta);
    const east = this.#radiusM * Math.cos(theta);
    const lat = this.#centre.lat + (north / EARTH_RADIUS_M) * (180 / Math.PI);
    const dLon = (east / (EARTH_RADIUS_M * Math.cos((this.#centre.lat * Math.PI) / 180))) * (180 / Math.PI);
    const lon = ((((this.#centre.lon + dLon + 180) % 360) + 360) % 360) - 180;
    const alt = this.#centre.alt + 12 * Math.sin(theta) + 4 * Math.sin(3 * theta + 1);
    // Heading along the tangent (-sin θ east, cos θ north), in degrees from true north.
    const course = ((Math.atan2(-Math.sin(theta), Math.cos(theta)) * 180) / Math.PI + 360) % 360;
    return { lat, lon, alt, course };
  }

  /** One fix's fields as they go on the wire. */
  #fix(elapsed: number): FixFields {
    const w = this.#where(elapsed);
    const used = this.#satellites.filter((s) => s.elevation >= 15).slice(0, 12);
    const speed = Math.max(0, this.#speedMps + 0.15 * gaussian(this.#random));
    return {
      lat: angle(Math.abs(w.lat), 2),
      ns: w.lat < 0 ? 'S' : 'N',
      lon: angle(Math.abs(w.lon), 3),
      ew: w.lon < 0 ? 'W' : 'E',
      alt: w.alt.toFixed(1),
      knots: (speed / KNOT_MPS).toFixed(3),
      course: (Number(w.course.toFixed(2)) % 360).toFixed(2), // 359.999 is 0.00, not 360.00
      used,
      hdop: (0.6 + 4 / Math.max(used.length, 1)).toFixed(2),
    };
  }

  #epochSentences(utc: number, fix: FixFields | undefined): { type: string; body: string }[] {
    const t = this.#talker;
    const time = nmeaTime(utc);
    const date = nmeaDate(utc);
    const out: { type: string; body: string }[] = [];
    if (fix) {
      const where = `${fix.lat},${fix.ns},${fix.lon},${fix.ew}`;
      const sats = pad(fix.used.length, 2);
      out.push({ type: 'RMC', body: `${t}RMC,${time},A,${where},${fix.knots},${fix.course},${date},,,A` });
      out.push({
        type: 'GGA',
        body: `${t}GGA,${time},${where},1,${sats},${fix.hdop},${fix.alt},M,${GEOID_SEPARATION},M,,`,
      });
    } else {
      out.push({ type: 'RMC', body: `${t}RMC,${time},V,,,,,,,${date},,,N` });
      out.push({ type: 'GGA', body: `${t}GGA,${time},,,,,0,00,99.99,,,,,,` });
    }
    const hdop = Number(fix?.hdop ?? 0);
    const dops = fix
      ? [hdop * 1.7, hdop, hdop * 1.3].map((d) => d.toFixed(2)).join(',')
      : '99.99,99.99,99.99';
    // A combined receiver sends one GSA per constellation, all under its GN talker.
    for (const system of t === 'GN' ? ['GP', 'GL'] : [t]) {
      const prns = (fix?.used ?? []).filter((s) => s.talker === system).map((s) => pad(s.prn, 2));
      const list = [...prns, ...Array<string>(12 - prns.length).fill('')].join(',');
      out.push({ type: 'GSA', body: `${t}GSA,A,${fix ? 3 : 1},${list},${dops}` });
    }
    // Satellites in view once a second, as most receivers send them, whatever the epoch rate.
    const perSecond = Math.max(1, Math.round(1000 / this.#periodMs));
    if (this.#epoch % perSecond === 0) out.push(...this.#gsv(fix !== undefined));
    return out;
  }

  #gsv(fix: boolean): { type: string; body: string }[] {
    const out: { type: string; body: string }[] = [];
    for (const system of this.#talker === 'GN' ? ['GP', 'GL'] : [this.#talker]) {
      const sats = this.#satellites.filter((s) => s.talker === system);
      const count = Math.ceil(sats.length / 4);
      for (let i = 0; i < count; i++) {
        const block = sats.slice(i * 4, i * 4 + 4).map((s) => {
          // In a tunnel the receiver still knows where the satellites are, but hears none of them.
          const snr = fix ? pad(Math.round(s.snr + 2 * gaussian(this.#random)), 2) : '';
          return `${pad(s.prn, 2)},${pad(s.elevation, 2)},${pad(s.azimuth, 3)},${snr}`;
        });
        out.push({
          type: 'GSV',
          body: `${system}GSV,${count},${i + 1},${pad(sats.length, 2)},${block.join(',')}`,
        });
      }
    }
    return out;
  }

  /** A fixed sky for the run: distinct PRNs, elevations 5–85°, C/N0 rising with elevation. */
  #sky(): Satellite[] {
    const systems: [talker: string, first: number, count: number, visible: number][] =
      this.#talker === 'GN'
        ? [
            ['GP', 1, 32, 10],
            ['GL', 65, 24, 6],
          ]
        : [[this.#talker, 1, 32, 10]];
    const sky: Satellite[] = [];
    for (const [talker, first, count, visible] of systems) {
      const prns = new Set<number>();
      while (prns.size < visible) prns.add(first + Math.floor(this.#random() * count));
      for (const prn of [...prns].sort((a, b) => a - b)) {
        const elevation = 5 + Math.floor(this.#random() * 81);
        const azimuth = Math.floor(this.#random() * 360);
        sky.push({ talker, prn, elevation, azimuth, snr: 24 + elevation / 4 });
      }
    }
    return sky;
  }

  #send(bytes: Buffer): void {
    for (const listener of this.#listeners) listener(bytes);
  }
}

/**
 * The position FixEpochs makes of one fix epoch, from the wire text so it matches to the bit:
 * lat/lon from GGA (RMC carries the same text), altitude, satellites and HDOP only with an intact
 * GGA, speed, course and the date only with an intact RMC.
 */
function expectedPosition(utc: number, fix: FixFields, spoiled: string | undefined): Position {
  const iso = new Date(utc).toISOString();
  const lat = (fix.ns === 'S' ? -1 : 1) * angleValue(fix.lat, 2);
  const lon = (fix.ew === 'W' ? -1 : 1) * angleValue(fix.lon, 3);
  const p: Position = {
    fixTime: spoiled === 'RMC' ? iso.slice(11) : iso,
    lat: lat === 0 ? 0 : lat,
    lon: lon === 0 ? 0 : lon,
  };
  if (spoiled !== 'GGA') {
    p.alt = Number(fix.alt);
    p.sats = fix.used.length;
    p.hdop = Number(fix.hdop);
  }
  if (spoiled !== 'RMC') {
    p.speed = Number(fix.knots) * KNOT_MPS;
    p.course = Number(fix.course);
  }
  return p;
}

/** `ddmm.mmmmm` (or `dddmm.mmmmm`) from integer 1e-5 minutes, so rounding never makes 60 minutes. */
function angle(degrees: number, degreeDigits: number): string {
  const units = Math.round(degrees * 60 * 1e5);
  const deg = Math.floor(units / 6e6);
  const minutes = (units - deg * 6e6) / 1e5;
  return `${pad(deg, degreeDigits)}${minutes.toFixed(5).padStart(8, '0')}`;
}

/** What a parser makes of angle(): degrees plus minutes / 60, split on the text. */
function angleValue(text: string, degreeDigits: number): number {
  return Number(text.slice(0, degreeDigits)) + Number(text.slice(degreeDigits)) / 60;
}

function nmeaTime(utc: number): string {
  const d = new Date(utc);
  const cs = Math.floor(d.getUTCMilliseconds() / 10);
  return `${pad(d.getUTCHours(), 2)}${pad(d.getUTCMinutes(), 2)}${pad(d.getUTCSeconds(), 2)}.${pad(cs, 2)}`;
}

function nmeaDate(utc: number): string {
  const d = new Date(utc);
  return `${pad(d.getUTCDate(), 2)}${pad(d.getUTCMonth() + 1, 2)}${pad(d.getUTCFullYear() % 100, 2)}`;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0))
    throw fail('CONFIG_INVALID', `${name} must be above 0, got ${value}`);
  return value;
}

function emptyStats(): NmeaReceiverStats {
  return { epochs: 0, fixEpochs: 0, sentences: 0, textLines: 0, faults: { garbage: 0, checksum: 0 } };
}
