// The hub's time reaches devices on their own `time` channel (docs/protocol.md §10.6), never in
// the ack: a device of the previous release parses acks with a strict schema and would refuse
// every ack with a key it does not know. Real aedes, real LevelDB, a raw MQTT client playing
// the old device (the new device's side is in clock-sync.int.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startBroker } from '../../src/hub/broker.js';
import { openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-hub-time-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** The ack schema of the release before issue 13 (src/sync/messages.ts then), word for word. */
const HEX64 = /^[0-9a-f]{64}$/;
const previousReleaseAck = z.strictObject({
  upTo: z.number().int().min(0),
  hash: z.string().regex(HEX64),
  error: z.enum(['gap', 'fork', 'invalid']).optional(),
  detail: z.string().max(1000).optional(),
});

describe("the hub's time", () => {
  it('goes on the time channel in answer to hello and at most once a minute after acks, never in an ack', async () => {
    const b = await startBroker({ port: 0 });
    cleanups.push(() => b.close());
    const store = await openLevelFleetStore(join(root, 'hub'), { create: true });
    cleanups.push(() => store.close());
    const base = Date.parse('2026-06-01T12:00:00.000Z');
    let now = base;
    const ingest = new Ingest(store, { now: () => now });
    const client = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => client.endAsync(true));
    await ingest.attach(client);

    const dev = await EventLog.memory({ device: 'pi-old' });
    cleanups.push(() => dev.close());
    await dev.appendMany(
      Array.from({ length: 9 }, (_, k) => ({ type: 'NoteAdded', data: { text: `n${k}` } })),
    );
    const events: Envelope[] = [];
    for await (const e of dev.events()) events.push(e);

    // the old device: its acks through the old schema, and a listener on the new channel
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = (c: 'hello' | 'events' | 'ack' | 'time') => deviceTopic('fieldlog', 'north', 'pi-old', c);
    const acks: unknown[] = [];
    const times: { body: unknown; qos: number; retain: boolean }[] = [];
    raw.on('message', (t, p, packet) => {
      if (t === topic('ack')) acks.push(JSON.parse(p.toString()));
      else times.push({ body: JSON.parse(p.toString()), qos: packet.qos, retain: packet.retain });
    });
    await raw.subscribeAsync([topic('ack'), topic('time')], { qos: 1 });
    const hello = (seq: number) =>
      raw.publishAsync(topic('hello'), JSON.stringify({ head: { seq, hash: events[seq - 1]!.hash } }), {
        qos: 1,
      });
    const send = async (evs: Envelope[]) => {
      const before = acks.length;
      await raw.publishAsync(topic('events'), JSON.stringify({ device: 'pi-old', events: evs }), { qos: 1 });
      await expect.poll(() => acks.length).toBe(before + 1);
    };
    // the time also says that this hub takes short envelopes (docs/protocol.md §10.7)
    const timeOf = (ms: number) => ({ time: new Date(ms).toISOString(), accepts: ['short-envelopes'] });

    await hello(9);
    await expect.poll(() => times.length).toBe(1);
    // QoS 0, not retained: a time kept by the broker for later would be a wrong time
    expect(times[0]).toEqual({ body: timeOf(base), qos: 0, retain: false });

    // acks within the minute: no time with them (a gap and a duplicate answered too)
    now = base + 20_000;
    await send(events.slice(0, 3));
    await send(events.slice(5, 7)); // gap
    await send(events.slice(0, 3)); // duplicate
    now = base + 59_000;
    await send(events.slice(3, 5));
    // a hello is always answered with the time: once it is here, nothing else came before it
    now = base + 59_500;
    await hello(9);
    await expect.poll(() => times.length).toBe(2);
    expect(times[1]!.body).toEqual(timeOf(base + 59_500));

    // a minute after that, the next ack is followed by the time
    now = base + 59_500 + 60_000;
    await send(events.slice(5, 9));
    await expect.poll(() => times.length).toBe(3);
    expect(times[2]!.body).toEqual(timeOf(now));
    expect(ingest.totals.times).toBe(3);

    // every ack the hub sent is one the previous release accepts
    expect(acks).toHaveLength(7); // two hellos, five batches
    for (const a of acks) expect(previousReleaseAck.safeParse(a).success, JSON.stringify(a)).toBe(true);
    expect(acks.at(-1)).toEqual({ upTo: 9, hash: events[8]!.hash });
  });
});
