// The simulated StandardFirmata board: host-byte parser, encoders, board behaviour on fake
// timers, and a conformance check against firmata-io's real host-side parser (no serial port).

import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  constantWaveform,
  encodeAnalogMappingResponse,
  encodeAnalogMessage,
  encodeCapabilityResponse,
  encodeFirmwareReport,
  encodePinStateResponse,
  FIRMATA,
  FirmataBoard,
  type FirmataBoardOptions,
  FirmataHostParser,
  PIN_MODE,
  seededRandom,
  sineWaveform,
  UNO_PINS,
} from '../../firmware-sim/firmata-board.js';
import { isFieldlogError } from '../../src/errors.js';

const F = FIRMATA;
const sysex = (...body: number[]): Buffer => Buffer.from([F.START_SYSEX, ...body, F.END_SYSEX]);

describe('FirmataHostParser', () => {
  it('decodes every message the host sends', () => {
    const p = new FirmataHostParser();
    const bytes = Buffer.concat([
      Buffer.from([F.REPORT_VERSION, F.SYSTEM_RESET]),
      Buffer.from([F.SET_PIN_MODE, 13, PIN_MODE.OUTPUT]),
      Buffer.from([F.DIGITAL_MESSAGE | 1, 0x20, 0x00]),
      Buffer.from([F.SET_DIGITAL_PIN_VALUE, 13, 1]),
      Buffer.from([F.ANALOG_MESSAGE | 3, 0x7f, 0x01]),
      Buffer.from([F.REPORT_ANALOG | 5, 1, F.REPORT_DIGITAL | 2, 0]),
      sysex(F.REPORT_FIRMWARE),
      sysex(F.CAPABILITY_QUERY),
      sysex(F.ANALOG_MAPPING_QUERY),
      sysex(F.PIN_STATE_QUERY, 14),
      sysex(F.SAMPLING_INTERVAL, 0x68, 0x07), // 1000 ms
      sysex(0x78, 1, 2), // I2C_CONFIG: not StandardFirmata's business here
    ]);
    expect(p.push(bytes)).toEqual([
      { type: 'reportVersion' },
      { type: 'systemReset' },
      { type: 'setPinMode', pin: 13, mode: PIN_MODE.OUTPUT },
      { type: 'digitalWrite', port: 1, value: 0x20 },
      { type: 'setDigitalPinValue', pin: 13, value: 1 },
      { type: 'analogWrite', pin: 3, value: 255 },
      { type: 'reportAnalog', channel: 5, enable: true },
      { type: 'reportDigital', port: 2, enable: false },
      { type: 'queryFirmware' },
      { type: 'capabilityQuery' },
      { type: 'analogMappingQuery' },
      { type: 'pinStateQuery', pin: 14 },
      { type: 'samplingInterval', ms: 1000 },
      { type: 'sysex', command: 0x78, data: Buffer.from([1, 2]) },
    ]);
  });

  it('reassembles messages split across reads, one byte at a time', () => {
    const p = new FirmataHostParser();
    const bytes = [...sysex(F.SAMPLING_INTERVAL, 10, 0), F.REPORT_ANALOG | 0, 1];
    const messages = bytes.flatMap((b) => p.push(Buffer.from([b])));
    expect(messages).toEqual([
      { type: 'samplingInterval', ms: 10 },
      { type: 'reportAnalog', channel: 0, enable: true },
    ]);
  });

  it('drops an unfinished message when a new command starts, and ignores stray data bytes', () => {
    const p = new FirmataHostParser();
    expect(p.push(Buffer.from([0x12, F.SET_PIN_MODE, 3, F.REPORT_VERSION, 0x05]))).toEqual([
      { type: 'reportVersion' },
    ]);
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 200 }), { maxLength: 10 }), (chunks) => {
        const p = new FirmataHostParser();
        for (const c of chunks) p.push(c);
      }),
    );
  });
});

describe('encoders', () => {
  it('encodes the firmware name as 7-bit pairs after the version', () => {
    expect([...encodeFirmwareReport('Ab', 2, 5)]).toEqual([0xf0, 0x79, 2, 5, 0x41, 0, 0x62, 0, 0xf7]);
  });

  it('splits a 10-bit analog value into LSB and MSB', () => {
    expect([...encodeAnalogMessage(2, 1023)]).toEqual([0xe2, 0x7f, 0x07]);
  });

  it('describes an Uno: D0/D1 reserved, A0–A5 on pins 14–19 with a 10-bit ADC', () => {
    const caps = encodeCapabilityResponse(UNO_PINS);
    expect([...caps.subarray(0, 4)]).toEqual([0xf0, 0x6c, 0x7f, 0x7f]); // pins 0 and 1: nothing
    expect(UNO_PINS[14]?.capabilities).toContainEqual([PIN_MODE.ANALOG, 10]);
    expect(UNO_PINS[3]?.capabilities).toContainEqual([PIN_MODE.PWM, 8]);
    const mapping = encodeAnalogMappingResponse(UNO_PINS);
    expect([...mapping.subarray(2, -1)]).toEqual([...Array(14).fill(0x7f), 0, 1, 2, 3, 4, 5]);
  });

  it('sends pin state in as many 7-bit bytes as it needs', () => {
    expect([...encodePinStateResponse(9, PIN_MODE.PWM, 200)]).toEqual([0xf0, 0x6e, 9, 3, 0x48, 0x01, 0xf7]);
    expect([...encodePinStateResponse(42)]).toEqual([0xf0, 0x6e, 42, 0xf7]);
  });
});

