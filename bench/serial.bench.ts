// Serial benchmarks: how far the line-protocol parser outruns the fastest link a sensor
// node would use, measured against that link's frame rate for the same frames.
import { encodeReadings, LineSplitter, parseLine } from '../src/device/line-protocol.js';
import { type BenchResult, median, rate } from './report.js';

/** Frames a node sends: three sensors, a counter, realistic values. */
export function frames(n: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < n; i++) {
    parts.push(
      encodeReadings(i % 65536, [
        { sensor: 'temp', value: Math.round((21 + Math.sin(i / 50)) * 100) / 100, unit: 'C' },
        { sensor: 'hum', value: Math.round((45 + Math.cos(i / 70) * 5) * 10) / 10, unit: '%' },
        { sensor: 'pressure', value: Math.round((1013 + Math.sin(i / 900)) * 10) / 10, unit: 'hPa' },
      ]),
    );
  }
  return Buffer.from(parts.join(''), 'utf8');
}

export async function benchSerial(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const N = opts.quick ? 50_000 : 300_000;
  const wire = frames(N);
  const bytesPerFrame = wire.length / N;
  // 1 Mbaud, 8N1: 10 bits a byte on the wire
  const linkFramesPerSec = 1_000_000 / 10 / bytesPerFrame;
  const runs: number[] = [];
  for (let round = 0; round < 5; round++) {
    const splitter = new LineSplitter();
    let readings = 0;
    const t0 = performance.now();
    // the port hands over chunks as a UART driver does
    for (let at = 0; at < wire.length; at += 4096) {
      for (const line of splitter.push(wire.subarray(at, at + 4096))) {
        const f = parseLine(line);
        if (f.kind === 'readings') readings += f.readings.length;
      }
    }
    runs.push(rate(N, performance.now() - t0));
    if (readings !== N * 3) throw new Error(`parsed ${readings} readings, expected ${N * 3}`);
  }
  const parseRate = median(runs);
  return [
    {
      name: 'serial.line.parse',
      value: parseRate,
      unit: 'frames/s',
      baseline: {
        name: `frames/s a 1 Mbaud 8N1 link carries (${bytesPerFrame.toFixed(0)}-byte frames)`,
        value: linkFramesPerSec,
        unit: 'frames/s',
      },
      ratio: parseRate / linkFramesPerSec,
      target: '>= 100',
      pass: parseRate / linkFramesPerSec >= 100,
    },
  ];
}
