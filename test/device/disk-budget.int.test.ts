// The disk budget on a real LevelDB log, measured on disk: past the budget it prunes what the
// hub acknowledged first, then (`thin`) purges the payloads of the oldest unacknowledged
// readings with a ReadingsPurged; the log verifies, and a hub (aedes in-process, LevelDB
// fleet store) takes the thinned events, verifies them and keeps what it already had as it
// was. With `stop` the recorder's readings are counted instead of recorded, its alarms still
// are, and one ReadingsNotRecorded says what was not recorded once the log is back under.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { DeviceConfig } from '../../src/device/config.js';
import { type BudgetSettings, DiskBudget, logPruner, measureFolder } from '../../src/device/disk-budget.js';
import { Recorder } from '../../src/device/recorder.js';
import { UnrecordedReadings } from '../../src/device/unrecorded.js';
import { startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { Replicator } from '../../src/sync/replicator.js';
import { FakeSource } from '../support/fake-source.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-budget-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

/** Readings whose payload is most of their record (the raw frame, incompressible), so purges show on disk. */
function readings(from: number, count: number): EventInput[] {
  return Array.from({ length: count }, (_, i) => ({
    type: 'ReadingRecorded',
    data: { source: 'node', sensor: 't', value: from + i, frame: randomBytes(150).toString('hex') },
    meta: { actor: 'sensor:node' },
  }));
}

async function all(log: EventLog, device?: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events(device === undefined ? {} : { device })) out.push(e);
  return out;
}

function budgetFor(log: EventLog, dir: string, settings: BudgetSettings, acknowledged: () => number) {
  const lines: string[] = [];
  const unrecorded = new UnrecordedReadings({ warn: (l) => lines.push(l) });
  const budget = new DiskBudget({
    settings,
    log,
    measure: measureFolder(dir),
    acknowledged,
    pruner: logPruner(log),
    unrecorded,
    warn: (l) => lines.push(l),
    checkEveryMs: 3_600_000, // the test asks for each check
  });
  cleanups.push(() => budget.stop());
  return { budget, lines };
}

const fast = { backoff: { initialMs: 50, maxMs: 500, jitter: 0.2 }, ackTimeoutMs: 2000 };

describe('disk budget, thin', () => {
  it('prunes what the hub holds, then thins the rest; the log verifies, the hub takes and verifies it', async () => {
    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const url = `mqtt://127.0.0.1:${broker.port}`;
    const hubLog = await EventLog.open(join(root, `hub-${n++}`), { create: true, fleet: true });
    const client = await mqtt.connectAsync(url, { protocolVersion: 4 });
    const ingest = new Ingest(fleetStoreOver(hubLog));
    await ingest.attach(client);
    cleanups.push(async () => {
      ingest.detach();
      await client.endAsync(true);
      await ingest.idle();
      await hubLog.close();
    });

    const dir = join(root, `dev-${n++}`);
    const log = await EventLog.open(dir, { device: 'pi-1', create: true, sync: false });
    cleanups.push(() => log.close());
    for (let i = 0; i < 2000; i += 250) await log.appendMany(readings(i, 250));
    // the hub takes everything so far, then goes away
    let rep = new Replicator(log, { url, fleet: 'north', ...fast });
    rep.start();
    await expect.poll(() => rep.status().acked, { timeout: 30_000 }).toBe(log.head().seq);
    const acked = rep.status().acked;
    await rep.stop();
    const hubBefore = await all(hubLog, 'pi-1');
    for (let i = 2000; i < 4000; i += 250) await log.appendMany(readings(i, 250));
    await log.compact();
    const size = (await measureFolder(dir)()).logBytes;

    // 40 % of the folder: pruning the acknowledged half is not enough
    const maxBytes = Math.round(size * 0.4);
    const { budget, lines } = budgetFor(log, dir, { maxBytes, minFreeBytes: 0, policy: 'thin' }, () => acked);
    await budget.start();

    // pruned first: everything the hub holds (never the head), nothing it does not
    expect(log.anchor()?.seq).toBe(acked);
    const events = await all(log);
    expect(events[0]!.seq).toBe(acked + 1);
    // then thinned: the oldest unacknowledged readings, recorded in one event per purge
    const purges = events.filter((e) => e.type === 'ReadingsPurged');
    expect(purges.length).toBeGreaterThan(0);
    const first = purges[0]!.data as { fromSeq: number; toSeq: number; count: number; reason: string };
    expect(first.fromSeq).toBe(acked + 1);
    expect(first.reason).toBe('disk-budget');
    const purgedSeqs = events
      .filter((e) => e.type === 'ReadingRecorded' && e.data === null)
      .map((e) => e.seq);
    expect(purgedSeqs.length).toBe(purges.reduce((k, e) => k + (e.data as { count: number }).count, 0));
    expect(purgedSeqs[0]).toBe(acked + 1);
    expect(budget.status()).toMatchObject({ state: 'thinning', purged: purgedSeqs.length });
    expect((await measureFolder(dir)()).logBytes).toBeLessThanOrEqual(maxBytes);
    expect(lines.some((l) => /pruned \d+ event\(s\) the hub holds/.test(l))).toBe(true);
    expect(lines.some((l) => /thinning/.test(l))).toBe(true);
    expect(await log.verify()).toMatchObject({ ok: true, errors: [] });

    // the hub comes back: it takes the thinned events, verifies them, keeps its copy exact
    rep = new Replicator(log, { url, fleet: 'north', ...fast });
    rep.start();
    cleanups.push(() => rep.stop());
    await expect.poll(() => hubLog.head('pi-1').seq, { timeout: 30_000 }).toBe(log.head().seq);
    expect(await hubLog.verify('pi-1')).toMatchObject({ ok: true, errors: [] });
    const hubAll = await all(hubLog, 'pi-1');
    expect(hubAll.slice(0, acked)).toEqual(hubBefore);
    expect(hubAll.slice(acked)).toEqual(events);
    expect(ingest.totals.rejects).toBe(0);
  });
});

