// Pruning a 1,000,000-event acknowledged prefix (README "Running for a year → Retention"):
// EventLog.prune — which folds the projections through the pruned events for the anchor's
// snapshot, deletes the events, their time runs and snapshots a chunk per atomic write, and
// compacts the range — against a raw LevelDB `clear()` of the same event key range followed
// by `compactRange` of it, on an identical copy of the same log, in the same run.
// Space reclaimed: the folder's size (all files, the write-ahead log included) before and
// after, each measured after closing the store. Also reported: how much of the prune's time is
// reading the pruned events (decoded, payloads parsed) for the state kept at the anchor, the
// work a raw clear does not do.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ClassicLevel } from 'classic-level';
import { eventKey } from '../src/log/codec.js';
import { EventLog } from '../src/log/event-log.js';
import { sizeOnDisk } from '../src/log/size-on-disk.js';
import { benchClock, readingAt } from './log.bench.js';
import type { BenchResult } from './report.js';

const KEPT = 10_000;

async function build(dir: string, n: number): Promise<void> {
  const log = await EventLog.open(dir, { device: 'pi-01', create: true, sync: false, clock: benchClock() });
  const group = 5000;
  for (let i = 0; i < n; i += group)
    await log.appendMany(Array.from({ length: Math.min(group, n - i) }, (_, k) => readingAt(i + k)));
  await log.compact();
  await log.close();
}

async function pruned(dir: string, through: number): Promise<{ ms: number; reclaimed: number }> {
  const before = await sizeOnDisk(dir);
  const log = await EventLog.open(dir, {});
  const t0 = performance.now();
  const r = await log.prune(through);
  const ms = performance.now() - t0;
  if (r.pruned !== through) throw new Error(`pruned ${r.pruned}, not ${through}`);
  await log.close();
  return { ms, reclaimed: before - (await sizeOnDisk(dir)) };
}

/** The part of a prune a raw clear does not do: folding the pruned events into the anchor's state. */
async function folded(dir: string, through: number): Promise<number> {
  const log = await EventLog.open(dir, {});
  const t0 = performance.now();
  let n = 0;
  for await (const chunk of log.foldChunks({ toSeq: through })) n += chunk.length;
  const ms = performance.now() - t0;
  await log.close();
  if (n !== through) throw new Error(`folded ${n}, not ${through}`);
  return ms;
}

async function cleared(dir: string, through: number): Promise<{ ms: number; reclaimed: number }> {
  const before = await sizeOnDisk(dir);
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const t0 = performance.now();
  const gte = eventKey(0, 1);
  const lte = eventKey(0, through);
  await db.clear({ gte, lte });
  await db.compactRange(gte, lte);
  const ms = performance.now() - t0;
  await db.close();
  return { ms, reclaimed: before - (await sizeOnDisk(dir)) };
}

export async function benchRetention({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  const through = quick ? 100_000 : 1_000_000;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-retention-'));
  try {
    const source = join(root, 'source');
    await build(source, through + KEPT);
    const a = join(root, 'prune');
    const b = join(root, 'clear');
    cpSync(source, a, { recursive: true });
    cpSync(source, b, { recursive: true });
    const raw = await cleared(b, through);
    const ours = await pruned(a, through);
    const fold = await folded(source, through);
    const what = `${through.toLocaleString('en-US')} events`;
    return [
      {
        name: 'prune time',
        value: ours.ms,
        unit: `ms (${what}, prune + compaction)`,
        baseline: { name: 'LevelDB clear() + compactRange', value: raw.ms, unit: 'ms' },
        ratio: ours.ms / raw.ms,
      },
      {
        name: 'prune space reclaimed',
        value: ours.reclaimed / 1e6,
        unit: `MB (${what})`,
        baseline: { name: 'LevelDB clear() + compactRange', value: raw.reclaimed / 1e6, unit: 'MB' },
        ratio: ours.reclaimed / raw.reclaimed,
      },
      {
        name: 'of which: reading the events',
        value: fold,
        unit: `ms (${what}, foldChunks: decoded and parsed for the anchor's device state)`,
        baseline: { name: 'the prune', value: ours.ms, unit: 'ms' },
        ratio: fold / ours.ms,
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
