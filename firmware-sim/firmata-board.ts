// A simulated StandardFirmata 2.5 board (Arduino Uno pin map) that speaks the real Firmata
// protocol over any byte transport, so johnny-five/firmata-io can be tested without hardware.

import { fail } from '../src/errors.js';
import type { SerialSimulator } from './mock-port.js';

export const FIRMATA = {
  ANALOG_MESSAGE: 0xe0,
  DIGITAL_MESSAGE: 0x90,
  REPORT_ANALOG: 0xc0,
  REPORT_DIGITAL: 0xd0,
  SET_PIN_MODE: 0xf4,
  SET_DIGITAL_PIN_VALUE: 0xf5,
  REPORT_VERSION: 0xf9,
  SYSTEM_RESET: 0xff,
  START_SYSEX: 0xf0,
  END_SYSEX: 0xf7,
  REPORT_FIRMWARE: 0x79,
  CAPABILITY_QUERY: 0x6b,
  CAPABILITY_RESPONSE: 0x6c,
  ANALOG_MAPPING_QUERY: 0x69,
  ANALOG_MAPPING_RESPONSE: 0x6a,
  PIN_STATE_QUERY: 0x6d,
  PIN_STATE_RESPONSE: 0x6e,
  SAMPLING_INTERVAL: 0x7a,
} as const;

export const PIN_MODE = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4, I2C: 6, PULLUP: 0x0b } as const;

/** What the host asked for, decoded from its bytes. */
export type HostMessage =
  | { type: 'reportVersion' }
  | { type: 'systemReset' }
  | { type: 'analogWrite'; pin: number; value: number }
  | { type: 'digitalWrite'; port: number; value: number }
  | { type: 'setDigitalPinValue'; pin: number; value: number }
  | { type: 'setPinMode'; pin: number; mode: number }
  | { type: 'reportAnalog'; channel: number; enable: boolean }
  | { type: 'reportDigital'; port: number; enable: boolean }
  | { type: 'queryFirmware' }
  | { type: 'capabilityQuery' }
  | { type: 'analogMappingQuery' }
  | { type: 'pinStateQuery'; pin: number }
  | { type: 'samplingInterval'; ms: number }
  | { type: 'sysex'; command: number; data: Buffer };

// The Firmata library's own buffer size; longer sysex payloads are cut like on the board.
const MAX_SYSEX_BYTES = 64;

/**
 * Host→board byte parser with the Firmata library's rules: a status byte starts a new
 * message (dropping an unfinished one), data bytes complete it, sysex runs to END_SYSEX.
 * Holds only parse state; feeding it bytes has no other effect.
 */
export class FirmataHostParser {
  #command = 0;
  #channel = 0;
  #data: number[] = [];
  #want = 0;
  #sysex: number[] | null = null;

