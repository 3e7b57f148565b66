// SD card wear: bytes the process writes to storage per byte of readings recorded (write
// amplification), in both durability modes, at 10 readings/s.
//
// Accelerated, and equivalent: wear comes from writes and fsyncs, not from seconds. A device
// at 10 readings/s with one reading per line makes one group commit every 100 ms (the worst
// case: several readings per line share a commit). Here each reading is its own commit too,
// and the low-wear mode's timers run on a simulated clock that advances 100 ms per reading, so
// the sequence of writes and fsyncs is the one the device makes in real time (ten commits per
// fsync), only without the waits.
//
// Bytes written: `write_bytes` of /proc/self/io (what the process sent to the block layer,
// LevelDB's background compactions included, as they run in its threads), read after the log
// is closed (closing waits for compactions). Where it reads 0 (a filesystem that does not
// account it), `wchar` (bytes handed to write()) is used instead and the unit says so.
// Readings' bytes: each ReadingRecorded's envelope as JSON (what `log cat` prints).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog, type LogOptions } from '../src/log/event-log.js';
import type { SyncTimers } from '../src/log/interval-sync.js';
import { benchClock, readingAt } from './log.bench.js';
import type { BenchResult } from './report.js';

const PERIOD_MS = 100; // 10 readings/s

function io(): { writeBytes: number; wchar: number } {
  const text = readFileSync('/proc/self/io', 'utf8');
  const field = (k: string) => Number(new RegExp(`^${k}: (\\d+)$`, 'm').exec(text)?.[1] ?? 0);
  return { writeBytes: field('write_bytes'), wchar: field('wchar') };
}

/** Timers on a clock the benchmark moves: the low-wear mode's fsyncs at their real-time pace. */
class SimTimers implements SyncTimers {
  t = 0;
  private due: { at: number; cb: () => void } | null = null;
  now = () => this.t;
  setTimeout = (cb: () => void, ms: number) => {
    const h = { at: this.t + ms, cb };
    this.due = h;
    return h;
  };
  clearTimeout = (h: unknown) => {
    if (this.due === h) this.due = null;
  };
  /** Move the clock; a timer that falls due runs (the log has one at a time). */
  advance(ms: number): Promise<void> | undefined {
    this.t += ms;
    const d = this.due;
    if (d && d.at <= this.t) {
      this.due = null;
      d.cb();
      return new Promise((r) => setImmediate(r));
    }
    return undefined;
  }
}

export interface WearRun {
  written: number;
  readingBytes: number;
  source: 'write_bytes' | 'wchar';
}

/** Record `n` readings as a device at 10/s does and measure what reached storage. */
export async function wearRun(n: number, opts: LogOptions): Promise<WearRun> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldlog-wear-'));
  const timers = new SimTimers();
  try {
    const before = io();
    const log = await EventLog.open(dir, {
      device: 'pi-01',
      create: true,
      clock: benchClock(),
      ...opts,
      ...(opts.syncEveryMs !== undefined ? { syncTimers: timers } : {}),
    });
    let readingBytes = 0;
    for (let i = 0; i < n; i++) {
      const env = await log.append(readingAt(i));
      readingBytes += Buffer.byteLength(JSON.stringify(env));
      const ran = timers.advance(PERIOD_MS);
      if (ran) await ran;
    }
    await log.close();
    const after = io();
    const wb = after.writeBytes - before.writeBytes;
    return wb > 0
      ? { written: wb, readingBytes, source: 'write_bytes' }
      : { written: after.wchar - before.wchar, readingBytes, source: 'wchar' };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const MiB = 1024 * 1024;

export async function benchWear({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const n = quick ? 5_000 : 100_000;
  const settings: { name: string; opts: LogOptions }[] = [
    { name: 'every-commit', opts: {} },
    { name: 'interval, defaults (4 MiB, compressed)', opts: { syncEveryMs: 1000 } },
    {
      name: 'interval, 1 MiB buffer',
      opts: { syncEveryMs: 1000, store: { writeBufferSize: 1 * MiB } },
    },
    {
      name: 'interval, 16 MiB buffer',
      opts: { syncEveryMs: 1000, store: { writeBufferSize: 16 * MiB } },
    },
    {
      name: 'interval, 4 MiB, uncompressed',
      opts: { syncEveryMs: 1000, store: { compression: false } },
    },
  ];
  const results: BenchResult[] = [];
  let base: { value: number; unit: string } | null = null;
  for (const s of settings) {
    const r = await wearRun(n, s.opts);
    const amp = r.written / r.readingBytes;
    const unit = `× (${r.source} ÷ reading bytes, ${n} readings)`;
    if (base === null) {
      base = { value: amp, unit };
      results.push({ name: `wear ${s.name}`, value: amp, unit });
      continue;
    }
    results.push({
      name: `wear ${s.name}`,
      value: amp,
      unit,
      baseline: { name: 'every-commit', ...base },
      ratio: amp / base.value,
      target: '≤ 10×',
      pass: amp <= 10,
    });
  }
  return results;
}
