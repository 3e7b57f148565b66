// The simulated fleet at scale: the real `fieldlog sim fleet` process with 1,000 devices at
// 1 reading a second, each coming back with a backlog of 1,000 events, through a real
// mosquitto into a real `fieldlog hub` process (LevelDB). Reports
//   1. the sim process's peak RSS (the kernel's high-water mark) as a ratio to 1 GB: the
//      issue's bound is that 1,000 devices fit in 1 GB;
//   2. the aggregate events/s the hub stored while the backlogs caught up at once.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filesNeeded } from '../firmware-sim/fleet-command.js';
import { lineOf, mosquitto, stop } from './processes.js';
import { type BenchResult, rate } from './report.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const GB = 2 ** 30;

function kb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : 0;
}

/** Events the hub holds, and how many devices it holds more than `backlog` events of. */
async function hubHolds(base: string, backlog: number): Promise<{ stored: number; caughtUp: number }> {
  const body = (await (await fetch(`${base}/devices`)).json()) as { devices: { head: { seq: number } }[] };
  const stored = body.devices.reduce((a, d) => a + d.head.seq, 0);
  return { stored, caughtUp: body.devices.filter((d) => d.head.seq > backlog).length };
}

export async function benchFleet(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const devices = opts.quick ? 100 : 1000;
  const backlog = opts.quick ? 200 : 1000;
  const limit = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  if (limit && Number(limit[1]) < filesNeeded(devices))
    throw new Error(`bench fleet: needs ulimit -n ${filesNeeded(devices)} (have ${limit[1]})`);
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-fleet-'));
  const children: ChildProcess[] = [];
  try {
    const broker = await mosquitto(root);
    children.push(broker.child);
    const hub = spawn(
      process.execPath,
      [CLI, 'hub', '--data', join(root, 'hub'), '--mqtt', broker.url, '--http', '0'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(hub);
    const base = /http:\/\/[^\s,]+/.exec(await lineOf(hub, 'stdout', /http http:\/\/\S+/))![0];
    await lineOf(hub, 'stdout', /connected to/);
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
    const pid = sim.pid!;
    let peak = 0;
    const sampler = setInterval(() => {
      try {
        peak = Math.max(peak, kb(pid, 'VmHWM'));
      } catch {
        // exited between two samples: the last one stands
      }
    }, 200);
    await lineOf(sim, 'stderr', /recording and replicating/);
    const t0 = performance.now();
    // every backlog and the DeviceStarted after it stored; what was recorded live meanwhile counts too
    let held = { stored: 0, caughtUp: 0 };
    while (held.caughtUp < devices) {
      await new Promise((r) => setTimeout(r, 250));
      held = await hubHolds(base, backlog);
    }
    const stored = held.stored;
    const ms = performance.now() - t0;
    const summary = lineOf(sim, 'stdout', /\{"sim":"fleet".*\}/);
    await stop(sim);
    clearInterval(sampler);
    const final = JSON.parse(await summary) as { logged: number; acknowledged: number };
    if (final.acknowledged !== final.logged)
      throw new Error(`the hub acknowledged ${final.acknowledged} of ${final.logged}`);
    return [
      {
        name: `fleet.rss.${devices}-devices`,
        value: peak / 2 ** 20,
        unit: 'MiB peak RSS',
        baseline: { name: '1 GB', value: GB / 2 ** 20, unit: 'MiB' },
        ratio: peak / GB,
        target: '<= 1',
        pass: peak <= GB,
      },
      {
        name: `fleet.catch-up.${devices}-devices`,
        value: rate(stored, ms),
        unit: `events/s into a real hub (${devices} × ${backlog} backlog)`,
      },
    ];
  } finally {
    for (const c of children.reverse()) await stop(c);
    rmSync(root, { recursive: true, force: true });
  }
}
