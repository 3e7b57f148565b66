// The `firmata` source: a board running StandardFirmata (docs/protocol.md §9), through johnny-five and
// firmata-io, with configured analog pins recorded as named sensors once per sample period.
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { SerialPortStream } from '@serialport/stream';
import { fail } from '../../errors.js';
import {
  SerialSource,
  type SerialSourceOptions,
  type SessionControl,
  type SessionHooks,
  type SourceDeps,
  type SourceEvent,
} from './source.js';

export interface FirmataPin {
  sensor: string;
  /** `A0`…, or the board's pin number of an analog-capable pin (14 is A0 on an Uno). */
  pin: string | number;
  unit?: string;
  /** Map the pin's full ADC range (0…2^bits−1, as the board reports it) linearly onto [lo, hi]. */
  scale?: [number, number];
}

export interface FirmataSourceOptions extends SerialSourceOptions {
  pins: readonly FirmataPin[];
  /** Default 57600, StandardFirmata's. */
  baud?: number;
  /** One 'readings' per this period. Default 1000. */
  sampleMs?: number;
  /** Ask for the version when the board has not announced itself after this long. Default 200. */
  reportVersionTimeoutMs?: number;
  /** Give up on a board that has not finished the handshake after this long. Default 10 000. */
  readyTimeoutMs?: number;
}

// Just the parts of these untyped CommonJS libraries that this driver touches.
interface FirmataIo extends EventEmitter {
  firmware: { name?: string; version?: { major?: number; minor?: number } };
  version: { major?: number; minor?: number };
  RESOLUTION: { ADC: number | null };
  pins: { analogChannel?: number }[];
  analogPins: number[];
  reportVersionTimeoutId?: ReturnType<typeof setTimeout>;
}
interface FiveBoard extends EventEmitter {
  isReady: boolean;
  timer: ReturnType<typeof setTimeout> | null;
}
interface FiveSensor {
  disable(): void;
}
interface Libraries {
  Firmata: new (transport: unknown, options: { reportVersionTimeout: number }) => FirmataIo;
  Board: (new (
    options: Record<string, unknown>,
  ) => FiveBoard) & {
    /** johnny-five's registry of every board ever made; it never forgets one by itself. */
    readonly cache: FiveBoard[];
    Pins: { normalize: { clear(): void } };
  };
  Sensor: new (options: { pin: number; board: FiveBoard; enabled?: boolean }) => FiveSensor;
}

let libraries: Libraries | undefined;
function load(): Libraries {
  // Loaded on first connect: johnny-five is large and most devices have no firmata source.
  if (libraries === undefined) {
    const require = createRequire(import.meta.url);
    const { Firmata } = require('firmata-io') as Pick<Libraries, 'Firmata'>;
    const { Board, Sensor } = require('johnny-five') as Pick<Libraries, 'Board' | 'Sensor'>;
    libraries = { Firmata, Board, Sensor };
  }
  return libraries;
}

/**
 * What firmata-io sees instead of the port: bytes and 'open' only. Port errors are not passed on
 * (before ready, firmata-io re-emits them with no listener, which throws), and a throw from its
 * parser on garbage ends the session instead of the process.
 */
class FirmataTransport extends EventEmitter {
  readonly #port: SerialPortStream;

  constructor(port: SerialPortStream, onThrow: (err: unknown) => void) {
    super();
    this.#port = port;
    port.on('data', (chunk: Buffer) => {
      try {
        this.emit('data', chunk);
      } catch (err) {
        onThrow(err);
      }
    });
  }

  write(data: Buffer, done?: () => void): boolean {
    // firmata-io's own timers may write after the session ended; a closed port would queue it.
    if (!this.#port.isOpen) {
      done?.();
      return false;
    }
    return this.#port.write(data, () => done?.());
  }
}

interface PinPlan {
  pin: FirmataPin;
  channel: number;
}

export class FirmataSource extends SerialSource {
  readonly driver = 'firmata' as const;
  readonly #o: FirmataSourceOptions;

  constructor(options: FirmataSourceOptions, deps: SourceDeps = {}) {
    super(options, 57600, deps);
    if (options.pins.length === 0)
      throw fail('CONFIG_INVALID', `source ${options.name}: a firmata source needs pins`);
    for (const p of options.pins) {
      if (p.scale !== undefined && !p.scale.every(Number.isFinite))
        throw fail(
          'CONFIG_INVALID',
          `source ${options.name}: pin ${p.pin}: scale must be two finite numbers`,
        );
    }
    this.#o = options;
  }

