// A replicator whose own log cannot be read says so as an internal error (the device
// reports it once and counts it) and tries again; nothing is skipped.
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-errors-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('reports a failed read of its own log as an internal error, then sends everything once it reads again', async () => {
  const broker = await startBroker({ port: 0 });
  const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const ingest = new Ingest(fleetStoreOver(hubLog));
  await ingest.attach(client);
  const dev = await EventLog.open(join(root, 'dev'), { device: 'pi-r', create: true, sync: false });
  await dev.appendMany(
    Array.from({ length: 20 }, (_, k) => ({ type: 'NoteAdded', data: { text: `n${k}` } })),
  );
  const eventsJson = dev.eventsJson;
  // biome-ignore lint/correctness/useYield: a read that fails before its first record
  dev.eventsJson = async function* () {
    throw new Error('read failed: EIO');
  };
  const r = new Replicator(dev, {
    url: broker.url,
    fleet: 'north',
    backoff: { initialMs: 50, maxMs: 500, jitter: 0 },
    ackTimeoutMs: 2000,
  });
  try {
    const reported = once(r, 'internal-error');
    r.start();
    const [err] = await reported;
    expect((err as Error).message).toBe('read failed: EIO');
    dev.eventsJson = eventsJson;
    await dev.append({ type: 'NoteAdded', data: { text: 'again' } }); // an append pumps again
    await expect.poll(() => (hubLog.hasDevice('pi-r') ? hubLog.head('pi-r').seq : 0)).toBe(21);
  } finally {
    await r.stop();
    ingest.detach();
    await client.endAsync(true);
    await ingest.idle();
    await broker.close();
    await dev.close();
    await hubLog.close();
  }
});
