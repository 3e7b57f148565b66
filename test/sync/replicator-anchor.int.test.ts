// A hub that holds less than the device pruned (restored from an old copy): its ack names a
// seq below the anchor, whose hash the device no longer has. The device says so in one line,
// however often the hub answers with a gap, and sends from the anchor on: never the pruned
// events (gone), never nothing. Real LevelDB, the in-process broker and a hand-made hub.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { EventLog } from '../../src/log/event-log.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { Replicator } from '../../src/sync/replicator.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-replicator-anchor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

it('says once that the hub holds less than was pruned, and sends from the anchor', async () => {
  const broker = await startBroker({ port: 0 });
  cleanups.push(() => broker.close());
  const dev = await EventLog.open(join(root, 'dev'), { device: 'pi-x', create: true, sync: false });
  cleanups.push(() => dev.close());
  await dev.appendMany(
    Array.from({ length: 400 }, (_, k) => ({
      type: 'ReadingRecorded' as const,
      data: { source: 'n', sensor: 't', value: k },
      meta: { actor: 'sensor:n' },
    })),
  );
  const hash100 = await dev.hashAt(100);
  await dev.prune(300);

  // the restored hub holds 1..100 and answers every batch with a gap at 100
  const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  const topic = (c: 'hello' | 'events' | 'ack') => deviceTopic('fieldlog', 'north', 'pi-x', c);
  const firstSeqs: number[] = [];
  raw.on('message', (t, p) => {
    if (t === topic('hello'))
      return raw.publish(topic('ack'), JSON.stringify({ upTo: 100, hash: hash100 }), { qos: 1 });
    firstSeqs.push((JSON.parse(p.toString()).events as { seq: number }[])[0]!.seq);
    raw.publish(topic('ack'), JSON.stringify({ upTo: 100, hash: hash100, error: 'gap' }), { qos: 1 });
  });
  await raw.subscribeAsync([topic('hello'), topic('events')], { qos: 1 });

  const r = new Replicator(dev, {
    url: broker.url,
    fleet: 'north',
    backoff: { initialMs: 10, maxMs: 100, jitter: 0 },
  });
  const said: string[] = [];
  r.on('behind-anchor', (line: string) => said.push(line));
  const holds: number[] = [];
  r.on('hub-holds', (seq: number) => holds.push(seq));
  const rejected: string[] = [];
  r.on('rejected-ack', (why: string) => rejected.push(why));
  r.start();
  cleanups.push(() => r.stop());
  await expect.poll(() => firstSeqs.length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
  expect(new Set(firstSeqs)).toEqual(new Set([301]));
  expect(said).toEqual([
    'the hub holds seqs up to 100, but seqs 1..300 were pruned here after a hub acknowledged them: sending from seq 301',
  ]);
  expect(r.status().lastError).toBe(said[0]);
  expect(rejected).toEqual([]);
  // what retention follows: the hub holds 100, less than was acknowledged before
  expect(new Set(holds)).toEqual(new Set([100]));
});
