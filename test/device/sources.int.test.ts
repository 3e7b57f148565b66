// The three serial sources over firmware-sim's SimulatorBinding: fragmented reads, noise and bad
// frames, counter gaps, unplug and replug, a port that appears late, stop() during backoff,
// NMEA epochs, and Firmata boards with scaled pins, announced or asked for.

import { EventEmitter, once } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  constantWaveform,
  FIRMATA,
  FirmataBoard,
  type FirmataBoardOptions,
  PIN_MODE,
  seededRandom,
  UNO_PINS,
} from '../../firmware-sim/firmata-board.js';
import { type SerialSimulator, SimulatorBinding } from '../../firmware-sim/mock-port.js';
import { wrapFrame } from '../../src/device/frame.js';
import {
  encodeAnswer,
  encodeIdentity,
  encodeReadings,
  parseCommand,
  type Reading,
} from '../../src/device/line-protocol.js';
import { FirmataSource, type FirmataSourceOptions } from '../../src/device/sources/firmata-source.js';
import { LineSource, type LineSourceOptions } from '../../src/device/sources/line-source.js';
import { NmeaSource } from '../../src/device/sources/nmea-source.js';
import {
  backoffDelay,
  DEFAULT_BACKOFF,
  openFailureReason,
  type Source,
  type SourceEvent,
} from '../../src/device/sources/source.js';

// Taken before any test installs fake timers: waits for events must not depend on faked time.
const realSetTimeout = setTimeout;
const realClearTimeout = clearTimeout;
const realSetImmediate = setImmediate;

/** Lets every pending nextTick and promise run: the mock binding moves bytes on those alone. */
const drain = (): Promise<void> => new Promise((resolve) => realSetImmediate(resolve));

/** No jitter: retries come exactly at 250, 500, 1000 ... ms. */
const noJitter = (): number => 0.5;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
  vi.useRealTimers();
});

class Recording {
  readonly events: SourceEvent[] = [];
  readonly #changed = new EventEmitter();
  readonly sink = (ev: SourceEvent): void => {
    this.events.push(ev);
    this.#changed.emit('event');
  };

  of<K extends SourceEvent['kind']>(kind: K): Extract<SourceEvent, { kind: K }>[] {
    return this.events.filter((e): e is Extract<SourceEvent, { kind: K }> => e.kind === kind);
  }

  /** Resolves once `count` events match; fails after `timeoutMs` of real time. */
  waitFor(match: (ev: SourceEvent) => boolean, count = 1, timeoutMs = 5000): Promise<SourceEvent> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const found = this.events.filter(match);
        if (found.length < count) return false;
        this.#changed.off('event', check);
        realClearTimeout(timer);
        resolve(found[count - 1]!);
        return true;
      };
      const timer = realSetTimeout(() => {
        this.#changed.off('event', check);
        reject(new Error(`timed out; events so far: ${JSON.stringify(this.events)}`));
      }, timeoutMs);
      if (!check()) this.#changed.on('event', check);
    });
  }
}

const isKind =
  (kind: SourceEvent['kind']) =>
  (ev: SourceEvent): boolean =>
    ev.kind === kind;
const readingsWith = (counter: number) => (ev: SourceEvent) =>
  ev.kind === 'readings' && ev.counter === counter;

function run(source: Source): Recording {
  const rec = new Recording();
  source.start(rec.sink);
  cleanups.push(() => source.stop());
  return rec;
}

/** A device that only speaks when told to, and remembers what the host sent it. */
class TalkingDevice implements SerialSimulator {
  readonly heard: string[] = [];
  readonly events = new EventEmitter();
  #pending = '';
  constructor(private readonly reply?: (line: string) => string | undefined) {}