  push(bytes: Uint8Array): HostMessage[] {
    const out: HostMessage[] = [];
    for (const byte of bytes) {
      if (this.#sysex) {
        if (byte === FIRMATA.END_SYSEX) {
          const message = decodeSysex(this.#sysex);
          this.#sysex = null;
          if (message) out.push(message);
        } else if (this.#sysex.length < MAX_SYSEX_BYTES) this.#sysex.push(byte);
      } else if (byte < 0x80) {
        if (this.#want === 0) continue; // stray data byte, as the board ignores it
        this.#data.push(byte);
        if (this.#data.length === this.#want) {
          out.push(this.#complete());
          this.#want = 0;
        }
      } else this.#status(byte, out);
    }
    return out;
  }

  reset(): void {
    this.#want = 0;
    this.#sysex = null;
  }

  #status(byte: number, out: HostMessage[]): void {
    this.#want = 0;
    this.#data = [];
    const command = byte < 0xf0 ? byte & 0xf0 : byte;
    this.#command = command;
    this.#channel = byte & 0x0f;
    if (command === FIRMATA.START_SYSEX) this.#sysex = [];
    else if (command === FIRMATA.REPORT_VERSION) out.push({ type: 'reportVersion' });
    else if (command === FIRMATA.SYSTEM_RESET) out.push({ type: 'systemReset' });
    else if (command === FIRMATA.REPORT_ANALOG || command === FIRMATA.REPORT_DIGITAL) this.#want = 1;
    else if (
      command === FIRMATA.ANALOG_MESSAGE ||
      command === FIRMATA.DIGITAL_MESSAGE ||
      command === FIRMATA.SET_PIN_MODE ||
      command === FIRMATA.SET_DIGITAL_PIN_VALUE
    )
      this.#want = 2;
  }

  #complete(): HostMessage {
    const [a = 0, b = 0] = this.#data;
    const word = a | (b << 7);
    switch (this.#command) {
      case FIRMATA.ANALOG_MESSAGE:
        return { type: 'analogWrite', pin: this.#channel, value: word };
      case FIRMATA.DIGITAL_MESSAGE:
        return { type: 'digitalWrite', port: this.#channel, value: word };
      case FIRMATA.SET_PIN_MODE:
        return { type: 'setPinMode', pin: a, mode: b };
      case FIRMATA.SET_DIGITAL_PIN_VALUE:
        return { type: 'setDigitalPinValue', pin: a, value: b };
      case FIRMATA.REPORT_ANALOG:
        return { type: 'reportAnalog', channel: this.#channel, enable: a !== 0 };
      default:
        return { type: 'reportDigital', port: this.#channel, enable: a !== 0 };
    }
  }
}

function decodeSysex(bytes: readonly number[]): HostMessage | null {
  const [command, a = 0, b = 0] = bytes;
  if (command === undefined) return null;
  switch (command) {
    case FIRMATA.REPORT_FIRMWARE:
      return { type: 'queryFirmware' };
    case FIRMATA.CAPABILITY_QUERY:
      return { type: 'capabilityQuery' };
    case FIRMATA.ANALOG_MAPPING_QUERY:
      return { type: 'analogMappingQuery' };
    case FIRMATA.PIN_STATE_QUERY:
      return bytes.length > 1 ? { type: 'pinStateQuery', pin: a } : null;
    case FIRMATA.SAMPLING_INTERVAL:
      return bytes.length > 2 ? { type: 'samplingInterval', ms: a | (b << 7) } : null;
    default:
      return { type: 'sysex', command, data: Buffer.from(bytes.slice(1)) };
  }
}

// ---- board→host encoders ----------------------------------------------------------------

const lsb = (v: number): number => v & 0x7f;
const msb = (v: number): number => (v >> 7) & 0x7f;
const sysex = (command: number, body: readonly number[]): Buffer =>
  Buffer.from([FIRMATA.START_SYSEX, command, ...body, FIRMATA.END_SYSEX]);

export const encodeReportVersion = (major: number, minor: number): Buffer =>
  Buffer.from([FIRMATA.REPORT_VERSION, major, minor]);

/** REPORT_FIRMWARE: version, then the name as 7-bit LSB/MSB pairs (the sketch's file name). */
export function encodeFirmwareReport(name: string, major: number, minor: number): Buffer {
  const chars = [...Buffer.from(name, 'utf8')].flatMap((c) => [lsb(c), msb(c)]);
  return sysex(FIRMATA.REPORT_FIRMWARE, [major, minor, ...chars]);
}

export const encodeAnalogMessage = (channel: number, value: number): Buffer =>
  Buffer.from([FIRMATA.ANALOG_MESSAGE | (channel & 0x0f), lsb(value), msb(value)]);

export const encodeDigitalMessage = (port: number, value: number): Buffer =>
  Buffer.from([FIRMATA.DIGITAL_MESSAGE | (port & 0x0f), lsb(value), msb(value)]);

/** One pin of the board: what it can do ([mode, resolution bits]) and its analog channel. */
export interface PinSpec {
  readonly capabilities: ReadonlyArray<readonly [mode: number, resolution: number]>;
  readonly analogChannel?: number;
}

export const encodeCapabilityResponse = (pins: readonly PinSpec[]): Buffer =>
  sysex(
    FIRMATA.CAPABILITY_RESPONSE,
    pins.flatMap((p) => [...p.capabilities.flat(), 0x7f]),
  );

export const encodeAnalogMappingResponse = (pins: readonly PinSpec[]): Buffer =>
  sysex(
    FIRMATA.ANALOG_MAPPING_RESPONSE,
    pins.map((p) => p.analogChannel ?? 0x7f),
  );

/** PIN_STATE_RESPONSE; an unknown pin gets only its number back, as on the board. */
export function encodePinStateResponse(pin: number, mode?: number, state = 0): Buffer {
  if (mode === undefined) return sysex(FIRMATA.PIN_STATE_RESPONSE, [pin]);
  const body = [pin, mode, lsb(state)];
  if (state & 0xff80) body.push(msb(state));
  if (state & 0xc000) body.push((state >> 14) & 0x7f);
  return sysex(FIRMATA.PIN_STATE_RESPONSE, body);
}

/** Arduino Uno as StandardFirmata reports it: D0/D1 are the Firmata UART, A0–A5 are pins 14–19. */
export const UNO_PINS: readonly PinSpec[] = Array.from({ length: 20 }, (_, pin): PinSpec => {
  if (pin < 2) return { capabilities: [] };
  const caps: [number, number][] = [
    [PIN_MODE.INPUT, 1],
    [PIN_MODE.PULLUP, 1],
    [PIN_MODE.OUTPUT, 1],
  ];
  if (pin >= 14) caps.push([PIN_MODE.ANALOG, 10]);
  if ([3, 5, 6, 9, 10, 11].includes(pin)) caps.push([PIN_MODE.PWM, 8]);
  caps.push([PIN_MODE.SERVO, 14]);
  if (pin === 18 || pin === 19) caps.push([PIN_MODE.I2C, 1]);
  return pin >= 14 ? { capabilities: caps, analogChannel: pin - 14 } : { capabilities: caps };
});

// ---- signals and time --------------------------------------------------------------------

/** Raw ADC reading (any number; the board clamps to 0–1023) at `tMs` since boot. */
export type Waveform = (tMs: number, random: () => number) => number;

/** A slow sine with uniform noise, like a light or temperature sensor drifting over a day. */
export function sineWaveform(o: {
  mean: number;
  amplitude: number;
  periodMs: number;
  noise?: number;
  phase?: number;
}): Waveform {
  return (t, random) =>
    o.mean +
    o.amplitude * Math.sin((2 * Math.PI * t) / o.periodMs + (o.phase ?? 0)) +
    (random() * 2 - 1) * (o.noise ?? 0);
}

export const constantWaveform =
  (value: number): Waveform =>
  () =>
    value;

/** mulberry32: a tiny seeded generator so a simulated run can be replayed exactly. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BoardClock {
  now(): number;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

// Globals are looked up per call so vi.useFakeTimers() installed after import still applies.
export const systemClock: BoardClock = {
  now: () => performance.now(),
  setInterval: (callback, ms) => setInterval(callback, ms),
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};

const defaultWaveform = (channel: number): Waveform =>
  sineWaveform({
    mean: 420 + 40 * channel,
    amplitude: 150,
    periodMs: 20_000 + 7_000 * channel,
    noise: 3,
    phase: channel,
  });

// ---- the board ---------------------------------------------------------------------------

/** `reset`: the board restarts under the host (a brown-out, a loose USB cable), announcing itself again. */
export const FIRMATA_FAULTS = ['reset'] as const;
export type FirmataFault = (typeof FIRMATA_FAULTS)[number];

export interface FirmataBoardStats {
  /** Power-ons and resets, the host's (DTR) and injected ones alike. */
  boots: number;
  analogMessages: number;
  digitalMessages: number;
  /** Answers to the host's queries (version, firmware, capabilities, mapping, pin state). */
  answers: number;
  /** Injections per fault kind. */
  faults: Record<FirmataFault, number>;
}

export interface FirmataBoardOptions {
  /** Send REPORT_VERSION and the firmware name unprompted on start, as a reset Arduino does. Default true. */
  announce?: boolean;
  /** Restart when the host opens the port, as an Uno's DTR line resets it. Default true. */
  autoReset?: boolean;
  /** Analog reporting period; StandardFirmata starts at 19 ms and the host may change it. */
  samplingIntervalMs?: number;
  /** Signal per analog channel (0 = A0); channels left out get a default slow sine. */
  waveforms?: Readonly<Record<number, Waveform>>;
  firmwareName?: string;
  firmwareVersion?: readonly [major: number, minor: number];
  protocolVersion?: readonly [major: number, minor: number];
  pins?: readonly PinSpec[];
  clock?: BoardClock;
  random?: () => number;
  faults?: Iterable<FirmataFault>;
  /** Injected faults a second, on average, whatever the sampling interval. Default 0.05. */
  faultsPerSecond?: number;
}

export class FirmataBoard implements SerialSimulator {
  readonly #pins: readonly PinSpec[];
  readonly #clock: BoardClock;
  readonly #random: () => number;
  readonly #waveforms: Waveform[];
  readonly #options: FirmataBoardOptions;
  readonly #listeners = new Set<(bytes: Buffer) => void>();
  readonly #parser = new FirmataHostParser();
  #modes: number[] = [];
  #states: number[] = [];
  #inputs: (0 | 1 | undefined)[] = [];
  #analogReporting = 0;
  #portReporting: boolean[] = [];
  #lastPortValue: number[] = [];
  #interval: number;
  #timer: unknown = null;
  #bootAt = 0;
  #resetting = false;
  readonly #faults: readonly FirmataFault[];
  readonly #faultsPerSecond: number;
  #stats: FirmataBoardStats = {
    boots: 0,
    analogMessages: 0,
    digitalMessages: 0,
    answers: 0,
    faults: { reset: 0 },
  };

  constructor(options: FirmataBoardOptions = {}) {
    this.#options = options;
    this.#pins = options.pins ?? UNO_PINS;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    this.#interval = checkInterval(options.samplingIntervalMs ?? 19);
    const channels = this.#pins.filter((p) => p.analogChannel !== undefined).length;
    for (const key of Object.keys(options.waveforms ?? {})) {
      if (!(Number(key) >= 0 && Number(key) < channels))
        throw fail('CONFIG_INVALID', `waveforms: no analog channel ${key} on this board`);
    }
    this.#waveforms = Array.from(
      { length: channels },
      (_, ch) => options.waveforms?.[ch] ?? defaultWaveform(ch),
    );
    this.#faults = [...new Set(options.faults ?? [])];
    for (const f of this.#faults) {
      if (!(FIRMATA_FAULTS as readonly string[]).includes(f))
        throw fail('CONFIG_INVALID', `unknown fault "${f}"`);
    }
    this.#faultsPerSecond = options.faultsPerSecond ?? 0.05;
    if (!(this.#faultsPerSecond >= 0 && Number.isFinite(this.#faultsPerSecond)))
      throw fail('CONFIG_INVALID', `faultsPerSecond must be 0 or more, got ${this.#faultsPerSecond}`);
  }

  /** What the board sent and did since it was made, for `fieldlog sim`'s closing line. */
  get stats(): FirmataBoardStats {
    return { ...this.#stats, faults: { ...this.#stats.faults } };
  }

  get running(): boolean {
    return this.#timer !== null;
  }
  get samplingIntervalMs(): number {
    return this.#interval;
  }

  onData(listener: (bytes: Buffer) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Power on (or press reset): default pin state, the announcement, then the sampling loop. */
  start(): void {
    this.stop();
    this.#parser.reset();
    this.#stats.boots++;
    this.#bootAt = this.#clock.now();
    this.#systemReset();
    this.#timer = this.#clock.setInterval(() => this.#sample(), this.#interval);
    if (this.#options.announce ?? true) this.#send(this.#versionReport(), this.#firmwareReport());
  }

  /** Power off: no timers left behind, input ignored. */
  stop(): void {
    if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
    this.#timer = null;
  }

  hostOpened(): void {
    if (this.#options.autoReset ?? true) this.start();
  }

  receive(bytes: Uint8Array): void {
    if (!this.running) return;
    for (const message of this.#parser.push(bytes)) this.#handle(message);
  }

  /** Drive a digital input pin, as a button or a reed switch would. */
  setDigitalInput(pin: number, level: 0 | 1): void {
    if (!this.#pins[pin]?.capabilities.some(([m]) => m === PIN_MODE.INPUT))
      throw fail('CONFIG_INVALID', `pin ${pin} is not a digital pin`);
    this.#inputs[pin] = level;
    this.#reportPort(pin >> 3, false);
  }

  /** The value an analogRead of `channel` gives right now. */
  readAnalog(channel: number): number {
    const wave = this.#waveforms[channel];
    if (!wave) throw fail('CONFIG_INVALID', `no analog channel ${channel}`);
    const raw = wave(this.#clock.now() - this.#bootAt, this.#random);
    return Math.min(1023, Math.max(0, Math.round(raw)));
  }

  pinMode(pin: number): number | undefined {
    return this.#modes[pin];
  }
  isReportingAnalog(channel: number): boolean {
    return (this.#analogReporting & (1 << channel)) !== 0;
  }

  #handle(m: HostMessage): void {
    switch (m.type) {
      case 'reportVersion':
        this.#answer(this.#versionReport());
        break;
      case 'queryFirmware':
        this.#answer(this.#firmwareReport());
        break;
      case 'capabilityQuery':
        this.#answer(encodeCapabilityResponse(this.#pins));
        break;
      case 'analogMappingQuery':
        this.#answer(encodeAnalogMappingResponse(this.#pins));
        break;
      case 'pinStateQuery':
        this.#answer(encodePinStateResponse(m.pin, this.#modes[m.pin], this.#states[m.pin]));
        break;
      case 'samplingInterval':
        this.#interval = Math.max(1, m.ms); // StandardFirmata's MINIMUM_SAMPLING_INTERVAL
        if (this.#timer !== null) this.#clock.clearInterval(this.#timer);
        this.#timer = this.#clock.setInterval(() => this.#sample(), this.#interval);
        break;
      case 'systemReset':
        this.#systemReset();
        break;
      case 'setPinMode':
        this.#setPinMode(m.pin, m.mode);
        break;
      case 'reportAnalog':
        this.#reportAnalog(m.channel, m.enable);
        break;
      case 'reportDigital':
        if (m.port * 8 >= this.#pins.length) break;
        this.#portReporting[m.port] = m.enable;
        if (m.enable && !this.#resetting) this.#reportPort(m.port, true);
        break;
      case 'digitalWrite':
        for (let bit = 0; bit < 8; bit++) {
          const pin = m.port * 8 + bit;
          const mode = this.#modes[pin];
          if (mode === PIN_MODE.OUTPUT || mode === PIN_MODE.INPUT) this.#states[pin] = (m.value >> bit) & 1;
        }
        break;
      case 'setDigitalPinValue':
        if (this.#modes[m.pin] === PIN_MODE.OUTPUT) this.#states[m.pin] = m.value ? 1 : 0;
        break;
      case 'analogWrite':
        if (this.#modes[m.pin] === PIN_MODE.PWM || this.#modes[m.pin] === PIN_MODE.SERVO)
          this.#states[m.pin] = m.value;
        break;
      case 'sysex':
        break; // features this sketch lacks (I2C, servo config, ...) are ignored, as on the board
    }
  }

  // StandardFirmata's systemResetCallback: analog-capable pins to ANALOG, the rest to OUTPUT.
  #systemReset(): void {
    this.#resetting = true;
    this.#modes = [];
    this.#states = [];
    this.#portReporting = [];
    this.#lastPortValue = [];
    this.#pins.forEach((spec, pin) => {
      this.#setPinMode(pin, spec.analogChannel !== undefined ? PIN_MODE.ANALOG : PIN_MODE.OUTPUT);
    });
    this.#analogReporting = 0;
    this.#resetting = false;
  }

  #setPinMode(pin: number, mode: number): void {
    const spec = this.#pins[pin];
    if (!spec) return;
    // Leaving ANALOG stops its reporting; entering it starts it (StandardFirmata 2.5).
    if (spec.analogChannel !== undefined) this.#reportAnalog(spec.analogChannel, mode === PIN_MODE.ANALOG);
    if (!spec.capabilities.some(([m]) => m === mode)) return;
    this.#modes[pin] = mode;
    this.#states[pin] = mode === PIN_MODE.PULLUP ? 1 : 0;
  }

  #reportAnalog(channel: number, enable: boolean): void {
    if (channel >= this.#waveforms.length) return;
    if (!enable) {
      this.#analogReporting &= ~(1 << channel);
      return;
    }
    this.#analogReporting |= 1 << channel;
    // The board answers at once so a host that reconnects needn't wait a sampling period.
    if (!this.#resetting) {
      this.#stats.analogMessages++;
      this.#send(encodeAnalogMessage(channel, this.readAnalog(channel)));
    }
  }

  #reportPort(port: number, force: boolean): void {
    if (!this.#portReporting[port]) return;
    let value = 0;
    for (let bit = 0; bit < 8; bit++) {
      const pin = port * 8 + bit;
      const mode = this.#modes[pin];
      if (mode !== PIN_MODE.INPUT && mode !== PIN_MODE.PULLUP) continue;
      const level = this.#inputs[pin] ?? (mode === PIN_MODE.PULLUP ? 1 : 0);
      value |= level << bit;
    }
    if (!force && this.#lastPortValue[port] === value) return;
    this.#lastPortValue[port] = value;
    this.#stats.digitalMessages++;
    this.#send(encodeDigitalMessage(port, value));
  }

  #sample(): void {
    // the chance per sample follows the interval, so the rate a second holds whatever the host set
    if (this.#faults.length > 0 && this.#random() < (this.#faultsPerSecond * this.#interval) / 1000) {
      const fault = this.#faults[Math.floor(this.#random() * this.#faults.length)]!;
      this.#stats.faults[fault]++;
      this.start(); // 'reset': power-on state and the announcement, as after a brown-out
      return;
    }
    const out: Buffer[] = [];
    this.#pins.forEach((spec, pin) => {
      const ch = spec.analogChannel;
      if (ch !== undefined && this.#modes[pin] === PIN_MODE.ANALOG && this.isReportingAnalog(ch))
        out.push(encodeAnalogMessage(ch, this.readAnalog(ch)));
    });
    this.#stats.analogMessages += out.length;
    if (out.length > 0) this.#send(...out);
  }

  #answer(bytes: Buffer): void {
    this.#stats.answers++;
    this.#send(bytes);
  }

  #versionReport(): Buffer {
    const [major, minor] = this.#options.protocolVersion ?? [2, 5];
    return encodeReportVersion(major, minor);
  }

  #firmwareReport(): Buffer {
    const [major, minor] = this.#options.firmwareVersion ?? [2, 5];
    return encodeFirmwareReport(this.#options.firmwareName ?? 'StandardFirmata.ino', major, minor);
  }

  #send(...chunks: Buffer[]): void {
    const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    for (const listener of this.#listeners) listener(bytes);
  }
}

function checkInterval(ms: number): number {
  if (!Number.isInteger(ms) || ms < 1 || ms > 0x3fff)
    throw fail('CONFIG_INVALID', `samplingIntervalMs must be an integer 1–16383, got ${ms}`);
  return ms;
}
