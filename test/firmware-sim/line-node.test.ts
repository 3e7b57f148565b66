// The simulated sensor node on fake timers, judged by the device's own parser: identity and
// readings, counter wrap, RATE and ID commands, and that every injected fault is exactly what a
// correct device must reject or count as lost.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { seededRandom } from '../../firmware-sim/firmata-board.js';
import { LINE_FAULTS, type LineFault, LineNode, type LineNodeOptions } from '../../firmware-sim/line-node.js';
import { wrapFrame } from '../../src/device/frame.js';
import {
  counterGap,
  encodeCommand,
  LineSplitter,
  type ParsedLine,
  parseLine,
  type ReadingsFrame,
} from '../../src/device/line-protocol.js';
import { isFieldlogError } from '../../src/errors.js';

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

/** A node whose output goes through the device's splitter and parser. */
function nodeWithDevice(options: LineNodeOptions = {}) {
  const node = new LineNode({ random: seededRandom(42), record: true, ...options });
  const splitter = new LineSplitter();
  const parsed: ParsedLine[] = [];
  let bytes = 0;
  node.onData((chunk) => {
    bytes += chunk.length;
    for (const line of splitter.push(chunk)) parsed.push(parseLine(line));
  });
  const take = (): ParsedLine[] => parsed.splice(0);
  const send = (text: string): void => node.receive(Buffer.from(text, 'latin1'));
  return { node, take, send, bytes: () => bytes };
}

const readingsOf = (lines: ParsedLine[]): ReadingsFrame[] =>
  lines.filter((l): l is ReadingsFrame => l.kind === 'readings');

