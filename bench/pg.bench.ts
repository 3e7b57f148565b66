// PostgreSQL benchmarks, each against a baseline measured in the same run, on a throw-away
// cluster of their own (the system tests' helper, test/support/pg.ts; skipped with one line
// where PostgreSQL is not installed):
//   1. ingest of a backlog (real sealed chains made with EventLog) through the PostgreSQL
//      FleetStore's append, verified, committed and sequenced (every `written` resolved),
//      ÷ a raw COPY of the same rows into the same table, each run into a fresh schema;
//   2. a fleet catching up at once through mosquitto into PostgreSQL with two hub
//      processes ÷ one device catching up (pg-fleet.bench.ts).
// The suite `pg-ingest` runs the first alone.
import { loadavg } from 'node:os';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { seededRandom } from '../firmware-sim/firmata-board.js';
import { FleetDeviceModel } from '../firmware-sim/fleet-model.js';
import type { Head } from '../src/hub/fleet-store.js';
import { monthOf, Partitions } from '../src/hub/pg/partitions.js';
import { openPgFleetStore } from '../src/hub/pg/pg-fleet-store.js';
import { type Envelope, type EventInput, jcs } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { startPostgres, type TestPostgres } from '../test/support/pg.js';
import { benchPgFleet } from './pg-fleet.bench.js';
import { type BenchResult, median, rate } from './report.js';

/** The replicator's default batch bounds: what one `events` message carries. */
const BATCH_EVENTS = 1000;
const BATCH_BYTES = 120 * 1024;

/** A device's backlog: `n` events of the simulated fleet's model, one tick a second up to now. */
export async function sealedChain(device: string, index: number, n: number): Promise<Envelope[]> {
  const start = Date.now() - n * 1000;
  let at = start;
  const log = await EventLog.memory({
    device,
    clock: { now: () => at, mono: () => at - start },
  });
  const model = new FleetDeviceModel(index, seededRandom(index + 1));
  const out: Envelope[] = [];
  try {
    while (out.length < n) {
      const inputs: EventInput[] = [];
      while (inputs.length < 1000) {
        inputs.push(...model.tick(at));
        at += 1000;
      }
      inputs.length = Math.min(inputs.length, n - out.length);
      out.push(...(await log.appendMany(inputs)));
    }
  } finally {
    await log.close();
  }
  return out;
}

