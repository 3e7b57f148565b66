// Replication benchmarks through a real mosquitto (aedes when mosquitto is missing):
// The hub is the real `fieldlog hub` in its own process; devices replicate from this one.
//   1. catch-up of a backlog, verified and durable at the hub and acknowledged, ÷ two
//      baselines publishing one QoS 1 message per event to the same broker, same run:
//      the bare C publisher (`mosquitto_pub -q 1 -l`, nothing consuming: the target's
//      baseline) and a Node publisher whose messages a subscriber receives. The catch-up
//      and the C publisher alternate in rounds, each catch-up into a fresh hub, and the
//      median of the rounds' ratios is the figure: the catch-up needs both cores, the C
//      publisher one, so a minute of load from elsewhere moves one round, not the result;
//   2. hub ingest with 200 devices replicating at once, ÷ the single-device catch-up rate.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startBroker } from '../src/hub/broker.js';
import { EventLog } from '../src/log/event-log.js';
import { Replicator } from '../src/sync/replicator.js';
import { benchClock, readingAt } from './log.bench.js';
import { procCpuUs } from './processes.js';
import { type BenchResult, median, rate } from './report.js';

function has(program: string): boolean {
  try {
    execFileSync('which', [program], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function broker(root: string): Promise<{ url: string; name: string; close(): Promise<void> }> {
  if (!has('mosquitto')) {
    const b = await startBroker();
    return { url: b.url, name: 'aedes', close: () => b.close() };
  }
  const port = await freePort();
  const conf = join(root, 'mosquitto.conf');
  // the naive subscriber must get every message to be counted: no queue limit for it;
  // $SYS every second: the C publisher's messages are counted by the broker
  writeFileSync(
    conf,
    `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nsys_interval 1\n`,
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

async function fill(log: EventLog, n: number): Promise<void> {
  for (let i = 0; i < n; i += 1000)
    await log.appendMany(Array.from({ length: Math.min(1000, n - i) }, (_, k) => readingAt(i + k)));
}

/** The device's events as it replicates them, in chunks of at most `per`. */
async function* eventLines(log: EventLog, per: number): AsyncGenerator<string[]> {
  let lines: string[] = [];
  for await (const chunk of log.eventsJson({})) {
    for (const e of chunk) {
      lines.push(e.json);
      if (lines.length === per) {
        yield lines;
        lines = [];
      }
    }
  }
  if (lines.length > 0) yield lines;
}

/** The broker's count of PUBLISH packets received ($SYS, updated every second). */
async function publishCounter(url: string) {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4 });
  let count = -1;
  c.on('message', (_t, p) => {
    count = Number(p.toString());
  });
  await c.subscribeAsync('$SYS/broker/publish/messages/received', { qos: 0 });
  const reach = async (n: number, timeoutMs: number): Promise<number> => {
    const until = performance.now() + timeoutMs;
    while (count < n && performance.now() < until) await new Promise((r) => setTimeout(r, 50));
    return count;
  };
  return { reach, close: () => c.endAsync(true) };
}

/**
 * `mosquitto_pub` 2.0 fed more than 65,535 lines disconnects early (its 16-bit message ids
 * wrap and it stops on the ack of an older message) with exit code 0: at most this many
 * lines per run, and the broker's own count says whether all arrived.
 */
const C_LINES_PER_RUN = 50_000;

/**
 * The bare C publisher: `mosquitto_pub -q 1 -l`, one QoS 1 message per event (each the
 * event's JSON, as the device sends it), nothing consuming. Runs of at most 50,000 lines,
 * their times summed (process start and connect included); lines are written to a file
 * before each run, not timed.
 */
async function cPublisher(url: string, root: string, log: EventLog): Promise<number> {
  const { hostname, port } = new URL(url);
  const counter = await publishCounter(url);
  const file = join(root, 'c-publisher.lines');
  let ms = 0;
  try {
    let expected = await counter.reach(0, 5000);
    if (expected < 0) throw new Error('the broker publishes no $SYS counts');
    for await (const lines of eventLines(log, C_LINES_PER_RUN)) {
      writeFileSync(file, `${lines.join('\n')}\n`);
      const fd = openSync(file, 'r');
      const t0 = performance.now();
      const child = spawn(
        'mosquitto_pub',
        ['-h', hostname, '-p', port, '-q', '1', '-l', '-t', 'naive-c/pi/events'],
        { stdio: [fd, 'ignore', 'pipe'] },
      );
      let err = '';
      child.stderr!.on('data', (d) => {
        err += d;
      });
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      ms += performance.now() - t0;
      closeSync(fd);
      if (code !== 0) throw new Error(`mosquitto_pub exited ${code}: ${err.trim()}`);
      expected += lines.length;
      const got = await counter.reach(expected, 10_000);
      if (got < expected)
        throw new Error(
          `mosquitto_pub: the broker received ${got - expected + lines.length} of ${lines.length}`,
        );
    }
  } finally {
    await counter.close();
    rmSync(file, { force: true });
  }
  return ms;
}

async function naive(url: string, n: number, payload: string): Promise<number> {
  const sub = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const pub = await mqtt.connectAsync(url, { protocolVersion: 4 });
  await sub.subscribeAsync('naive/pi/events', { qos: 1 });
  let got = 0;
  const all = new Promise<void>((resolve) => sub.on('message', () => ++got === n && resolve()));
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
    /** The hub process's CPU time so far, in µs (all its threads), from /proc; null elsewhere. */
    cpuUs: (): number | null => {
      try {
        return procCpuUs(child.pid!);
      } catch {
        return null; // no /proc here
      }
    },
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

/** What one catch-up measured: its time, and the CPU per event of the hub and of this process (the devices). */
interface CatchUp {
  ms: number;
  hubUs: number | null;
  deviceUs: number;
}

async function catchUp(url: string, devices: EventLog[], hubDir: string): Promise<CatchUp> {
  const hub = await hubFor(url, hubDir);
  const reps = devices.map((d) => new Replicator(d, { url, fleet: 'bench' }));
  const total = devices.reduce((a, d) => a + d.count(), 0);
  const hub0 = hub.cpuUs();
  const dev0 = process.cpuUsage();
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
  const hub1 = hub.cpuUs();
  const dev = process.cpuUsage(dev0);
  for (const r of reps) await r.stop();
  await hub.close();
  const stored = (await hub.heads(devices.map((d) => d.device!))).reduce((a, b) => a + b, 0);
  if (stored !== total) throw new Error(`hub holds ${stored} of ${total}`);
  return {
    ms,
    hubUs: hub0 === null || hub1 === null ? null : (hub1 - hub0) / total,
    deviceUs: (dev.user + dev.system) / total,
  };
}

export async function benchSync(opts: { quick?: boolean } = {}): Promise<BenchResult[]> {
  const N = opts.quick ? 100_000 : 1_000_000;
  const DEVICES = 200;
  const PER = opts.quick ? 250 : 2500;
  const ROUNDS = opts.quick ? 1 : 5;
  const root = mkdtempSync(join(tmpdir(), 'fieldlog-bench-sync-'));
  const b = await broker(root);
  try {
    const dev = await EventLog.open(join(root, 'device'), {
      device: 'pi-bench',
      create: true,
      sync: false,
      clock: benchClock(),
    });
    await fill(dev, N);
    // the C publisher needs mosquitto's $SYS counts: not with aedes
    const withC = b.name === 'mosquitto' && has('mosquitto_pub');
    const ours: number[] = [];
    const cs: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      if (withC) cs.push(rate(N, await cPublisher(b.url, root, dev)));
      const hubDir = join(root, `hub-1-${r}`);
      const run = await catchUp(b.url, [dev], hubDir);
      ours.push(rate(N, run.ms));
      rmSync(hubDir, { recursive: true, force: true });
      // CPU per event says whether a slow round did more work or got fewer cycles
      const cpu = `hub ${run.hubUs === null ? '?' : run.hubUs.toFixed(1)} and device ${run.deviceUs.toFixed(1)} µs CPU/event`;
      const c = withC
        ? `, mosquitto_pub ${Math.round(cs[r]!)} messages/s, ratio ${(ours[r]! / cs[r]!).toFixed(2)}`
        : '';
      process.stdout.write(
        `  round ${r + 1}: catch-up ${Math.round(ours[r]!)} events/s (${cpu})${c}, load ${loadavg()[0]!.toFixed(1)}\n`,
      );
    }
    const oursRate = median(ours);
    let payload = '';
    for await (const chunk of dev.eventsJson({ toSeq: 1 })) payload = chunk[0]!.json;
    const naiveRate = rate(N, await naive(b.url, N, payload));
    await dev.close();
    const fleet: EventLog[] = [];
    for (let i = 0; i < DEVICES; i++) {
      const d = await EventLog.memory({ device: `pi-${String(i).padStart(3, '0')}`, clock: benchClock() });
      await fill(d, PER);
      fleet.push(d);
    }
    const fleetRate = rate(DEVICES * PER, (await catchUp(b.url, fleet, join(root, 'hub-200'))).ms);
    for (const d of fleet) await d.close();
    const results: BenchResult[] = [];
    if (!withC) {
      process.stderr.write('bench sync: no mosquitto or mosquitto_pub here: no C publisher baseline\n');
    } else {
      const ratio = median(ours.map((o, r) => o / cs[r]!));
      results.push({
        name: 'sync.catch-up',
        value: oursRate,
        unit: 'events/s',
        baseline: {
          name: `mosquitto_pub -q 1 -l, one message per event through ${b.name}, nothing consuming; median of ${ROUNDS} alternated rounds`,
          value: median(cs),
          unit: 'messages/s',
        },
        ratio,
        target: '>= 3',
        pass: ratio >= 3,
      });
    }
    results.push(
      {
        name: 'sync.catch-up.node-baseline',
        value: oursRate,
        unit: 'events/s',
        baseline: {
          name: `Node publisher, one QoS 1 message per event through ${b.name}, received (÷ the catch-up's median)`,
          value: naiveRate,
          unit: 'events/s',
        },
        ratio: oursRate / naiveRate,
      },
      {
        name: 'sync.ingest.200-devices',
        value: fleetRate,
        unit: 'events/s',
        baseline: {
          name: 'single-device catch-up, same run (median of its rounds)',
          value: oursRate,
          unit: 'events/s',
        },
        ratio: fleetRate / oursRate,
      },
    );
    return results;
  } finally {
    await b.close();
    rmSync(root, { recursive: true, force: true });
  }
}
