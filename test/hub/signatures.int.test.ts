// The hub's signature rules (docs/protocol.md §10) over a real in-process broker (aedes, port 0)
// and a real LevelDB fleet store: each rule, what the device is answered, what is counted, and
// that a refused batch never touches what the store holds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import { type EnrolmentOptions, SignatureGate } from '../../src/hub/signatures.js';
import type { Envelope } from '../../src/log/envelope.js';
import { generateIdentity, signHash } from '../../src/log/signing.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { forgedAfter, type SignedDevice, signedDevice } from '../support/signed-chain.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-signatures-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

interface Ack {
  upTo: number;
  hash: string;
  error?: string;
  detail?: string;
}

async function broker(): Promise<EmbeddedBroker> {
  const b = await startBroker({ port: 0 });
  cleanups.push(() => b.close());
  return b;
}

/** A hub (ingest + LevelDB store in `dir`) with these enrolment options. */
async function hub(url: string, opts: EnrolmentOptions, dir = join(root, `hub-${n++}`)) {
  const store = await openLevelFleetStore(dir, { create: true, sync: false });
  const gate = new SignatureGate(opts);
  const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
  const ingest = new Ingest(store, { gate });
  await ingest.attach(client);
  const stop = async () => {
    ingest.detach();
    await client.endAsync(true);
    await ingest.idle();
    await store.close();
  };
  cleanups.push(stop);
  const rejects = async (device: string) =>
    (await ingest.devices()).find((d) => d.device === device)?.rejects ?? {};
  return { store, gate, ingest, dir, stop, rejects };
}

/** What a device (or anyone holding its MQTT credential) publishes, and the acks it gets. */
async function publisher(url: string, device: string) {
  const raw = await mqtt.connectAsync(url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  const topic = (c: 'events' | 'ack') => deviceTopic('fieldlog', 'north', device, c);
  const acks: Ack[] = [];
  raw.on('message', (_, p) => acks.push(JSON.parse(p.toString()) as Ack));
  await raw.subscribeAsync(topic('ack'), { qos: 1 });
  return async (events: Envelope[]): Promise<Ack> => {
    const before = acks.length;
    await raw.publishAsync(topic('events'), JSON.stringify({ device, events }), { qos: 1 });
    await expect.poll(() => acks.length).toBe(before + 1);
    return acks.at(-1)!;
  };
}

async function held(store: FleetStore, device: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const chunk of store.events({ device })) out.push(...chunk.map((s) => s.event));
  return out;
}

async function enrolledDevice(device: string): Promise<SignedDevice> {
  const d = await signedDevice(device);
  await d.readings(9); // seqs 2..10
  return d;
}

