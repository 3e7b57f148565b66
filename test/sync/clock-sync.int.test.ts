// A device whose clock is an hour behind its hub's, over a real in-process broker (aedes on port
// 0): the hub publishes its time on the device's time channel (never in an ack), the device
// records ClockSynced with the offset, and the hub receives that event like any other. A hub
// of an earlier release never sends it: the device replicates all the same.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { Recorder } from '../../src/device/recorder.js';
import { startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { Replicator } from '../../src/sync/replicator.js';
import { FakeSource } from '../support/fake-source.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-clock-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const HOUR = 3_600_000;

/** Resolves with the first event of `type` the log appends (or already holds). */
async function appended(log: EventLog, type: string): Promise<Envelope> {
  const seen = new Promise<Envelope>((resolve) => {
    const on = (events: Envelope[]) => {
      const e = events.find((x) => x.type === type);
      if (!e) return;
      log.off('append', on);
      resolve(e);
    };
    log.on('append', on);
  });
  for await (const e of log.events()) if (e.type === type) return e;
  return seen;
}

describe('clock synchronisation by the hub', () => {
  it("records ClockSynced with the hub's offset, and the hub receives it", async () => {
    const b = await startBroker({ port: 0 });
    cleanups.push(() => b.close());

    const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
    cleanups.push(() => hubLog.close());
    const client = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    // the hub's clock is an hour ahead of the device's
    const ingest = new Ingest(fleetStoreOver(hubLog), { now: () => Date.now() + HOUR });
    await ingest.attach(client);
    cleanups.push(async () => {
      ingest.detach();
      await client.endAsync(true);
      await ingest.idle();
    });

    const log = await EventLog.open(join(root, 'dev'), { device: 'pi-01', create: true, sync: false });
    cleanups.push(() => log.close());
    const config = { id: 'pi-01', sources: [{ name: 'node', driver: 'line' as const, port: '/dev/fake' }] };
    const recorder = new Recorder(log, config, [new FakeSource('node')], {
      version: '9.9.9',
      clockWatch: true,
    });
    cleanups.push(() => recorder.stop('test over'));
    const r = new Replicator(log, { url: b.url, fleet: 'north' });
    r.on('hub-time', (ms: number) => recorder.hubTime(ms));
    cleanups.push(() => r.stop());
    const synced = appended(log, 'ClockSynced');
    await recorder.start();
    r.start();

    const e = await synced;
    const data = e.data as { offsetMs: number; source: string };
    expect(data.source).toBe('hub');
    // the hour, give or take the ack's way through the broker
    expect(Math.abs(data.offsetMs - HOUR)).toBeLessThan(2000);

    // only once: the next ack repeats what the device knows
    await log.append({ type: 'NoteAdded', data: { text: 'after the sync' } });
    const head = log.head().seq;
    await new Promise<void>((resolve) => {
      const on = (upTo: number) => {
        if (upTo < head) return;
        r.off('acked', on);
        resolve();
      };
      r.on('acked', on);
      if (r.status().acked >= head) resolve();
    });
    const onHub: Envelope[] = [];
    for await (const x of hubLog.events({ device: 'pi-01' })) onHub.push(x);
    expect(onHub.filter((x) => x.type === 'ClockSynced').map((x) => x.hash)).toEqual([e.hash]);
  });

  it('replicates with a hub that never tells the time, ignoring a retained time and reporting a malformed one', async () => {
    const b = await startBroker({ port: 0 });
    cleanups.push(() => b.close());
    const topic = (c: string) => `fieldlog/north/pi-02/${c}`;
    // a hub of an earlier release, by hand: acks each batch ({upTo, hash} only), never a time
    const oldHub = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => oldHub.endAsync(true));
    oldHub.on('message', (t, p) => {
      if (t === topic('hello')) {
        void oldHub.publishAsync(topic('ack'), JSON.stringify({ upTo: 0, hash: '0'.repeat(64) }), { qos: 1 });
        return;
      }
      const last = (JSON.parse(p.toString()) as { events: Envelope[] }).events.at(-1)!;
      void oldHub.publishAsync(topic('ack'), JSON.stringify({ upTo: last.seq, hash: last.hash }), { qos: 1 });
    });
    await oldHub.subscribeAsync([topic('hello'), topic('events')], { qos: 1 });
    // an old copy of a time, an hour off, kept by the broker: not news
    await oldHub.publishAsync(
      topic('time'),
      JSON.stringify({ time: new Date(Date.now() + HOUR).toISOString() }),
      {
        qos: 1,
        retain: true,
      },
    );

    const log = await EventLog.open(join(root, 'dev-2'), { device: 'pi-02', create: true, sync: false });
    cleanups.push(() => log.close());
    const config = { id: 'pi-02', sources: [{ name: 'node', driver: 'line' as const, port: '/dev/fake' }] };
    const recorder = new Recorder(log, config, [new FakeSource('node')], {
      version: '9.9.9',
      clockWatch: true,
    });
    cleanups.push(() => recorder.stop('test over'));
    const r = new Replicator(log, { url: b.url, fleet: 'north' });
    r.on('hub-time', (ms: number) => recorder.hubTime(ms));
    const ignored: string[] = [];
    r.on('rejected-time', (why: string) => ignored.push(why));
    cleanups.push(() => r.stop());
    await recorder.start();
    r.start();
    await log.append({ type: 'NoteAdded', data: { text: 'sent to an old hub' } });
    const head = log.head().seq;
    await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(head);

    // a time that is not one: said, and nothing recorded
    await oldHub.publishAsync(topic('time'), JSON.stringify({ time: 'tomorrow' }), { qos: 0 });
    await expect.poll(() => ignored.length).toBe(1);
    expect(ignored[0]).toMatch(/^time: /);
    // keys a later hub may add are no reason to refuse: this one is heard (and an hour off)
    const synced = appended(log, 'ClockSynced');
    await oldHub.publishAsync(
      topic('time'),
      JSON.stringify({ time: new Date(Date.now() + HOUR).toISOString(), zone: 'UTC' }),
      { qos: 0 },
    );
    const e = await synced;
    expect(Math.abs((e.data as { offsetMs: number }).offsetMs - HOUR)).toBeLessThan(2000);
    // before it, the retained copy changed nothing: this is the only ClockSynced
    const all: Envelope[] = [];
    for await (const x of log.events()) all.push(x);
    expect(all.filter((x) => x.type === 'ClockSynced').map((x) => x.seq)).toEqual([e.seq]);
    expect(ignored).toHaveLength(1);
  });
});
