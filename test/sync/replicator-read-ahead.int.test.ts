// `readAhead` bounds what a replicator reads from its log before sending (a process running
// a thousand replicators, the simulated fleet, holds that much per device), and everything
// still reaches the hub.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { EventLog, type ReadRange } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-read-ahead-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

it('reads at most readAhead events at a time and delivers the whole log', async () => {
  const broker = await startBroker({ port: 0 });
  const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const ingest = new Ingest(hubLog);
  await ingest.attach(client);
  const dev = await EventLog.open(join(root, 'dev'), { device: 'pi-ra', create: true, sync: false });
  await dev.appendMany(
    Array.from({ length: 50 }, (_, k) => ({ type: 'NoteAdded', data: { text: `n${k}` } })),
  );
  const ranges: [number, number][] = [];
  const eventsJson = dev.eventsJson.bind(dev);
  dev.eventsJson = (range: ReadRange = {}) => {
    ranges.push([range.fromSeq ?? 1, range.toSeq ?? dev.head().seq]);
    return eventsJson(range);
  };
  const r = new Replicator(dev, { url: broker.url, fleet: 'north', readAhead: 8, batchEvents: 5 });
  try {
    r.start();
    await expect.poll(() => (hubLog.hasDevice('pi-ra') ? hubLog.head('pi-ra') : null)).toEqual(dev.head());
    expect(ranges.length).toBeGreaterThanOrEqual(7);
    for (const [from, to] of ranges) expect(to - from + 1).toBeLessThanOrEqual(8);
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
