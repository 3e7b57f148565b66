// Replication between real processes through a real mosquitto: the broker, the hub and
// the device are each killed mid-stream; every time the hub's copy ends equal to the
// device's (same count, same head hash) and both verify.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-mqtt-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
/** What `GET /devices` answers, as far as these tests read it. */
type Devices = { devices: { device: string; rejects: Record<string, number> }[] };

const procs: Proc[] = [];
const brokers: ChildProcess[] = [];
afterEach(async () => {
  await killAll(procs);
  for (const b of brokers.splice(0)) b.kill('SIGKILL');
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function mosquitto(port: number, extra = 'allow_anonymous true\n'): Promise<ChildProcess> {
  const conf = join(root, `mosquitto-${port}.conf`);
  // as root mosquitto would drop to its own user, who cannot read our temp folder
  const user = process.getuid?.() === 0 ? 'user root\n' : '';
  writeFileSync(conf, `listener ${port} 127.0.0.1\npersistence false\n${user}${extra}`);
  const child = spawn('mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  brokers.push(child);
  let log = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`mosquitto did not start: ${log}`)), 10_000);
    child.stderr!.on('data', (d) => {
      log += d;
      if (/running|Opening ipv4 listen socket/.test(log)) {
        clearTimeout(t);
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`mosquitto exited: ${log}`)));
  });
  return child;
}

const start = startInto(procs);

async function backlog(dir: string, device: string, n: number): Promise<void> {
  const lines = Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 't', value: i },
      meta: { actor: 'sensor:n' },
    }),
  );
  const r = await runCli(['log', 'append', dir, '--device', device], { input: `${lines.join('\n')}\n` });
  expect(r.code, r.stderr).toBe(0);
}

async function hubHead(http: number, device: string): Promise<number> {
  try {
    const body = (await (await fetch(`http://127.0.0.1:${http}/devices`)).json()) as {
      devices: { device: string; head: { seq: number } }[];
    };
    return body.devices.find((d) => d.device === device)?.head.seq ?? 0;
  } catch {
    return -1;
  }
}

function hub(dir: string, brokerPort: number, http: number): Proc {
  return start(['hub', '--data', dir, '--mqtt', `mqtt://127.0.0.1:${brokerPort}`, '--http', String(http)]);
}

function device(dir: string, id: string, brokerPort: number): Proc {
  // a source on a port that does not exist: the device adds only a few events of its own
  return start([
    'device',
    '--id',
    id,
    '--data',
    dir,
    '--driver',
    'line',
    '--port',
    join(root, 'no-such-port'),
    '--mqtt',
    `mqtt://127.0.0.1:${brokerPort}`,
    '--fleet',
    'north',
    '--no-ui',
  ]);
}

async function sameCopies(devDir: string, hubDir: string, id: string): Promise<void> {
  const dev = await EventLog.open(devDir);
  const h = await EventLog.open(hubDir);
  try {
    const dv = await dev.verify();
    const hv = await h.verify(id);
    expect(dv.ok && hv.ok).toBe(true);
    expect(hv.head).toEqual(dv.head);
    expect(hv.events).toBe(dv.events);
  } finally {
    await dev.close();
    await h.close();
  }
}

/** Stop the device, and run it again until the hub holds its whole log. */
async function finish(
  devDir: string,
  id: string,
  brokerPort: number,
  http: number,
  dev: Proc,
): Promise<void> {
  await dev.waitFor(/: logging /);
  expect(await dev.stop('SIGTERM')).toBe(0);
  for (let round = 0; round < 5; round++) {
    const log = await EventLog.open(devDir);
    const head = log.head().seq;
    await log.close();
    if ((await hubHead(http, id)) === head) return;
    const again = device(devDir, id, brokerPort);
    await again.waitFor(/: logging /);
    await expect
      .poll(() => hubHead(http, id), { timeout: 60_000, interval: 200 })
      .toBeGreaterThanOrEqual(head);
    expect(await again.stop('SIGTERM')).toBe(0);
  }
}