/** A chain cut as the replicator cuts it into `events` messages. */
export function batches(chain: Envelope[]): Envelope[][] {
  const out: Envelope[][] = [];
  let cur: Envelope[] = [];
  let bytes = 0;
  for (const e of chain) {
    const size = JSON.stringify(e).length;
    if (cur.length > 0 && (cur.length >= BATCH_EVENTS || bytes + size > BATCH_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += size;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Through the store as the hub's ingest drives it: a device's batches one at a time, devices
 * at once. Returns the time and this process's CPU time (the store's Node side), both in ms.
 */
async function viaStore(url: string, chains: Envelope[][][]): Promise<{ ms: number; cpuMs: number }> {
  const store = await openPgFleetStore(url, { create: true });
  try {
    const written: Promise<Head>[] = [];
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      chains.map(async (device) => {
        for (const b of device) {
          const o = await store.append(b[0]!.device, b);
          if (o.kind !== 'stored') throw new Error(`store answered ${o.kind} for ${b[0]!.device}`);
          written.push(o.written);
        }
      }),
    );
    await Promise.all(written);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const total = chains.reduce((a, d) => a + d.reduce((b, x) => b + x.length, 0), 0);
    if ((await store.fleetHead()) !== total) throw new Error('the store did not sequence every event');
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
  } finally {
    await store.close();
  }
}

/** COPY's text format: tab-separated, \N for NULL, backslash escapes. */
function copyField(v: string | number | null | undefined): string {
  if (v === null || v === undefined) return '\\N';
  if (typeof v === 'number') return String(v);
  return v.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/** The rows the store writes for these events, as COPY text (made before the clock starts). */
function copyText(chains: Envelope[][][]): string[] {
  const chunks: string[] = [];
  let batch = 0;
  for (const device of chains)
    for (const b of device) {
      batch++;
      let text = '';
      for (const e of b) {
        const data = e.data === null ? null : jcs(e.data);
        const meta = e.meta === undefined ? null : jcs(e.meta);
        text += `${[e.device, e.seq, e.type, e.time, e.boot, e.mono, data, data, meta, meta, e.digest, e.prev, e.hash, e.sig, batch].map(copyField).join('\t')}\n`;
      }
      chunks.push(text);
    }
  return chunks;
}

/** One COPY of every row into `events` of a fresh schema (made by the store, partitions included). */
async function viaCopy(url: string, rows: string[], months: Set<string>, total: number): Promise<number> {
  // the store makes the schema; the partitions the events fall in are made as the store makes them
  const store = await openPgFleetStore(url, { create: true });
  await store.close();
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  await new Partitions(pool).ensure(months);
  await pool.end();
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const t0 = performance.now();
    await pipeline(
      Readable.from(rows),
      client.query(
        copyFrom(
          'COPY events (device, seq, type, time, boot, mono, data, data_text, meta, meta_text, digest, prev, hash, sig, batch) FROM STDIN',
        ),
      ),
    );
    const ms = performance.now() - t0;
    const n = await client.query<{ n: string }>('SELECT count(*) AS n FROM events');
    if (Number(n.rows[0]!.n) !== total) throw new Error(`COPY stored ${n.rows[0]!.n} of ${total}`);
    return ms;
  } finally {
    await client.end();
  }
}

/**
 * Write every dirty page of the cluster out before a timed part, so that neither part pays
 * for the pages the one before it left in shared buffers (the parts alternate, each into its
 * own database, and 200,000 rows leave more dirty pages than shared buffers hold).
 */
async function checkpoint(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('CHECKPOINT');
  } finally {
    await client.end();
  }
}

async function benchIngest(cluster: TestPostgres, quick: boolean): Promise<BenchResult> {
  const DEVICES = 20;
  const PER = quick ? 2_500 : 10_000;
  const ROUNDS = quick ? 1 : 3;
  const chains: Envelope[][][] = [];
  for (let i = 0; i < DEVICES; i++)
    chains.push(batches(await sealedChain(`bench-${String(i + 1).padStart(2, '0')}`, i, PER)));
  const total = DEVICES * PER;
  const rows = copyText(chains);
  const months = new Set(chains.flat(2).map((e) => monthOf(Date.parse(e.time))));
  const ours: number[] = [];
  const copies: number[] = [];
  // untimed: a fresh cluster first makes its WAL files (the first COPY of a run measured up
  // to a third slower than the next ones); from then on both parts recycle them
  await viaCopy(await cluster.database('warm_up'), rows, months, total);
  for (let r = 0; r < ROUNDS; r++) {
    // alternate, each into its own fresh database, so that neither always runs on a warm cluster
    await checkpoint(cluster.url);
    copies.push(rate(total, await viaCopy(await cluster.database(`copy_${r}`), rows, months, total)));
    await checkpoint(cluster.url);
    const { ms, cpuMs } = await viaStore(await cluster.database(`store_${r}`), chains);
    ours.push(rate(total, ms));
    // the machine may be shared: its load, and the store's own CPU time per event, say how
    // far the figures can be trusted
    const load = loadavg()[0]!.toFixed(1);
    process.stdout.write(
      `  round ${r + 1}: store ${Math.round(ours[r]!)} events/s (Node ${((cpuMs * 1000) / total).toFixed(1)} µs CPU/event), COPY ${Math.round(copies[r]!)} rows/s, ratio ${(ours[r]! / copies[r]!).toFixed(2)}, load ${load}\n`,
    );
  }
  const ratios = ours.map((o, k) => o / copies[k]!);
  const ratio = median(ratios);
  return {
    name: 'pg.ingest.backlog',
    value: median(ours),
    unit: 'events/s',
    baseline: {
      name: `raw COPY of the same ${total.toLocaleString('en-US')} rows (${DEVICES} devices) into the same table, fresh schema`,
      value: median(copies),
      unit: 'rows/s',
    },
    ratio,
    target: '>= 0.5',
    pass: ratio >= 0.5,
  };
}

/** Both parts; `ingestOnly` (the suite `pg-ingest`) skips the long fleet catch-up. */
export async function benchPg(opts: { quick?: boolean; ingestOnly?: boolean } = {}): Promise<BenchResult[]> {
  let cluster: TestPostgres;
  try {
    cluster = await startPostgres();
  } catch (err) {
    const message = (err as Error).message;
    if (!/not installed/.test(message)) throw err;
    process.stdout.write(`pg: skipped: ${message}\n`);
    return [];
  }
  try {
    const results = [await benchIngest(cluster, opts.quick ?? false)];
    if (!opts.ingestOnly) results.push(...(await benchPgFleet(cluster, opts.quick ?? false)));
    return results;
  } finally {
    await cluster.stop();
  }
}
