// The hub's ingest and the device's acks over a real in-process broker (aedes, port 0):
// a message that is not I-JSON, or an event of a known type whose payload does not fit,
// is refused and counted, and what the hub holds stays exactly as it was.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { digestOf, type Envelope, hashOf, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-ingest-input-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

async function broker(): Promise<EmbeddedBroker> {
  const b = await startBroker({ port: 0 });
  cleanups.push(() => b.close());
  return b;
}

async function hub(url: string) {
  const log = await EventLog.open(join(root, `hub-${n++}`), { create: true, fleet: true });
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const ingest = new Ingest(log);
  await ingest.attach(client);
  cleanups.push(async () => {
    ingest.detach();
    await client.endAsync(true);
    await ingest.idle();
    await log.close();
  });
  return { log, ingest };
}

/** A device log of `count` readings; the last one's value is 0.1. */
async function deviceEvents(device: string, count: number): Promise<{ log: EventLog; events: Envelope[] }> {
  const log = await EventLog.open(join(root, `dev-${n++}`), { device, create: true, sync: false });
  cleanups.push(() => log.close());
  await log.appendMany(
    Array.from({ length: count }, (_, k) => ({
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 't', value: k === count - 1 ? 0.1 : k },
      meta: { actor: 'sensor:n' },
    })),
  );
  const events: Envelope[] = [];
  for await (const e of log.events()) events.push(e);
  return { log, events };
}

/** An envelope sealed by hand after `prev`, as a device with another writer could send it. */
function sealedAfter(prev: Envelope, type: string, data: Record<string, unknown>): Envelope {
  const env: Envelope = {
    ...prev,
    seq: prev.seq + 1,
    type,
    data,
    digest: digestOf(data),
    prev: prev.hash,
    hash: '',
  };
  delete env.meta;
  env.hash = hashOf(env);
  return env;
}

function edit(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe('hub ingest of outside JSON', () => {
  it('refuses batches that are not I-JSON or hold a bad known payload; the store is unharmed', async () => {
    const b = await broker();
    const h = await hub(b.url);
    const { events } = await deviceEvents('pi-j', 11);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = (c: 'events' | 'hello' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-j', c);
    const acks: { upTo: number; error?: string; detail?: string }[] = [];
    raw.on('message', (_, p) => acks.push(JSON.parse(p.toString())));
    await raw.subscribeAsync(topic('ack'), { qos: 1 });
    const batch = (evs: Envelope[]) => JSON.stringify({ device: 'pi-j', events: evs });

    await raw.publishAsync(topic('events'), batch(events.slice(0, 10)), { qos: 1 });
    await expect.poll(() => (h.log.hasDevice('pi-j') ? h.log.head('pi-j').seq : 0)).toBe(10);
    const held = h.log.head('pi-j');

    // each of these reads, through JSON.parse alone, as the valid event 11 (or as a hello)
    const next = batch([events[10]!]);
    const hostile = [
      edit(next, '"value":0.1', '"value":0.1,"value":0.1'),
      edit(next, '"value":0.1', '"value":0.1000000000000000000001'),
      edit(next, '"meta":{"actor":"sensor:n"}', '"meta":{"actor":"sensor:n","__proto__":{"actor":"system"}}'),
      edit(next, '"device":"pi-j"', '"device":"pi-j","device":"pi-j"'),
      // the signature is not hashed: a lone surrogate there would be stored as it was read
      edit(next, `"hash":"${events[10]!.hash}"`, `"hash":"${events[10]!.hash}","sig":"\\ud800"`),
    ];
    for (const text of hostile) await raw.publishAsync(topic('events'), text, { qos: 1 });
    // bytes that are not UTF-8, which a decoder would have read as U+FFFD, the payload sealed
    const replaced = batch([sealedAfter(events[9]!, 'NoteAdded', { text: 'caf\ufffd' })]);
    const notUtf8 = Buffer.from(replaced.replace('caf\ufffd', 'caf\u00e9'), 'latin1');
    await raw.publishAsync(topic('events'), notUtf8, { qos: 1 });
    const hello = JSON.stringify({ head: { seq: 0, hash: ZERO_HASH } });
    await raw.publishAsync(
      topic('hello'),
      `${hello.slice(0, -1)},"head":${JSON.stringify({ seq: 0, hash: ZERO_HASH })}}`,
      {
        qos: 1,
      },
    );
    await expect.poll(() => h.ingest.totals.rejects).toBe(7);
    await h.ingest.idle();
    expect(h.ingest.devices()[0]!.rejects).toEqual({ 'malformed-events': 6, 'malformed-hello': 1 });

    // a known type whose payload does not fit: an invalid event, answered with `invalid`
    const before = acks.length;
    await raw.publishAsync(topic('events'), batch([sealedAfter(events[9]!, 'ReadingRecorded', { foo: 1 })]), {
      qos: 1,
    });
    await expect.poll(() => acks.length).toBe(before + 1);
    expect(acks.at(-1)).toMatchObject({
      upTo: 10,
      error: 'invalid',
      detail: expect.stringContaining('data.source'),
    });
    expect(h.ingest.devices()[0]!.rejects).toMatchObject({ 'invalid-event': 1 });

    // nothing of it was stored, and the real event 11 still goes in
    expect(h.log.head('pi-j')).toEqual(held);
    await raw.publishAsync(topic('events'), next, { qos: 1 });
    await expect.poll(() => h.log.head('pi-j').seq).toBe(11);
    await expect(h.log.verify('pi-j')).resolves.toMatchObject({ ok: true, events: 11 });
    const stored = [];
    for await (const e of h.log.events({ device: 'pi-j' })) stored.push(e);
    expect(stored).toEqual(events);
  });

  it('a device refuses an ack that is not I-JSON', async () => {
    const b = await broker();
    const { log, events } = await deviceEvents('pi-k', 3);
    const r = new Replicator(log, { url: b.url, fleet: 'north', ackTimeoutMs: 60_000 });
    r.start();
    cleanups.push(() => r.stop());
    await expect.poll(() => r.status().connected).toBe(true);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const ack = JSON.stringify({ upTo: 2, hash: events[1]!.hash });
    // read by JSON.parse alone this is a good ack for 2: a double "upTo" must not count
    await raw.publishAsync(deviceTopic('fieldlog', 'north', 'pi-k', 'ack'), `${ack.slice(0, -1)},"upTo":2}`, {
      qos: 1,
    });
    await expect.poll(() => r.status().rejectedAcks).toBe(1);
    expect(r.status().acked).toBeLessThan(2);
  });
});
