// The full-disk state's decisions, with timers moved by hand and a fake store: what counts
// as a full disk, when space is probed, when the store is reopened, and how the wait grows.
import { describe, expect, it } from 'vitest';
import { fail } from '../../src/errors.js';
import { FullDisk, isDiskFull } from '../../src/log/full-disk.js';
import { manualTimers } from '../support/manual-timers.js';

const enospc = () =>
  Object.assign(new Error('IO error: 000005.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });

describe('isDiskFull', () => {
  it('knows ENOSPC by code, by LevelDB’s words, through causes, and a quota used up; not other errors', () => {
    expect(isDiskFull(Object.assign(new Error('write'), { code: 'ENOSPC' }))).toBe(true);
    expect(isDiskFull(enospc())).toBe(true);
    expect(isDiskFull(fail('LOG_WRITE_FAILED', 'writing to the log failed', enospc()))).toBe(true);
    expect(isDiskFull(new Error('IO error: 000007.ldb: Disk quota exceeded'))).toBe(true);
    expect(isDiskFull(new Error('EIO: i/o error, write'))).toBe(false);
    expect(isDiskFull(Object.assign(new Error('x'), { code: 'LEVEL_CORRUPTION' }))).toBe(false);
    expect(isDiskFull(undefined)).toBe(false);
  });
});

function setup() {
  const timers = manualTimers();
  const space = { free: 0, needed: 100 };
  const reopen = { calls: 0, fail: false };
  const said: string[] = [];
  const d = new FullDisk({
    location: '/data/log',
    timers,
    probeMs: 1000,
    maxProbeMs: 8000,
    space: async () => ({ ...space }),
    reopen: async () => {
      reopen.calls++;
      if (reopen.fail) throw new Error('IO error: cannot open');
    },
  });
  for (const e of ['disk-full', 'writable', 'probe-error']) d.on(e, () => said.push(e));
  /** The wait of the timer set now. */
  const wait = () => (timers.due === null ? null : (timers as unknown as { at: number }).at - timers.t);
  /** Fire the probe and let it finish. */
  const fire = async () => {
    timers.fire();
    await d.probe();
  };
  return { d, timers, space, reopen, said, wait, fire };
}

describe('FullDisk', () => {
  it('leaves other errors alone', () => {
    const { d, said, timers } = setup();
    expect(d.failed(new Error('EIO'))).toBe(false);
    expect(d.isFull).toBe(false);
    expect(said).toEqual([]);
    expect(timers.due).toBe(null);
  });

  it('probes every period while there is no room, then reopens once there is', async () => {
    const { d, space, reopen, said, wait, fire } = setup();
    expect(d.failed(enospc())).toBe(true);
    expect(d.failed(enospc())).toBe(true); // said once
    expect(said).toEqual(['disk-full']);
    expect(isDiskFull(d.error)).toBe(true);
    expect(wait()).toBe(1000);
    await fire();
    expect(reopen.calls).toBe(0); // statfs says no: the store is left alone
    expect(d.isFull).toBe(true);
    expect(wait()).toBe(1000); // looking costs nothing: no backing off
    space.free = 100;
    await fire();
    expect(reopen.calls).toBe(1);
    expect(d.isFull).toBe(false);
    expect(d.error).toBe(null);
    expect(said).toEqual(['disk-full', 'writable']);
    expect(wait()).toBe(null);
  });

  it('backs off after a failed reopen and when the disk is full again right after one, up to the maximum', async () => {
    const { d, space, reopen, said, wait, fire } = setup();
    space.free = 1000;
    reopen.fail = true;
    d.failed(enospc());
    await fire();
    expect(said).toEqual(['disk-full', 'probe-error']);
    expect(wait()).toBe(2000);
    reopen.fail = false;
    await fire();
    expect(d.isFull).toBe(false);
    // full again before anything was written: a longer wait
    d.failed(enospc());
    expect(wait()).toBe(4000);
    await fire();
    d.failed(enospc());
    expect(wait()).toBe(8000);
    await fire();
    d.failed(enospc());
    expect(wait()).toBe(8000);
    // a write that works makes the next full disk probed quickly again
    await fire();
    d.wrote();
    d.failed(enospc());
    expect(wait()).toBe(1000);
  });

  it('probes at once when asked, and not at all once stopped', async () => {
    const { d, space, reopen, timers } = setup();
    space.free = 1000;
    expect(await d.probe()).toBe(true); // not full: nothing to do
    d.failed(enospc());
    await d.stop();
    expect(timers.due).toBe(null);
    expect(await d.probe()).toBe(false);
    expect(reopen.calls).toBe(0);
  });
});
