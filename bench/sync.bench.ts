// Replication benchmarks through a real mosquitto (aedes when mosquitto is missing):
// The hub is the real `fieldlog hub` in its own process; devices replicate from this one.
//   1. catch-up of a backlog, verified and durable at the hub and acknowledged, ÷ a naive
//      baseline publishing one QoS 1 message per event to the same broker, received by a
//      subscriber, in the same run;
//   2. hub ingest with 200 devices replicating at once, ÷ the single-device catch-up rate.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker } from '../src/hub/broker.js';
import { EventLog } from '../src/log/event-log.js';
import { Replicator } from '../src/sync/replicator.js';
import { type BenchResult, rate } from './report.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function broker(root: string): Promise<{ url: string; name: string; close(): Promise<void> }> {
  let hasMosquitto = true;
  try {
    execFileSync('which', ['mosquitto'], { stdio: 'ignore' });
  } catch {
    hasMosquitto = false;
  }
  if (!hasMosquitto) {
    const b = await startBroker();
    return { url: b.url, name: 'aedes', close: () => b.close() };
  }
  const port = await freePort();
  const conf = join(root, 'mosquitto.conf');
  // the naive subscriber must get every message to be counted: no queue limit for it
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n`,
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve) => {
    let log = '';
    child.stderr!.on('data', (d) => {
      log += d;
      if (/running|listen socket/.test(log)) resolve();
    });
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    name: 'mosquitto',
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

function reading(i: number) {
  return {
    type: 'ReadingRecorded',
    data: {
      source: 'node-1',
      sensor: ['temp', 'hum', 'pressure'][i % 3]!,
      value: Math.round(i * 7.3) / 100,
      unit: 'C',
    },
    meta: { actor: 'sensor:node-1' },
  };
}

async function fill(log: EventLog, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000)
    await log.appendMany(Array.from({ length: Math.min(1000, n - i) }, (_, k) => reading(i + k)));
}

async function naive(url: string, n: number): Promise<number> {
  const sub = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
  await sub.subscribeAsync('naive/pi/events', { qos: 1 });
  let got = 0;
  const all = new Promise<void>((resolve) => sub.on('message', () => ++got === n && resolve()));
  const payload = JSON.stringify({
    device: 'pi',
    seq: 1,
    type: 'ReadingRecorded',
    time: new Date().toISOString(),
    boot: 'b',
    mono: 1,
    data: reading(1).data,
    meta: reading(1).meta,
    digest: '0'.repeat(64),
    prev: '0'.repeat(64),
    hash: '0'.repeat(64),
  });
  const t0 = performance.now();
  // a window of unacknowledged publishes, as any sane client keeps
  let inflight = 0;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const pump = () => {
      while (inflight < 100 && sent < n) {
        inflight++;
        sent++;
        pub.publish('naive/pi/events', payload, { qos: 1 }, () => {
          inflight--;
          if (sent < n) pump();
          else if (inflight === 0) resolve();
        });
      }
    };
    pump();
  });
  await Promise.race([
    all,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error(`naive subscriber got ${got} of ${n}`)), 600_000).unref(),
    ),
  ]);
  const ms = performance.now() - t0;
  await sub.endAsync(true);
  await pub.endAsync(true);
  return ms;
}

/** The real hub, `fieldlog hub`, in its own process as in the field. */
async function hubFor(url: string, dir: string) {
  const cli = new URL('../src/cli.js', import.meta.url).pathname;
  // FIELDLOG_BENCH_HUB_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the hub
  const nodeArgs = (process.env.FIELDLOG_BENCH_HUB_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, cli, 'hub', '--data', dir, '--mqtt', url], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (/connected to/.test(out)) resolve();
    });
    child.once('exit', (code) => reject(new Error(`hub exited ${code}: ${out}`)));
  });
  return {
    close: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
    heads: async (devices: string[]) => {
      const log = await EventLog.open(dir);
      try {
        return devices.map((d) => (log.hasDevice(d) ? log.head(d).seq : 0));
      } finally {
        await log.close();
      }
    },
  };
}

async function catchUp(url: string, devices: EventLog[], hubDir: string): Promise<number> {
  const hub = await hubFor(url, hubDir);
  const reps = devices.map((d) => new Replicator(d, { url, fleet: 'bench' }));
  const total = devices.reduce((a, d) => a + d.count(), 0);
  const t0 = performance.now();
  const done = Promise.all(
    reps.map(
      (r, i) =>
        new Promise<void>((resolve) => {
          const target = devices[i]!.head().seq;
          r.on('acked', (upTo: number) => upTo >= target && resolve());
        }),
    ),
  );
  for (const r of reps) r.start();
  await done;
  const ms = performance.now() - t0;
  for (const r of reps) await r.stop();
  await hub.close();
  const stored = (await hub.heads(devices.map((d) => d.device!))).reduce((a, b) => a + b, 0);
  if (stored !== total) throw new Error(`hub holds ${stored} of ${total}`);
  return ms;
}

export async function benchSync(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const N = opts.quick ? 100_000 : 1_000_000;
  const DEVICES = 200;
  const PER = opts.quick ? 250 : 2500;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-sync-'));
  const b = await broker(root);
  try {
    const dev = await EventLog.open(join(root, 'device'), { device: 'pi-bench', create: true, sync: false });
    await fill(dev, N);
    const naiveRate = rate(N, await naive(b.url, N));
    const oursRate = rate(N, await catchUp(b.url, [dev], join(root, 'hub-1')));
    await dev.close();
    const fleet: EventLog[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const d = await EventLog.memory({ device: `pi-${String(i).padStart(3, '0')}` });
      await fill(d, PER);
      fleet.push(d);
    }
    const fleetRate = rate(DEVICES * PER, await catchUp(b.url, fleet, join(root, 'hub-200')));
    for (const d of fleet) await d.close();
    return [
      {
        name: 'sync.catch-up',
        value: oursRate,
        unit: 'events/s',
        baseline: {
          name: `one QoS 1 message per event through ${b.name}, received`,
          value: naiveRate,
          unit: 'events/s',
        },
        ratio: oursRate / naiveRate,
        target: '>= 3',
        pass: oursRate / naiveRate >= 3,
      },
      {
        name: 'sync.ingest.200-devices',
        value: fleetRate,
        unit: 'events/s',
        baseline: { name: 'single-device catch-up, same run', value: oursRate, unit: 'events/s' },
        ratio: fleetRate / oursRate,
      },
    ];
  } finally {
    await b.close();
    rmSync(root, { recursive: true, force: true });
  }
}
