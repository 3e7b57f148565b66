// Replication from a low-wear log: only what an fsync covered leaves the device, so the hub
// never holds an event a power cut could take back (which would turn into a fork).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { Replicator } from '../../src/sync/replicator.js';
import { manualTimers } from '../support/manual-timers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-interval-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const reading = (value: number) => ({
  type: 'ReadingRecorded',
  data: { source: 'n', sensor: 't', value },
  meta: { actor: 'sensor:n' },
});

describe('replication in the low-wear mode', () => {
  it('publishes only up to the last fsync, the rest after the next one', async () => {
    const b = await startBroker({ port: 0 });
    cleanups.push(() => b.close());
    const timers = manualTimers();
    const dev = await EventLog.open(join(root, 'dev'), {
      device: 'pi-w',
      create: true,
      syncEveryMs: 1000,
      syncTimers: timers,
    });
    cleanups.push(() => dev.close());
    for (let i = 0; i < 5; i++) await dev.append(reading(i));
    // the sync starts covering seqs 1..5; 6..10 are written after it started
    const synced = new Promise((r) => dev.once('synced', r));
    timers.fire();
    const later = Promise.all([6, 7, 8, 9, 10].map((i) => dev.append(reading(i))));
    await synced;
    await later;
    expect(dev.syncedHead().seq).toBe(5);
    expect(dev.head().seq).toBe(10);

    const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
    const client = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    const ingest = new Ingest(fleetStoreOver(hubLog));
    await ingest.attach(client);
    cleanups.push(async () => {
      ingest.detach();
      await client.endAsync(true);
      await ingest.idle();
      await hubLog.close();
    });
    const r = new Replicator(dev, { url: b.url, fleet: 'north', ackTimeoutMs: 2000 });
    const acks: number[] = [];
    r.on('acked', (upTo: number) => acks.push(upTo));
    r.start();
    cleanups.push(() => r.stop());
    // the hello is answered with 0, then the one batch the synced head allows
    await expect.poll(() => acks.at(-1), { timeout: 10_000 }).toBe(5);
    expect(hubLog.head('pi-w').seq).toBe(5);
    timers.fire();
    await expect.poll(() => acks.at(-1), { timeout: 10_000 }).toBe(10);
    expect(hubLog.head('pi-w')).toEqual(dev.head());
    expect(acks.every((a) => a <= 10)).toBe(true);
  });
});