describe('the hub stores an enrolled device only as far as its signatures go', () => {
  it('stores a batch ending on a valid signature; an unsigned tail waits, unacknowledged', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-1');
    const h = await hub(b.url, { keys: new Map([['sg-1', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-1');
    const all = await d.events();
    await expect(send(await d.batch(1, 6))).resolves.toEqual({ upTo: 6, hash: all[5]!.hash });
    // 7..10 with only 8 signed: 7..8 are stored, 9..10 wait (the ack names 8, no error)
    const mixed = (await d.batch(7, 8)).concat(all.slice(8, 10));
    await expect(send(mixed)).resolves.toEqual({ upTo: 8, hash: all[7]!.hash });
    expect((await h.store.head('sg-1')).seq).toBe(8);
    // nothing signed at all: nothing stored, the ack names what is held
    await expect(send(all.slice(8, 10))).resolves.toEqual({ upTo: 8, hash: all[7]!.hash });
    expect(h.ingest.totals.waiting).toBe(4);
    await expect(send(await d.batch(9, 10))).resolves.toEqual({ upTo: 10, hash: all[9]!.hash });
    expect(await h.rejects('sg-1')).toEqual({});
    // the stored copy carries the signatures it was sent with
    const stored = await held(h.store, 'sg-1');
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(stored.filter((e) => e.sig !== undefined).map((e) => e.seq)).toEqual([1, 6, 8, 10]);
  });

  it('refuses a forged event with a valid chain and a signature by another key; counts it; stores nothing', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-2');
    const h = await hub(b.url, { keys: new Map([['sg-2', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-2');
    const all = await d.events();
    await send(await d.batch(1, 5));
    const forged = forgedAfter(all[4]!, 99);
    const thief = generateIdentity();
    await expect(send([{ ...forged, sig: signHash(thief.privateKey, forged.hash) }])).resolves.toMatchObject({
      upTo: 5,
      hash: all[4]!.hash,
      error: 'invalid',
      detail: expect.stringContaining('bad-signature'),
    });
    // unsigned, it waits forever: never stored, never acknowledged
    await expect(send([forged])).resolves.toEqual({ upTo: 5, hash: all[4]!.hash });
    expect(await h.rejects('sg-2')).toEqual({ 'bad-signature': 1 });
    expect((await held(h.store, 'sg-2')).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    // the device's own next batch still goes in
    await expect(send(await d.batch(6, 10))).resolves.toMatchObject({ upTo: 10 });
  });

  it('follows a rotation signed by the old key, also across a restart; refuses one that is not', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-3');
    const first = d.identity.publicKey;
    const dir = join(root, `hub-${n++}`);
    let h = await hub(b.url, { keys: new Map([['sg-3', first]]) }, dir);
    const send = await publisher(b.url, 'sg-3');
    await send(await d.batch(1, 10));
    await d.rotate(); // 11
    await d.readings(3); // 12..14, signed by the new key
    await expect(send(await d.batch(11, 12))).resolves.toMatchObject({ upTo: 12 });
    expect(await h.store.keyRecord('sg-3')).toEqual({
      publicKey: d.identity.publicKey,
      keys: [first, d.identity.publicKey],
      bound: null,
    });
    // a restarted hub (same keys file, naming the first key) continues from the stored key in force
    await h.stop();
    h = await hub(b.url, { keys: new Map([['sg-3', first]]) }, dir);
    await expect(send(await d.batch(13, 14))).resolves.toMatchObject({ upTo: 14 });
    // a rotation not signed by the key in force is refused
    await d.rotate(false); // 15
    await d.readings(1);
    await expect(send(await d.batch(15, 16))).resolves.toMatchObject({
      upTo: 14,
      error: 'invalid',
      detail: expect.stringContaining('key-change-unsigned'),
    });
    expect(await h.rejects('sg-3')).toEqual({ 'key-change-unsigned': 1 });
    expect((await h.store.head('sg-3')).seq).toBe(14);
  });

  it('refuses a device presenting another key than its enrolled one, until it is re-enrolled', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-4');
    const h = await hub(b.url, { keys: new Map([['sg-4', generateIdentity().publicKey]]) });
    const send = await publisher(b.url, 'sg-4');
    await expect(send(await d.batch(1, 10))).resolves.toMatchObject({
      upTo: 0,
      error: 'invalid',
      detail: expect.stringContaining('key-mismatch'),
    });
    expect(await h.rejects('sg-4')).toEqual({ 'key-mismatch': 1 });
    expect((await h.store.head('sg-4')).seq).toBe(0);
    h.gate.setKeys(new Map([['sg-4', d.identity.publicKey]]));
    await expect(send(await d.batch(1, 10))).resolves.toMatchObject({ upTo: 10 });
  });

  it('a replaced key (a second DeviceKeyAdded) is refused until the keys file names the new key', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-5');
    const h = await hub(b.url, { keys: new Map([['sg-5', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-5');
    await send(await d.batch(1, 10));
    // the key file replaced: the device starts over with a new key, not signed by the old one
    const other = generateIdentity();
    await d.log.append({ type: 'DeviceKeyAdded', data: { alg: 'ed25519', publicKey: other.publicKey } });
    await d.readings(2);
    const rest = (await d.events())
      .slice(10, 13)
      .map((e, i) => (i === 0 || i === 2 ? { ...e, sig: signHash(other.privateKey, e.hash) } : e));
    await expect(send(rest)).resolves.toMatchObject({
      upTo: 10,
      error: 'invalid',
      detail: expect.stringContaining('key-change-unsigned'),
    });
    // an event signed by the new key without a key event: not by the key in force
    const plain = forgedAfter((await d.events())[9]!, 5);
    await expect(send([{ ...plain, sig: signHash(other.privateKey, plain.hash) }])).resolves.toMatchObject({
      upTo: 10,
      error: 'invalid',
      detail: expect.stringContaining('bad-signature'),
    });
    expect(await h.rejects('sg-5')).toEqual({ 'key-change-unsigned': 1, 'bad-signature': 1 });
    h.gate.setKeys(new Map([['sg-5', other.publicKey]]));
    await expect(send(rest)).resolves.toMatchObject({ upTo: 13 });
    expect((await h.store.keyRecord('sg-5')).publicKey).toBe(other.publicKey);
  });

  it('a replayed signed batch changes nothing', async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-6');
    const h = await hub(b.url, { keys: new Map([['sg-6', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-6');
    const old = await d.batch(1, 5);
    await send(old);
    await send(await d.batch(6, 10));
    const before = await held(h.store, 'sg-6');
    const all = await d.events();
    await expect(send(old)).resolves.toEqual({ upTo: 10, hash: all[9]!.hash });
    expect(await held(h.store, 'sg-6')).toEqual(before);
    expect(await h.rejects('sg-6')).toEqual({});
  });

  it("quarantines a fork only when its batch ends on the device's signature; a forged fork is refused, nothing kept", async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-9');
    const h = await hub(b.url, { keys: new Map([['sg-9', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-9');
    const all = await d.events();
    await send(await d.batch(1, 10));
    const quarantined = async () => {
      const out: number[] = [];
      for await (const q of h.store.quarantined('sg-9')) out.push(q.seq);
      return out;
    };
    const head = { upTo: 10, hash: all[9]!.hash };
    // a different seq 6 from someone with the device's MQTT access: unsigned, by another key,
    // or followed by the device's own signed seq 7 (which does not link to it)
    const forged = forgedAfter(all[4]!, 99);
    await expect(send([forged])).resolves.toMatchObject({
      ...head,
      error: 'invalid',
      detail: expect.stringContaining('unsigned'),
    });
    const thief = generateIdentity();
    await expect(send([{ ...forged, sig: signHash(thief.privateKey, forged.hash) }])).resolves.toMatchObject({
      ...head,
      error: 'invalid',
      detail: expect.stringContaining('bad-signature'),
    });
    const borrowed = (await d.batch(7, 7))[0]!;
    await expect(send([forged, borrowed])).resolves.toMatchObject({
      ...head,
      error: 'invalid',
      detail: expect.stringContaining('bad-signature'),
    });
    expect(await h.rejects('sg-9')).toEqual({ unsigned: 1, 'bad-signature': 2 });
    expect(await quarantined()).toEqual([]);
    expect(h.ingest.totals.forks).toBe(0);
    expect((await held(h.store, 'sg-9')).map((e) => e.hash)).toEqual(all.map((e) => e.hash));
    // the device itself forked (a restored backup wrote another seq 6): signed by its key, kept aside
    const own = forgedAfter(all[4]!, 98, signHash(d.identity.privateKey, forgedAfter(all[4]!, 98).hash));
    await expect(send([own])).resolves.toMatchObject({ ...head, error: 'fork' });
    expect(await quarantined()).toEqual([6]);
    expect(h.ingest.totals.forks).toBe(1);
    expect((await held(h.store, 'sg-9')).map((e) => e.hash)).toEqual(all.map((e) => e.hash));
  });

  it("after a rotation, a fork signed by the old key or the new one is the device's: quarantined", async () => {
    const b = await broker();
    const d = await enrolledDevice('sg-10');
    const old = d.identity;
    const h = await hub(b.url, { keys: new Map([['sg-10', old.publicKey]]) });
    const send = await publisher(b.url, 'sg-10');
    await send(await d.batch(1, 10));
    await d.rotate(); // 11
    await d.readings(2); // 12..13
    await expect(send(await d.batch(11, 13))).resolves.toMatchObject({ upTo: 13 });
    const all = await d.events();
    const byOld = forgedAfter(all[4]!, 97);
    const byNew = forgedAfter(all[11]!, 96);
    await expect(send([{ ...byOld, sig: signHash(old.privateKey, byOld.hash) }])).resolves.toMatchObject({
      error: 'fork',
    });
    await expect(
      send([{ ...byNew, sig: signHash(d.identity.privateKey, byNew.hash) }]),
    ).resolves.toMatchObject({
      error: 'fork',
    });
    const seqs: number[] = [];
    for await (const q of h.store.quarantined('sg-10')) seqs.push(q.seq);
    expect(seqs.sort((x, y) => x - y)).toEqual([6, 13]);
    expect(await h.rejects('sg-10')).toEqual({});
  });

  it('accepts an old log whose unsigned prefix ends in its key event, or is signed by the enrolled key', async () => {
    const b = await broker();
    const d = await signedDevice('sg-7', { unsigned: 4 });
    await d.readings(2); // 6..7
    const h = await hub(b.url, { keys: new Map([['sg-7', d.identity.publicKey]]) });
    const send = await publisher(b.url, 'sg-7');
    await expect(send(await d.batch(1, 3))).resolves.toMatchObject({ upTo: 3 });
    await expect(send(await d.batch(4, 7))).resolves.toMatchObject({ upTo: 7 });
    expect(await h.rejects('sg-7')).toEqual({});
  });
});

describe('unenrolled devices, --require-signatures and --tofu', () => {
  it('stores an unenrolled device as before, and keeps its key record', async () => {
    const b = await broker();
    const d = await enrolledDevice('un-1');
    const h = await hub(b.url, {});
    const send = await publisher(b.url, 'un-1');
    const all = await d.events();
    await expect(send(all.slice(0, 10))).resolves.toMatchObject({ upTo: 10 });
    expect(await h.store.keyRecord('un-1')).toEqual({
      publicKey: d.identity.publicKey,
      keys: [d.identity.publicKey],
      bound: null,
    });
  });

  it('refuses an unenrolled device with --require-signatures: unsigned, or with a key nobody enrolled', async () => {
    const b = await broker();
    const d = await enrolledDevice('un-2');
    const h = await hub(b.url, { requireSignatures: true });
    const send = await publisher(b.url, 'un-2');
    const plain = forgedAfter({ ...(await d.events())[0]!, seq: 0, hash: '0'.repeat(64) }, 1);
    await expect(send([plain])).resolves.toMatchObject({
      upTo: 0,
      error: 'invalid',
      detail: expect.stringContaining('unsigned'),
    });
    await expect(send(await d.batch(1, 10))).resolves.toMatchObject({
      upTo: 0,
      error: 'invalid',
      detail: expect.stringContaining('key-unknown'),
    });
    expect(await h.rejects('un-2')).toEqual({ unsigned: 1, 'key-unknown': 1 });
    expect(await h.store.heads()).toEqual([]);
  });

  it('--tofu binds the first key presented, in the store, across a restart; another key is refused', async () => {
    const b = await broker();
    const d = await enrolledDevice('tf-1');
    const dir = join(root, `hub-${n++}`);
    let h = await hub(b.url, { tofu: true, requireSignatures: true }, dir);
    const send = await publisher(b.url, 'tf-1');
    await expect(send(await d.batch(1, 5))).resolves.toMatchObject({ upTo: 5 });
    expect(await h.store.keyRecord('tf-1')).toMatchObject({ bound: d.identity.publicKey });
    await h.stop();
    h = await hub(b.url, { tofu: true }, dir);
    // an impostor with the credential and its own key, as a new DeviceKeyAdded
    const impostor = generateIdentity();
    const e = forgedAfter((await d.events())[4]!, 1);
    const fake = { ...e, type: 'DeviceKeyAdded', data: { alg: 'ed25519', publicKey: impostor.publicKey } };
    const { digestOf, hashOf } = await import('../../src/log/envelope.js');
    fake.digest = digestOf(fake.data);
    fake.hash = hashOf(fake);
    fake.sig = signHash(impostor.privateKey, fake.hash);
    await expect(send([fake])).resolves.toMatchObject({ upTo: 5, error: 'invalid' });
    expect(Object.keys(await h.rejects('tf-1'))).toEqual(['key-change-unsigned']);
    await expect(send(await d.batch(6, 10))).resolves.toMatchObject({ upTo: 10 });
  });
});
