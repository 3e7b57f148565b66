// The hub's ingest and the device's acks over a real in-process broker (aedes, port 0):
// a message that is not I-JSON, or an event of a known type whose payload does not fit,
// is refused and counted, and what the hub holds stays exactly as it was.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
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
  const ingest = new Ingest(fleetStoreOver(log));
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

/** `env` with `over` applied and sealed again (a correct hash), as another writer could send it. */
function resealed(env: Envelope, over: Partial<Envelope>): Envelope {
  const out: Envelope = { ...env, ...over };
  if (over.data) out.digest = digestOf(over.data);
  out.hash = hashOf(out);
  return out;
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
    expect((await h.ingest.devices())[0]!.rejects).toEqual({ 'malformed-events': 6, 'malformed-hello': 1 });

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
    expect((await h.ingest.devices())[0]!.rejects).toMatchObject({ 'invalid-event': 1 });

    // nothing of it was stored, and the real event 11 still goes in
    expect(h.log.head('pi-j')).toEqual(held);
    await raw.publishAsync(topic('events'), next, { qos: 1 });
    await expect.poll(() => h.log.head('pi-j').seq).toBe(11);
    await expect(h.log.verify('pi-j')).resolves.toMatchObject({ ok: true, events: 11 });
    const stored = [];
    for await (const e of h.log.events({ device: 'pi-j' })) stored.push(e);
    expect(stored).toEqual(events);
  });

  it('answers `invalid` to a sealed event it cannot store exactly: dated 1969, or a payload over 16384 bytes', async () => {
    const b = await broker();
    const h = await hub(b.url);
    const { events } = await deviceEvents('pi-t', 4);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = (c: 'events' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-t', c);
    const acks: { upTo: number; hash: string; error?: string; detail?: string }[] = [];
    raw.on('message', (_, p) => acks.push(JSON.parse(p.toString())));
    await raw.subscribeAsync(topic('ack'), { qos: 1 });
    const send = async (evs: Envelope[]) => {
      const before = acks.length;
      await raw.publishAsync(topic('events'), JSON.stringify({ device: 'pi-t', events: evs }), { qos: 1 });
      await expect.poll(() => acks.length).toBe(before + 1);
      return acks.at(-1)!;
    };
    await expect(send(events.slice(0, 3))).resolves.toEqual({ upTo: 3, hash: events[2]!.hash });

    // storage keeps ms since 1970 unsigned: this one would come back dated 10889, its hash broken
    const early = resealed(events[3]!, { time: '1969-12-31T23:59:59.999Z' });
    await expect(send([early])).resolves.toMatchObject({
      upTo: 3,
      hash: events[2]!.hash,
      error: 'invalid',
      detail: expect.stringMatching(/seq 4 .*1970/),
    });
    const fill = 16384 - '{"text":""}'.length;
    const big = resealed(events[3]!, { type: 'NoteAdded', data: { text: `${'x'.repeat(fill - 1)}é` } });
    await expect(send([big])).resolves.toMatchObject({
      upTo: 3,
      error: 'invalid',
      detail: expect.stringContaining('16384'),
    });
    expect((await h.ingest.devices())[0]!.rejects).toEqual({ 'invalid-event': 2 });

    // the store is unharmed: the real event 4 goes in, and one of exactly 16384 bytes too
    const exact = resealed(events[3]!, { type: 'NoteAdded', data: { text: `${'x'.repeat(fill - 2)}é` } });
    await expect(send([exact])).resolves.toEqual({ upTo: 4, hash: exact.hash });
    await expect(h.log.verify('pi-t')).resolves.toMatchObject({ ok: true, events: 4 });
    const stored = [];
    for await (const e of h.log.events({ device: 'pi-t' })) stored.push(e);
    expect(stored).toEqual([...events.slice(0, 3), exact]);
  });

  it('stores an empty meta and a sig exactly as received, and refuses a sig or meta it would change', async () => {
    const b = await broker();
    const h = await hub(b.url);
    const { events } = await deviceEvents('pi-s', 3);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const publish = (evs: Envelope[]) =>
      raw.publishAsync(
        deviceTopic('fieldlog', 'north', 'pi-s', 'events'),
        JSON.stringify({ device: 'pi-s', events: evs }),
        {
          qos: 1,
        },
      );
    const sig = Buffer.alloc(64, 0x3e).toString('base64'); // "Pj4+…": every base64 digit group
    // what another writer hashed with `"meta":{}` is that writer's event: kept as it came
    const one = { ...resealed(events[0]!, { meta: {} }), sig };
    const rest = [resealed({ ...events[1]!, prev: one.hash }, {})];
    await publish([one, ...rest]);
    await expect.poll(() => (h.log.hasDevice('pi-s') ? h.log.head('pi-s').seq : 0)).toBe(2);

    const next = resealed({ ...events[2]!, prev: rest[0]!.hash }, {});
    for (const bad of [
      { ...next, sig: `${sig.slice(0, 85)}h==` }, // the same bytes as "…Pg==": stored, it would read back as that
      { ...next, sig: sig.slice(0, -2) }, // unpadded
      { ...next, sig: sig.replaceAll('+', '-') }, // base64url
      { ...next, sig: sig.slice(0, 84) }, // 63 bytes
      resealed(next, { meta: { actor: 'system', n: 5 } as unknown as Record<string, string> }),
    ]) {
      await publish([bad]);
    }
    await expect.poll(() => h.ingest.totals.rejects).toBe(5);
    await h.ingest.idle();
    expect(h.log.head('pi-s').seq).toBe(2);
    await publish([{ ...next, sig }]);
    await expect.poll(() => h.log.head('pi-s').seq).toBe(3);
    const stored = [];
    for await (const e of h.log.events({ device: 'pi-s' })) stored.push(e);
    expect(stored).toEqual([one, ...rest, { ...next, sig }]);
    expect(JSON.stringify(stored[0])).toContain('"meta":{}');
    await expect(h.log.verify('pi-s')).resolves.toMatchObject({ ok: true, events: 3 });
  });

  it('acks only what is on disk: a gap or an invalid batch met while a write is held does not claim it', async () => {
    const b = await broker();
    const h = await hub(b.url);
    const { events } = await deviceEvents('pi-d', 12);
    const raw = await mqtt.connectAsync(b.url, { protocolVersion: 4 });
    cleanups.push(() => raw.endAsync(true));
    const topic = (c: 'events' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-d', c);
    const acks: { upTo: number; hash: string; error?: string }[] = [];
    raw.on('message', (_, p) => acks.push(JSON.parse(p.toString())));
    await raw.subscribeAsync(topic('ack'), { qos: 1 });
    const publish = (evs: Envelope[]) =>
      raw.publishAsync(topic('events'), JSON.stringify({ device: 'pi-d', events: evs }), { qos: 1 });
    await publish(events.slice(0, 5));
    await expect.poll(() => acks.length).toBe(1);
    expect(acks[0]).toEqual({ upTo: 5, hash: events[4]!.hash });

    // hold the hub's next write to disk open
    const store = h.log.disk;
    const write = store.write.bind(store);
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    store.write = async (ops) => {
      await gate;
      return write(ops);
    };
    try {
      await publish(events.slice(5, 10));
      await expect.poll(() => h.log.pendingHead('pi-d').seq).toBe(10);
      expect(h.log.head('pi-d').seq).toBe(5);
      await publish([events[11]!]); // a gap after 10
      await expect.poll(() => acks.length).toBe(2);
      await publish([resealed(events[10]!, { data: { foo: 1 } })]); // 11, not a reading
      await expect.poll(() => acks.length).toBe(3);
      // both answer with what is durable, not with the 6–10 still waiting for the disk
      expect(acks.slice(1)).toEqual([
        expect.objectContaining({ upTo: 5, hash: events[4]!.hash, error: 'gap' }),
        expect.objectContaining({ upTo: 5, hash: events[4]!.hash, error: 'invalid' }),
      ]);
      open();
      await expect.poll(() => acks.length).toBe(4);
      expect(acks[3]).toEqual({ upTo: 10, hash: events[9]!.hash });
    } finally {
      open();
      store.write = write;
    }
    await publish(events.slice(10));
    await expect.poll(() => h.log.head('pi-d').seq).toBe(12);
    await expect(h.log.verify('pi-d')).resolves.toMatchObject({ ok: true, events: 12 });
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
