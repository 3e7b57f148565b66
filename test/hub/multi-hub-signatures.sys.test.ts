// Two `fieldlog hub --store postgres://… --share g --keys FILE` processes on one throw-away
// PostgreSQL cluster behind a real mosquitto, and a device enrolled in the keys file whose
// signed batches the broker deals to both hubs: everything is stored, `fieldlog hub verify`
// passes, the key record in the store is the device's and both hubs show it; forged batches
// (a valid chain with no signature by the device's key, after the head or forking it) are
// refused by whichever hub gets them, and change nothing.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { fingerprint, generateIdentity, signHash } from '../../src/log/signing.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { runCli } from '../support/cli.js';
import { startMosquitto, type TestMosquitto } from '../support/mosquitto.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';
import { type Proc, startCli } from '../support/proc.js';
import { forgedAfter, signedDevice } from '../support/signed-chain.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-multi-hub-sig-'));
const DEVICE = 'sg-multi';
let cluster: TestPostgres;
let broker: TestMosquitto;
const procs: Proc[] = [];
let client: mqtt.MqttClient;
beforeAll(async () => {
  cluster = await startPostgres();
  broker = await startMosquitto(root);
});
afterAll(async () => {
  await client?.endAsync(true);
  await Promise.all(procs.map((p) => p.stop('SIGKILL')));
  await broker?.stop();
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

interface Hub {
  proc: Proc;
  base: string;
}

async function hub(keys: string): Promise<Hub> {
  const proc = startCli([
    'hub',
    '--store',
    cluster.url,
    '--mqtt',
    broker.url,
    '--share',
    'g',
    '--http',
    '0',
    '--keys',
    keys,
  ]);
  procs.push(proc);
  const base = /http:\/\/[^\s,]+/.exec(await proc.waitFor(/http http:\/\//))![0];
  await proc.waitFor(/connected to/);
  return { proc, base };
}

interface Entry {
  device: string;
  head: { seq: number; hash: string };
  rejects: Record<string, number>;
  forks: number;
  key: { fingerprint: string | null; enrolled: string | null; signed: boolean };
}

async function entry(h: Hub): Promise<Entry | undefined> {
  const body = (await (await fetch(`${h.base}/devices`)).json()) as { devices: Entry[] };
  return body.devices.find((d) => d.device === DEVICE);
}

interface Ack {
  upTo: number;
  hash: string;
  error?: string;
  detail?: string;
}

describe('several hubs on one PostgreSQL store, enforcing signatures', () => {
  it('store a signed device whose batches go to both, refuse forged batches whichever hub gets them', async () => {
    const d = await signedDevice(DEVICE);
    await d.readings(399); // seqs 2..400
    const all = await d.events();
    const keys = join(root, 'keys.json');
    writeFileSync(keys, JSON.stringify({ [DEVICE]: d.identity.publicKey }));
    const hubs = [await hub(keys), await hub(keys)];

    client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const acks: Ack[] = [];
    client.on('message', (_t, p) => acks.push(JSON.parse(p.toString()) as Ack));
    await client.subscribeAsync(deviceTopic('fieldlog', 'default', DEVICE, 'ack'), { qos: 1 });
    const send = async (events: Envelope[]): Promise<Ack> => {
      const before = acks.length;
      await client.publishAsync(
        deviceTopic('fieldlog', 'default', DEVICE, 'events'),
        JSON.stringify({ device: DEVICE, events }),
        { qos: 1 },
      );
      await expect.poll(() => acks.length, { timeout: 30_000 }).toBeGreaterThan(before);
      return acks[before]!;
    };

    // 8 signed batches of 50, one after the other: the broker deals them to both hubs
    for (let from = 1; from <= 400; from += 50)
      await expect(send(await d.batch(from, from + 49))).resolves.toEqual({
        upTo: from + 49,
        hash: all[from + 48]!.hash,
      });
    const taken = await Promise.all(
      hubs.map(async (h) => {
        const text = await (await fetch(`${h.base}/metrics`)).text();
        return Number(/^fieldlog_hub_events_total (\d+)/m.exec(text)?.[1] ?? 0);
      }),
    );
    expect(taken.every((n) => n > 0)).toBe(true);
    expect(taken[0]! + taken[1]!).toBe(400);

    const verify = await runCli(['hub', 'verify', '--store', cluster.url]);
    expect(verify.stderr).toBe('');
    expect(verify.code).toBe(0);
    const db = new pg.Client({ connectionString: cluster.url });
    await db.connect();
    try {
      const row = await db.query(
        'SELECT seq, hash, public_key, keys, bound_key FROM devices WHERE device = $1',
        [DEVICE],
      );
      expect(row.rows).toEqual([
        {
          seq: '400',
          hash: all[399]!.hash,
          public_key: d.identity.publicKey,
          keys: [d.identity.publicKey],
          bound_key: null,
        },
      ]);
      for (const h of hubs)
        await expect(entry(h)).resolves.toMatchObject({
          head: { seq: 400, hash: all[399]!.hash },
          key: { fingerprint: fingerprint(d.identity.publicKey), enrolled: 'keys-file', signed: true },
        });

      // forgeries from someone with the device's MQTT access but not its key: after the head,
      // and forking seq 200, each signed by the thief's key; sent until both hubs refused some
      const thief = generateIdentity();
      const signedByThief = (e: Envelope) => ({ ...e, sig: signHash(thief.privateKey, e.hash) });
      const refusedBy = async () =>
        Promise.all(hubs.map(async (h) => (await entry(h))?.rejects['bad-signature'] ?? 0));
      let sent = 0;
      while (sent < 20 && (await refusedBy()).some((n) => n === 0)) {
        const forged =
          sent % 2 === 0 ? forgedAfter(all[399]!, 1000 + sent) : forgedAfter(all[198]!, 1000 + sent);
        await expect(send([signedByThief(forged)])).resolves.toMatchObject({
          upTo: 400,
          hash: all[399]!.hash,
          error: 'invalid',
          detail: expect.stringContaining('bad-signature'),
        });
        sent++;
      }
      const refused = await refusedBy();
      expect(refused.every((n) => n > 0)).toBe(true);
      expect(refused[0]! + refused[1]!).toBe(sent);
      expect((await db.query('SELECT count(*)::int AS n FROM quarantine')).rows[0].n).toBe(0);
      expect(
        (await db.query('SELECT count(*)::int AS n FROM events WHERE device = $1', [DEVICE])).rows[0].n,
      ).toBe(400);
      expect(
        (await db.query('SELECT seq, public_key, keys FROM devices WHERE device = $1', [DEVICE])).rows[0],
      ).toEqual({ seq: '400', public_key: d.identity.publicKey, keys: [d.identity.publicKey] });
    } finally {
      await db.end();
    }
  });
});