describe('FirmataBoard', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function boardWithOutput(options: FirmataBoardOptions = {}) {
    const board = new FirmataBoard({ random: seededRandom(1), ...options });
    const chunks: Buffer[] = [];
    board.onData((b) => chunks.push(b));
    const take = (): number[] => [...Buffer.concat(chunks.splice(0))];
    return { board, take };
  }

  it('announces version and firmware name unprompted on start, like a reset Arduino', () => {
    const { board, take } = boardWithOutput();
    board.start();
    expect(take()).toEqual([0xf9, 2, 5, ...encodeFirmwareReport('StandardFirmata.ino', 2, 5)]);
    board.stop();
  });

  it('stays silent with announce:false until asked', () => {
    const { board, take } = boardWithOutput({ announce: false });
    board.start();
    vi.advanceTimersByTime(1000);
    expect(take()).toEqual([]);
    board.receive(Buffer.from([F.REPORT_VERSION]));
    expect(take()).toEqual([0xf9, 2, 5]);
    board.receive(sysex(F.REPORT_FIRMWARE));
    expect(take()).toEqual([...encodeFirmwareReport('StandardFirmata.ino', 2, 5)]);
    board.stop();
  });

  it('ignores input while powered off', () => {
    const { board, take } = boardWithOutput();
    board.receive(Buffer.from([F.REPORT_VERSION]));
    expect(take()).toEqual([]);
  });

  it('reports an enabled analog channel at once and then every sampling interval', () => {
    const { board, take } = boardWithOutput({ waveforms: { 0: constantWaveform(700) } });
    board.start();
    take();
    board.receive(Buffer.from([F.REPORT_ANALOG | 0, 1]));
    expect(take()).toEqual([0xe0, 700 & 0x7f, 700 >> 7]);
    vi.advanceTimersByTime(19 * 5);
    expect(take()).toEqual(
      Array(5)
        .fill([0xe0, 700 & 0x7f, 700 >> 7])
        .flat(),
    );

    board.receive(sysex(F.SAMPLING_INTERVAL, 100, 0));
    expect(board.samplingIntervalMs).toBe(100);
    vi.advanceTimersByTime(250);
    expect(take()).toHaveLength(2 * 3);

    board.receive(Buffer.from([F.REPORT_ANALOG | 0, 0]));
    vi.advanceTimersByTime(1000);
    expect(take()).toEqual([]);
    board.stop();
  });

  it('stops reporting a channel whose pin leaves ANALOG mode, and on SYSTEM_RESET', () => {
    const { board, take } = boardWithOutput();
    board.start();
    board.receive(Buffer.from([F.REPORT_ANALOG | 1, 1, F.REPORT_ANALOG | 2, 1]));
    board.receive(Buffer.from([F.SET_PIN_MODE, 15, PIN_MODE.OUTPUT]));
    expect(board.isReportingAnalog(1)).toBe(false);
    expect(board.pinMode(15)).toBe(PIN_MODE.OUTPUT);
    take();
    vi.advanceTimersByTime(19);
    expect(take()[0]).toBe(0xe2); // only channel 2 left
    board.receive(Buffer.from([F.SYSTEM_RESET]));
    expect(board.pinMode(15)).toBe(PIN_MODE.ANALOG);
    vi.advanceTimersByTime(100);
    expect(take()).toEqual([]);
    board.stop();
  });

  it('produces 10-bit values inside the waveform range', () => {
    const wave = sineWaveform({ mean: 500, amplitude: 200, periodMs: 1000, noise: 10 });
    const { board } = boardWithOutput({ waveforms: { 0: wave, 1: constantWaveform(5000) } });
    board.start();
    const seen: number[] = [];
    for (let i = 0; i < 200; i++) {
      vi.advanceTimersByTime(7);
      seen.push(board.readAnalog(0));
    }
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(290);
    expect(Math.max(...seen)).toBeLessThanOrEqual(710);
    expect(Math.max(...seen) - Math.min(...seen)).toBeGreaterThan(300); // it really moves
    expect(board.readAnalog(1)).toBe(1023); // clamped like a saturated ADC
    board.stop();
  });

  it('reports digital inputs when the port reports, and only on change', () => {
    const { board, take } = boardWithOutput();
    board.start();
    board.receive(Buffer.from([F.SET_PIN_MODE, 2, PIN_MODE.INPUT, F.SET_PIN_MODE, 3, PIN_MODE.PULLUP]));
    take();
    board.receive(Buffer.from([F.REPORT_DIGITAL | 0, 1]));
    expect(take()).toEqual([0x90, 0b1000, 0]); // pull-up reads high
    board.setDigitalInput(2, 1);
    expect(take()).toEqual([0x90, 0b1100, 0]);
    board.setDigitalInput(2, 1);
    expect(take()).toEqual([]);
    board.stop();
  });

  it('answers pin state queries with mode and written value', () => {
    const { board, take } = boardWithOutput();
    board.start();
    board.receive(Buffer.from([F.SET_PIN_MODE, 13, PIN_MODE.OUTPUT, F.DIGITAL_MESSAGE | 1, 0x20, 0]));
    take();
    board.receive(sysex(F.PIN_STATE_QUERY, 13));
    expect(take()).toEqual([...encodePinStateResponse(13, PIN_MODE.OUTPUT, 1)]);
    board.stop();
  });

  it('leaves no timer behind when stopped', () => {
    const { board } = boardWithOutput();
    board.start();
    expect(vi.getTimerCount()).toBe(1);
    board.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('counts what it sent for the closing stats line', () => {
    const { board, take } = boardWithOutput({ waveforms: { 0: constantWaveform(700) } });
    board.start();
    board.receive(Buffer.from([F.REPORT_VERSION, F.REPORT_ANALOG | 0, 1]));
    vi.advanceTimersByTime(19 * 4);
    take();
    expect(board.stats).toEqual({
      boots: 1,
      analogMessages: 5,
      digitalMessages: 0,
      answers: 1,
      faults: { reset: 0 },
    });
    board.stop();
  });

  it('injects resets at the asked rate a second, whatever the sampling interval', () => {
    for (const interval of [19, 200]) {
      const { board, take } = boardWithOutput({
        faults: ['reset'],
        faultsPerSecond: 2,
        samplingIntervalMs: interval,
      });
      board.start();
      take();
      vi.advanceTimersByTime(60_000);
      const resets = board.stats.faults.reset;
      // 120 expected; a seeded run lands well inside these bounds
      expect(resets).toBeGreaterThan(80);
      expect(resets).toBeLessThan(160);
      expect(board.stats.boots).toBe(1 + resets);
      // each one announces the board again, as a reset Arduino does: the host sees it
      const announcements = take().filter((b) => b === 0xf9).length;
      expect(announcements).toBe(resets);
      board.stop();
    }
  });

  it('rejects impossible options with CONFIG_INVALID', () => {
    const codeOf = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return isFieldlogError(err) ? err.code : 'not a FieldlogError';
      }
      return undefined;
    };
    expect(codeOf(() => new FirmataBoard({ samplingIntervalMs: 0 }))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new FirmataBoard({ waveforms: { 6: constantWaveform(1) } }))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new FirmataBoard().setDigitalInput(0, 1))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new FirmataBoard({ faults: ['meteor' as never] }))).toBe('CONFIG_INVALID');
    expect(codeOf(() => new FirmataBoard({ faultsPerSecond: -1 }))).toBe('CONFIG_INVALID');
  });
});

