// Chart benchmarks, each against a baseline measured in the same run:
//   1. the series of one sensor over a 30-day range of 1,000,000 readings in 1,000 points, as
//      GET /devices/ID/series plans it (from the rollups) ÷ folding the same readings read from
//      the store's events into the same buckets; LevelDB, and PostgreSQL where installed;
//   2. ingest of the simulated fleet's backlog into a fresh store with what ingest keeps
//      beside the events (the rollups and the index of sparse events) ÷ without either (the
//      same events, alternating rounds); LevelDB (`rollups: false, typeIndex: false`), and
//      PostgreSQL where installed (rollups off on a schema of version 3: no partial index);
//      and on LevelDB the index alone: rollups on both sides, the index on one (no target).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FleetStore, Head } from '../src/hub/fleet-store.js';
import { planned } from '../src/hub/http-series.js';
import { openLevelFleetStore } from '../src/hub/leveldb-fleet-store.js';
import { openPgFleetStore } from '../src/hub/pg/pg-fleet-store.js';
import { foldSeries } from '../src/hub/series-fold.js';
import type { Envelope } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { startPostgres, type TestPostgres } from '../test/support/pg.js';
import { batches, sealedChain } from './pg.bench.js';
import { type BenchResult, median, rate } from './report.js';

const DAY = 86_400_000;
const POINTS = 1000;

/** A device log on disk with `n` readings of one sensor spread evenly over 30 days. */
async function readingLog(dir: string, n: number): Promise<{ log: EventLog; from: number; to: number }> {
  const from = Date.parse('2026-10-01T00:00:00.000Z');
  const step = (30 * DAY) / n;
  let i = 0;
  const log = await EventLog.open(dir, {
    create: true,
    device: 'chart-1',
    sync: false,
    clock: { now: () => Math.floor(from + step * i++), mono: () => i },
  });
  let x = 7;
  for (let k = 0; k < n; k += 1000) {
    const inputs = Array.from({ length: Math.min(1000, n - k) }, () => {
      x = (x * 1103515245 + 12345) % 2147483648;
      return {
        type: 'ReadingRecorded',
        data: { source: 'node', sensor: 'temp', value: (x % 40000) / 100, unit: 'C' },
      };
    });
    await log.appendMany(inputs);
  }
  return { log, from, to: from + 30 * DAY - 1 };
}

/** Copy a device log into a store, a replicator-sized batch at a time. */
async function feed(store: FleetStore, log: EventLog): Promise<void> {
  const written: Promise<Head>[] = [];
  let batch: Envelope[] = [];
  const send = async () => {
    const o = await store.append(batch[0]!.device, batch);
    if (o.kind !== 'stored') throw new Error(`store answered ${o.kind}`);
    written.push(o.written);
    batch = [];
  };
  for await (const e of log.events()) {
    batch.push(e);
    if (batch.length === 1000) await send();
  }
  if (batch.length > 0) await send();
  await Promise.all(written);
}

async function timed(fn: () => Promise<unknown>, reps: number): Promise<number> {
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    await fn();
    ms.push(performance.now() - t0);
  }
  return median(ms);
}

/** Series from the rollups ÷ the same buckets folded from the events, on one store. */
async function seriesVsFold(name: string, store: FleetStore, from: number, to: number, n: number) {
  let bucketMs = 0;
  let buckets = 0;
  const rolled = await timed(async () => {
    const { range, data } = await planned(from, to, POINTS, (r) => store.series('chart-1', 'temp', r));
    bucketMs = range.bucketMs;
    buckets = data.t.length;
  }, 7);
  const folded = await timed(
    () => foldSeries((q) => store.events(q), 'chart-1', 'temp', { from, to, bucketMs }),
    3,
  );
  const ratio = folded / rolled;
  process.stdout.write(
    `  ${name}: ${buckets} buckets of ${bucketMs / 60_000} min: rollups ${rolled.toFixed(1)} ms, fold ${folded.toFixed(0)} ms\n`,
  );
  return {
    name: `${name}.series.30d`,
    value: rolled,
    unit: 'ms',
    baseline: {
      name: `folding the same ${n.toLocaleString('en-US')} readings read from the store's events into the same ${buckets} buckets`,
      value: folded,
      unit: 'ms',
    },
    ratio,
    target: '>= 20',
    pass: ratio >= 20,
  } satisfies BenchResult;
}

/** Every chain into `store` as the hub's ingest drives it: a device's batches in turn, devices at once. */
async function ingest(store: FleetStore, chains: Envelope[][][]): Promise<number> {
  const written: Promise<Head>[] = [];
  const t0 = performance.now();
  await Promise.all(
    chains.map(async (device) => {
      for (const b of device) {
        const o = await store.append(b[0]!.device, b);
        if (o.kind !== 'stored') throw new Error(`store answered ${o.kind}`);
        written.push(o.written);
      }
    }),
  );
  await Promise.all(written);
  return performance.now() - t0;
}

