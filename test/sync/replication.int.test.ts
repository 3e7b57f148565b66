// Replication over a real in-process MQTT broker (aedes on port 0) with real MQTT.js
// clients: the hub's copy must end equal to the device's, whatever happens in between.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { type Envelope, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const fast = { backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 }, ackTimeoutMs: 2000 };

async function broker(port = 0): Promise<EmbeddedBroker> {
  const b = await startBroker({ port });
  cleanups.push(() => b.close());
  return b;
}

async function deviceLog(device: string, count: number): Promise<EventLog> {
  const log = await EventLog.open(join(root, `dev-${n++}`), { device, create: true, sync: false });
  cleanups.push(() => log.close());
  for (let i = 0; i < count; i += 500) {
    const batch = [];
    for (let k = i; k < Math.min(count, i + 500); k++) {
      batch.push({
        type: 'ReadingRecorded',
        data: { source: 'n', sensor: 't', value: k },
        meta: { actor: 'sensor:n' },
      });
    }
    await log.appendMany(batch);
  }
  return log;
}

async function hub(url: string, dir = join(root, `hub-${n++}`)) {
  const log = await EventLog.open(dir, { create: true, fleet: true });
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 100 });
  const ingest = new Ingest(fleetStoreOver(log));
  client.on('connect', () => void ingest.attach(client));
  await ingest.attach(client);
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      ingest.detach();
      await client.endAsync(true);
      await ingest.idle();
      await log.close();
    })());
  cleanups.push(close);
  return { log, client, ingest, dir, close };
}

function replicate(
  log: EventLog,
  url: string,
  extra: Partial<ConstructorParameters<typeof Replicator>[1]> = {},
) {
  const r = new Replicator(log, { url, fleet: 'north', ...fast, ...extra });
  r.start();
  cleanups.push(() => r.stop());
  return r;
}

/**
 * A hub made by hand over raw MQTT, for what a real one would never do: it answers hello
 * with what it holds, and each batch as `answer` says (null: no ack at all).
 */
