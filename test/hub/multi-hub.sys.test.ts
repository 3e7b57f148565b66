// Several `fieldlog hub --store postgres://… --share g` processes in front of one throw-away
// PostgreSQL cluster, behind a real mosquitto, with a real `fieldlog sim fleet` process of
// devices coming back with backlogs. Faults mid-stream: a hub SIGKILLed, PostgreSQL
// restarted, the broker restarted. Each run ends with every device's copy in the store
// exact (count and head hash of the device's own log) and `fieldlog hub verify` exit 0;
// throughout, every ack a device receives names events the store had already committed.
// And the live feed of one hub carries what the others ingested, without skip or repeat.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { startMosquitto, type TestMosquitto } from '../support/mosquitto.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-multi-hub-'));
let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
  // each transaction's commit time, so that an ack can be compared with its commit
  const c = new pg.Client({ connectionString: cluster.url });
  await c.connect();
  await c.query('ALTER SYSTEM SET track_commit_timestamp = on');
  await c.end();
  await cluster.restart();
});
afterAll(async () => {
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});
const procs: Proc[] = [];
const brokers: TestMosquitto[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await killAll(procs);
  await Promise.all(brokers.splice(0).map((b) => b.stop()));
  for (const c of cleanups.splice(0)) await c();
});

const DEVICES = 6;
const BACKLOG = 1200;
const ids = Array.from({ length: DEVICES }, (_, i) => `sim-${String(i + 1).padStart(4, '0')}`);

const start = startInto(procs);

async function broker(): Promise<TestMosquitto> {
  const b = await startMosquitto(root);
  brokers.push(b);
  return b;
}

interface Hub {
  proc: Proc;
  base: string;
}