// firmata-io's own parser as the judge: if it accepts the board, johnny-five will.
interface FirmataIo extends EventEmitter {
  isReady: boolean;
  firmware: { name?: string; version?: { major: number; minor: number } };
  analogPins: number[];
  RESOLUTION: { ADC: number | null };
  analogRead(channel: number, callback: (value: number) => void): void;
}
const { Firmata } = createRequire(import.meta.url)('firmata-io') as {
  Firmata: new (transport: EventEmitter, options: { reportVersionTimeout: number }) => FirmataIo;
};

describe('firmata-io against the board (in-memory transport)', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  // Host writes reach the board a microtask later, as a real link never answers re-entrantly.
  function connect(options: FirmataBoardOptions) {
    const board = new FirmataBoard({ random: seededRandom(7), ...options });
    const transport = Object.assign(new EventEmitter(), {
      write(bytes: Buffer, done?: () => void): void {
        queueMicrotask(() => {
          board.receive(bytes);
          done?.();
        });
      },
    });
    board.onData((bytes) => transport.emit('data', bytes));
    const io = new Firmata(transport, { reportVersionTimeout: 200 });
    return { board, io };
  }
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 50; i++) await Promise.resolve();
  };

  it('becomes ready from the announcement alone', async () => {
    const { board, io } = connect({});
    board.start();
    await settle();
    expect(io.isReady).toBe(true);
    expect(io.firmware.name).toBe('StandardFirmata.ino');
    expect(io.analogPins).toEqual([14, 15, 16, 17, 18, 19]);
    expect(io.RESOLUTION.ADC).toBe(1023);
    board.stop();
  });

  it('becomes ready after asking, when the board does not announce', async () => {
    const { board, io } = connect({ announce: false });
    board.start();
    await settle();
    expect(io.isReady).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    await settle();
    expect(io.isReady).toBe(true);
    board.stop();
  });

  it('delivers analog readings to analogRead', async () => {
    const { board, io } = connect({ waveforms: { 2: constantWaveform(321) } });
    board.start();
    await settle();
    const values: number[] = [];
    io.analogRead(2, (v) => values.push(v));
    await settle();
    vi.advanceTimersByTime(19 * 3);
    expect(values).toEqual([321, 321, 321, 321]);
    board.stop();
  });
});
