// Serial → durable log, end to end over a real pty: frames written into one end of a socat
// pair, read by the line source, recorded, fsynced. Baseline: the same frames read raw
// from the same kind of pty (no parsing, no log), in the same run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { openPtyPair } from '../firmware-sim/pty.js';
import { Recorder } from '../src/device/recorder.js';
import { LineSource } from '../src/device/sources/line-source.js';
import type { Envelope } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { type BenchResult, median, rate } from './report.js';
import { frames } from './serial.bench.js';

function open(path: string): Promise<SerialPort> {
  return new Promise((resolve, reject) => {
    const p = new SerialPort({ path, baudRate: 115200 }, (err) => (err ? reject(err) : resolve(p)));
  });
}

async function writeAll(port: SerialPort, data: Buffer): Promise<void> {
  for (let at = 0; at < data.length; at += 4096) {
    if (!port.write(data.subarray(at, at + 4096))) await new Promise((r) => port.once('drain', r));
  }
  await new Promise<void>((r) => port.drain(() => r()));
}

function close(port: SerialPort): Promise<void> {
  return new Promise((r) => (port.isOpen ? port.close(() => r()) : r()));
}

async function rawRun(wire: Buffer, lines: number): Promise<number> {
  const pair = await openPtyPair();
  const reader = await open(pair.devicePath);
  const writer = await open(pair.simPath);
  let seen = 0;
  const done = new Promise<void>((resolve) => {
    reader.on('data', (d: Buffer) => {
      for (const b of d) if (b === 10) seen++;
      if (seen >= lines) resolve();
    });
  });
  const t0 = performance.now();
  await writeAll(writer, wire);
  await done;
  const ms = performance.now() - t0;
  await close(reader);
  await close(writer);
  await pair.close();
  return ms;
}

async function pipelineRun(wire: Buffer, readings: number, root: string, round: number): Promise<number> {
  const pair = await openPtyPair();
  const log = await EventLog.open(join(root, `pipe-${round}`), { device: 'bench', create: true, sync: true });
  const source = new LineSource({ name: 'node', port: pair.devicePath, baud: 115200 });
  const recorder = new Recorder(
    log,
    { id: 'bench', sources: [{ name: 'node', driver: 'line', port: pair.devicePath }] },
    [source],
    {
      version: 'bench',
      clockCheck: () => ({ synced: true, basis: 'bench' }),
    },
  );
  let recorded = 0;
  const connected = new Promise<void>((resolve) => {
    recorder.on('events', (evs: Envelope[]) => {
      for (const e of evs) {
        if (e.type === 'SourceConnected') resolve();
        if (e.type === 'ReadingRecorded') recorded++;
      }
    });
  });
  const all = new Promise<void>((resolve) => {
    const check = () => {
      if (recorded >= readings) resolve();
    };
    recorder.on('events', check);
  });
  await recorder.start();
  await connected;
  const writer = await open(pair.simPath);
  const t0 = performance.now();
  await writeAll(writer, wire);
  await all;
  const ms = performance.now() - t0;
  await close(writer);
  await recorder.stop('bench');
  await log.close();
  await pair.close();
  return ms;
}

export async function benchPipeline(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const N = opts.quick ? 5_000 : 30_000;
  const wire = frames(N);
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-pipe-'));
  const raw: number[] = [];
  const pipe: number[] = [];
  try {
    for (let round = 0; round < 3; round++) {
      raw.push(rate(N * 3, await rawRun(wire, N)));
      pipe.push(rate(N * 3, await pipelineRun(wire, N * 3, root, round)));
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const link = (115200 / 10 / (wire.length / N)) * 3;
  return [
    {
      name: 'serial.pipeline.durable',
      value: median(pipe),
      unit: 'readings/s',
      baseline: {
        name: 'the same frames read raw from a socat pty (readings they carry)',
        value: median(raw),
        unit: 'readings/s',
      },
      ratio: median(pipe) / median(raw),
    },
    {
      // what matters in the field: headroom over the fastest link a node uses here
      name: 'serial.pipeline.vs-115200-baud',
      value: median(pipe),
      unit: 'readings/s',
      baseline: {
        name: 'readings/s a 115200-baud 8N1 link carries in these frames',
        value: link,
        unit: 'readings/s',
      },
      ratio: median(pipe) / link,
    },
  ];
}
