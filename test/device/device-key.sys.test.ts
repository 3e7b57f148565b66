// A real `fieldlog device` process with the key it makes at first start: the key file is
// private (0600), `device key show` prints the key the log records, a stopped device's log
// verifies as signed up to its head against a keys file, and the private key is never in the
// device's output nor in what it replicates.

import { createPrivateKey } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../../src/log/event-log.js';
import { fingerprint, verifySig } from '../../src/log/signing.js';
import { Ingest } from '../../src/sync/ingest.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-device-key-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await killAll(running);
  for (const c of cleanups.splice(0).reverse()) await c();
});

const start = startInto(running);

interface Wire {
  seq: number;
  type: string;
  data: Record<string, unknown> | null;
  hash: string;
  sig?: string;
}

it('runs with the key it made: 0600, shown as the log records it, signed to the head, never leaked', async () => {
  const broker: EmbeddedBroker = await startBroker({ port: 0 });
  const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
  const hubClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const ingest = new Ingest(fleetStoreOver(hubLog));
  await ingest.attach(hubClient);
  // everything published on the broker, raw, as anyone on it would see it
  const watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const published: string[] = [];
  const batches: Wire[][] = [];
  watcher.on('message', (topic, body) => {
    published.push(body.toString());
    if (topic.endsWith('/events')) batches.push((JSON.parse(body.toString()) as { events: Wire[] }).events);
  });
  await watcher.subscribeAsync('#', { qos: 1 });
  cleanups.push(async () => {
    ingest.detach();
    await watcher.endAsync(true);
    await hubClient.endAsync(true);
    await ingest.idle();
    await broker.close();
    await hubLog.close();
  });

  const data = join(root, 'pi-key');
  const sim = start(['sim', 'line', '--pty', '--rate', '20']);
  const port = await sim.waitFor(/^\//);
  const device = start([
    'device',
    '--id',
    'pi-key',
    '--data',
    data,
    '--driver',
    'line',
    '--port',
    port,
    '--mqtt',
    broker.url,
    '--no-ui',
  ]);
  await device.waitFor(/replicating to mqtt:/);
  // some readings have reached the hub
  await expect
    .poll(() => batches.flat().filter((e) => e.type === 'ReadingRecorded').length, {
      timeout: 30_000,
      interval: 100,
    })
    .toBeGreaterThan(5);

  const keyFile = join(data, 'device.key');
  expect(statSync(keyFile).mode & 0o777).toBe(0o600);

  // the key as the log records it (replicated), and as `device key show` prints it
  const added = batches.flat().find((e) => e.type === 'DeviceKeyAdded')!;
  expect(added).toBeDefined();
  const publicKey = added.data!.publicKey as string;
  const shown = await runCli(['device', 'key', 'show', '--data', data, '--json']);
  expect(shown.code).toBe(0);
  const show = JSON.parse(shown.stdout) as { publicKey: string; fingerprint: string };
  expect(show.publicKey).toBe(publicKey);
  const text = await runCli(['device', 'key', 'show', '--data', data]);
  expect(text.stdout).toContain(`public key   ${publicKey}`);
  expect(text.stdout).toContain(`fingerprint  ${show.fingerprint}`);
  expect(show.fingerprint).toBe(fingerprint(publicKey));

  // every batch the device published ends on a signature by that key
  for (const b of batches) {
    const last = b.at(-1)!;
    expect(last.sig, `batch ending at ${last.seq}`).toBeDefined();
    expect(verifySig(publicKey, last.hash, last.sig!)).toBe(true);
  }

  await expect(device.stop('SIGTERM')).resolves.toBe(0);
  const keys = join(root, 'keys.json');
  writeFileSync(keys, JSON.stringify({ 'pi-key': publicKey }));
  const verified = await runCli(['log', 'verify', data, '--keys', keys, '--json']);
  expect(verified.code).toBe(0);
  const report = JSON.parse(verified.stdout.trim()) as {
    ok: boolean;
    head: { seq: number };
    errors: unknown[];
    signatures: { publicKey: string; lastSigned: number; unsignedTail: unknown };
  };
  // the last event of every group commit is signed, the stop's own events too: no unsigned tail
  expect(report).toMatchObject({ ok: true, errors: [] });
  expect(report.signatures).toMatchObject({ publicKey, keys: 1, unsignedTail: null });
  expect(report.signatures.lastSigned).toBe(report.head.seq);

  // the private key, in any of its spellings, appears nowhere but in its file
  const pem = readFileSync(keyFile, 'utf8');
  const body = pem.split('\n').filter((l) => l !== '' && !l.startsWith('-----'));
  const d = createPrivateKey(pem).export({ format: 'jwk' }).d!;
  const seed = Buffer.from(d, 'base64url');
  const secrets = [...body, d, seed.toString('base64'), seed.toString('hex')];
  const seen = [device.lines.join('\n'), device.stderr, ...published].join('\n');
  expect(published.length).toBeGreaterThan(0);
  for (const s of secrets) expect(seen).not.toContain(s);
});