  say(data: string | Buffer): void {
    this.events.emit('data', typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }
  receive(bytes: Buffer): void {
    this.#pending += bytes.toString('latin1');
    for (let nl = this.#pending.indexOf('\n'); nl >= 0; nl = this.#pending.indexOf('\n')) {
      const line = this.#pending.slice(0, nl).replace(/\r$/, '');
      this.#pending = this.#pending.slice(nl + 1);
      this.heard.push(line);
      this.events.emit('heard', line);
      const answer = this.reply?.(line);
      if (answer !== undefined) this.say(answer);
    }
  }
  onData(listener: (bytes: Buffer) => void): () => void {
    this.events.on('data', listener);
    return () => this.events.off('data', listener);
  }
  async hears(count: number): Promise<void> {
    while (this.heard.length < count) await once(this.events, 'heard');
  }
}

/** A sensor node as the protocol describes it: FLI on ID, FLA on RATE. */
function sensorNode(): TalkingDevice {
  return new TalkingDevice((line) => {
    const cmd = parseCommand(line);
    if (cmd.kind === 'identify')
      return encodeIdentity({ nodeId: 'n-7', firmware: 'fl-node', version: '1.2' });
    if (cmd.kind === 'rate')
      return cmd.ms >= 100 ? encodeAnswer('RATE', true) : encodeAnswer('RATE', false, 'too fast');
    return undefined;
  });
}

let nextPath = 0;
const uniquePath = (what: string): string => `/dev/tty${what}${process.pid}-${nextPath++}`;

function lineSetup(options: Partial<LineSourceOptions> & { maxReadSize?: number } = {}) {
  const binding = new SimulatorBinding();
  const node = sensorNode();
  const line = binding.attach(node, {
    record: true,
    ...(options.maxReadSize ? { maxReadSize: options.maxReadSize } : {}),
  });
  cleanups.push(() => line.detach());
  const opens = vi.spyOn(binding, 'open');
  const source = new LineSource({ name: 'node', port: line.path, ...options }, { binding, random: noJitter });
  return { binding, node, line, source, opens };
}

const temp = (value: number): Reading[] => [{ sensor: 'temp', value, unit: 'C' }];

describe('line source', () => {
  it.each([1, 3])(
    'reads frames split into %i-byte reads; noise and bad frames are rejected, never readings',
    async (size) => {
      const { node, source } = lineSetup({ maxReadSize: size });
      const rec = run(source);
      expect(await rec.waitFor(isKind('connected'))).toEqual({ kind: 'connected', port: source.port });
      const badChecksum = encodeReadings(9, temp(9)).replace('temp:9', 'temp:8');
      node.say(encodeIdentity({ nodeId: 'n-1', firmware: 'fl-node', version: '1.0' }));
      node.say(encodeReadings(1, temp(21.5)));
      node.say('garbage\r\n');
      node.say(Buffer.from([0x00, 0xff, 0x80, 0x24, 0x0d, 0x0a]));
      node.say(badChecksum);
      node.say(encodeReadings(2, [...temp(21.6), { sensor: 'hum', value: 40.1, unit: '%' }]));
      node.say('$FLR,3,temp:1\r\n');
      node.say(encodeReadings(3, temp(-0.5)));
      await rec.waitFor(readingsWith(3));
      expect(rec.events).toEqual([
        { kind: 'connected', port: source.port },
        { kind: 'identity', nodeId: 'n-1', firmware: 'fl-node', version: '1.0' },
        { kind: 'readings', counter: 1, readings: temp(21.5) },
        { kind: 'rejected', reason: 'noise', sample: Buffer.from('garbage').toString('hex') },
        { kind: 'rejected', reason: 'noise', sample: '00ff8024' },
        { kind: 'rejected', reason: 'checksum', sample: expect.any(String) },
        {
          kind: 'readings',
          counter: 2,
          readings: [...temp(21.6), { sensor: 'hum', value: 40.1, unit: '%' }],
        },
        { kind: 'rejected', reason: 'truncated', sample: expect.any(String) },
        { kind: 'readings', counter: 3, readings: temp(-0.5) },
      ]);
    },
  );

  it('reports a counter gap as lost frames, a repeated counter as a duplicate, and starts over on FLI', async () => {
    const { node, source } = lineSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    for (const counter of [10, 11, 14, 14, 15]) node.say(encodeReadings(counter, temp(counter)));
    node.say(encodeIdentity({ nodeId: 'n-1', firmware: 'fl-node', version: '1.1' }));
    for (const counter of [65534, 65535, 0, 2]) node.say(encodeReadings(counter, temp(counter)));
    await rec.waitFor(readingsWith(2));
    const story = rec.events
      .slice(1)
      .map((e) =>
        e.kind === 'readings'
          ? `R${e.counter}`
          : e.kind === 'lost'
            ? `lost ${e.count} ${e.after}→${e.next}`
            : e.kind === 'rejected'
              ? e.reason
              : e.kind,
      );
    expect(story).toEqual([
      'R10',
      'R11',
      'lost 2 11→14',
      'R14',
      'duplicate',
      'R15',
      'identity',
      'R65534',
      'R65535',
      'R0',
      'lost 1 0→2',
      'R2',
    ]);
  });

  it('sends ID and RATE once the node has spoken, forwards its answers, and send() writes commands', async () => {
    const { node, source } = lineSetup({ identify: true, rateMs: 500 });
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    expect(node.heard).toEqual([]); // not while the node may still be booting
    node.say(encodeReadings(1, temp(20)));
    await rec.waitFor(isKind('answer'));
    expect(node.heard).toEqual([wrapFrame('FLC,ID').trim(), wrapFrame('FLC,RATE,500').trim()]);
    expect(rec.of('identity')).toEqual([
      { kind: 'identity', nodeId: 'n-7', firmware: 'fl-node', version: '1.2' },
    ]);
    expect(rec.of('answer')).toEqual([{ kind: 'answer', command: 'RATE', ok: true }]);

    await source.send({ kind: 'rate', ms: 50 });
    expect(await rec.waitFor(isKind('answer'), 2)).toEqual({
      kind: 'answer',
      command: 'RATE',
      ok: false,
      why: 'too fast',
    });
    await expect(source.send({ kind: 'rate', ms: 0 })).rejects.toMatchObject({ code: 'COMMAND_REJECTED' });
    await source.stop();
    await expect(source.send({ kind: 'identify' })).rejects.toMatchObject({ code: 'SOURCE_DISCONNECTED' });
  });

  it('sends the connect commands to a silent node after commandDelayMs', async () => {
    const { node, source } = lineSetup({ rateMs: 1000, commandDelayMs: 20 });
    run(source);
    await node.hears(1);
    expect(node.heard).toEqual([wrapFrame('FLC,RATE,1000').trim()]);
  });

  it('refuses a bad rate at construction', () => {
    expect(() => new LineSource({ name: 'n', port: '/dev/x', rateMs: 0 })).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID' }),
    );
  });

  it('unplug: the cut line is rejected, one disconnect, retries with backoff, and replug resumes readings', async () => {
    vi.useFakeTimers();
    const { node, line, source, opens } = lineSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    node.say(encodeReadings(5, temp(5)));
    node.say('$FLR,6,te');
    await rec.waitFor(readingsWith(5));
    await drain();
    line.unplug();
    await rec.waitFor(isKind('disconnected'));
    expect(rec.events.slice(-2)).toEqual([
      { kind: 'rejected', reason: 'truncated', sample: Buffer.from('$FLR,6,te').toString('hex') },
      {
        kind: 'disconnected',
        reason: 'unplugged',
        unavailable: false,
        detail: expect.stringContaining('unplugged'),
      },
    ]);
    expect(opens).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(249);
    expect(opens).toHaveBeenCalledTimes(1);
    await vi.advanceTimersByTimeAsync(1); // 250 ms: retry, still unplugged
    expect(opens).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(500); // 500 ms later: again
    expect(opens).toHaveBeenCalledTimes(3);
    line.replug();
    await vi.advanceTimersByTimeAsync(1000);
    expect(opens).toHaveBeenCalledTimes(4);
    await rec.waitFor(isKind('connected'), 2);
    expect(rec.of('disconnected')).toHaveLength(1);
    node.say(encodeReadings(50, temp(50)));
    await rec.waitFor(readingsWith(50));
    expect(rec.of('lost')).toEqual([]); // a new connection knows no previous counter
  });

  it('a port missing at start is retried until it appears, with one unavailable disconnect', async () => {
    vi.useFakeTimers();
    const binding = new SimulatorBinding();
    const opens = vi.spyOn(binding, 'open');
    const path = uniquePath('LATE');
    const source = new LineSource({ name: 'late', port: path }, { binding, random: noJitter });
    const rec = run(source);
    expect(await rec.waitFor(isKind('disconnected'))).toEqual({
      kind: 'disconnected',
      reason: 'not-found',
      unavailable: true,
      detail: expect.any(String),
    });
    await vi.advanceTimersByTimeAsync(250 + 500 + 1000 + 2000);
    expect(opens).toHaveBeenCalledTimes(5);
    expect(rec.events).toHaveLength(1);
    const node = sensorNode();
    const line = binding.attach(node, { path });
    cleanups.push(() => line.detach());
    await vi.advanceTimersByTimeAsync(4000);
    await rec.waitFor(isKind('connected'));
    node.say(encodeReadings(1, temp(1)));
    await rec.waitFor(readingsWith(1));
    expect(rec.events.map((e) => e.kind)).toEqual(['disconnected', 'connected', 'readings']);
  });

  it('stop() during backoff stops retrying; stop() is idempotent', async () => {
    vi.useFakeTimers();
    const binding = new SimulatorBinding();
    const opens = vi.spyOn(binding, 'open');
    const source = new LineSource({ name: 'gone', port: uniquePath('GONE') }, { binding, random: noJitter });
    const rec = run(source);
    await rec.waitFor(isKind('disconnected'));
    await Promise.all([source.stop(), source.stop()]);
    await vi.advanceTimersByTimeAsync(120_000);
    expect(opens).toHaveBeenCalledTimes(1);
    expect(rec.events).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('stop() while connected closes the port without a disconnect or a truncated report', async () => {
    const { node, line, source } = lineSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    node.say('$FLR,1,temp:');
    await drain();
    await source.stop();
    expect(line.hostOpen).toBe(false);
    expect(rec.events.map((e) => e.kind)).toEqual(['connected']);
  });

  it('binary noise between frames never throws and never becomes a reading', async () => {
    const { node, source } = lineSetup({ maxReadSize: 7 });
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    const random = seededRandom(42);
    for (let counter = 0; counter < 20; counter++) {
      node.say(
        Buffer.from(Array.from({ length: 1 + Math.floor(random() * 300) }, () => Math.floor(random() * 256))),
      );
      node.say(`\n${encodeReadings(counter, temp(counter))}`);
    }
    await rec.waitFor(readingsWith(19));
    expect(rec.of('readings').map((e) => e.counter)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(rec.of('lost')).toEqual([]);
    expect(rec.of('rejected').length).toBeGreaterThan(0);
  });
});

// ---- NMEA ------------------------------------------------------------------------------------

const sentence = (body: string): string => wrapFrame(body);
const gga = (time: string, quality = 1): string =>
  sentence(`GPGGA,${time},4807.038,N,01131.000,E,${quality},08,0.9,545.4,M,46.9,M,,`);
const rmc = (time: string, status = 'A'): string =>
  sentence(`GPRMC,${time},${status},4807.038,N,01131.000,E,022.4,084.4,230394,003.1,W`);

function nmeaSetup(maxReadSize?: number) {
  const binding = new SimulatorBinding();
  const gps = new TalkingDevice();
  const line = binding.attach(gps, maxReadSize ? { maxReadSize } : {});
  cleanups.push(() => line.detach());
  const source = new NmeaSource({ name: 'gps', port: line.path }, { binding, random: noJitter });
  return { gps, line, source };
}

describe('nmea source', () => {
  it('merges an epoch into one position when the next starts, and closes the last after 1 s of silence', async () => {
    vi.useFakeTimers();
    const { gps, source } = nmeaSetup(3);
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    gps.say('u-blox AG - www.u-blox.com\r\n');
    gps.say(gga('123519') + rmc('123519'));
    gps.say(sentence('GPGSV,1,1,01,07,79,048,42'));
    gps.say(gga('123519').replace('545.4', '545.5')); // checksum no longer matches
    gps.say(gga('123520'));
    const first = await rec.waitFor(isKind('position'));
    expect(first).toEqual({
      kind: 'position',
      position: {
        fixTime: '1994-03-23T12:35:19.000Z',
        lat: 48 + 7.038 / 60,
        lon: 11 + 31 / 60,
        alt: 545.4,
        speed: 22.4 * (1852 / 3600),
        course: 84.4,
        sats: 8,
        hdop: 0.9,
      },
    });
    expect(rec.of('rejected').map((e) => e.reason)).toEqual(['noise', 'checksum']);
    await drain();
    await vi.advanceTimersByTimeAsync(999);
    expect(rec.of('position')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(rec.of('position')[1]?.position.fixTime).toBe('12:35:20.000Z');
  });

  it('records no position for an epoch without a fix', async () => {
    vi.useFakeTimers();
    const { gps, source } = nmeaSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    gps.say(gga('123519', 0) + rmc('123519', 'V'));
    await drain();
    await vi.advanceTimersByTimeAsync(5000);
    expect(rec.events.map((e) => e.kind)).toEqual(['connected']);
  });

  it('stop() records the pending epoch', async () => {
    const { gps, source } = nmeaSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    gps.say(gga('000001'));
    await drain();
    expect(rec.of('position')).toEqual([]);
    await source.stop();
    expect(rec.of('position').map((e) => e.position.fixTime)).toEqual(['00:00:01.000Z']);
  });

  it('unplug closes the epoch before the disconnect; replug resumes positions', async () => {
    vi.useFakeTimers();
    const { gps, line, source } = nmeaSetup();
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    gps.say(gga('101010'));
    await drain();
    line.unplug();
    await rec.waitFor(isKind('disconnected'));
    expect(rec.events.map((e) => e.kind)).toEqual(['connected', 'position', 'disconnected']);
    line.replug();
    await vi.advanceTimersByTimeAsync(250);
    await rec.waitFor(isKind('connected'), 2);
    gps.say(gga('101011') + gga('101012'));
    expect(await rec.waitFor(isKind('position'), 2)).toMatchObject({
      position: { fixTime: '10:10:11.000Z' },
    });
  });
});

// ---- Firmata ---------------------------------------------------------------------------------

/** Drops the muted analog channels' messages on their way to the host: pins that fall silent. */
function muting(board: FirmataBoard, muted: ReadonlySet<number>): SerialSimulator {
  return {
    receive: (bytes) => board.receive(bytes),
    hostOpened: () => board.hostOpened(),
    onData: (listener) =>
      board.onData((bytes) => {
        const kept: number[] = [];
        for (let i = 0; i < bytes.length; i++) {
          const b = bytes[i]!;
          if ((b & 0xf0) === FIRMATA.ANALOG_MESSAGE && muted.has(b & 0x0f)) i += 2;
          else kept.push(b);
        }
        if (kept.length > 0) listener(Buffer.from(kept));
      }),
  };
}

function firmataSetup(
  board: FirmataBoardOptions,
  options: Partial<FirmataSourceOptions> = {},
  wrap: (b: FirmataBoard) => SerialSimulator = (b) => b,
) {
  const binding = new SimulatorBinding();
  const sim = new FirmataBoard(board);
  const line = binding.attach(wrap(sim));
  cleanups.push(() => {
    line.detach();
    sim.stop();
  });
  const source = new FirmataSource(
    {
      name: 'board',
      port: line.path,
      sampleMs: 50,
      pins: [
        { sensor: 'raw', pin: 'A0' },
        { sensor: 'level', pin: 'A1', unit: '%', scale: [0, 100] },
      ],
      ...options,
    },
    { binding, random: noJitter },
  );
  return { sim, line, source };
}

const steady: FirmataBoardOptions = { waveforms: { 0: constantWaveform(512), 1: constantWaveform(1023) } };
const expected = [
  { sensor: 'raw', value: 512 },
  { sensor: 'level', value: 100, unit: '%' },
];

describe('firmata source', () => {
  it('a board that announces itself: connected with its firmware, one readings per period, scaled', async () => {
    const { source } = firmataSetup(steady);
    const rec = run(source);
    expect(await rec.waitFor(isKind('connected'))).toEqual({
      kind: 'connected',
      port: source.port,
      identity: 'StandardFirmata.ino 2.5',
    });
    await rec.waitFor(isKind('readings'), 3);
    for (const ev of rec.of('readings')) expect(ev.readings).toEqual(expected);
  });

  it('a board that must be asked is ready after reportVersionTimeoutMs', async () => {
    const started = performance.now();
    const { source } = firmataSetup({ ...steady, announce: false }, { reportVersionTimeoutMs: 150 });
    const rec = run(source);
    await rec.waitFor(isKind('connected'));
    expect(performance.now() - started).toBeGreaterThanOrEqual(140);
    await rec.waitFor(isKind('readings'));
    expect(rec.of('readings')[0]?.readings).toEqual(expected);
  });

  it('scales from the resolution in the capability response (12-bit here)', async () => {
    const twelveBit = UNO_PINS.map((p) => ({
      ...p,
      capabilities: p.capabilities.map(([mode, bits]): [number, number] => [
        mode,
        mode === PIN_MODE.ANALOG ? 12 : bits,
      ]),
    }));
    const { source } = firmataSetup(
      { pins: twelveBit, waveforms: { 0: constantWaveform(1023) } },
      {
        pins: [
          { sensor: 'raw', pin: 'A0' },
          { sensor: 'volts', pin: 14, scale: [0, 4.095] },
        ],
      },
    );
    const rec = run(source);
    await rec.waitFor(isKind('readings'));
    expect(rec.of('readings')[0]?.readings).toEqual([
      { sensor: 'raw', value: 1023 },
      { sensor: 'volts', value: 1.023 },
    ]);
  });

  it('never records a pin that has not reported; a pin the board lacks is a fault, the rest still work', async () => {
    const muted = new Set([1]);
    const { source } = firmataSetup(
      steady,
      {
        pins: [
          { sensor: 'raw', pin: 'A0' },
          { sensor: 'quiet', pin: 'A1' },
          { sensor: 'missing', pin: 'A9' },
        ],
      },
      (b) => muting(b, muted),
    );
    const rec = run(source);
    await rec.waitFor(isKind('readings'), 3);
    expect(rec.of('fault')).toEqual([
      { kind: 'fault', code: 'PIN_UNAVAILABLE', text: 'A9 is not an analog input on this board' },
    ]);
    for (const ev of rec.of('readings')) expect(ev.readings).toEqual([{ sensor: 'raw', value: 512 }]);
  });

  it('a pin that falls silent is left out of later periods, not repeated', async () => {
    const muted = new Set<number>();
    const { source } = firmataSetup(steady, {}, (b) => muting(b, muted));
    const rec = run(source);
    await rec.waitFor(isKind('readings'));
    expect(rec.of('readings')[0]?.readings).toEqual(expected);
    muted.add(1);
    const before = rec.of('readings').length;
    // The period running when it fell silent may still hold its last value; the next may not.
    await rec.waitFor(isKind('readings'), before + 2);
    expect(rec.of('readings').at(-1)?.readings).toEqual([{ sensor: 'raw', value: 512 }]);
  });

  it('unplug: disconnected, then connected again after replug, and readings resume', async () => {
    const { line, source } = firmataSetup(steady);
    const rec = run(source);
    await rec.waitFor(isKind('readings'));
    line.unplug();
    expect(await rec.waitFor(isKind('disconnected'))).toMatchObject({
      reason: 'unplugged',
      unavailable: false,
    });
    line.replug();
    await rec.waitFor(isKind('connected'), 2);
    const before = rec.of('readings').length;
    await rec.waitFor(isKind('readings'), before + 2);
    expect(rec.of('disconnected')).toHaveLength(1);
    for (const ev of rec.of('readings')) expect(ev.readings).toEqual(expected);
  });

  it('a board that resets under us is reconnected so its pins are set up again', async () => {
    const { sim, source } = firmataSetup(steady);
    const rec = run(source);
    await rec.waitFor(isKind('readings'));
    sim.start(); // the reset button: the board forgets its pin modes and reporting
    expect(await rec.waitFor(isKind('disconnected'))).toMatchObject({
      reason: 'board-reset',
      unavailable: false,
    });
    await rec.waitFor(isKind('connected'), 2);
    const before = rec.of('readings').length;
    await rec.waitFor(isKind('readings'), before + 1);
  });

  it('a port where no board answers is unavailable, once, and retried', async () => {
    const binding = new SimulatorBinding();
    const mute = new TalkingDevice();
    const line = binding.attach(mute);
    cleanups.push(() => line.detach());
    const opens = vi.spyOn(binding, 'open');
    const source = new FirmataSource(
      {
        name: 'board',
        port: line.path,
        pins: [{ sensor: 'raw', pin: 'A0' }],
        readyTimeoutMs: 100,
        reportVersionTimeoutMs: 20,
      },
      { binding, random: noJitter },
    );
    const rec = run(source);
    expect(await rec.waitFor(isKind('disconnected'))).toMatchObject({
      reason: 'no-answer',
      unavailable: true,
    });
    await vi.waitFor(() => expect(opens).toHaveBeenCalledTimes(3), { timeout: 5000 });
    expect(rec.events).toHaveLength(1);
  });

  it('leaves no timers behind after stop()', async () => {
    const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const { sim, source } = firmataSetup(steady);
    const rec = run(source);
    await rec.waitFor(isKind('readings'));
    await source.stop();
    sim.stop();
    expect(timers()).toBe(before);
  });
});

// ---- the shared connection ---------------------------------------------------------------------

describe('serial connection', () => {
  it('backs off from 250 ms, doubling to a 30 s cap, within ±20 %', () => {
    const at = (attempt: number, r: number) => backoffDelay(attempt, DEFAULT_BACKOFF, () => r);
    expect([0, 1, 2, 3, 7, 8, 50].map((n) => at(n, 0.5))).toEqual([
      250, 500, 1000, 2000, 30_000, 30_000, 30_000,
    ]);
    expect(at(0, 0)).toBe(200);
    expect(at(0, 0.999999)).toBe(300);
    expect(at(9, 0.999999)).toBe(36_000);
  });

  it('sorts the native binding open failures into reasons', () => {
    expect(openFailureReason(new Error('Error: No such file or directory, cannot open /dev/ttyUSB0'))).toBe(
      'not-found',
    );
    expect(openFailureReason(new Error('Error: Permission denied, cannot open /dev/ttyUSB0'))).toBe(
      'permission-denied',
    );
    expect(openFailureReason(new Error('Error Resource temporarily unavailable Cannot lock port'))).toBe(
      'busy',
    );
    expect(
      openFailureReason(new Error('Error: Inappropriate ioctl for device setting custom baud rate')),
    ).toBe('open-failed');
  });

  it('on the real binding, a missing port is not-found and retried', async () => {
    const source = new LineSource({ name: 'real', port: uniquePath('FIELDLOG-NOPE') }, { random: noJitter });
    const rec = run(source);
    expect(await rec.waitFor(isKind('disconnected'))).toMatchObject({
      reason: 'not-found',
      unavailable: true,
    });
    await source.stop();
  });
});