async function handMadeHub(
  url: string,
  dev: EventLog,
  answer: (first: number, last: number, held: number) => { held: number; error?: 'gap' } | null,
): Promise<void> {
  const device = dev.device!;
  const hashes = [ZERO_HASH];
  for await (const e of dev.events()) hashes.push(e.hash);
  const raw = await mqtt.connectAsync(url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  const topic = (c: 'hello' | 'events' | 'ack') => deviceTopic('fieldlog', 'north', device, c);
  let held = 0;
  const ack = (error?: string) =>
    raw.publish(
      topic('ack'),
      JSON.stringify({ upTo: held, hash: hashes[held], ...(error ? { error } : {}) }),
      {
        qos: 1,
      },
    );
  raw.on('message', (t, p) => {
    if (t === topic('hello')) return ack();
    const seqs = (JSON.parse(p.toString()).events as { seq: number }[]).map((e) => e.seq);
    const a = answer(seqs[0]!, seqs[seqs.length - 1]!, held);
    if (a === null) return;
    held = a.held;
    ack(a.error);
  });
  await raw.subscribeAsync([topic('hello'), topic('events')], { qos: 1 });
}

async function caughtUp(dev: EventLog, hubLog: EventLog, timeout = 30_000): Promise<void> {
  const device = dev.device!;
  await expect
    .poll(() => (hubLog.hasDevice(device) ? hubLog.head(device) : null), { timeout, interval: 50 })
    .toEqual(dev.head());
  const report = await hubLog.verify(device);
  expect(report).toMatchObject({ ok: true, events: dev.count(), head: dev.head() });
}

describe('replication over MQTT', () => {
  it('copies a backlog exactly, then streams live appends', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-a', 5000);
    const h = await hub(b.url);
    const r = replicate(dev, b.url);
    await caughtUp(dev, h.log);
    await dev.append({ type: 'NoteAdded', data: { text: 'live' }, meta: { actor: 'operator:ana' } });
    await caughtUp(dev, h.log);
    expect((await h.log.get(5001, 'pi-a'))?.data).toEqual({ text: 'live' });
    await expect.poll(() => r.status()).toMatchObject({ connected: true, acked: 5001, backlog: 0 });
    expect(await h.ingest.devices()).toEqual([
      expect.objectContaining({ device: 'pi-a', fleet: 'north', online: true, lag: 0 }),
    ]);
  });

  it('checks each ack of a catch-up against the hash it sent, without a read of its log per ack', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-h', 3000);
    const h = await hub(b.url);
    let reads = 0;
    const hashAt = dev.hashAt.bind(dev);
    dev.hashAt = (seq, device) => {
      reads++;
      return hashAt(seq, device);
    };
    const r = replicate(dev, b.url, { batchEvents: 100 });
    await caughtUp(dev, h.log);
    await expect.poll(() => r.status()).toMatchObject({ acked: 3000, rejectedAcks: 0 });
    // thirty batches, thirty acks: none needed the log (the hello's ack is at 0)
    expect(reads).toBe(0);
  });

  it("purges the hub's copy of a payload the device redacts, with the EventRedacted", async () => {
    const b = await broker();
    const dev = await deviceLog('pi-red', 50);
    const h = await hub(b.url);
    replicate(dev, b.url);
    await caughtUp(dev, h.log);
    expect((await h.log.get(7, 'pi-red'))?.data).not.toBeNull();
    await dev.redact(7, 'personal data', 'operator:ana');
    await caughtUp(dev, h.log); // verifies: no redaction-not-applied
    expect((await h.log.get(7, 'pi-red'))?.data).toBeNull();
    expect((await h.log.get(51, 'pi-red'))?.meta).toEqual({ actor: 'operator:ana' });
  });

  it('keeps saying hello until a hub that came later answers', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-late', 300);
    const r = replicate(dev, b.url);
    await expect.poll(() => r.status().connected).toBe(true);
    const h = await hub(b.url); // subscribes after the device's first hello
    await caughtUp(dev, h.log);
  });

  it('catches up after the broker is killed mid-stream and restarted', async () => {
    const b = await broker();
    const port = b.port;
    const dev = await deviceLog('pi-b', 20_000);
    const h = await hub(b.url);
    replicate(dev, b.url);
    await expect
      .poll(() => (h.log.hasDevice('pi-b') ? h.log.head('pi-b').seq : 0), { timeout: 20_000, interval: 10 })
      .toBeGreaterThan(0);
    await b.close();
    await dev.appendMany([{ type: 'NoteAdded', data: { text: 'while the broker was down' } }]);
    await broker(port);
    await caughtUp(dev, h.log);
  });

  it('catches up after the hub is stopped mid-stream and restarted on its store', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-c', 20_000);
    const first = await hub(b.url);
    replicate(dev, b.url);
    await expect
      .poll(() => (first.log.hasDevice('pi-c') ? first.log.head('pi-c').seq : 0), {
        timeout: 20_000,
        interval: 10,
      })
      .toBeGreaterThan(0);
    await first.close();
    const second = await hub(b.url, first.dir);
    await caughtUp(dev, second.log);
  });

  it('catches up after the device dies mid-sync and starts again', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-k', 20_000);
    const h = await hub(b.url);
    const first = new Replicator(dev, { url: b.url, fleet: 'north', ...fast });
    first.start();
    await expect
      .poll(() => (h.log.hasDevice('pi-k') ? h.log.head('pi-k').seq : 0), { timeout: 20_000, interval: 10 })
      .toBeGreaterThan(0);
    // no goodbye: the connection just drops, as when the process is killed
    const client = (first as unknown as { client: MqttClient }).client;
    (first as unknown as { stopped: boolean }).stopped = true;
    client.stream.destroy();
    await client.endAsync(true);
    await dev.append({ type: 'NoteAdded', data: { text: 'after the restart' } });
    replicate(dev, b.url);
    await caughtUp(dev, h.log);
  });

  it('stays exact under duplicated and reordered deliveries, answering the gap', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-d', 30);
    const h = await hub(b.url);
    const evs: Envelope[] = [];
    for await (const e of dev.events()) evs.push(e);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const acks: { upTo: number; error?: string }[] = [];
    await raw.subscribeAsync(deviceTopic('fieldlog', 'north', 'pi-d', 'ack'), { qos: 1 });
    raw.on('message', (_t, p) => acks.push(JSON.parse(p.toString())));
    const send = (from: number, to: number) =>
      raw.publishAsync(
        deviceTopic('fieldlog', 'north', 'pi-d', 'events'),
        JSON.stringify({ device: 'pi-d', events: evs.slice(from - 1, to) }),
        { qos: 1 },
      );
    await send(11, 20); // before 1..10: a gap
    await send(1, 10);
    await send(1, 10); // duplicate
    await send(11, 20);
    await send(5, 30); // overlapping
    await expect.poll(() => acks.length, { timeout: 10_000 }).toBe(5);
    expect(acks.map((a) => `${a.upTo}${a.error ? `:${a.error}` : ''}`)).toEqual([
      '0:gap',
      '10',
      '10',
      '20',
      '30',
    ]);
    await caughtUp(dev, h.log);
    expect((await h.ingest.devices())[0]).toMatchObject({ forks: 0, duplicates: 10 + 16 });
  });

  it('resends from exactly where the hub says, whatever the device had read ahead', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-r', 3000);
    const batches: [number, number][] = [];
    let rewound = false;
    // acks what continues what it holds, and once rewinds the device to 123
    await handMadeHub(b.url, dev, (first, last, held) => {
      batches.push([first, last]);
      if (first !== held + 1) return null; // not what it asked for next: ignore (the device resends)
      if (!rewound && last > 500) {
        rewound = true;
        return { held: 123, error: 'gap' };
      }
      return { held: last };
    });
    const r = replicate(dev, b.url, { batchBytes: 4096, window: 16 });
    await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(3000);
    expect(batches.every(([a, z]) => z >= a)).toBe(true);
    const afterRewind = batches.findIndex(([a]) => a === 124);
    expect(afterRewind).toBeGreaterThan(0);
    // from the rewind on, every batch the hub took continues the one before
    let expectNext = 124;
    for (const [a, z] of batches.slice(afterRewind)) {
      if (a !== expectNext) continue;
      expectNext = z + 1;
    }
    expect(expectNext).toBe(3001);
  });

  it('resends a batch lost behind an acknowledged one on a quiet device', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-q', 30);
    let dropped = false;
    await handMadeHub(b.url, dev, (first, last, held) => {
      // the second batch is lost once, as on a connection that drops a message
      if (!dropped && first > 1) {
        dropped = true;
        return null;
      }
      return first === held + 1 ? { held: last } : null;
    });
    // nothing is appended after the backlog: only the ack timer can bring the lost batch back
    const r = replicate(dev, b.url, { batchBytes: 2048, ackTimeoutMs: 500 });
    await expect.poll(() => r.status().acked, { timeout: 10_000 }).toBe(30);
    expect(dropped).toBe(true);
  });

  it('rejects malformed and hostile payloads without harm', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-e', 10);
    const h = await hub(b.url);
    replicate(dev, b.url);
    await caughtUp(dev, h.log);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = deviceTopic('fieldlog', 'north', 'pi-e', 'events');
    const evs: Envelope[] = [];
    for await (const e of dev.events()) evs.push(e);
    for (const payload of [
      'not json',
      '{}',
      '[]',
      JSON.stringify({ device: 'pi-x', events: [evs[0]] }),
      JSON.stringify({ device: 'pi-e', events: [{ ...evs[0], seq: 'one' }] }),
      '{"device":"pi-e","events":[],"__proto__":{"polluted":true}}',
      JSON.stringify({ device: 'pi-e', events: Array.from({ length: 5000 }, () => evs[0]) }),
      Buffer.alloc(2 * 1024 * 1024, 0x20),
      JSON.stringify({ head: 'x' }),
    ]) {
      await raw.publishAsync(topic, payload, { qos: 1 });
    }
    await raw.publishAsync(deviceTopic('fieldlog', 'north', 'pi-e', 'hello'), '{"head":1}', { qos: 1 });
    await expect.poll(() => h.ingest.totals.rejects, { timeout: 10_000 }).toBe(10);
    await h.ingest.idle();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await caughtUp(dev, h.log);
    expect(h.log.deviceNames()).toEqual(['pi-e']);
  });

  it('ignores a forged ack: the device never skips events', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-f', 200);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const r = replicate(dev, b.url);
    await expect.poll(() => r.status().connected).toBe(true);
    const ackTopic = deviceTopic('fieldlog', 'north', 'pi-f', 'ack');
    await raw.publishAsync(ackTopic, JSON.stringify({ upTo: 5000, hash: 'a'.repeat(64) }), { qos: 1 });
    await raw.publishAsync(ackTopic, JSON.stringify({ upTo: 150, hash: 'b'.repeat(64) }), { qos: 1 });
    await raw.publishAsync(ackTopic, 'garbage', { qos: 1 });
    await expect.poll(() => r.status().rejectedAcks).toBe(3);
    expect(r.status().acked).toBeLessThan(150);
    const h = await hub(b.url);
    // the hub's hello answer comes on the next connect; force one
    (r as unknown as { client: MqttClient }).client.stream.destroy();
    await caughtUp(dev, h.log);
  });

  it('quarantines a forged event for a real device and never merges it', async () => {
    const b = await broker();
    const dev = await deviceLog('pi-g', 20);
    const h = await hub(b.url);
    replicate(dev, b.url);
    await caughtUp(dev, h.log);
    const evs: Envelope[] = [];
    for await (const e of dev.events()) evs.push(e);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = deviceTopic('fieldlog', 'north', 'pi-g', 'events');
    // a different event claiming seq 5: a fork
    const forged = { ...evs[4]!, data: { source: 'n', sensor: 't', value: 999 }, hash: 'c'.repeat(64) };
    await raw.publishAsync(topic, JSON.stringify({ device: 'pi-g', events: [forged] }), { qos: 1 });
    // a new event with a bad hash: invalid
    const bad = { ...evs[19]!, seq: 21, prev: evs[19]!.hash, hash: 'd'.repeat(64) };
    await raw.publishAsync(topic, JSON.stringify({ device: 'pi-g', events: [bad] }), { qos: 1 });
    await expect.poll(() => h.ingest.totals.forks + h.ingest.totals.rejects, { timeout: 10_000 }).toBe(2);
    const aside = [];
    for await (const [k] of h.log.aside('fork')) aside.push(k);
    expect(aside).toEqual([`pi-g/5/${'c'.repeat(64)}`]);
    expect(h.log.head('pi-g')).toEqual(dev.head());
    await expect(h.log.verify('pi-g')).resolves.toMatchObject({ ok: true, events: 20 });
  });

  it('replicates two devices at once into one fleet order', async () => {
    const b = await broker();
    const d1 = await deviceLog('pi-h', 3000);
    const d2 = await deviceLog('pi-i', 3000);
    const h = await hub(b.url);
    replicate(d1, b.url);
    replicate(d2, b.url);
    await caughtUp(d1, h.log);
    await caughtUp(d2, h.log);
    expect(h.log.fleetHead).toBe(6000);
  });
});