describe('LineNode', () => {
  it('sends its identity on start, then one readings frame per period', async () => {
    const { node, take } = nodeWithDevice({ nodeId: 'shed-7', firmware: 'envnode', version: '2.3.1' });
    node.start();
    await expect(take()).toEqual([
      { kind: 'identity', nodeId: 'shed-7', firmware: 'envnode', version: '2.3.1' },
    ]);
    vi.advanceTimersByTime(999);
    await expect(take()).toEqual([]);
    vi.advanceTimersByTime(1);
    const [frame, ...rest] = take();
    await expect(rest).toEqual([]);
    await expect(frame).toMatchObject({ kind: 'readings', counter: 0 });
    node.stop();
  });

  it('reports temperature, humidity and pressure near a desk, rounded like firmware', async () => {
    const { node, take } = nodeWithDevice();
    node.start();
    vi.advanceTimersByTime(600_000);
    const frames = readingsOf(take());
    await expect(frames).toHaveLength(600);
    const series = (name: string) => frames.map((f) => f.readings.find((r) => r.sensor === name));
    await expect(frames[0]?.readings.map((r) => [r.sensor, r.unit])).toEqual([
      ['temp', 'C'],
      ['hum', '%'],
      ['pressure', 'hPa'],
    ]);
    const temp = series('temp').map((r) => r!.value);
    const hum = series('hum').map((r) => r!.value);
    const pressure = series('pressure').map((r) => r!.value);
    for (const [values, lo, hi, decimals] of [
      [temp, 17, 25, 2],
      [hum, 30, 60, 1],
      [pressure, 1008, 1018, 1],
    ] as const) {
      await expect(Math.min(...values)).toBeGreaterThan(lo);
      await expect(Math.max(...values)).toBeLessThan(hi);
      for (const v of values) await expect(Math.round(v * 10 ** decimals) / 10 ** decimals).toBe(v);
    }
    // It moves like a real quantity: a visible trend over ten minutes, small steps between samples.
    await expect(Math.max(...temp) - Math.min(...temp)).toBeGreaterThan(0.5);
    const steps = temp.slice(1).map((v, i) => Math.abs(v - temp[i]!));
    await expect(Math.max(...steps)).toBeLessThan(0.5);
    node.stop();
  });

  it('wraps the counter from 65535 to 0 without a gap', async () => {
    const { node, take } = nodeWithDevice({ startCounter: 65534 });
    node.start();
    vi.advanceTimersByTime(4000);
    const counters = readingsOf(take()).map((f) => f.counter);
    await expect(counters).toEqual([65534, 65535, 0, 1]);
    for (let i = 1; i < counters.length; i++)
      await expect(counterGap(counters[i - 1]!, counters[i]!)).toBe(0);
    node.stop();
  });

  it('answers RATE with OK and samples at the new period', async () => {
    const { node, take, send } = nodeWithDevice();
    node.start();
    take();
    send(encodeCommand({ kind: 'rate', ms: 250 }));
    await expect(take()).toEqual([{ kind: 'answer', command: 'RATE', ok: true }]);
    await expect(node.periodMs).toBe(250);
    vi.advanceTimersByTime(1000);
    await expect(readingsOf(take())).toHaveLength(4);
    node.stop();
  });

  it('refuses bad RATE values with ERR and a reason, keeping its period', async () => {
    const { node, take, send } = nodeWithDevice();
    node.start();
    take();
    for (const body of [
      'FLC,RATE,0',
      'FLC,RATE,3600001',
      'FLC,RATE,fast',
      'FLC,RATE,-5',
      'FLC,RATE',
      'FLC,RATE,5,6',
    ]) {
      send(wrapFrame(body));
      const [answer, ...rest] = take();
      await expect(rest).toEqual([]);
      await expect(answer).toMatchObject({
        kind: 'answer',
        command: 'RATE',
        ok: false,
        why: expect.any(String),
      });
    }
    await expect(node.periodMs).toBe(1000);
    send(wrapFrame('FLC,RESET'));
    await expect(take()).toEqual([{ kind: 'answer', command: 'RESET', ok: false, why: 'unknown command' }]);
    node.stop();
  });

  it('sends its identity on ID, even when the command arrives a byte at a time', async () => {
    const { node, take } = nodeWithDevice();
    node.start();
    take();
    for (const byte of Buffer.from(encodeCommand({ kind: 'identify' }))) node.receive(Buffer.from([byte]));
    await expect(take()).toEqual([
      { kind: 'identity', nodeId: 'node-1', firmware: 'fieldlog-node', version: '1.0.0' },
    ]);
    node.stop();
  });

  it('ignores commands with a bad checksum and input while powered off', async () => {
    const { node, take, send } = nodeWithDevice();
    send(encodeCommand({ kind: 'identify' }));
    await expect(take()).toEqual([]);
    node.start();
    take();
    send('$FLC,ID*00\r\n');
    send('garbage\n');
    await expect(take()).toEqual([]);
    node.stop();
  });

  it('reboots when the host opens the port with resetOnOpen, as a DTR reset does', async () => {
    const { node, take } = nodeWithDevice({ resetOnOpen: true, startCounter: 100 });
    node.start();
    vi.advanceTimersByTime(3000);
    take();
    node.hostOpened();
    vi.advanceTimersByTime(1000);
    await expect(take()).toMatchObject([{ kind: 'identity' }, { kind: 'readings', counter: 100 }]);
    node.stop();
  });

  it('sends FLE for its own faults', async () => {
    const { node, take } = nodeWithDevice();
    node.start();
    take();
    node.reportFault('SENSOR', 'hum: no answer from SHT31');
    await expect(take()).toEqual([{ kind: 'fault', code: 'SENSOR', text: 'hum: no answer from SHT31' }]);
    await expect(node.stats.nodeFaults).toBe(1);
    node.stop();
  });

  it('computes the checksum over UTF-8 bytes when a unit holds °', async () => {
    const { node, take } = nodeWithDevice({
      sensors: [{ name: 'water', unit: '°C', decimals: 1, waveform: () => 8.25 }],
    });
    node.start();
    vi.advanceTimersByTime(1000);
    await expect(readingsOf(take())[0]?.readings).toEqual([{ sensor: 'water', value: 8.3, unit: '°C' }]);
    node.stop();
  });

  it('leaves no timer behind when stopped, even during an outage', async () => {
    const { node } = nodeWithDevice();
    node.start();
    node.disconnect();
    await expect(node.linePresent).toBe(false);
    await expect(vi.getTimerCount()).toBe(2);
    node.stop();
    await expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects impossible options with CONFIG_INVALID', async () => {
    const codeOf = (options: LineNodeOptions): string | undefined => {
      try {
        new LineNode(options);
      } catch (err) {
        return isFieldlogError(err) ? err.code : 'not a FieldlogError';
      }
      return undefined;
    };
    await expect(codeOf({ periodMs: 0 })).toBe('CONFIG_INVALID');
    await expect(codeOf({ nodeId: 'a,b' })).toBe('CONFIG_INVALID');
    await expect(codeOf({ faults: ['meteor' as LineFault] })).toBe('CONFIG_INVALID');
    await expect(codeOf({ faultRate: 2 })).toBe('CONFIG_INVALID');
    await expect(codeOf({ startCounter: 70000 })).toBe('CONFIG_INVALID');
    await expect(codeOf({ sensors: [{ name: 'Temp', waveform: () => 1 }] })).toBe('CONFIG_INVALID');
    await expect(codeOf({ sensors: [] })).toBe('CONFIG_INVALID');
    const many = Array.from({ length: 12 }, (_, i) => ({
      name: `sensor_number_${i}`,
      unit: 'hPa',
      waveform: () => 1,
    }));
    await expect(codeOf({ sensors: many })).toBe('CONFIG_INVALID');
  });
});