describe('replication through mosquitto between real processes', () => {
  it('survives mosquitto being killed mid-stream and restarted', async () => {
    const port = await freePort();
    const http = await freePort();
    let broker = await mosquitto(port);
    const devDir = join(root, 'dev-broker');
    const hubDir = join(root, 'hub-broker');
    await backlog(devDir, 'pi-m1', 60_000);
    const h = hub(hubDir, port, http);
    await h.waitFor(/connected to/);
    const dev = device(devDir, 'pi-m1', port);
    await expect.poll(() => hubHead(http, 'pi-m1'), { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
    broker.kill('SIGKILL');
    await new Promise((r) => broker.once('exit', r));
    broker = await mosquitto(port);
    await finish(devDir, 'pi-m1', port, http, dev);
    expect(await h.stop('SIGTERM')).toBe(0);
    await sameCopies(devDir, hubDir, 'pi-m1');
  });

  it('survives the hub being SIGKILLed mid-stream and restarted', async () => {
    const port = await freePort();
    const http = await freePort();
    await mosquitto(port);
    const devDir = join(root, 'dev-hub');
    const hubDir = join(root, 'hub-hub');
    await backlog(devDir, 'pi-m2', 60_000);
    const first = hub(hubDir, port, http);
    await first.waitFor(/connected to/);
    const dev = device(devDir, 'pi-m2', port);
    await expect.poll(() => hubHead(http, 'pi-m2'), { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
    await first.stop('SIGKILL');
    const second = hub(hubDir, port, http);
    await second.waitFor(/connected to/);
    await finish(devDir, 'pi-m2', port, http, dev);
    expect(await second.stop('SIGTERM')).toBe(0);
    await sameCopies(devDir, hubDir, 'pi-m2');
  });

  it('survives the device being SIGKILLed mid-sync and started again', async () => {
    const port = await freePort();
    const http = await freePort();
    await mosquitto(port);
    const devDir = join(root, 'dev-dev');
    const hubDir = join(root, 'hub-dev');
    await backlog(devDir, 'pi-m3', 60_000);
    const h = hub(hubDir, port, http);
    await h.waitFor(/connected to/);
    const first = device(devDir, 'pi-m3', port);
    await expect.poll(() => hubHead(http, 'pi-m3'), { timeout: 60_000, interval: 20 }).toBeGreaterThan(0);
    await first.stop('SIGKILL');
    const second = device(devDir, 'pi-m3', port);
    await finish(devDir, 'pi-m3', port, http, second);
    expect(await h.stop('SIGTERM')).toBe(0);
    await sameCopies(devDir, hubDir, 'pi-m3');
  });

  it('works with per-device credentials and the README ACL: a device cannot write as another', async () => {
    const port = await freePort();
    const http = await freePort();
    const passwd = join(root, 'passwd');
    writeFileSync(passwd, '');
    for (const [user, pass] of [
      ['hub', 'hub-secret'],
      ['pi-a1', 'a-secret'],
      ['pi-b1', 'b-secret'],
    ] as const) {
      execFileSync('mosquitto_passwd', ['-b', passwd, user, pass]);
    }
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const acl = /```\n(# \/etc\/mosquitto\/fieldlog\.acl[\s\S]*?)```/.exec(readme)?.[1];
    expect(acl).toBeDefined();
    const aclFile = join(root, 'fieldlog.acl');
    writeFileSync(aclFile, acl!);
    await mosquitto(port, `allow_anonymous false\npassword_file ${passwd}\nacl_file ${aclFile}\n`);
    const hubDir = join(root, 'hub-acl');
    const h = start([
      'hub',
      '--data',
      hubDir,
      '--mqtt',
      `mqtt://127.0.0.1:${port}`,
      '--http',
      String(http),
      '--username',
      'hub',
      '--password',
      'hub-secret',
    ]);
    await h.waitFor(/connected to/);
    const devDir = join(root, 'dev-acl');
    await backlog(devDir, 'pi-a1', 500);
    const cfg = join(root, 'acl-device.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        id: 'pi-a1',
        fleet: 'north',
        mqtt: { url: `mqtt://127.0.0.1:${port}`, username: 'pi-a1', password: 'a-secret' },
        sources: [{ name: 'line', driver: 'line', port: join(root, 'no-such-port') }],
      }),
    );
    const dev = start(['device', '--config', cfg, '--data', devDir, '--no-ui']);
    await dev.waitFor(/: logging /);
    await expect
      .poll(() => hubHead(http, 'pi-a1'), { timeout: 30_000, interval: 100 })
      .toBeGreaterThanOrEqual(500);
    // pi-b1 tries to write as pi-a1: the broker drops it, the hub never sees it
    const impostor = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 4,
      username: 'pi-b1',
      password: 'b-secret',
    });
    const evil = {
      device: 'pi-a1',
      events: [
        {
          device: 'pi-a1',
          seq: 1,
          type: 'NoteAdded',
          time: '2026-11-24T10:00:00.000Z',
          boot: 'x',
          mono: 1,
          data: { text: 'not me' },
          digest: '0'.repeat(64),
          prev: '0'.repeat(64),
          hash: '0'.repeat(64),
        },
      ],
    };
    // had either reached the hub it would count as a reject of pi-a1
    await impostor.publishAsync('fieldlog/north/pi-a1/events', JSON.stringify(evil), { qos: 1 });
    await impostor.publishAsync('fieldlog/north/pi-a1/events', 'garbage as a1', { qos: 1 });
    await impostor.publishAsync('fieldlog/north/pi-b1/events', 'garbage from b', { qos: 1 });
    await impostor.endAsync();
    await expect
      .poll(
        async () =>
          ((await (await fetch(`http://127.0.0.1:${http}/devices`)).json()) as Devices).devices.find(
            (d: { device: string }) => d.device === 'pi-b1',
          )?.rejects,
        { timeout: 10_000 },
      )
      .toEqual({ 'malformed-events': 1 });
    const a1 = ((await (await fetch(`http://127.0.0.1:${http}/devices`)).json()) as Devices).devices.find(
      (d: { device: string }) => d.device === 'pi-a1',
    );
    expect(a1?.rejects).toEqual({});
    expect(await dev.stop()).toBe(0);
    expect(await h.stop()).toBe(0);
    await sameCopies(devDir, hubDir, 'pi-a1');
  });

  it('replicates over TLS (mqtts) with a CA the hub and the device trust', async () => {
    const port = await freePort();
    const http = await freePort();
    const tls = join(root, 'tls');
    execFileSync('mkdir', ['-p', tls]);
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
    ssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=fieldlog test CA',
      '-keyout',
      'ca.key',
      '-out',
      'ca.crt',
    );
    ssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=localhost',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    );
    writeFileSync(join(tls, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'ca.crt',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.crt',
    );
    await mosquitto(
      port,
      `allow_anonymous true\ncafile ${join(tls, 'ca.crt')}\ncertfile ${join(tls, 'server.crt')}\nkeyfile ${join(tls, 'server.key')}\n`,
    );
    const hubDir = join(root, 'hub-tls');
    const url = `mqtts://localhost:${port}`;
    const h = start([
      'hub',
      '--data',
      hubDir,
      '--mqtt',
      url,
      '--ca',
      join(tls, 'ca.crt'),
      '--http',
      String(http),
    ]);
    await h.waitFor(/connected to/);
    const devDir = join(root, 'dev-tls');
    await backlog(devDir, 'pi-tls', 300);
    const cfg = join(root, 'tls-device.json');
    writeFileSync(
      cfg,
      JSON.stringify({
        id: 'pi-tls',
        fleet: 'north',
        mqtt: { url, ca: join(tls, 'ca.crt') },
        sources: [{ name: 'line', driver: 'line', port: join(root, 'no-such-port') }],
      }),
    );
    const dev = start(['device', '--config', cfg, '--data', devDir, '--no-ui']);
    await dev.waitFor(/replicating to mqtts:/);
    await expect
      .poll(() => hubHead(http, 'pi-tls'), { timeout: 30_000, interval: 100 })
      .toBeGreaterThanOrEqual(300);
    expect(await dev.stop()).toBe(0);
    expect(await h.stop()).toBe(0);
    await sameCopies(devDir, hubDir, 'pi-tls');
  });
});