/** What one ingest comparison sets on and off, and how its figures are named. */
interface Switch {
  /** The result's name after `<store>.ingest.`. */
  key: string;
  on: string;
  /** The baseline's store, after "into a fresh store ". */
  off: string;
  target: boolean;
}

/** What ingest keeps beside the events (rollups, index of sparse events) ÷ neither: the target. */
const KEPT: Switch = {
  key: 'rollups',
  on: 'with rollups and index',
  off: 'without rollups or the index of sparse events',
  target: true,
};

async function ingestOnOff(
  name: string,
  chains: Envelope[][][],
  rounds: number,
  open: (on: boolean, round: number) => Promise<FleetStore>,
  sw: Switch = KEPT,
): Promise<BenchResult> {
  const total = chains.reduce((a, d) => a + d.reduce((b, x) => b + x.length, 0), 0);
  const on: number[] = [];
  const off: number[] = [];
  for (let r = 0; r < rounds; r++) {
    // alternate which goes first, each into a fresh store
    for (const which of r % 2 === 0 ? [false, true] : [true, false]) {
      const store = await open(which, r);
      try {
        (which ? on : off).push(rate(total, await ingest(store, chains)));
      } finally {
        await store.close();
      }
    }
    process.stdout.write(
      `  ${name} round ${r + 1}: ${sw.on} ${Math.round(on[r]!)} events/s, without ${Math.round(off[r]!)} events/s\n`,
    );
  }
  const ratio = median(on.map((o, k) => o / off[k]!));
  return {
    name: `${name}.ingest.${sw.key}`,
    value: median(on),
    unit: 'events/s',
    baseline: {
      name: `the same ${total.toLocaleString('en-US')} events (${chains.length} devices) into a fresh store ${sw.off}`,
      value: median(off),
      unit: 'events/s',
    },
    ratio,
    ...(sw.target ? { target: '>= 0.9', pass: ratio >= 0.9 } : {}),
  };
}

async function startPg(): Promise<TestPostgres | null> {
  try {
    return await startPostgres();
  } catch (err) {
    const message = (err as Error).message;
    if (!/not installed/.test(message)) throw err;
    process.stdout.write(`series: PostgreSQL parts skipped: ${message}\n`);
    return null;
  }
}

export async function benchSeries(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const quick = opts.quick ?? false;
  const N = quick ? 100_000 : 1_000_000;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-series-'));
  const cluster = await startPg();
  const results: BenchResult[] = [];
  try {
    const { log, from, to } = await readingLog(join(root, 'device'), N);
    try {
      const level = await openLevelFleetStore(join(root, 'hub'), { create: true, sync: false });
      await feed(level, log);
      results.push(await seriesVsFold('leveldb', level, from, to, N));
      await level.close();
      if (cluster) {
        const store = await openPgFleetStore(await cluster.database('series'), { create: true });
        await feed(store, log);
        results.push(await seriesVsFold('pg', store, from, to, N));
        await store.close();
      }
    } finally {
      await log.close();
    }
    const DEVICES = 10;
    const PER = quick ? 2_000 : 10_000;
    const chains: Envelope[][][] = [];
    for (let i = 0; i < DEVICES; i++) chains.push(batches(await sealedChain(`fleet-${i + 1}`, i, PER)));
    results.push(
      await ingestOnOff('leveldb', chains, quick ? 2 : 5, (rollups, r) =>
        openLevelFleetStore(join(root, `ingest-${r}-${rollups}`), {
          create: true,
          rollups,
          typeIndex: rollups,
        }),
      ),
    );
    // the index's own share: rollups on both sides, the index on one (reported, no target)
    results.push(
      await ingestOnOff(
        'leveldb',
        chains,
        quick ? 2 : 5,
        (typeIndex, r) =>
          openLevelFleetStore(join(root, `index-${r}-${typeIndex}`), { create: true, typeIndex }),
        { key: 'typeindex', on: 'with the index', off: 'with rollups, without the index', target: false },
      ),
    );
    if (cluster)
      results.push(
        await ingestOnOff('pg', chains, quick ? 2 : 3, async (rollups, r) =>
          openPgFleetStore(await cluster.database(`ingest_${r}_${rollups}`), {
            create: true,
            rollups,
            // version 3 is the schema before the partial index (migration 4)
            ...(rollups ? {} : { schemaVersion: 3 }),
          }),
        ),
      );
    return results;
  } finally {
    await cluster?.stop();
    rmSync(root, { recursive: true, force: true });
  }
}
