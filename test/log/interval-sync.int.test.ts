// The low-wear durability mode on a real LevelDB: batches written without an fsync each, one
// fsync per period at most, and a synced head that moves only with those fsyncs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { manualTimers } from '../support/manual-timers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-interval-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const reading = (value: number) => ({
  type: 'ReadingRecorded',
  data: { source: 'n', sensor: 't', value },
  meta: { actor: 'sensor:n' },
});

describe('durability "interval" (low wear)', () => {
  it('writes batches without fsync and syncs them once per period, moving the synced head', async () => {
    const timers = manualTimers();
    const log = await EventLog.open(join(root, `l-${n++}`), {
      device: 'pi-1',
      create: true,
      syncEveryMs: 1000,
      syncTimers: timers,
    });
    expect(log.disk.writeOptions.sync).toBe(false);
    expect(log.syncsByInterval).toBe(true);
    for (let i = 0; i < 5; i++) await log.append(reading(i));
    expect(log.head().seq).toBe(5);
    expect(log.syncedHead().seq).toBe(0);
    // the one sync of the period is due one period after the sync made at open
    expect(timers.due).not.toBeNull();
    const synced = new Promise((r) => log.once('synced', r));
    timers.fire();
    await synced;
    expect(log.syncedHead()).toEqual(log.head());
    // the next writes wait for the next period: no fsync before it
    await log.append(reading(5));
    expect(log.syncedHead().seq).toBe(5);
    await log.close();
    const again = await EventLog.open(log.location!, {
      device: 'pi-1',
      syncEveryMs: 1000,
      syncTimers: timers,
    });
    // close synced the rest; on open, what is on disk is synced
    expect(again.syncedHead()).toEqual(again.head());
    expect(again.head().seq).toBe(6);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });

  it('leaves every-commit logs as they were: each batch fsynced, synced head = durable head', async () => {
    const log = await EventLog.open(join(root, `l-${n++}`), { device: 'pi-2', create: true });
    expect(log.disk.writeOptions.sync).toBe(true);
    await log.append(reading(1));
    expect(log.syncedHead()).toEqual(log.head());
    await log.close();
  });
});
