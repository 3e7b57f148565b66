// A simulated fieldlog sensor node (line protocol v1, docs/protocol.md §7): identity, periodic readings,
// RATE/ID commands, and injected line faults with a tally of everything sent, so a test can tell
// exactly which frames a correct device must have recorded and how many lines it must reject.

import { wrapFrame } from '../src/device/frame.js';
import {
  encodeAnswer,
  encodeFault,
  encodeIdentity,
  encodeReadings,
  LineSplitter,
  MAX_LINE_BYTES,
  MAX_RATE_MS,
  parseCommand,
  type Reading,
  type ReadingsFrame,
  SENSOR_PATTERN,
  UNIT_PATTERN,
  unframe,
} from '../src/device/line-protocol.js';
import { fail } from '../src/errors.js';
import { type BoardClock, systemClock, type Waveform } from './firmata-board.js';
import type { SerialSimulator } from './mock-port.js';

export const LINE_FAULTS = ['garbage', 'checksum', 'truncate', 'overlong', 'drop', 'disconnect'] as const;
export type LineFault = (typeof LINE_FAULTS)[number];

/** A standard normal variate (Box–Muller); `1 - u` keeps log() away from 0. */
export function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * A physical quantity: a slow sine (the day), a mean-reverting random drift (weather, an open
 * door) and gaussian sensor noise. The drift is an Ornstein–Uhlenbeck process stepped exactly
 * over whatever time passed since the last call, so a changed sample rate keeps its statistics.
 */
export function driftingWaveform(o: {
  mean: number;
  amplitude?: number;
  periodMs?: number;
  phase?: number;
  /** Standard deviation of the drift around the sine. */
  drift?: number;
  driftTimeMs?: number;
  /** Standard deviation of the per-sample noise. */
  noise?: number;
}): Waveform {
  const tau = o.driftTimeMs ?? 300_000;
  let offset = 0;
  let lastT: number | undefined;
  return (t, random) => {
    const dt = lastT === undefined ? Number.POSITIVE_INFINITY : Math.max(0, t - lastT);
    lastT = t;
    const keep = Math.exp(-dt / tau);
    offset = offset * keep + (o.drift ?? 0) * Math.sqrt(1 - keep * keep) * gaussian(random);
    const wave =
      (o.amplitude ?? 0) * Math.sin((2 * Math.PI * t) / (o.periodMs ?? 3_600_000) + (o.phase ?? 0));
    return o.mean + wave + offset + (o.noise ?? 0) * gaussian(random);
  };
}

export interface NodeSensor {
  name: string;
  unit?: string;
  /** Decimals the node reports, as its ADC and calibration allow. Default 2. */
  decimals?: number;
  /** Physical limits (0–100 % humidity): readings are clamped like a saturated sensor. */
  min?: number;
  max?: number;
  waveform: Waveform;
}

/** Temperature, humidity and pressure near a desk; fresh waveforms each call (they hold drift state). */
export function defaultSensors(): NodeSensor[] {
  return [
    {
      name: 'temp',
      unit: 'C',
      decimals: 2,
      waveform: driftingWaveform({ mean: 21, amplitude: 1.5, periodMs: 600_000, drift: 0.4, noise: 0.03 }),
    },
    {
      name: 'hum',
      unit: '%',
      decimals: 1,
      min: 0,
      max: 100,
      waveform: driftingWaveform({
        mean: 45,
        amplitude: 4,
        periodMs: 900_000,
        phase: 2,
        drift: 2,
        noise: 0.3,
      }),
    },
    {
      name: 'pressure',
      unit: 'hPa',
      decimals: 1,
      waveform: driftingWaveform({
        mean: 1013.2,
        amplitude: 1.2,
        periodMs: 3_600_000,
        drift: 0.8,
        noise: 0.05,
      }),
    },
  ];
}

