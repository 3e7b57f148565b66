// Append rate with the year-in-the-field checks on ÷ off (target ≥ 0.9), in the same run: a
// device's log on disk (fsync per group commit, the default) taking frames of readings as the
// recorder writes them, with and without retention (its rounds as on the device, acks arriving
// all along, `keep` 30 days so its rounds find nothing to prune: the checks, not the pruning)
// and the disk budget (limits the log never reaches, measured every second instead of every
// ten, its estimate on every append). Off and on alternate, several runs each; medians, since
// a shared machine's load moves from one run to the next.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskBudget, logPruner, measureFolder } from '../src/device/disk-budget.js';
import { Retention } from '../src/device/retention.js';
import { UnrecordedReadings } from '../src/device/unrecorded.js';
import { EventLog } from '../src/log/event-log.js';
import { benchClock, readingAt } from './log.bench.js';
import { type BenchResult, median, rate } from './report.js';

const READINGS_PER_FRAME = 2;
const FRAMES_IN_FLIGHT = 100;

/** Events a second appended with the checks on or off. */
export async function appendRate(
  n: number,
  checks: boolean,
  parts: { retention: boolean; budget: boolean } = { retention: true, budget: true },
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldlog-budget-bench-'));
  const log = await EventLog.open(dir, { device: 'pi-01', create: true, clock: benchClock() });
  let retention: Retention | null = null;
  let budget: DiskBudget | null = null;
  if (checks && parts.retention) {
    // its rounds as on the device (every minute, and a second after acks arrive)
    retention = new Retention(log, { keep: '30d' });
    await retention.start();
  }
  if (checks && parts.budget) {
    const r = retention;
    budget = new DiskBudget({
      settings: { maxBytes: 100e9, minFreeBytes: 1e6, policy: 'thin' },
      log,
      measure: measureFolder(dir),
      acknowledged: () => r?.acknowledged() ?? -1,
      pruner: logPruner(log),
      unrecorded: new UnrecordedReadings({ warn: () => {} }),
      warn: () => {},
      checkEveryMs: 1000,
    });
    await budget.start();
  }
  try {
    const t0 = performance.now();
    for (let i = 0; i < n; i += READINGS_PER_FRAME * FRAMES_IN_FLIGHT) {
      const frames: Promise<unknown>[] = [];
      for (let f = 0; f < FRAMES_IN_FLIGHT; f++) {
        const at = i + f * READINGS_PER_FRAME;
        frames.push(log.appendMany([readingAt(at), readingAt(at + 1)]));
      }
      await Promise.all(frames);
      // the hub acknowledges what it got a little later, as a replicator's 'acked' says
      retention?.acknowledge(Math.max(0, log.head().seq - 500));
    }
    return rate(n, performance.now() - t0);
  } finally {
    await budget?.stop();
    await retention?.stop();
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchBudget({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const n = quick ? 20_000 : 100_000;
  const runs = quick ? 1 : 7;
  const off: number[] = [];
  const on: number[] = [];
  await appendRate(Math.min(n, 10_000), false); // warm-up
  for (let r = 0; r < runs; r++) {
    off.push(await appendRate(n, false));
    on.push(await appendRate(n, true));
  }
  const base = median(off);
  const value = median(on);
  const unit = `events/s (${n} readings, ${READINGS_PER_FRAME} a frame, fsync per commit, median of ${runs})`;
  return [
    {
      name: 'append, retention+budget on',
      value,
      unit,
      baseline: { name: 'checks off', value: base, unit },
      ratio: value / base,
      target: '≥ 0.9',
      pass: value / base >= 0.9,
    },
  ];
}
