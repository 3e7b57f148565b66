// johnny-five + firmata-io over the mock binding against the simulated board: the handshake both
// ways (announced and asked for), a Sensor's readings, unplugging, and the mock-port plumbing.

import { EventEmitter, once } from 'node:events';
import { createRequire } from 'node:module';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeReportVersion,
  FIRMATA,
  FirmataBoard,
  type FirmataBoardOptions,
  sineWaveform,
} from '../../firmware-sim/firmata-board.js';
import { attachSimulator, type SerialSimulator } from '../../firmware-sim/mock-port.js';

// Just the parts of these untyped CommonJS libraries that the tests touch.
interface FirmataIo extends EventEmitter {
  firmware: { name?: string };
}
interface FiveBoard extends EventEmitter {
  isReady: boolean;
}
interface FiveSensor extends EventEmitter {
  disable(): void;
}
const require = createRequire(import.meta.url);
const { Firmata } = require('firmata-io') as {
  Firmata: new (port: unknown, options: { reportVersionTimeout: number }) => FirmataIo;
};
const five = require('johnny-five') as {
  Board: new (options: Record<string, unknown>) => FiveBoard;
  Sensor: new (options: { pin: string; board: FiveBoard; freq?: number }) => FiveSensor;
};

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function connectBoard(options: FirmataBoardOptions = {}) {
  const sim = new FirmataBoard(options);
  const link = attachSimulator(sim, { record: true });
  const io = new Firmata(link.port, { reportVersionTimeout: 200 });
  // repl/sigint/debug off: otherwise johnny-five takes stdin, traps SIGINT and prints to stdout.
  const board = new five.Board({ io, repl: false, sigint: false, debug: false, timeout: 5000 });
  const errors: unknown[] = [];
  board.on('error', (err) => errors.push(err));
  const teardown = async (): Promise<void> => {
    await link.close();
    sim.stop();
  };
  cleanups.push(teardown);
  return { sim, link, io, board, errors, teardown };
}

async function timeToReady(board: FiveBoard): Promise<number> {
  const start = performance.now();
  await once(board, 'ready');
  return performance.now() - start;
}

function nextValues(emitter: EventEmitter, event: string, count: number): Promise<number[]> {
  return new Promise((resolve) => {
    const values: number[] = [];
    const take = (value: number): void => {
      values.push(value);
      if (values.length < count) return;
      emitter.off(event, take);
      resolve(values);
    };
    emitter.on(event, take);
  });
}

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('johnny-five talks to the simulated StandardFirmata board', () => {
  it('is ready at once when the board announces itself on open', async () => {
    const { board, io, link, errors } = connectBoard();
    expect(await timeToReady(board)).toBeLessThan(1000);
    expect(io.firmware.name).toBe('StandardFirmata.ino');
    // The host never had to ask for the version: it went straight to the capability query.
    expect(link.line.hostWrites()[0]).toBe(FIRMATA.START_SYSEX);
    expect(errors).toEqual([]);
  });

  it('is ready soon after asking when the board stays silent (announce:false)', async () => {
    const { board, link, errors } = connectBoard({ announce: false });
    const ms = await timeToReady(board);
    expect(ms).toBeGreaterThanOrEqual(150); // firmata-io waited its reportVersionTimeout...
    expect(ms).toBeLessThan(2000); // ...not the 5 s default
    expect([...link.line.hostWrites().subarray(0, 4)]).toEqual([
      FIRMATA.REPORT_VERSION,
      FIRMATA.START_SYSEX,
      FIRMATA.REPORT_FIRMWARE,
      FIRMATA.END_SYSEX,
    ]);
    expect(errors).toEqual([]);
  });

  it('feeds a Sensor on A0 with values from the simulated waveform', async () => {
    const { board, io } = connectBoard({
      waveforms: { 0: sineWaveform({ mean: 600, amplitude: 100, periodMs: 3000, noise: 4 }) },
    });
    await once(board, 'ready');
    const sensor = new five.Sensor({ pin: 'A0', board, freq: 25 });
    cleanups.push(() => sensor.disable());
    // The Sensor emits its (zero) median on a timer before any sample; wait for a real one.
    await once(io, 'analog-read-0');
    const values = await nextValues(sensor, 'data', 8);
    for (const v of values) {
      expect(v).toBeGreaterThanOrEqual(496);
      expect(v).toBeLessThanOrEqual(704);
    }
  });

  it('sees a disconnect as a close with err.disconnected, and can reopen after replug', async () => {
    const { board, link } = connectBoard();
    await once(board, 'ready');
    const portClosed = once(link.port, 'close');
    const boardClosed = once(board, 'close');
    link.line.unplug();
    const [err] = (await portClosed) as [{ disconnected?: boolean } | null];
    expect(err?.disconnected).toBe(true);
    await boardClosed; // firmata-io reports "close" here, not "disconnect" (it checks err.disconnect)

    const reopenError = await new Promise<unknown>((resolve) => link.port.open(resolve));
    expect(reopenError).toMatchObject({ code: 'SOURCE_UNAVAILABLE' });

    link.line.replug();
    const data = once(link.port, 'data');
    await new Promise<void>((resolve, reject) => link.port.open((e) => (e ? reject(e) : resolve())));
    const [chunk] = (await data) as [Buffer];
    expect([...chunk.subarray(0, 3)]).toEqual([...encodeReportVersion(2, 5)]); // DTR reset: announced again
  });

  it('leaves no timers behind after teardown', async () => {
    const before = timers();
    const { board, io, teardown } = connectBoard();
    await once(board, 'ready');
    const sensor = new five.Sensor({ pin: 'A1', board });
    await once(io, 'analog-read-1');
    sensor.disable();
    await teardown();
    expect(timers()).toBe(before);
  });
});

/** A line-oriented toy device: shouts back what it hears and greets whoever opens the port. */
function shoutingDevice(): SerialSimulator & { say(text: string): void } {
  const out = new EventEmitter();
  const say = (text: string): void => {
    out.emit('data', Buffer.from(text));
  };
  return {
    say,
    receive: (bytes) => say(bytes.toString().toUpperCase()),
    onData: (listener) => {
      out.on('data', listener);
      return () => out.off('data', listener);
    },
    hostOpened: () => say('hello from the device\n'),
  };
}

describe('mock-port', () => {
  it('splits reads at maxReadSize and delivers host writes to the simulator', async () => {
    const device = shoutingDevice();
    const link = attachSimulator(device, { maxReadSize: 3, baudRate: 9600 });
    cleanups.push(() => link.close());
    const chunks: Buffer[] = [];
    link.port.on('data', (c: Buffer) => chunks.push(c));
    await once(link.port, 'open');
    link.port.write('ping\n');
    while (Buffer.concat(chunks).toString() !== 'hello from the device\nPING\n') {
      await once(link.port, 'data');
    }
    expect(Math.max(...chunks.map((c) => c.length))).toBe(3);
  });

  it('drops what the device sends while no host has the port open', async () => {
    const device = shoutingDevice();
    const link = attachSimulator(device, { autoOpen: false });
    cleanups.push(() => link.close());
    device.say('nobody listens');
    expect(link.line.droppedBytes).toBe('nobody listens'.length);
    expect(await link.binding.list()).toEqual([expect.objectContaining({ path: link.path })]);
  });
});
