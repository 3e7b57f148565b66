// `fieldlog sim fleet` as a real process against a real mosquitto and a real `fieldlog hub`
// process (LevelDB): 20 devices coming back with backlogs of 200 events end, after a SIGINT,
// with every device's hub copy exact (count and head hash) and verifying; bad flags are
// refused in one line with exit code 2.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EventLog, type Head } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-sim-fleet-'));
const procs: Proc[] = [];
const brokers: ChildProcess[] = [];
afterEach(async () => {
  await killAll(procs);
  for (const b of brokers.splice(0)) b.kill('SIGKILL');
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function mosquitto(): Promise<number> {
  const port = await freePort();
  const conf = join(root, 'mosquitto.conf');
  // as root mosquitto would drop to its own user, who cannot read our temp folder
  const user = process.getuid?.() === 0 ? 'user root\n' : '';
  writeFileSync(conf, `listener ${port} 127.0.0.1\npersistence false\nallow_anonymous true\n${user}`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  brokers.push(child);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (d) => {
      log += d;
      if (/running|Opening ipv4 listen socket/.test(log)) resolve();
    });
    child.on('exit', () => reject(new Error(`mosquitto exited: ${log}`)));
  });
  return port;
}

const start = startInto(procs);

async function hubHeads(base: string): Promise<Map<string, Head>> {
  const body = (await (await fetch(`${base}/devices`)).json()) as {
    devices: { device: string; head: Head }[];
  };
  return new Map(body.devices.map((d) => [d.device, d.head]));
}

const DEVICES = 20;
const BACKLOG = 200;
const ids = Array.from({ length: DEVICES }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);

describe('fieldlog sim fleet (process)', () => {
  it('brings 20 devices with backlogs of 200 to a real hub: every hub copy exact and verifying', async () => {
    const port = await mosquitto();
    const url = `mqtt://127.0.0.1:${port}`;
    const hubDir = join(root, 'hub');
    const devDir = join(root, 'devices');
    const hub = start(['hub', '--data', hubDir, '--mqtt', url, '--http', '0']);
    const base = /http:\/\/[^\s,]+/.exec(await hub.waitFor(/http http:\/\//))![0];
    await hub.waitFor(/connected to/);
    const sim = start([
      'sim',
      'fleet',
      '--devices',
      String(DEVICES),
      '--rate',
      '5',
      '--backlog',
      String(BACKLOG),
      '--mqtt',
      url,
      '--data',
      devDir,
      '--seed',
      '7',
    ]);
    // every backlog (and the DeviceStarted after it) has reached the hub: the fleet caught up
    await expect
      .poll(
        async () => {
          const heads = await hubHeads(base);
          return ids.filter((id) => (heads.get(id)?.seq ?? 0) > BACKLOG).length;
        },
        { timeout: 90_000, interval: 250 },
      )
      .toBe(DEVICES);
    // still recording live: SIGINT stops it, and the hub acknowledges the rest before it exits
    expect(await sim.stop('SIGINT')).toBe(0);
    const summary = JSON.parse(sim.lines.at(-1)!) as Record<string, number | string>;
    expect(summary.sim).toBe('fleet');
    expect(summary.devices).toBe(DEVICES);
    expect(summary.recorded).toBe(summary.logged);
    expect(summary.acknowledged).toBe(summary.logged);
    expect(summary.recorded as number).toBeGreaterThan(DEVICES * (BACKLOG + 1));

    const heads = await hubHeads(base);
    expect(await hub.stop('SIGTERM')).toBe(0);
    const store = await EventLog.open(hubDir);
    let total = 0;
    try {
      for (const id of ids) {
        const dev = await EventLog.open(join(devDir, id));
        try {
          const own = await dev.verify();
          expect(own.ok, id).toBe(true);
          expect(heads.get(id), id).toEqual(dev.head());
          expect(store.head(id), id).toEqual(dev.head());
          const copy = await store.verify(id);
          expect(copy.errors, id).toEqual([]);
          expect(copy.events, id).toBe(dev.head().seq);
          total += dev.head().seq;
        } finally {
          await dev.close();
        }
      }
    } finally {
      await store.close();
    }
    expect(total).toBe(summary.logged);
  });

  it('refuses bad flags in one line with exit code 2, before opening anything', async () => {
    const cases = [
      ['--devices', '0', '--rate', '1', '--mqtt', 'mqtt://127.0.0.1:1'],
      ['--devices', '2', '--rate', 'fast', '--mqtt', 'mqtt://127.0.0.1:1'],
      ['--devices', '2', '--rate', '1', '--mqtt', 'http://127.0.0.1:1'],
      ['--devices', '2', '--rate', '1'],
      ['--devices', '2', '--rate', '1', '--mqtt', 'mqtt://127.0.0.1:1', '--backlog', '-5'],
      ['--devices', '2', '--rate', '1', '--mqtt', 'mqtt://127.0.0.1:1', '--fleet', 'a/b'],
      ['--devices', '2', '--rate', '1', '--mqtt', 'mqtt://127.0.0.1:1', '--speed', '3'],
    ];
    const data = join(root, 'never');
    for (const args of cases) {
      const r = await runCli(['sim', 'fleet', ...args, '--data', data]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^fieldlog: sim fleet: [^\n]+ \[USAGE\]\n$/);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(data)).toBe(false);
  });
});