describe('LineNode faults', () => {
  const rejectedAs = (lines: ParsedLine[]): string[] =>
    lines.flatMap((l) => (l.kind === 'rejected' ? [l.reason] : []));

  it.each([
    ['garbage', 'noise'],
    ['checksum', 'checksum'],
    ['truncate', 'truncated'],
    ['overlong', 'overlong'],
  ] as const)('%s costs the device exactly one line rejected as %s', async (fault, reason) => {
    const { node, take } = nodeWithDevice({ faults: [fault], faultRate: 0.5 });
    node.start();
    vi.advanceTimersByTime(200_000);
    const lines = take();
    const stats = node.stats;
    await expect(stats.faults[fault]).toBeGreaterThan(50);
    await expect(rejectedAs(lines)).toEqual(Array(stats.faults[fault]).fill(reason));
    await expect(stats.badLines).toBe(stats.faults[fault]);
    await expect(readingsOf(lines)).toEqual(node.validFrames());
    await expect(stats.framesOk).toBe(node.validFrames().length);
    // Noise comes between frames; the other faults spoil the frame itself.
    await expect(stats.framesOk).toBe(fault === 'garbage' ? 200 : 200 - stats.faults[fault]);
    node.stop();
  });

  it('drop skips counter values: the gaps add up to the frames lost', async () => {
    const { node, take } = nodeWithDevice({ faults: ['drop'], faultRate: 0.2 });
    node.start();
    vi.advanceTimersByTime(500_000);
    const counters = readingsOf(take()).map((f) => f.counter);
    const stats = node.stats;
    await expect(stats.faults.drop).toBeGreaterThan(50);
    let gaps = 0;
    for (let i = 1; i < counters.length; i++) gaps += counterGap(counters[i - 1]!, counters[i]!);
    gaps += counters[0]! + counterGap(counters.at(-1)!, node.nextCounter);
    await expect(gaps).toBe(stats.countersLost);
    await expect(stats.countersLost).toBeGreaterThan(stats.faults.drop); // bursts of 1–3
    node.stop();
  });

  it('disconnect takes the line away for outageMs (silent, deaf, counting on), then stays up as long', async () => {
    const { node, take, send, bytes } = nodeWithDevice({
      faults: ['disconnect'],
      faultRate: 1,
      outageMs: 2500,
    });
    const events: boolean[] = [];
    node.onLineChange((present) => events.push(present));
    node.start();
    vi.advanceTimersByTime(2999);
    await expect(events).toEqual([]); // up for less than an outage's length yet
    const before = bytes();
    vi.advanceTimersByTime(1);
    await expect(events).toEqual([false]);
    send(encodeCommand({ kind: 'identify' }));
    vi.advanceTimersByTime(2499);
    await expect(events).toEqual([false]);
    vi.advanceTimersByTime(1);
    await expect(events).toEqual([false, true]);
    await expect(bytes()).toBe(before);
    vi.advanceTimersByTime(2500);
    await expect(events).toEqual([false, true, false]);
    // Samples 2–4 (3, 4, 5 s) fell into the first outage, sample 7 (8 s) started the second.
    await expect(readingsOf(take()).map((f) => f.counter)).toEqual([0, 1, 5, 6]);
    await expect(node.stats).toMatchObject({ countersLost: 4, framesOk: 4, faults: { disconnect: 2 } });
    await expect(node.nextCounter).toBe(8);
    node.stop();
  });

  it('disconnect() takes the line away on demand, for a harness that wants it at a known moment', async () => {
    const { node, take } = nodeWithDevice();
    const events: boolean[] = [];
    node.onLineChange((present) => events.push(present));
    node.start();
    vi.advanceTimersByTime(2000);
    node.disconnect(1500);
    vi.advanceTimersByTime(1500);
    await expect(events).toEqual([false, true]);
    vi.advanceTimersByTime(1500);
    // Frames 0 and 1, then 2 fell into the outage (the tick at 3 s), then 3 and 4 after it.
    await expect(readingsOf(take()).map((f) => f.counter)).toEqual([0, 1, 3, 4]);
    await expect(node.stats).toMatchObject({ countersLost: 1, faults: { disconnect: 1 } });
    node.stop();
  });

  it('with every fault mixed in, the device can account for every counter value', async () => {
    const { node, take } = nodeWithDevice({ faults: LINE_FAULTS, faultRate: 0.3, outageMs: 3000 });
    node.start();
    vi.advanceTimersByTime(2_000_000);
    const lines = take();
    const stats = node.stats;
    for (const f of LINE_FAULTS) await expect(stats.faults[f]).toBeGreaterThan(10);
    const frames = readingsOf(lines);
    await expect(frames).toEqual(node.validFrames());
    await expect(rejectedAs(lines)).toHaveLength(stats.badLines);
    await expect(lines.filter((l) => l.kind === 'identity')).toHaveLength(1);
    // 2000 samples: each either arrived as a valid frame or is a counter value lost.
    const consumed = (node.nextCounter - 0 + 0x10000) & 0xffff;
    await expect(stats.framesOk + stats.countersLost).toBe(consumed);
    await expect(consumed).toBeGreaterThan(2000);
    node.stop();
  });
});
