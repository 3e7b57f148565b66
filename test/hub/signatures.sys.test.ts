// The hub's signature rules with real processes: a real `fieldlog hub` (embedded broker,
// LevelDB, --keys FILE --require-signatures, reloaded on SIGHUP) and a real `fieldlog device`
// whose key is made at its first start. Anyone connected to the broker as the device (a stolen
// MQTT credential) publishes what they like on its topic; only what the device's key signed
// is stored. Rotation (`fieldlog device key rotate`) is followed; a replaced key file is
// refused until the keys file names the new key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { generateIdentity, saveIdentity, signHash } from '../../src/log/signing.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { runCli } from '../support/cli.js';
import { type Proc, startInto } from '../support/proc.js';
import { forgedAfter } from '../support/signed-chain.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-signatures-'));
const procs: Proc[] = [];
afterAll(async () => {
  for (const p of procs) await p.stop('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

const start = startInto(procs);

interface DeviceRow {
  device: string;
  head: { seq: number; hash: string };
  rejects: Record<string, number>;
}

async function deviceRow(base: string, id: string): Promise<DeviceRow | undefined> {
  const body = (await (await fetch(`${base}/devices`)).json()) as { devices: DeviceRow[] };
  return body.devices.find((d) => d.device === id);
}

async function logOf(dir: string): Promise<Envelope[]> {
  const log = await EventLog.open(dir);
  try {
    const out: Envelope[] = [];
    for await (const e of log.events()) out.push(e);
    return out;
  } finally {
    await log.close();
  }
}

async function publicKey(devDir: string): Promise<string> {
  const r = await runCli(['device', 'key', 'show', '--data', devDir, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { publicKey: string }).publicKey;
}

describe('a hub with --keys and --require-signatures, a real device', () => {
  it('enrols by the keys file on SIGHUP, refuses forgeries and replays, follows a rotation, refuses a replaced key until re-enrolled', async () => {
    const id = 'sig-1';
    const devDir = join(root, 'device');
    const keys = join(root, 'keys.json');
    writeFileSync(keys, '{}');
    const hub = start([
      'hub',
      '--data',
      join(root, 'hub'),
      '--broker-port',
      '0',
      '--http',
      '0',
      '--keys',
      keys,
      '--require-signatures',
    ]);
    const line = await hub.waitFor(/http http:\/\//);
    const base = /http:\/\/127\.0\.0\.1:\d+/.exec(line)![0];
    const url = `mqtt://127.0.0.1:${/broker mqtt:\/\/[^:]+:(\d+)/.exec(line)![1]}`;
    // a source on a port that does not exist: the device records only a few events of its own
    const deviceArgs = [
      'device',
      '--id',
      id,
      '--data',
      devDir,
      '--driver',
      'line',
      '--port',
      join(root, 'no-port'),
    ];
    const runDevice = () => start([...deviceArgs, '--mqtt', url, '--fleet', 'north', '--no-ui']);
    const untilHubHolds = async (dev: Proc) => {
      await dev.waitFor(/: logging /);
      expect(await dev.stop('SIGTERM')).toBe(0);
      const head = (await logOf(devDir)).at(-1)!;
      const again = runDevice();
      await again.waitFor(/: logging /);
      await expect
        .poll(async () => (await deviceRow(base, id))?.head.seq ?? 0, { timeout: 60_000 })
        .toBeGreaterThanOrEqual(head.seq);
      expect(await again.stop('SIGTERM')).toBe(0);
    };

    // not enrolled yet: refused, nothing stored
    let dev = runDevice();
    await expect
      .poll(async () => (await deviceRow(base, id))?.rejects, { timeout: 30_000 })
      .toEqual({ 'key-unknown': expect.any(Number) });
    expect((await deviceRow(base, id))!.head.seq).toBe(0);
    // enrolled: the keys file names its key, SIGHUP reloads it, the device's resend is stored
    writeFileSync(keys, JSON.stringify({ [id]: await publicKey(devDir) }));
    hub.child.kill('SIGHUP');
    await hub.waitFor(/keys: reloaded .*1 devices enrolled/);
    await untilHubHolds(dev);

    // someone with the device's MQTT access but not its key: a forged event after the head,
    // with a valid link and hash, signed by another key or not at all, and an old signed batch again
    const held = (await logOf(devDir)).slice(0, (await deviceRow(base, id))!.head.seq);
    const thief = await mqtt.connectAsync(url, { protocolVersion: 4, clientId: id });
    const acks: { upTo: number; error?: string }[] = [];
    thief.on('message', (_, p) => acks.push(JSON.parse(p.toString()) as { upTo: number; error?: string }));
    await thief.subscribeAsync(deviceTopic('fieldlog', 'north', id, 'ack'), { qos: 1 });
    const publish = async (events: Envelope[]) => {
      const before = acks.length;
      await thief.publishAsync(
        deviceTopic('fieldlog', 'north', id, 'events'),
        JSON.stringify({ device: id, events }),
        { qos: 1 },
      );
      await expect.poll(() => acks.length).toBe(before + 1);
      return acks.at(-1)!;
    };
    const forged = forgedAfter(held.at(-1)!, 42);
    const other = generateIdentity();
    await expect(
      publish([{ ...forged, sig: signHash(other.privateKey, forged.hash) }]),
    ).resolves.toMatchObject({
      upTo: held.length,
      error: 'invalid',
    });
    await expect(publish([forged])).resolves.toEqual({ upTo: held.length, hash: held.at(-1)!.hash });
    const signedBefore = held.filter((e) => e.sig !== undefined);
    const oldBatch = held.slice(0, held.indexOf(signedBefore[0]!) + 1);
    await expect(publish(oldBatch)).resolves.toEqual({ upTo: held.length, hash: held.at(-1)!.hash });
    await thief.endAsync(true);
    expect((await deviceRow(base, id))!.rejects).toMatchObject({ 'bad-signature': 1 });
    expect((await deviceRow(base, id))!.head.seq).toBe(held.length);

    // a rotation on the device is followed: its next events are signed by the new key
    const r = await runCli(['device', 'key', 'rotate', '--data', devDir]);
    expect(r.code, r.stderr).toBe(0);
    const rejectsBefore = (await deviceRow(base, id))!.rejects;
    dev = runDevice();
    await untilHubHolds(dev);
    expect((await logOf(devDir)).some((e) => e.type === 'DeviceKeyRotated')).toBe(true);
    expect((await deviceRow(base, id))!.rejects).toEqual(rejectsBefore);

    // the key file replaced (not rotated): refused until the keys file names the new key
    saveIdentity(join(devDir, 'device.key'), generateIdentity());
    const headBefore = (await deviceRow(base, id))!.head.seq;
    dev = runDevice();
    await expect
      .poll(async () => (await deviceRow(base, id))?.rejects['key-change-unsigned'], { timeout: 30_000 })
      .toBeGreaterThan(0);
    expect((await deviceRow(base, id))!.head.seq).toBe(headBefore);
    writeFileSync(keys, JSON.stringify({ [id]: await publicKey(devDir) }));
    hub.child.kill('SIGHUP');
    await hub.waitFor(/keys: reloaded .*1 devices enrolled/);
    await untilHubHolds(dev);

    // a bad keys file on SIGHUP keeps the keys in force, in one line
    writeFileSync(keys, '{"sig-1": "not a key"}');
    hub.child.kill('SIGHUP');
    await hub.waitFor(/keys: .*not an Ed25519 public key.*; keeping the 1 keys enrolled before/);
    // the stored copy verifies but for the one key replacement the operator accepted by re-enrolling
    expect(await hub.stop('SIGTERM')).toBe(0);
    const verify = await runCli(['log', 'verify', join(root, 'hub'), '--device', id, '--json']);
    const report = JSON.parse(verify.stdout) as { errors: { reason: string }[] };
    expect(report.errors.map((e) => e.reason)).toEqual(['key-change-unsigned']);
  }, 240_000);

  it('refuses to start on a bad keys file, in one line, exit 2', async () => {
    const keys = join(root, 'bad-keys.json');
    writeFileSync(keys, '["not", "an", "object"]');
    const r = await runCli(['hub', '--data', join(root, 'hub-bad'), '--broker-port', '0', '--keys', keys]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^fieldlog: keys file .* must be a JSON object.* \[CONFIG_INVALID\]\n$/);
  });
});
