// The device's retention (src/device/retention.ts) on a real LevelDB log: only what the hub
// acknowledged and is older than `keep` is pruned, the acknowledgement survives a restart,
// a hub that now holds less stops further pruning, age alone (`afterAck: false`) stops at an
// unacknowledged record of the disk budget, and a round follows an ack. Timers by hand.
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Retention, type RetentionTimers } from '../../src/device/retention.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock, reading } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const START = Date.parse('2026-11-24T10:00:00.000Z');
const MINUTE = 60_000;

/** A log of `count` readings one minute apart; `now` is the last one's time. */
async function minutes(count: number): Promise<{ log: EventLog; dir: string; now: () => number }> {
  const dir = join(root, `log-${++n}`);
  const log = await EventLog.open(dir, { create: true, device: 'pi-1', clock: fakeClock(START, MINUTE) });
  for (let i = 0; i < count; i++) await log.append(reading('t', i));
  return { log, dir, now: () => START + (count - 1) * MINUTE };
}

/** Timers that only run when the test says so. */
function handTimers(): RetentionTimers & { pending: (() => void)[]; runAll(): void } {
  const t = {
    pending: [] as (() => void)[],
    setInterval: () => ({}),
    clearInterval: () => {},
    setTimeout: (cb: () => void) => {
      t.pending.push(cb);
      return cb;
    },
    clearTimeout: (h: unknown) => {
      t.pending = t.pending.filter((cb) => cb !== h);
    },
    runAll: () => {
      const due = t.pending;
      t.pending = [];
      for (const cb of due) cb();
    },
  };
  return t;
}

describe('Retention', () => {
  it('prunes only what the hub acknowledged and is older than keep', async () => {
    const { log, now } = await minutes(180); // three hours, seq 1 at START
    const r = new Retention(log, { keep: '1h' }, { now, timers: handTimers() });
    await r.start();
    expect(r.acknowledged()).toBe(-1);
    expect(await r.run()).toBe(0); // nothing acknowledged: nothing pruned
    r.acknowledge(100);
    expect(await r.run()).toBe(100); // acknowledged up to 100, all older than an hour
    expect(log.anchor()?.seq).toBe(100);
    r.acknowledge(175);
    // older than an hour: recorded at or before now - 60 min, seq 120
    expect(await r.run()).toBe(20);
    expect(log.anchor()?.seq).toBe(120);
    expect(r.prunedTotal).toBe(120);
    expect(await log.verify()).toMatchObject({ ok: true, events: 60, anchor: { seq: 120 } });
    await r.stop();
    await log.close();
  });

  it('keeps the acknowledgement across a restart, and a hub holding less stops pruning', async () => {
    const { log, dir, now } = await minutes(180);
    const r = new Retention(log, { keep: '1h' }, { now, timers: handTimers() });
    await r.start();
    r.acknowledge(50);
    await r.stop(); // the mark is written
    await log.close();
    const again = await EventLog.open(dir);
    const r2 = new Retention(again, { keep: '1h' }, { now, timers: handTimers() });
    await r2.start();
    expect(r2.acknowledged()).toBe(50);
    expect(await r2.run()).toBe(50); // without waiting for the hub
    // the hub was restored from an older copy: it holds 40 now; nothing more goes
    r2.acknowledge(40);
    expect(await r2.run()).toBe(0);
    expect(again.anchor()?.seq).toBe(50);
    await r2.stop();
    await again.close();
  });

  it('by age alone, stops before a record of the disk budget the hub has not acknowledged', async () => {
    const { log, now } = await minutes(100);
    await log.append({
      type: 'ReadingsPurged',
      data: { fromSeq: 1, toSeq: 2, count: 2, reason: 'disk-budget' },
    });
    for (let i = 0; i < 100; i++) await log.append(reading('t', i));
    const later = () => now() + 101 * MINUTE;
    const r = new Retention(log, { keep: '1h', afterAck: false }, { now: later, timers: handTimers() });
    await r.start();
    expect(await r.run()).toBe(100); // up to the ReadingsPurged at 101, not through it
    r.acknowledge(101);
    expect(await r.run()).toBe(41); // acknowledged now; by age up to seq 141
    await r.stop();
    await log.close();
  });

  it("runs a round soon after the replicator's ack, and follows what a hub says it holds", async () => {
    const { log, now } = await minutes(120);
    const timers = handTimers();
    const r = new Retention(log, { keep: '1h' }, { now, timers });
    const replicator = new EventEmitter();
    r.follow(replicator);
    const pruned = new Promise((resolve) => r.once('pruned', resolve));
    await r.start();
    timers.runAll(); // the round at start: nothing acknowledged yet
    replicator.emit('acked', 30);
    expect(r.acknowledged()).toBe(30);
    expect(timers.pending).toHaveLength(1);
    timers.runAll();
    await expect(pruned).resolves.toMatchObject({ pruned: 30, anchor: { seq: 30 } });
    // a hub that now holds less (an ack with an error) lowers the mark; never raises it
    replicator.emit('hub-holds', 10);
    expect(r.acknowledged()).toBe(10);
    replicator.emit('hub-holds', 50);
    expect(r.acknowledged()).toBe(10);
    await r.stop();
    await log.close();
  });
});
