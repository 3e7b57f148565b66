// A signing device's replication batches end on a signature (docs/protocol.md §10): the
// replicator cuts a batch back to its last signed event, and signs the last event at send
// time when a batch holds none (one group commit larger than a batch). A log without a key
// replicates as before, unsigned. Real LevelDB logs, aedes in-process, the real ingest.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, expect, it } from 'vitest';
import { type EmbeddedBroker, startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../../src/log/event-log.js';
import { generateIdentity, type Identity, verifySig } from '../../src/log/signing.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { Replicator, type ReplicatorOptions } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sync-signing-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A loaded machine (2 cores, several test runs) can take seconds to carry a few batches. */
const settle = { timeout: 30_000, interval: 50 };

interface Sent {
  seq: number;
  hash: string;
  sig?: string;
}

const notes = (n: number, tag: string) =>
  Array.from({ length: n }, (_, k) => ({ type: 'NoteAdded', data: { text: `${tag}${k}` } }));

/** Which seqs of a log carry a stored signature. */
async function signedSeqs(log: EventLog, device?: string): Promise<number[]> {
  const out: number[] = [];
  for await (const chunk of log.eventsJson({ device })) for (const e of chunk) if (e.signed) out.push(e.seq);
  return out;
}

/**
 * Replicate `dev` to a hub (a LevelDB fleet log behind the real ingest) and return every
 * batch the device published, in order, as the hub's copy once it holds the whole log.
 */
async function replicate(
  dev: EventLog,
  device: string,
  opts: Partial<ReplicatorOptions>,
): Promise<{ batches: Sent[][]; hubSigned: number[] }> {
  const broker: EmbeddedBroker = await startBroker({ port: 0 });
  const hubLog = await EventLog.open(join(root, `hub-${device}`), { create: true, fleet: true });
  const hubClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const ingest = new Ingest(fleetStoreOver(hubLog));
  await ingest.attach(hubClient);
  // a bystander on the events topic sees exactly what the device publishes
  const watcher: MqttClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  const batches: Sent[][] = [];
  watcher.on('message', (_topic, body) => {
    batches.push((JSON.parse(body.toString()) as { events: Sent[] }).events);
  });
  await watcher.subscribeAsync(deviceTopic('fieldlog', 'north', device, 'events'), { qos: 1 });
  // a window of one and no ack timeout to speak of: each batch is sent once, in order
  const r = new Replicator(dev, {
    url: broker.url,
    fleet: 'north',
    window: 1,
    ackTimeoutMs: 600_000,
    ...opts,
  });
  try {
    r.start();
    await expect
      .poll(() => (hubLog.hasDevice(device) ? hubLog.head(device) : null), settle)
      .toEqual(dev.head());
    await expect.poll(() => batches.flat().at(-1)?.seq, settle).toBe(dev.head().seq);
    return { batches, hubSigned: await signedSeqs(hubLog, device) };
  } finally {
    await r.stop();
    ingest.detach();
    await watcher.endAsync(true);
    await hubClient.endAsync(true);
    await ingest.idle();
    await broker.close();
    await hubLog.close();
  }
}

const ranges = (batches: Sent[][]) => batches.map((b): [number, number] => [b[0]!.seq, b.at(-1)!.seq]);

function expectEachEndsSigned(batches: Sent[][], id: Identity): void {
  for (const b of batches) {
    const last = b.at(-1)!;
    expect(last.sig, `batch ending at ${last.seq}`).toMatch(/^[A-Za-z0-9+/]{86}==$/);
    expect(verifySig(id.publicKey, last.hash, last.sig!)).toBe(true);
  }
}

it('cuts batches back to their last signed event and signs at send time when a batch has none', async () => {
  const id = generateIdentity();
  const dev = await EventLog.open(join(root, 'dev-cut'), { device: 'pi-sig', create: true, sync: false });
  try {
    await dev.appendKeyEvent('DeviceKeyAdded', id); // seq 1, signed by its own key
    await dev.appendMany(notes(3, 'a')); // 2..4, 4 signed
    await dev.appendMany(notes(4, 'b')); // 5..8, 8 signed
    await dev.appendMany(notes(12, 'c')); // 9..20: one group commit larger than a batch
    expect(await signedSeqs(dev)).toEqual([1, 4, 8, 20]);

    const { batches, hubSigned } = await replicate(dev, 'pi-sig', { batchEvents: 5 });
    // 1..5 is cut back to 4, 5..9 to 8; 9..13 and 14..18 have no signed event: signed when sent
    expect(ranges(batches)).toEqual([
      [1, 4],
      [5, 8],
      [9, 13],
      [14, 18],
      [19, 20],
    ]);
    expectEachEndsSigned(batches, id);
    // only the batch ends carry a sig; the send-time ones are in the hub's copy, not the device's
    const sentSigned = batches.flat().flatMap((e) => (e.sig === undefined ? [] : [e.seq]));
    expect(sentSigned).toEqual([1, 4, 8, 13, 18, 20]);
    expect(await signedSeqs(dev)).toEqual([1, 4, 8, 20]);
    expect(hubSigned).toEqual([1, 4, 8, 13, 18, 20]);
  } finally {
    await dev.close();
  }
});

it('ends on a signature when batchBytes is what cuts the batch', async () => {
  const id = generateIdentity();
  const dev = await EventLog.open(join(root, 'dev-bytes'), { device: 'pi-bytes', create: true, sync: false });
  try {
    await dev.appendKeyEvent('DeviceKeyAdded', id);
    await dev.appendMany(notes(2, 'a')); // 2..3
    await dev.appendMany(notes(9, 'b')); // 4..12
    expect(await signedSeqs(dev)).toEqual([1, 3, 12]);
    // room for about four events a batch, whatever the batchEvents: short envelopes (the hub
    // takes them, docs/protocol.md §10.7), the first of a batch with its prev. The first
    // batches may go whole (larger) if the hub's time, QoS 0, comes late or not at all
    let size = 0;
    for await (const chunk of dev.eventsJson({ fromSeq: 4, toSeq: 4, short: true }))
      size = chunk[0]!.json.length + 1;
    const { batches } = await replicate(dev, 'pi-bytes', { batchEvents: 1000, batchBytes: size * 4 + 90 });
    const r = ranges(batches);
    // in order and contiguous, from 1 to 12
    expect(r.map(([a]) => a)).toEqual([1, ...r.slice(0, -1).map(([, b]) => b + 1)]);
    expect(r.at(-1)![1]).toBe(12);
    // cut by bytes: none holds more than four events, so 4..12 (one group commit, signed only
    // at 12) went in several batches, each signed at its end when it was sent
    for (const [a, b] of r) expect(b - a + 1).toBeLessThanOrEqual(4);
    expect(r.filter(([, b]) => ![1, 3, 12].includes(b)).length).toBeGreaterThanOrEqual(2);
    expectEachEndsSigned(batches, id);
  } finally {
    await dev.close();
  }
});

it('replicates an old log that has a key only from some seq on: its unsigned prefix goes unsigned', async () => {
  const id = generateIdentity();
  const dev = await EventLog.open(join(root, 'dev-old-then-key'), {
    device: 'pi-late',
    create: true,
    sync: false,
  });
  try {
    await dev.appendMany(notes(7, 'old')); // 1..7, before any key
    await dev.appendKeyEvent('DeviceKeyAdded', id); // 8
    await dev.appendMany(notes(4, 'new')); // 9..12, 12 signed
    const { batches } = await replicate(dev, 'pi-late', { batchEvents: 5 });
    expect(ranges(batches)).toEqual([
      [1, 5],
      [6, 8],
      [9, 12],
    ]);
    expect(batches[0]!.some((e) => e.sig !== undefined)).toBe(false);
    expectEachEndsSigned(batches.slice(1), id);
  } finally {
    await dev.close();
  }
});

it('replicates a log without a key as before: batches by size, no sig anywhere', async () => {
  const dev = await EventLog.open(join(root, 'dev-nokey'), { device: 'pi-plain', create: true, sync: false });
  try {
    await dev.appendMany(notes(4, 'a'));
    await dev.appendMany(notes(8, 'b'));
    const { batches, hubSigned } = await replicate(dev, 'pi-plain', { batchEvents: 5 });
    expect(ranges(batches)).toEqual([
      [1, 5],
      [6, 10],
      [11, 12],
    ]);
    expect(batches.flat().some((e) => e.sig !== undefined)).toBe(false);
    expect(hubSigned).toEqual([]);
  } finally {
    await dev.close();
  }
});
