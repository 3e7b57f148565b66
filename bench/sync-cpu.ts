// CPU per event of the sync catch-up, device and hub apart: what the shared machine's wall
// time cannot say. `node dist/bench/sync-cpu.js [EVENTS] [DEVICE_DIR]` replicates a backlog
// from this process (the device: its replicator reading its log) through mosquitto to a real
// `fieldlog hub` process, and prints each side's CPU µs per event (process.cpuUsage here,
// /proc/PID/stat for the hub and the broker), with the share of it spent in the kernel
// (sockets, disk) for the device and the hub. A DEVICE_DIR is filled once and reused.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventLog } from '../src/log/event-log.js';
import { Replicator } from '../src/sync/replicator.js';
import { benchClock, readingAt } from './log.bench.js';
import { procCpuUs } from './processes.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(child: ChildProcess, stream: 'stdout' | 'stderr', re: RegExp): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child[stream]!.on('data', (d) => {
      out += d;
      if (re.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
  });
}

async function main(): Promise<void> {
  const n = Number(process.argv[2] ?? 200_000);
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-cpu-'));
  const devDir = process.argv[3] ?? join(root, 'device');
  const fresh = !existsSync(devDir);
  const dev = await EventLog.open(devDir, {
    device: 'pi-bench',
    create: fresh,
    sync: false,
    clock: benchClock(),
  });
  if (fresh) {
    for (let i = 0; i < n; i += 1000)
      await dev.appendMany(Array.from({ length: Math.min(1000, n - i) }, (_, k) => readingAt(i + k)));
  }
  const port = await freePort();
  const conf = join(root, 'mosquitto.conf');
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n`,
  );
  const broker = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await waitFor(broker, 'stderr', /running|listen socket/);
  const url = `mqtt://127.0.0.1:${port}`;
  const cli = new URL('../src/cli.js', import.meta.url).pathname;
  const nodeArgs = (process.env.FIELDLOG_BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const hub = spawn(process.execPath, [...nodeArgs, cli, 'hub', '--data', join(root, 'hub'), '--mqtt', url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await waitFor(hub, 'stdout', /connected to/);
  const rep = new Replicator(dev, { url, fleet: 'bench' });
  const target = dev.head().seq;
  const done = new Promise<void>((resolve) => rep.on('acked', (upTo: number) => upTo >= target && resolve()));
  const load = loadavg()[0]!;
  const hub0 = procCpuUs(hub.pid!);
  const hubSys0 = procCpuUs(hub.pid!, 'system');
  const brk0 = procCpuUs(broker.pid!);
  const me0 = process.cpuUsage();
  const t0 = performance.now();
  rep.start();
  await done;
  const ms = performance.now() - t0;
  const me = process.cpuUsage(me0);
  const hubUs = procCpuUs(hub.pid!) - hub0;
  const hubSys = procCpuUs(hub.pid!, 'system') - hubSys0;
  const brkUs = procCpuUs(broker.pid!) - brk0;
  await rep.stop();
  hub.kill('SIGTERM');
  await new Promise((r) => hub.once('exit', r));
  broker.kill('SIGTERM');
  await dev.close();
  const per = (us: number) => (us / target).toFixed(2);
  process.stdout.write(
    `${target} events in ${ms.toFixed(0)} ms (${Math.round(target / (ms / 1000))}/s, load ${load.toFixed(1)}): ` +
      `device ${per(me.user + me.system)} µs/event (system ${per(me.system)}), hub ${per(hubUs)} (system ${per(hubSys)}), mosquitto ${per(brkUs)}\n`,
  );
  rmSync(root, { recursive: true, force: true });
}

await main();
