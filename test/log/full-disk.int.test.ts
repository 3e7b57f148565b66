// A full filesystem under a real LevelDB log (writes failing with ENOSPC at the log's disk
// seam): later writes are refused at once, reads go on, space is probed, the store is
// reopened when there is room, and the next write takes the seqs of the failed ones, with
// nothing written before lost and the log verifying.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { BatchOp } from '../../src/log/disk.js';
import { EventLog } from '../../src/log/event-log.js';
import { isDiskFull } from '../../src/log/full-disk.js';
import { manualTimers } from '../support/manual-timers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-full-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** LevelDB's words for it, as classic-level reports them. */
function enospc(): Error {
  return Object.assign(new Error('IO error: 000005.log: No space left on device'), {
    code: 'LEVEL_IO_ERROR',
  });
}

const reading = (value: number) => ({
  type: 'ReadingRecorded',
  data: { source: 'node', sensor: 'temp', value },
  meta: { actor: 'sensor:node' },
});

async function open(name: string) {
  const timers = manualTimers();
  const space = { free: 0 };
  const log = await EventLog.open(join(root, name), {
    device: 'pi-01',
    create: true,
    diskFull: { timers, space: async () => ({ free: space.free, needed: 1000 }) },
  });
  for (let i = 1; i <= 5; i++) await log.append(reading(i));
  return { log, timers, space };
}

/** Fail every write of `log` with ENOSPC; `write` runs first when given (a write that landed anyway). */
function fillDisk(log: EventLog, write?: (ops: BatchOp[]) => Promise<void>) {
  const calls = { n: 0 };
  log.disk.write = async (ops) => {
    calls.n++;
    if (write) await write(ops);
    throw enospc();
  };
  return {
    calls,
    free: () => {
      delete (log.disk as { write?: unknown }).write;
    },
  };
}

async function whenWritable(log: EventLog): Promise<void> {
  await new Promise<void>((resolve) => log.once('writable', resolve));
}

describe('a log whose filesystem fills', () => {
  it('refuses writes at once while full, keeps reading, and resumes after a reopen with the same seqs', async () => {
    const { log, timers, space } = await open('plain');
    const said: unknown[] = [];
    log.on('disk-full', (e) => said.push(e));
    const disk = fillDisk(log);
    await expect(log.append(reading(6))).rejects.toMatchObject({ code: 'LOG_DISK_FULL' });
    expect(log.diskFull).toBe(true);
    expect(said).toHaveLength(1);
    expect(isDiskFull(said[0])).toBe(true);
    // refused without touching the store
    await expect(log.appendMany([reading(7), reading(8)])).rejects.toMatchObject({ code: 'LOG_DISK_FULL' });
    expect(disk.calls.n).toBe(1);
    expect(log.head().seq).toBe(5);
    expect(log.pendingHead().seq).toBe(5);
    expect((await log.get(5))?.data).toMatchObject({ value: 5 });

    // no room yet: the probe looks and waits
    const before = log.db;
    timers.fire();
    await expect.poll(() => timers.due !== null).toBe(true);
    expect(log.diskFull).toBe(true);
    expect(log.db).toBe(before);

    disk.free();
    space.free = 10_000;
    const writable = whenWritable(log);
    timers.fire();
    await writable;
    expect(log.diskFull).toBe(false);
    expect(log.db).not.toBe(before); // the store was opened afresh
    const next = await log.append(reading(9));
    expect(next.seq).toBe(6);
    expect((await log.verify()).ok).toBe(true);
    await log.close();

    const again = await EventLog.open(join(root, 'plain'));
    expect(again.count()).toBe(6);
    const values = [];
    for await (const e of again.events()) values.push((e.data as { value: number }).value);
    expect(values).toEqual([1, 2, 3, 4, 5, 9]);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });

  it('forgets a failed batch that reached the store anyway: its seqs go to the next write', async () => {
    const { log, timers, space } = await open('landed');
    const write = log.disk.write.bind(log.disk);
    const disk = fillDisk(log, write);
    await expect(log.appendMany([reading(6), reading(7), reading(8)])).rejects.toMatchObject({
      code: 'LOG_DISK_FULL',
    });
    disk.free();
    space.free = 10_000;
    const writable = whenWritable(log);
    timers.fire();
    await writable;
    await log.append(reading(60));
    await log.close();
    const again = await EventLog.open(join(root, 'landed'));
    expect(again.count()).toBe(6);
    expect((await again.get(6))?.data).toMatchObject({ value: 60 });
    expect(await again.get(7)).toBeUndefined();
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });

  it('while full, skips snapshots (derived data) and refuses aside records', async () => {
    const { log } = await open('snapshots');
    fillDisk(log);
    await expect(log.append(reading(6))).rejects.toMatchObject({ code: 'LOG_DISK_FULL' });
    await expect(log.saveSnapshot('p', 5, '{"n":5}')).resolves.toBeUndefined();
    expect(await log.loadSnapshot('p', 5)).toBe(null);
    await expect(log.putAside('fork', 'k', 'v')).rejects.toMatchObject({ code: 'LOG_DISK_FULL' });
    await log.close();
  });

  it('keeps other write errors as they were (LOG_WRITE_FAILED, the next write tried)', async () => {
    const { log } = await open('eio');
    log.disk.write = () => Promise.reject(new Error('EIO: i/o error, write'));
    await expect(log.append(reading(6))).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    expect(log.diskFull).toBe(false);
    delete (log.disk as { write?: unknown }).write;
    expect((await log.append(reading(7))).seq).toBe(6);
    await log.close();
  });

  it('closes while full, keeping everything written before', async () => {
    const { log } = await open('closed-full');
    fillDisk(log);
    await expect(log.append(reading(6))).rejects.toMatchObject({ code: 'LOG_DISK_FULL' });
    await log.close();
    const again = await EventLog.open(join(root, 'closed-full'));
    expect(again.count()).toBe(5);
    expect((await again.verify()).ok).toBe(true);
    await again.close();
  });

  it('in the low-wear mode, an fsync that finds the disk full is the full state, not a repeated error', async () => {
    const syncTimers = manualTimers();
    const timers = manualTimers();
    const space = { free: 0 };
    const log = await EventLog.open(join(root, 'interval'), {
      device: 'pi-01',
      create: true,
      syncEveryMs: 1000,
      syncTimers,
      diskFull: { timers, space: async () => ({ free: space.free, needed: 1000 }) },
    });
    await log.append(reading(1));
    const errors: unknown[] = [];
    log.on('sync-error', (e) => errors.push(e));
    const db = log.db as unknown as { put: (...a: unknown[]) => Promise<void> };
    const put = db.put.bind(db);
    db.put = () => Promise.reject(enospc());
    syncTimers.fire();
    await expect.poll(() => log.diskFull).toBe(true);
    expect(errors).toEqual([]);
    // the fsync retried once finds the log full and waits for the reopen: no more timers
    if (syncTimers.due) syncTimers.fire();
    await log.flushed();
    expect(syncTimers.due).toBe(null);
    expect(errors).toEqual([]);
    expect(log.syncedHead().seq).toBe(0);
    db.put = put;
    space.free = 10_000;
    const writable = whenWritable(log);
    timers.fire();
    await writable;
    // the reopen wrote everything out; the synced head catches up
    await expect.poll(() => log.syncedHead().seq).toBe(1);
    await log.close();
  });
});