export interface LineNodeOptions {
  nodeId?: string;
  firmware?: string;
  version?: string;
  sensors?: readonly NodeSensor[];
  /** Sample period until the device sends RATE. Default 1000 ms. */
  periodMs?: number;
  /** Counter of the first frame after start (wrap tests start near 65535). Default 0. */
  startCounter?: number;
  faults?: Iterable<LineFault>;
  /** Chance per sample that one of `faults` (picked uniformly) happens instead. Default 0.05. */
  faultRate?: number;
  /** How long a `disconnect` keeps the line away; the line is then up at least as long. Default 5000 ms. */
  outageMs?: number;
  /** Reboot (FLI, counter from `startCounter`) when the host opens the port, as a DTR reset does. */
  resetOnOpen?: boolean;
  /** Keep every valid readings frame for validFrames(). Off by default: a demo runs for days. */
  record?: boolean;
  clock?: BoardClock;
  random?: () => number;
}

export interface LineNodeStats {
  /** Valid FLR frames that reached the line. */
  framesOk: number;
  identities: number;
  answers: number;
  /** FLE frames (the node's own faults, from reportFault). */
  nodeFaults: number;
  /** Injections per fault kind. */
  faults: Record<LineFault, number>;
  /** Lines a correct device rejects: exactly one per garbage, checksum, truncate and overlong. */
  badLines: number;
  /** Counter values that never arrived as a valid frame: dropped, corrupted, or sampled while the line was away. */
  countersLost: number;
  bytesSent: number;
}

const OVERLONG_BYTES = 300;
const COMMAND_NAME = /^[A-Z]{1,16}$/;

export class LineNode implements SerialSimulator {
  readonly #identity: { nodeId: string; firmware: string; version: string };
  readonly #sensors: readonly NodeSensor[];
  readonly #faults: readonly LineFault[];
  readonly #faultRate: number;
  readonly #outageMs: number;
  readonly #options: LineNodeOptions;
  readonly #clock: BoardClock;
  readonly #random: () => number;
  readonly #dataListeners = new Set<(bytes: Buffer) => void>();
  readonly #lineListeners = new Set<(present: boolean) => void>();
  readonly #splitter = new LineSplitter();
  readonly #recorded: ReadingsFrame[] = [];
  #stats: LineNodeStats;
  #periodMs: number;
  #counter: number;
  #timer: unknown = null;
  #outageTimer: unknown = null;
  #present = true;
  #bootAt = 0;
  #upSince = 0;