describe('disk budget, stop', () => {
  it('counts readings instead of recording them, still records alarms, and records the count once back under', async () => {
    const dir = join(root, `dev-${n++}`);
    const log = await EventLog.open(dir, { device: 'pi-1', create: true, sync: false });
    cleanups.push(() => log.close());
    for (let i = 0; i < 2000; i += 250) await log.appendMany(readings(i, 250));
    await log.compact();
    const size = (await measureFolder(dir)()).logBytes;
    const settings: BudgetSettings = { maxBytes: Math.round(size * 0.8), minFreeBytes: 0, policy: 'stop' };
    const { budget, lines } = budgetFor(log, dir, settings, () => -1);
    const config: DeviceConfig = {
      id: 'pi-1',
      sources: [{ name: 'node', driver: 'line', port: '/dev/fake' }],
      alarms: [{ sensor: 'temp', above: 30 }],
    };
    const src = new FakeSource('node');
    const rec = new Recorder(log, config, [src], {
      version: '9.9.9',
      readingGate: budget,
      clockCheck: () => ({ synced: true, basis: 'test' }),
    });
    await rec.start();
    cleanups.push(() => rec.stop('test over'));
    await budget.start();
    expect(budget.admits()).toBe(false);
    expect(lines.some((l) => /NOT recorded from now on \(policy "stop"\)/.test(l))).toBe(true);
    const head = log.head().seq;

    src.reading('temp', 20, 'C');
    src.reading('temp', 35, 'C'); // past the limit: the alarm is recorded, the reading is not
    src.emit({
      kind: 'readings',
      readings: [
        { sensor: 'temp', value: 36 },
        { sensor: 'hum', value: 50 },
      ],
    });
    await log.flushed();
    const during = (await all(log)).filter((e) => e.seq > head);
    expect(during.map((e) => e.type)).toEqual(['AlarmRaised']);
    expect(budget.status().notRecorded).toBe(4);
    expect(await log.verify()).toMatchObject({ ok: true });

    // space comes back (here the budget is raised, as an operator would by cleaning up the card)
    (settings as { maxBytes: number }).maxBytes = size * 10;
    await budget.check();
    expect(budget.admits()).toBe(true);
    const notRecorded = (await all(log)).filter((e) => e.type === 'ReadingsNotRecorded');
    expect(notRecorded).toHaveLength(1);
    expect(notRecorded[0]!.data).toMatchObject({
      count: 4,
      reason: 'disk-budget',
      sensors: { hum: 1, temp: 3 },
    });
    expect(lines.at(-1)).toMatch(/back under the budget.*recording readings again/);
    src.reading('temp', 21, 'C');
    await log.flushed();
    expect((await all(log)).at(-2)?.type).toBe('ReadingRecorded');
    expect(await log.verify()).toMatchObject({ ok: true });
  });

  it('at a stop still over the budget, records what it did not record before DeviceStopped', async () => {
    const dir = join(root, `dev-${n++}`);
    const log = await EventLog.open(dir, { device: 'pi-1', create: true, sync: false });
    cleanups.push(() => log.close());
    const { budget } = budgetFor(log, dir, { maxBytes: 100, minFreeBytes: 0, policy: 'stop' }, () => -1);
    const config: DeviceConfig = {
      id: 'pi-1',
      sources: [{ name: 'node', driver: 'line', port: '/dev/fake' }],
    };
    const src = new FakeSource('node');
    const rec = new Recorder(log, config, [src], {
      version: '9.9.9',
      readingGate: budget,
      clockCheck: () => ({ synced: true, basis: 'test' }),
    });
    await rec.start();
    await budget.start();
    expect(budget.admits()).toBe(false);
    src.reading('temp', 20, 'C');
    src.reading('temp', 21, 'C');
    await rec.stop('test over');
    const events = await all(log);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['ReadingsNotRecorded', 'DeviceStopped']);
    expect(events.at(-2)!.data).toMatchObject({ count: 2, reason: 'disk-budget', sensors: { temp: 2 } });
    expect(events.some((e) => e.type === 'ReadingRecorded')).toBe(false);
  });
});
