// The device sends short envelopes (docs/protocol.md §10.7) only to a hub that said, on this
// connection, that it takes them; whole ones to a hub of an earlier release, and again after
// an ack timeout (a hub of an earlier release sharing the fleet drops short ones unanswered).
// Hand-made hubs on aedes, a real LevelDB log.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-short-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

type Sent = Record<string, unknown> & { seq: number };

/**
 * A device with `total` readings, a hand-made hub on the broker and the device's replicator.
 * `hub.onEvents` decides what the hub does with each batch (`ack` it, or nothing); `hub.time`
 * publishes the hub's time with `accepts`.
 */
async function setUp(name: string, total: number, ackTimeoutMs = 600_000) {
  const broker = await startBroker({ port: 0 });
  cleanups.push(() => broker.close());
  const dev = await EventLog.open(join(root, name), { device: name, create: true, sync: false });
  cleanups.push(() => dev.close());
  await dev.appendMany(
    Array.from({ length: total }, (_, k) => ({
      type: 'ReadingRecorded' as const,
      data: { source: 'n', sensor: 't', value: k },
      meta: { actor: 'sensor:n' },
    })),
  );
  const hashes = [ZERO_HASH];
  for await (const e of dev.events()) hashes.push(e.hash);
  const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  const topic = (c: 'hello' | 'events' | 'ack' | 'time') => deviceTopic('fieldlog', 'north', name, c);
  const hub = {
    batches: [] as Sent[][],
    held: 0,
    /** What the hub says with its time (undefined: a hub before issue 13 says no time at all). */
    accepts: undefined as string[] | undefined,
    onEvents: (_b: Sent[]) => true as boolean,
    ack: (upTo: number) =>
      raw.publish(topic('ack'), JSON.stringify({ upTo, hash: hashes[upTo] }), { qos: 1 }),
    time: () => {
      if (hub.accepts === undefined) return;
      raw.publish(topic('time'), JSON.stringify({ time: new Date().toISOString(), accepts: hub.accepts }), {
        qos: 0,
      });
    },
  };
  raw.on('message', (t, p) => {
    if (t === topic('hello')) {
      hub.time();
      hub.ack(hub.held);
      return;
    }
    const batch = (JSON.parse(p.toString()) as { events: Sent[] }).events;
    hub.batches.push(batch);
    if (batch[0]!.seq !== hub.held + 1 || !hub.onEvents(batch)) return;
    hub.held = batch.at(-1)!.seq;
    hub.ack(hub.held);
  });
  await raw.subscribeAsync([topic('hello'), topic('events')], { qos: 1 });
  const r = new Replicator(dev, {
    url: broker.url,
    fleet: 'north',
    batchBytes: 2048,
    window: 1,
    ackTimeoutMs,
    backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 },
  });
  cleanups.push(() => r.stop());
  return { hub, r };
}

const isWhole = (b: Sent[]) => b.every((e) => 'device' in e && 'prev' in e && 'digest' in e);
const isShort = (b: Sent[]) =>
  'prev' in b[0]! && b.every((e, i) => !('device' in e) && !('digest' in e) && (i === 0 || !('prev' in e)));

it('sends whole envelopes to a hub that does not say it takes short ones', async () => {
  for (const accepts of [undefined, [], ['something-else']]) {
    const { hub, r } = await setUp(`pi-old-${accepts?.length ?? 'none'}`, 60);
    hub.accepts = accepts;
    r.start();
    await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(60);
    expect(hub.batches.length).toBeGreaterThan(3);
    for (const b of hub.batches) expect(isWhole(b), JSON.stringify(b[0])).toBe(true);
    await r.stop();
  }
});

it('sends short envelopes once the hub says it takes them, the first of each batch with its prev', async () => {
  const { hub, r } = await setUp('pi-new', 60);
  hub.accepts = ['short-envelopes'];
  r.start();
  await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(60);
  expect(hub.batches.length).toBeGreaterThan(3);
  // the time comes before the answer to hello: every batch is short
  for (const b of hub.batches) expect(isShort(b), JSON.stringify(b.slice(0, 2))).toBe(true);
});

it('goes back to whole envelopes after an ack timeout, until the hub says again', async () => {
  const { hub, r } = await setUp('pi-mixed', 60, 300);
  hub.accepts = ['short-envelopes'];
  // the first short batch goes unanswered, as with a hub of an earlier release sharing the
  // fleet; the hub that takes the whole one then says again that it takes short ones
  hub.onEvents = (b) => {
    if (isShort(b)) return hub.batches.length > 1;
    hub.time();
    return true;
  };
  r.start();
  await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(60);
  const kinds = hub.batches.map((b) => (isShort(b) ? 'short' : isWhole(b) ? 'whole' : 'other'));
  expect(kinds.length).toBeGreaterThan(4);
  expect(kinds).toEqual(['short', 'whole', ...kinds.slice(2).map(() => 'short')]);
  // the batch sent again after the timeout is the one that went unanswered
  expect(hub.batches[1]![0]!.seq).toBe(1);
});