async function hub(store: string, mqttUrl: string): Promise<Hub> {
  const proc = start(['hub', '--store', store, '--mqtt', mqttUrl, '--share', 'g', '--http', '0']);
  const base = /http:\/\/[^\s,]+/.exec(await proc.waitFor(/http http:\/\//))![0];
  await proc.waitFor(/connected to/);
  return { proc, base };
}

function simFleet(mqttUrl: string, devDir: string, seed: number): Proc {
  return start([
    'sim',
    'fleet',
    '--devices',
    String(DEVICES),
    '--rate',
    '2',
    '--backlog',
    String(BACKLOG),
    '--mqtt',
    mqttUrl,
    '--data',
    devDir,
    '--seed',
    String(seed),
    '--drain',
    '120',
  ]);
}

/** The store's heads, through a hub's HTTP API (empty while that hub cannot answer). */
async function heads(h: Hub): Promise<Map<string, number>> {
  try {
    const body = (await (await fetch(`${h.base}/devices`)).json()) as {
      devices: { device: string; head: { seq: number } }[];
    };
    return new Map(body.devices.map((d) => [d.device, d.head.seq]));
  } catch {
    return new Map();
  }
}

async function stored(h: Hub): Promise<number> {
  let n = 0;
  for (const seq of (await heads(h)).values()) n += seq;
  return n;
}

/** One Prometheus sample of a hub's /metrics (0 when absent). */
async function metric(h: Hub, name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${h.base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.split(' ')[1]);
}

/**
 * Watch every ack on the broker and check that the store had committed what it names before
 * the ack was seen: the event at upTo is there with the ack's hash, and its transaction's
 * commit time (track_commit_timestamp) is not after the moment the ack arrived. An ack sent
 * before its commit is caught even when the commit then succeeds.
 */
async function watchAcks(mqttUrl: string, storeUrl: string) {
  const pool = new pg.Pool({ connectionString: storeUrl, max: 2 });
  pool.on('error', () => {});
  const wrong: string[] = [];
  let seen = 0;
  let checks: Promise<void> = Promise.resolve();
  const check = async (device: string, upTo: number, hash: string, at: number): Promise<void> => {
    for (;;) {
      try {
        const r = await pool.query<{ hash: string; committed: string | null }>(
          `SELECT hash, extract(epoch FROM pg_xact_commit_timestamp(xmin)) * 1000 AS committed
             FROM events WHERE device = $1 AND seq = $2`,
          [device, upTo],
        );
        const row = r.rows[0];
        if (row === undefined) wrong.push(`${device} ack ${upTo}: not in the store`);
        else if (row.hash !== hash) wrong.push(`${device} ack ${upTo}: stored hash ${row.hash}`);
        else if (row.committed === null || Number(row.committed) > at)
          wrong.push(`${device} ack ${upTo}: seen at ${at}, committed at ${row.committed}`);
        return;
      } catch {
        // PostgreSQL restarting: ask again once it is back
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  const client = mqtt.connect(mqttUrl, { protocolVersion: 4, reconnectPeriod: 200 });
  client.on('error', () => {});
  client.on('connect', () => void client.subscribeAsync('fieldlog/+/+/ack', { qos: 1 }).catch(() => {}));
  client.on('message', (topic, payload) => {
    const at = Date.now();
    const ack = JSON.parse(payload.toString()) as { upTo: number; hash: string; error?: string };
    if (ack.error !== undefined || ack.upTo === 0) return;
    seen++;
    const device = topic.split('/')[2]!;
    checks = checks.then(() => check(device, ack.upTo, ack.hash, at));
  });
  const stop = async () => {
    await client.endAsync(true);
    await pool.end();
  };
  cleanups.push(stop);
  // subscribed before the devices start
  await new Promise<void>((resolve) => client.once('connect', () => resolve()));
  return {
    async done(): Promise<{ seen: number; wrong: string[] }> {
      await checks;
      return { seen, wrong };
    },
  };
}

/** Wait until every backlog is in the store, stop the fleet (it drains), compare every copy. */
async function finish(sim: Proc, h: Hub, storeUrl: string, devDir: string): Promise<void> {
  await expect
    .poll(
      async () =>
        [...(await heads(h)).entries()].filter(([d, seq]) => ids.includes(d) && seq > BACKLOG).length,
      { timeout: 180_000, interval: 250 },
    )
    .toBe(DEVICES);
  expect(await sim.stop('SIGINT')).toBe(0);
  const summary = JSON.parse(sim.lines.at(-1)!) as { logged: number; acknowledged: number };
  expect(summary.acknowledged).toBe(summary.logged);
  const v = await runCli(['hub', 'verify', '--store', storeUrl, '--json']);
  expect(v.code, v.stderr).toBe(0);
  const reports = new Map(
    v.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { device: string; ok: boolean; events: number; head: unknown })
      .map((r) => [r.device, r]),
  );
  expect([...reports.keys()].sort()).toEqual(ids);
  let total = 0;
  for (const id of ids) {
    const dev = await EventLog.open(join(devDir, id));
    try {
      expect((await dev.verify()).ok, id).toBe(true);
      const copy = reports.get(id)!;
      expect(copy.ok, id).toBe(true);
      expect(copy.head, id).toEqual(dev.head());
      expect(copy.events, id).toBe(dev.head().seq);
      total += dev.head().seq;
    } finally {
      await dev.close();
    }
  }
  expect(total).toBe(summary.logged);
}

/** Mid-stream: some of the backlogs are in the store, and (seen just before the fault) not all. */
async function midStream(h: Hub): Promise<void> {
  await expect
    .poll(() => stored(h), { timeout: 60_000, interval: 20 })
    .toBeGreaterThan((DEVICES * BACKLOG) / 5);
  expect(await stored(h)).toBeLessThan(DEVICES * BACKLOG);
}

describe('several hubs on one PostgreSQL store behind a shared subscription', () => {
  it('a hub SIGKILLed mid-stream: the others carry on, nothing lost or doubled', async () => {
    const store = await cluster.database('kill');
    const b = await broker();
    const hubs = [await hub(store, b.url), await hub(store, b.url), await hub(store, b.url)];
    const acks = await watchAcks(b.url, store);
    const devDir = join(root, 'dev-kill');
    const sim = simFleet(b.url, devDir, 1);
    await midStream(hubs[1]!);
    expect(await hubs[0]!.proc.stop('SIGKILL')).toBe('SIGKILL');
    // the survivors took batches after the kill
    const before = await metric(hubs[1]!, 'fieldlog_hub_events_total');
    await finish(sim, hubs[1]!, store, devDir);
    expect(
      (await metric(hubs[1]!, 'fieldlog_hub_events_total')) +
        (await metric(hubs[2]!, 'fieldlog_hub_events_total')),
    ).toBeGreaterThan(before);
    const { seen, wrong } = await acks.done();
    expect(seen).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    for (const h of hubs.slice(1)) expect(await h.proc.stop('SIGTERM')).toBe(0);
  });

  it('PostgreSQL restarted mid-stream: hubs reconnect, acks resume only after commits', async () => {
    const store = await cluster.database('restart');
    const b = await broker();
    const hubs = [await hub(store, b.url), await hub(store, b.url)];
    const acks = await watchAcks(b.url, store);
    const devDir = join(root, 'dev-pg');
    const sim = simFleet(b.url, devDir, 2);
    await midStream(hubs[0]!);
    await cluster.restart();
    await finish(sim, hubs[0]!, store, devDir);
    const { seen, wrong } = await acks.done();
    expect(seen).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    // both hubs still serve from the store and stop cleanly
    expect((await heads(hubs[1]!)).size).toBe(DEVICES);
    for (const h of hubs) expect(await h.proc.stop('SIGTERM')).toBe(0);
  });

  it('the broker restarted mid-stream: hubs and devices reconnect and resubscribe', async () => {
    const store = await cluster.database('broker');
    const b = await broker();
    const hubs = [await hub(store, b.url), await hub(store, b.url)];
    const devDir = join(root, 'dev-broker');
    const sim = simFleet(b.url, devDir, 3);
    await midStream(hubs[0]!);
    await b.kill();
    await b.start();
    const acks = await watchAcks(b.url, store);
    await finish(sim, hubs[0]!, store, devDir);
    const { wrong } = await acks.done();
    expect(wrong).toEqual([]);
    // both hubs took part again after the restart (the shared group was formed anew)
    for (const h of hubs) expect(await metric(h, 'fieldlog_hub_events_total')).toBeGreaterThan(0);
    for (const h of hubs) expect(await h.proc.stop('SIGTERM')).toBe(0);
  });

  it("hub A's live feed carries the events hub B ingested, positions consecutive, none repeated", async () => {
    const store = await cluster.database('live');
    const b = await broker();
    const [a, other] = [await hub(store, b.url), await hub(store, b.url)];
    const acks = await watchAcks(b.url, store);
    // the feed from the start of the (empty) store
    const abort = new AbortController();
    const res = await fetch(`${a.base}/fleet/live?last-event-id=0`, { signal: abort.signal });
    expect(res.status).toBe(200);
    const positions: number[] = [];
    const seen = new Set<string>();
    let buffer = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      try {
        for await (const chunk of res.body!) {
          buffer += decoder.decode(chunk as Uint8Array, { stream: true });
          let end = buffer.indexOf('\n\n');
          while (end >= 0) {
            const frame = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const id = /^id: (\d+)$/m.exec(frame);
            const data = /^data: (.*)$/m.exec(frame);
            if (id && data) {
              positions.push(Number(id[1]));
              const e = JSON.parse(data[1]!) as { device: string; seq: number };
              seen.add(`${e.device}#${e.seq}`);
            }
            end = buffer.indexOf('\n\n');
          }
        }
      } catch {
        // aborted at the end
      }
    })();
    const devDir = join(root, 'dev-live');
    const sim = simFleet(b.url, devDir, 4);
    await finish(sim, a, store, devDir);
    const total = await stored(a);
    await expect
      .poll(() => positions.length, { timeout: 60_000, interval: 100 })
      .toBeGreaterThanOrEqual(total);
    abort.abort();
    await reading;
    expect(positions).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect(seen.size).toBe(total);
    // the fleet was split: each hub ingested part of it, and no batch reached both
    const byA = await metric(a, 'fieldlog_hub_events_total');
    const byOther = await metric(other, 'fieldlog_hub_events_total');
    expect(byA).toBeGreaterThan(0);
    expect(byOther).toBeGreaterThan(0);
    expect(byA + byOther).toBe(total);
    expect(
      (await metric(a, 'fieldlog_hub_duplicates_total')) +
        (await metric(other, 'fieldlog_hub_duplicates_total')),
    ).toBe(0);
    const { seen: acked, wrong } = await acks.done();
    expect(acked).toBeGreaterThan(0);
    expect(wrong).toEqual([]);
    for (const h of [a, other]) expect(await h.proc.stop('SIGTERM')).toBe(0);
  });
});
