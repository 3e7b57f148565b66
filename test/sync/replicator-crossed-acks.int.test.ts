// Acks that cross on the way, as when several hubs share a fleet (`hub --share`): the
// device's consecutive batches reach different hubs, and the ack of an earlier batch may
// arrive after the ack of a later one. The device must take the late one for what it is,
// not as "the hub holds less" (which would send everything after it again).
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

const root = mkdtempSync(join(tmpdir(), 'fieldlog-crossed-acks-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

it('a late ack below what was acknowledged sends nothing again', async () => {
  const broker = await startBroker({ port: 0 });
  cleanups.push(() => broker.close());
  const total = 400;
  const dev = await EventLog.open(join(root, 'dev'), { device: 'pi-x', create: true, sync: false });
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

  // a hand-made hub that holds each batch's ack until the next batch came, then sends the
  // later ack first: every ack but the last arrives after one above it
  const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  const topic = (c: 'hello' | 'events' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-x', c);
  const ack = (upTo: number) =>
    raw.publish(topic('ack'), JSON.stringify({ upTo, hash: hashes[upTo] }), { qos: 1 });
  const received = new Map<number, number>();
  let held = 0;
  let pending: number | null = null;
  let crossed = 0;
  raw.on('message', (t, p) => {
    if (t === topic('hello')) return ack(held);
    const seqs = (JSON.parse(p.toString()).events as { seq: number }[]).map((e) => e.seq);
    for (const s of seqs) received.set(s, (received.get(s) ?? 0) + 1);
    if (seqs[0] !== held + 1) return; // not what comes next: dropped, the device resends
    held = seqs[seqs.length - 1]!;
    if (pending === null && held < total) {
      pending = held;
      return;
    }
    ack(held);
    if (pending !== null) {
      ack(pending);
      crossed++;
      pending = null;
    }
  });
  await raw.subscribeAsync([topic('hello'), topic('events')], { qos: 1 });

  const r = new Replicator(dev, {
    url: broker.url,
    fleet: 'north',
    batchBytes: 2048,
    window: 4,
    backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 },
  });
  r.start();
  cleanups.push(() => r.stop());
  await expect.poll(() => r.status().acked, { timeout: 20_000 }).toBe(total);
  expect(crossed).toBeGreaterThan(3);
  // every event was sent once: no late ack made the device send again what was held
  expect(received.size).toBe(total);
  expect([...received.values()].every((n) => n === 1)).toBe(true);
  expect(r.status().rejectedAcks).toBe(0);
});