  protected session(control: SessionControl): SessionHooks {
    const clock = this.clock;
    const sampleMs = this.#o.sampleMs ?? 1000;
    const { Firmata, Board, Sensor } = load();
    const transport = new FirmataTransport(control.port, (err) =>
      control.drop('protocol-error', err instanceof Error ? err.message : String(err)),
    );
    let io: FirmataIo | undefined;
    let board: FiveBoard | undefined;
    const sensors: FiveSensor[] = [];
    let plan: PinPlan[] = [];
    let maxRaw = 1023;
    /** Raw values that arrived since the last period, by analog channel: only these are recorded. */
    const fresh = new Map<number, number>();
    let sampleTimer: unknown;

    const report = (): void => {
      const readings: Extract<SourceEvent, { kind: 'readings' }>['readings'] = [];
      for (const { pin, channel } of plan) {
        const raw = fresh.get(channel);
        if (raw === undefined) continue;
        const reading: (typeof readings)[number] = {
          sensor: pin.sensor,
          value: scaled(raw, maxRaw, pin.scale),
        };
        if (pin.unit !== undefined) reading.unit = pin.unit;
        readings.push(reading);
      }
      fresh.clear();
      if (readings.length > 0) this.sink({ kind: 'readings', readings });
    };

    const ready = (io: FirmataIo, board: FiveBoard): void => {
      maxRaw = io.RESOLUTION.ADC ?? 1023;
      plan = [];
      for (const pin of this.#o.pins) {
        const channel = analogChannel(pin.pin, io);
        if (channel === undefined) {
          this.sink({
            kind: 'fault',
            code: 'PIN_UNAVAILABLE',
            text: `${pin.pin} is not an analog input on this board`,
          });
          continue;
        }
        plan.push({ pin, channel });
      }
      for (const channel of new Set(plan.map((p) => p.channel))) {
        // The Sensor sets the pin up and turns reporting on; its own timer stays off (enabled:
        // false), since it would report 0 before any sample and a stale median when none came.
        sensors.push(new Sensor({ pin: channel, board, enabled: false }));
        io.on(`analog-read-${channel}`, (raw: number) => fresh.set(channel, raw));
      }
      // Said again after the handshake, the version means the board restarted and forgot its pins.
      io.on('reportversion', () => control.drop('board-reset', 'the board announced itself again'));
      control.connected(identityOf(io));
      const t0 = clock.now();
      let period = 0;
      const tick = (): void => {
        report();
        period++;
        sampleTimer = clock.setTimeout(tick, Math.max(0, t0 + (period + 1) * sampleMs - clock.now()));
      };
      sampleTimer = clock.setTimeout(tick, sampleMs);
    };

    return {
      opened: () => {
        // Made only now that the port is open, so firmata-io's "ask if silent" timer runs from
        // the open, not from a slow open's start.
        io = new Firmata(transport, { reportVersionTimeout: this.#o.reportVersionTimeoutMs ?? 200 });
        const b = new Board({
          io,
          repl: false,
          sigint: false,
          debug: false,
          timeout: this.#o.readyTimeoutMs ?? 10_000,
        });
        board = b;
        const theIo = io;
        // johnny-five emits its log records on 'error' too: objects with a message, not Errors.
        b.on('error', (err: { message?: string } | undefined) =>
          control.drop(b.isReady ? 'error' : 'no-answer', err?.message ?? 'the board reported an error'),
        );
        b.once('ready', () => {
          if (control.active) ready(theIo, b);
        });
        transport.emit('open');
      },
      ended: () => {
        clock.clearTimeout(sampleTimer);
        // Values that came in during the cut-short period are readings all the same.
        report();
        for (const sensor of sensors) sensor.disable();
        if (io?.reportVersionTimeoutId !== undefined) clearTimeout(io.reportVersionTimeoutId);
        if (board !== undefined) {
          if (board.timer !== null) clearTimeout(board.timer);
          const i = Board.cache.indexOf(board);
          if (i >= 0) Board.cache.splice(i, 1);
          // Its per-board cache is keyed by board and cannot be pruned one by one; it refills lazily.
          Board.Pins.normalize.clear();
        }
      },
    };
  }
}

function scaled(raw: number, maxRaw: number, scale: [number, number] | undefined): number {
  if (scale === undefined) return raw;
  const [lo, hi] = scale;
  return lo + ((hi - lo) * raw) / maxRaw;
}

function identityOf(io: FirmataIo): string {
  const v = io.firmware.version ?? io.version;
  const version = `${v.major ?? '?'}.${v.minor ?? '?'}`;
  return io.firmware.name ? `${io.firmware.name} ${version}` : `Firmata ${version}`;
}

/** The analog channel behind a configured pin on this board, or undefined if it has none. */
function analogChannel(pin: string | number, io: FirmataIo): number | undefined {
  let channel: number | undefined;
  const named = typeof pin === 'string' ? /^A(\d{1,2})$/.exec(pin) : null;
  if (named) channel = Number(named[1]);
  else {
    const n = Number(pin);
    const mapped = Number.isInteger(n) ? io.pins[n]?.analogChannel : undefined;
    if (mapped !== undefined && mapped !== 127) channel = mapped;
  }
  return channel !== undefined && io.analogPins[channel] !== undefined ? channel : undefined;
}
