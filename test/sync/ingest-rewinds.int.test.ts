// A batch that does not follow what the hub holds is answered with a gap, and the device
// rewinds: the hub counts these per device (DeviceInfo.rewinds and
// fieldlog_hub_rewinds_total{device} in /metrics), since a storm of them (several hubs
// behind a shared subscription) is what an operator must see. Real aedes, real LevelDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-rewinds-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('hub ingest: rewinds', () => {
  it('counts each answered gap per device, in the device list and in /metrics', async () => {
    const b = await startBroker({ port: 0 });
    cleanups.push(() => b.close());
    const store = await openLevelFleetStore(join(root, 'hub'), { create: true });
    cleanups.push(() => store.close());
    const ingest = new Ingest(store);
    const client = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => client.endAsync(true));
    await ingest.attach(client);
    const api = createHubApi({
      store,
      devices: () => ingest.devices(),
      metrics: () => ({ ...ingest.totals }),
    });
    const srv = await listenHubApi(api, 0);
    cleanups.push(() => srv.close());

    const dev = await EventLog.memory({ device: 'pi-g' });
    cleanups.push(() => dev.close());
    await dev.appendMany(
      Array.from({ length: 9 }, (_, k) => ({ type: 'NoteAdded', data: { text: `n${k}` } })),
    );
    const events: Envelope[] = [];
    for await (const e of dev.events()) events.push(e);

    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = (c: 'events' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-g', c);
    const acks: { upTo: number; error?: string; detail?: string }[] = [];
    raw.on('message', (_, p) => acks.push(JSON.parse(p.toString())));
    await raw.subscribeAsync(topic('ack'), { qos: 1 });
    const send = (evs: Envelope[]) =>
      raw.publishAsync(topic('events'), JSON.stringify({ device: 'pi-g', events: evs }), { qos: 1 });

    await send(events.slice(0, 3));
    await expect.poll(() => acks.length).toBe(1);
    await send(events.slice(5, 7)); // 4 and 5 lost on the way
    await send(events.slice(7, 9));
    await expect.poll(() => acks.length).toBe(3);
    expect(acks.slice(1)).toEqual([
      { upTo: 3, hash: events[2]!.hash, error: 'gap', detail: 'expected seq 4, got 6' },
      { upTo: 3, hash: events[2]!.hash, error: 'gap', detail: 'expected seq 4, got 8' },
    ]);
    await send(events.slice(3, 9)); // the device rewinds: stored, no rewind more
    await expect.poll(() => acks.length).toBe(4);
    expect(acks[3]).toEqual({ upTo: 9, hash: events[8]!.hash });
    await ingest.idle();
    const [info] = await ingest.devices();
    expect(info).toMatchObject({ device: 'pi-g', rewinds: 2, head: { seq: 9 } });
    const metrics = await (await fetch(`http://127.0.0.1:${srv.port}/metrics`)).text();
    expect(metrics).toMatch(/^fieldlog_hub_rewinds_total\{device="pi-g"\} 2$/m);
    expect(metrics).toMatch(/^fieldlog_hub_device_head_seq\{device="pi-g"\} 9$/m);
    expect(metrics).toMatch(/^fieldlog_hub_fleet_position 9$/m);
    const bytes = Number(/^fieldlog_hub_store_bytes (\d+)$/m.exec(metrics)?.[1]);
    expect(bytes).toBeGreaterThan(0);
  });
});
