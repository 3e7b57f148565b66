// A fleet catching up at once into PostgreSQL: the real `fieldlog sim fleet` process (1,000
// devices, each back with a backlog) through a real mosquitto into two real
// `fieldlog hub --store postgres://… --share` processes on one fresh database. Reports the
// aggregate events/s stored ÷ one device catching up with the same total backlog through the
// same broker and hubs (same run, its own fresh database), and the rewinds (gap answers) per
// device per 1,000 batches stored, from the hubs' /metrics.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { filesNeeded } from '../firmware-sim/fleet-command.js';
import type { TestPostgres } from '../test/support/pg.js';
import { lineOf, mosquitto, stop } from './processes.js';
import { type BenchResult, median, rate } from './report.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const HUBS = 2;

async function hub(store: string, mqtt: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(
    process.execPath,
    [CLI, 'hub', '--store', store, '--mqtt', mqtt, '--share', 'bench', '--http', '0'],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const started = lineOf(child, 'stdout', /connected to/);
  const base = /http:\/\/[^\s,]+/.exec(await lineOf(child, 'stdout', /http http:\/\/\S+/))![0];
  await started;
  return { child, base };
}

/** Rewinds per device, summed over the hubs' /metrics. */
async function rewinds(bases: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const base of bases) {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const m of text.matchAll(/^fieldlog_hub_rewinds_total\{device="([^"]+)"\} (\d+)/gm))
      out.set(m[1]!, (out.get(m[1]!) ?? 0) + Number(m[2]));
  }
  return out;
}

interface CatchUp {
  rate: number;
  events: number;
  /** Rewinds per device per 1,000 batches stored: the mean over devices and the worst device. */
  rewindsPer1000: { mean: number; max: number };
  batches: number;
}

/** `devices` devices with `backlog` events each catching up through `HUBS` hubs into a fresh database. */
async function catchUp(url: string, devices: number, backlog: number): Promise<CatchUp> {
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-pgfleet-'));
  const children: ChildProcess[] = [];
  const db = new pg.Client({ connectionString: url });
  try {
    const broker = await mosquitto(root);
    children.push(broker.child);
    const hubs = [];
    // one after another: the first creates the schema
    for (let i = 0; i < HUBS; i++) {
      const h = await hub(url, broker.url);
      children.push(h.child);
      hubs.push(h);
    }
    await db.connect();
    // a second's reading per device while catching up: the backlog is what is measured
    const sim = spawn(
      process.execPath,
      [
        CLI,
        ...['sim', 'fleet', '--devices', String(devices), '--rate', '1', '--backlog', String(backlog)],
        ...['--mqtt', broker.url, '--data', join(root, 'devices'), '--seed', '1', '--drain', '60'],
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    children.push(sim);
    await lineOf(sim, 'stderr', /recording and replicating/);
    const t0 = performance.now();
    // every backlog and the DeviceStarted after it stored; what was recorded live meanwhile counts too
    let held = { stored: 0, caughtUp: 0 };
    while (held.caughtUp < devices) {
      await new Promise((r) => setTimeout(r, 200));
      const r = await db.query<{ stored: string; caught: string }>(
        'SELECT coalesce(sum(seq), 0) AS stored, count(*) FILTER (WHERE seq > $1) AS caught FROM devices',
        [backlog],
      );
      held = { stored: Number(r.rows[0]!.stored), caughtUp: Number(r.rows[0]!.caught) };
    }
    const ms = performance.now() - t0;
    const perDevice = await rewinds(hubs.map((h) => h.base));
    const b = await db.query<{ device: string; n: string }>(
      'SELECT device, count(*) AS n FROM batches GROUP BY device',
    );
    const per = b.rows.map((row) => ((perDevice.get(row.device) ?? 0) * 1000) / Number(row.n));
    const summary = lineOf(sim, 'stdout', /\{"sim":"fleet".*\}/);
    await stop(sim);
    const final = JSON.parse(await summary) as { logged: number; acknowledged: number };
    if (final.acknowledged !== final.logged)
      throw new Error(`the hubs acknowledged ${final.acknowledged} of ${final.logged}`);
    return {
      rate: rate(held.stored, ms),
      events: held.stored,
      rewindsPer1000: { mean: per.reduce((a, x) => a + x, 0) / per.length, max: Math.max(...per) },
      batches: b.rows.reduce((a, row) => a + Number(row.n), 0),
    };
  } finally {
    await db.end().catch(() => {});
    for (const c of children.reverse()) await stop(c);
    rmSync(root, { recursive: true, force: true });
  }
}

export async function benchPgFleet(cluster: TestPostgres, quick: boolean): Promise<BenchResult[]> {
  const DEVICES = quick ? 100 : 1000;
  const BACKLOG = quick ? 100 : 200;
  // one round: the one-device catch-up of the whole backlog takes minutes on two cores
  const ROUNDS = 1;
  const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (limit && Number(limit[1]) < filesNeeded(DEVICES))
    throw new Error(`bench pg: needs ulimit -n ${filesNeeded(DEVICES)} (have ${limit[1]})`);
  const fleets: CatchUp[] = [];
  const singles: CatchUp[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    singles.push(await catchUp(await cluster.database(`one_${r}`), 1, DEVICES * BACKLOG));
    fleets.push(await catchUp(await cluster.database(`fleet_${r}`), DEVICES, BACKLOG));
    const f = fleets[r]!;
    process.stdout.write(
      `  round ${r + 1}: ${DEVICES} devices ${Math.round(f.rate)} events/s (${f.batches} batches, rewinds/1,000 batches mean ${f.rewindsPer1000.mean.toFixed(2)} max ${f.rewindsPer1000.max.toFixed(1)}), one device ${Math.round(singles[r]!.rate)} events/s\n`,
    );
  }
  const ratio = median(fleets.map((f, k) => f.rate / singles[k]!.rate));
  const meanRewinds = median(fleets.map((f) => f.rewindsPer1000.mean));
  return [
    {
      name: `pg.catch-up.${DEVICES}-devices`,
      value: median(fleets.map((f) => f.rate)),
      unit: `events/s (${DEVICES} × ${BACKLOG} backlog, ${HUBS} hubs --share)`,
      baseline: {
        name: `one device with the same total backlog (${(DEVICES * BACKLOG).toLocaleString('en-US')}), same broker and hubs`,
        value: median(singles.map((s) => s.rate)),
        unit: 'events/s',
      },
      ratio,
    },
    {
      name: `pg.rewinds.${DEVICES}-devices`,
      value: meanRewinds,
      unit: 'rewinds per device per 1,000 batches (mean over devices)',
      target: '< 1',
      pass: meanRewinds < 1,
    },
  ];
}