  constructor(options: LineNodeOptions = {}) {
    this.#options = options;
    this.#identity = {
      nodeId: options.nodeId ?? 'node-1',
      firmware: options.firmware ?? 'fieldlog-node',
      version: options.version ?? '1.0.0',
    };
    try {
      encodeIdentity(this.#identity);
    } catch {
      throw fail('CONFIG_INVALID', 'nodeId, firmware or version: not valid in an FLI frame');
    }
    this.#sensors = options.sensors ?? defaultSensors();
    checkSensors(this.#sensors);
    this.#periodMs = checkPeriod(options.periodMs ?? 1000);
    this.#counter = options.startCounter ?? 0;
    if (!Number.isInteger(this.#counter) || this.#counter < 0 || this.#counter > 0xffff)
      throw fail('CONFIG_INVALID', `startCounter must be 0–65535, got ${this.#counter}`);
    this.#faults = [...new Set(options.faults ?? [])];
    for (const f of this.#faults) {
      if (!(LINE_FAULTS as readonly string[]).includes(f))
        throw fail('CONFIG_INVALID', `unknown fault "${f}"`);
    }
    this.#faultRate = options.faultRate ?? 0.05;
    if (!(this.#faultRate >= 0 && this.#faultRate <= 1))
      throw fail('CONFIG_INVALID', `faultRate must be from 0 to 1, got ${this.#faultRate}`);
    this.#outageMs = checkPeriod(options.outageMs ?? 5000);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#stats = emptyStats();
  }

  get running(): boolean {
    return this.#timer !== null;
  }
  get periodMs(): number {
    return this.#periodMs;
  }
  /** The counter the next sample takes: with framesOk and countersLost, every value is accounted for. */
  get nextCounter(): number {
    return this.#counter;
  }
  /** False during a `disconnect` outage. */
  get linePresent(): boolean {
    return this.#present;
  }
  get stats(): LineNodeStats {
    return { ...this.#stats, faults: { ...this.#stats.faults } };
  }
  /** Every valid readings frame sent, in order (needs `record: true`). */
  validFrames(): readonly ReadingsFrame[] {
    return this.#recorded;
  }

  onData(listener: (bytes: Buffer) => void): () => void {
    this.#dataListeners.add(listener);
    return () => this.#dataListeners.delete(listener);
  }

  /**
   * The `disconnect` fault: called with false when the line goes away and with true when it is
   * back. The harness owns the cable: SimulatedLine.unplug()/replug() in-process, PtyLine's over a
   * pty. The node itself sends nothing meanwhile, though it keeps sampling and counting.
   */
  onLineChange(listener: (present: boolean) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  /** Power on: identity, then a readings frame every period. */
  start(): void {
    this.stop();
    this.#splitter.end();
    this.#counter = this.#options.startCounter ?? 0;
    this.#bootAt = this.#clock.now();
    this.#upSince = this.#bootAt;
    if (!this.#present) this.#lineBack();
    this.#sendIdentity();
    this.#schedule();
  }

  /** Power off: no timers left behind, input ignored. A line that is away stays away. */
  stop(): void {
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    if (this.#outageTimer !== null) this.#clock.clearInterval(this.#outageTimer);
    this.#timer = null;
    this.#outageTimer = null;
  }

  hostOpened(): void {
    if (this.#options.resetOnOpen) this.start();
  }

  receive(bytes: Buffer): void {
    if (!this.running || !this.#present) return;
    for (const line of this.#splitter.push(bytes)) this.#command(line);
  }

  /** What the sensors read right now, rounded as the node reports them. */
  sample(): Reading[] {
    const t = this.#clock.now() - this.#bootAt;
    return this.#sensors.map((s) => {
      const raw = Math.min(s.max ?? Infinity, Math.max(s.min ?? -Infinity, s.waveform(t, this.#random)));
      const value = Number(raw.toFixed(s.decimals ?? 2));
      const reading: Reading = { sensor: s.name, value: value === 0 ? 0 : value };
      if (s.unit !== undefined) reading.unit = s.unit;
      return reading;
    });
  }

  /** A `disconnect` on demand, for a harness that wants the outage at a known moment. */
  disconnect(outageMs = this.#outageMs): void {
    if (!this.running || !this.#present) return;
    this.#stats.faults.disconnect++;
    this.#lineGone(checkPeriod(outageMs));
  }

  /** Send an FLE frame, as firmware does when a sensor stops answering. */
  reportFault(code: string, text: string): void {
    if (!this.#present) return;
    this.#stats.nodeFaults++;
    this.#send(encodeFault(code, text));
  }

  #schedule(): void {
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    this.#timer = this.#clock.setInterval(() => this.#tick(), this.#periodMs);
  }

  #tick(): void {
    const counter = this.#counter;
    this.#counter = (counter + 1) & 0xffff;
    const readings = this.sample();
    if (!this.#present) {
      this.#stats.countersLost++;
      return;
    }
    let fault =
      this.#faults.length > 0 && this.#random() < this.#faultRate
        ? this.#faults[Math.floor(this.#random() * this.#faults.length)]
        : undefined;
    // A line stays up at least as long as an outage lasts: a device at a fast rate would
    // otherwise see little but outages, which is no cable's behaviour.
    if (fault === 'disconnect' && this.#clock.now() - this.#upSince < this.#outageMs) fault = undefined;
    if (fault === undefined) {
      this.#sendReadings(counter, readings);
      return;
    }
    this.#stats.faults[fault]++;
    const frame = Buffer.from(encodeReadings(counter, readings), 'utf8');
    switch (fault) {
      case 'garbage':
        this.#stats.badLines++;
        this.#send(noiseLine(this.#random));
        this.#sendReadings(counter, readings);
        return;
      case 'checksum':
        this.#lostFrame(spoilDigit(frame, this.#random));
        return;
      case 'truncate': {
        // Cut before the `*`: the device sees a frame without its checksum. A cut through `°`
        // leaves a lone byte and makes the line noise instead; a rejected line either way.
        const star = frame.indexOf(0x2a);
        const cut = 2 + Math.floor(this.#random() * (star - 1));
        this.#lostFrame(Buffer.concat([frame.subarray(0, cut), Buffer.from('\r\n')]));
        return;
      }
      case 'overlong':
        this.#lostFrame(Buffer.from(overlongFrame(counter), 'utf8'));
        return;
      case 'drop': {
        // A burst of lost frames, as when a radio link fades; the counter shows the gap.
        const lost = 1 + Math.floor(this.#random() * 3);
        this.#stats.countersLost += lost;
        this.#counter = (counter + lost) & 0xffff;
        return;
      }
      case 'disconnect':
        this.#stats.countersLost++;
        this.#lineGone(this.#outageMs);
        return;
    }
  }

  #lostFrame(bytes: Buffer): void {
    this.#stats.badLines++;
    this.#stats.countersLost++;
    this.#send(bytes);
  }

  #lineGone(ms: number): void {
    this.#present = false;
    this.#splitter.end();
    this.#outageTimer = this.#clock.setInterval(() => this.#lineBack(), ms);
    for (const listener of this.#lineListeners) listener(false);
  }

  #lineBack(): void {
    if (this.#outageTimer !== null) this.#clock.clearInterval(this.#outageTimer);
    this.#outageTimer = null;
    this.#present = true;
    this.#upSince = this.#clock.now();
    for (const listener of this.#lineListeners) listener(true);
  }

  #command(line: Buffer): void {
    const cmd = parseCommand(line);
    if (cmd.kind === 'identify') {
      this.#sendIdentity();
    } else if (cmd.kind === 'rate') {
      this.#periodMs = cmd.ms;
      this.#schedule();
      this.#sendAnswer(encodeAnswer('RATE', true));
    } else {
      const refusal = refuse(line);
      if (refusal) this.#sendAnswer(encodeAnswer(refusal.command, false, refusal.why));
    }
  }

  #sendReadings(counter: number, readings: Reading[]): void {
    this.#stats.framesOk++;
    if (this.#options.record) this.#recorded.push({ kind: 'readings', counter, readings });
    this.#send(encodeReadings(counter, readings));
  }

  #sendIdentity(): void {
    this.#stats.identities++;
    this.#send(encodeIdentity(this.#identity));
  }

  #sendAnswer(line: string): void {
    this.#stats.answers++;
    this.#send(line);
  }

  #send(data: string | Buffer): void {
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    this.#stats.bytesSent += bytes.length;
    for (const listener of this.#dataListeners) listener(bytes);
  }
}

/** One line of binary noise, as a floating RX line or a baud-rate mismatch produces. */
export function noiseLine(random: () => number): Buffer {
  const bytes = Buffer.alloc(8 + Math.floor(random() * 40));
  for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  // A high first byte can never start a frame, and the closing line break keeps the burst from
  // spoiling the next frame, so it costs a correct receiver exactly one rejected line.
  bytes[0] = bytes[0]! | 0x80;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] === 0x0a) bytes[i] = 0x0b;
  return Buffer.concat([bytes, Buffer.from('\r\n')]);
}

/**
 * A `$...*CS` line with one digit between `$` and `*` changed, as a bit error in transit does:
 * it still looks fine, and only the checksum tells (two different digits always differ in XOR).
 */
export function spoilDigit(line: Buffer, random: () => number): Buffer {
  const star = line.indexOf(0x2a);
  const digits: number[] = [];
  for (let i = 1; i < star; i++) if (line[i]! >= 0x30 && line[i]! <= 0x39) digits.push(i);
  const at = digits[Math.floor(random() * digits.length)]!;
  const out = Buffer.from(line);
  out[at] = 0x30 + ((out[at]! - 0x30 + 1 + Math.floor(random() * 9)) % 10);
  return out;
}

/**
 * Why a well-framed FLC line that parseCommand refused is refused, for the `FLA,...,ERR` answer.
 * Lines with broken framing get no answer: the node cannot trust which command they were.
 */
function refuse(line: Buffer): { command: string; why: string } | undefined {
  const framed = unframe(line);
  if (!framed.ok) return undefined;
  const [type, command = '', ...args] = framed.body.toString('latin1').split(',');
  if (type !== 'FLC' || !COMMAND_NAME.test(command)) return undefined;
  if (command === 'ID') return { command, why: 'takes no argument' };
  if (command !== 'RATE') return { command, why: 'unknown command' };
  if (args.length !== 1) return { command, why: 'expects one argument' };
  if (!/^\d+$/.test(args[0] ?? '')) return { command, why: 'not a whole number of ms' };
  return { command, why: `out of range 1 to ${MAX_RATE_MS} ms` };
}

/** A frame with a valid checksum whose only fault is its length, as a firmware bug writes it. */
function overlongFrame(counter: number): string {
  const items: string[] = [];
  let length = `FLR,${counter}`.length;
  for (let i = 0; length < OVERLONG_BYTES; i++) {
    const item = `ch${String(i).padStart(2, '0')}:0.000`;
    items.push(item);
    length += item.length + 1;
  }
  return wrapFrame(`FLR,${counter},${items.join(',')}`);
}

function emptyStats(): LineNodeStats {
  const faults = Object.fromEntries(LINE_FAULTS.map((f) => [f, 0])) as Record<LineFault, number>;
  return {
    framesOk: 0,
    identities: 0,
    answers: 0,
    nodeFaults: 0,
    faults,
    badLines: 0,
    countersLost: 0,
    bytesSent: 0,
  };
}

function checkPeriod(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > MAX_RATE_MS)
    throw fail('CONFIG_INVALID', `a period must be an integer from 1 to ${MAX_RATE_MS} ms, got ${ms}`);
  return ms;
}

function checkSensors(sensors: readonly NodeSensor[]): void {
  if (sensors.length === 0) throw fail('CONFIG_INVALID', 'a node needs at least one sensor');
  const names = new Set<string>();
  for (const s of sensors) {
    if (!SENSOR_PATTERN.test(s.name) || names.has(s.name))
      throw fail('CONFIG_INVALID', `bad or repeated sensor name ${JSON.stringify(s.name)}`);
    names.add(s.name);
    if (s.unit !== undefined && !UNIT_PATTERN.test(s.unit))
      throw fail('CONFIG_INVALID', `sensor ${s.name}: bad unit ${JSON.stringify(s.unit)}`);
    const decimals = s.decimals ?? 2;
    if (!Number.isInteger(decimals) || decimals < 0 || decimals > 6)
      throw fail('CONFIG_INVALID', `sensor ${s.name}: decimals must be 0–6`);
  }
  // Found now rather than as a throw inside the sampling timer: every reading must fit one line.
  const widest = sensors.map((s) => ({
    sensor: s.name,
    value: Number(`-999999.${'9'.repeat(s.decimals ?? 2)}`),
    ...(s.unit === undefined ? {} : { unit: s.unit }),
  }));
  try {
    encodeReadings(65535, widest);
  } catch {
    throw fail('CONFIG_INVALID', `${sensors.length} sensors do not fit one ${MAX_LINE_BYTES}-byte frame`);
  }
}
