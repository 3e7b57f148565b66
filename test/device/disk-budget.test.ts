// The disk budget's decisions with a fake folder, clock and log: nothing while within the
// budget; over it, acknowledged events pruned first, then the policy (`thin` purges, `stop`
// counts readings and records the count once under the budget again); an estimate from
// appends brings the next measurement forward; every change of state is said in a line.
import { describe, expect, it } from 'vitest';
import { resolveDeviceConfig } from '../../src/device/config.js';
import {
  type BudgetSettings,
  bytesOver,
  DiskBudget,
  type DiskMeasure,
  isOver,
} from '../../src/device/disk-budget.js';
import { UnrecordedReadings } from '../../src/device/unrecorded.js';
import type { EventInput } from '../../src/log/envelope.js';

/** Timers run only when the test says so. */
function fakeTimers() {
  let now = Date.parse('2026-12-04T10:00:00.000Z');
  let next = 1;
  const due = new Map<number, { at: number; cb: () => void }>();
  return {
    now: () => now,
    setTimeout: (cb: () => void, ms: number) => {
      const id = next++;
      due.set(id, { at: now + ms, cb });
      return id;
    },
    clearTimeout: (h: unknown) => {
      due.delete(h as number);
    },
    pending: () => [...due.values()].map((d) => d.at - now),
    /** Move the clock and run what falls due. */
    advance(ms: number) {
      now += ms;
      for (const [id, d] of [...due]) {
        if (d.at <= now) {
          due.delete(id);
          d.cb();
        }
      }
    },
  };
}

/** A folder whose size the fake log's prunes and purges shrink. */
function fakeDisk(
  settings: Partial<BudgetSettings>,
  start: DiskMeasure,
  opts: { acked?: number; purgeGain?: number; thinFails?: boolean } = {},
) {
  const gain = opts.purgeGain ?? 50;
  const disk = { ...start };
  let head = 1000;
  let anchor = 0;
  let purgedThrough = 0;
  const calls: string[] = [];
  const appended: EventInput[] = [];
  const listeners = new Set<(e: unknown, p: unknown, n: number) => void>();
  const timers = fakeTimers();
  const lines: string[] = [];
  const unrecorded = new UnrecordedReadings({ warn: (l) => lines.push(l), now: timers.now });
  const log = {
    head: () => ({ seq: head }),
    on: (_: 'append', l: (e: unknown, p: unknown, n: number) => void) => listeners.add(l),
    off: (_: 'append', l: (e: unknown, p: unknown, n: number) => void) => listeners.delete(l),
    async thinReadings(req: { afterSeq: number; max: number; reason: string }) {
      if (opts.thinFails) throw new Error('disk says no');
      const from = Math.max(req.afterSeq, purgedThrough) + 1;
      if (from >= head) return null;
      const to = Math.min(head - 1, from + req.max - 1);
      calls.push(`thin ${from}..${to} (${req.reason})`);
      purgedThrough = to;
      disk.logBytes -= (to - from + 1) * gain;
      disk.freeBytes += (to - from + 1) * gain;
      return { fromSeq: from, toSeq: to, count: to - from + 1 };
    },
    async appendMany(inputs: EventInput[]) {
      appended.push(...inputs);
      return [];
    },
  };
  const pruner = {
    anchorSeq: () => anchor,
    async prune(through: number) {
      calls.push(`prune ..${through}`);
      const n = through - anchor;
      anchor = through;
      disk.logBytes -= n * 200;
      disk.freeBytes += n * 200;
      return n;
    },
  };
  const budget = new DiskBudget({
    settings: { maxBytes: 0, minFreeBytes: 0, policy: 'thin', ...settings },
    log,
    measure: async () => ({ ...disk }),
    acknowledged: () => opts.acked ?? -1,
    pruner,
    unrecorded,
    warn: (l) => lines.push(l),
    timers,
    checkEveryMs: 10_000,
  });
  return {
    budget,
    disk,
    calls,
    lines,
    appended,
    timers,
    /** The log announced `count` appended events. */
    append(count: number) {
      head += count;
      for (const l of listeners) l(null, undefined, count);
    },
  };
}

describe('bytesOver / isOver', () => {
  const s: BudgetSettings = { maxBytes: 1000, minFreeBytes: 500, policy: 'thin' };
  it('starts at a limit and works down to the margin under it', () => {
    expect(isOver(s, { logBytes: 1000, freeBytes: 500 })).toBe(false);
    expect(isOver(s, { logBytes: 1001, freeBytes: 9999 })).toBe(true);
    expect(isOver(s, { logBytes: 10, freeBytes: 499 })).toBe(true);
    expect(bytesOver(s, { logBytes: 1001, freeBytes: 9999 })).toBe(101);
    expect(bytesOver(s, { logBytes: 10, freeBytes: 499 })).toBe(51);
    expect(bytesOver(s, { logBytes: 900, freeBytes: 550 })).toBe(0);
    expect(bytesOver({ ...s, maxBytes: 0, minFreeBytes: 0 }, { logBytes: 1e12, freeBytes: 0 })).toBe(0);
  });
});

describe('DiskBudget', () => {
  it('does nothing within the budget, and measures again every period', async () => {
    const f = fakeDisk({ maxBytes: 1_000_000 }, { logBytes: 500_000, freeBytes: 1e9 });
    await f.budget.start();
    expect(f.calls).toEqual([]);
    expect(f.lines).toEqual([]);
    expect(f.budget.status()).toMatchObject({ logBytes: 500_000, budgetBytes: 1_000_000, state: 'within' });
    expect(f.timers.pending()).toEqual([10_000]);
    f.disk.logBytes = 600_000;
    f.timers.advance(10_000);
    await f.budget.check();
    expect(f.budget.status().logBytes).toBe(600_000);
    await f.budget.stop();
  });

  it('prunes what the hub holds first, oldest first, and no more than needed', async () => {
    const f = fakeDisk({ maxBytes: 200_000 }, { logBytes: 210_000, freeBytes: 1e9 }, { acked: 900 });
    await f.budget.start();
    // 30,000 bytes to give back (down to 90 % of the budget) at 210 bytes an event: 143 events
    expect(f.calls[0]).toBe('prune ..143');
    expect(f.calls.every((c) => c.startsWith('prune'))).toBe(true);
    expect(f.disk.logBytes).toBeLessThanOrEqual(180_000);
    expect(f.budget.status()).toMatchObject({ state: 'within', purged: 0 });
    expect(f.budget.status().pruned).toBeGreaterThan(0);
    expect(f.lines.some((l) => /over the budget/.test(l))).toBe(true);
    expect(f.lines.some((l) => /pruned \d+ event\(s\) the hub holds/.test(l))).toBe(true);
    await f.budget.stop();
  });

  it('thin: purges the oldest unacknowledged readings when pruning is not enough, and says so', async () => {
    const f = fakeDisk(
      { maxBytes: 200_000, policy: 'thin' },
      { logBytes: 240_000, freeBytes: 1e9 },
      { acked: 100 },
    );
    await f.budget.start();
    // everything the hub holds goes first (never the head), then the purges start after it
    expect(f.calls[0]).toMatch(/^prune \.\.100$/);
    expect(f.calls[1]).toMatch(/^thin 101\.\.\d+ \(disk-budget\)$/);
    expect(f.disk.logBytes).toBeLessThanOrEqual(180_000);
    const st = f.budget.status();
    expect(st.state).toBe('thinning');
    expect(st.purged).toBeGreaterThan(0);
    expect(f.lines.some((l) => /thinning/.test(l))).toBe(true);
    expect(f.lines.some((l) => /purged the payloads of \d+ reading\(s\), seqs 101\.\./.test(l))).toBe(true);
    expect(f.budget.admits()).toBe(true);
    // the next measurement within the budget ends the state, in a line
    f.timers.advance(10_000);
    await f.budget.check();
    expect(f.budget.status().state).toBe('within');
    expect(f.lines.at(-1)).toMatch(/back under the budget/);
    await f.budget.stop();
  });

  it('thin: with nothing left to purge and still over, stops recording readings', async () => {
    const f = fakeDisk({ maxBytes: 100_000, policy: 'thin' }, { logBytes: 400_000, freeBytes: 1e9 });
    await f.budget.start();
    expect(f.budget.status().state).toBe('stopped');
    expect(f.budget.admits()).toBe(false);
    expect(f.lines.at(-1)).toMatch(/NOT recorded.*nothing left to thin/);
    await f.budget.stop();
  });

  it('thin: a purge that gives no space back ends the thinning (small payloads) and stops readings', async () => {
    const f = fakeDisk({ maxBytes: 100_000 }, { logBytes: 120_000, freeBytes: 1e9 }, { purgeGain: -10 });
    await f.budget.start();
    // one probe of at most 1000 purges, not a purge of everything
    expect(f.calls).toEqual(['thin 1..750 (disk-budget)']); // 30,000 bytes at a guessed 40 a purge
    expect(f.budget.status().state).toBe('stopped');
    expect(f.lines.at(-1)).toMatch(/NOT recorded.*thinning gives no space back here/);
    await f.budget.stop();
  });

  it('stop: counts the readings it refuses and records them once back under the budget', async () => {
    const f = fakeDisk({ maxBytes: 100_000, policy: 'stop' }, { logBytes: 120_000, freeBytes: 1e9 });
    await f.budget.start();
    expect(f.calls).toEqual([]); // nothing acknowledged, nothing to prune; stop purges nothing
    expect(f.budget.admits()).toBe(false);
    expect(f.lines.at(-1)).toMatch(/readings are NOT recorded from now on \(policy "stop"\)/);
    f.budget.refused(['temp', 'hum']);
    f.timers.advance(1500);
    f.budget.refused(['temp']);
    expect(f.budget.status().notRecorded).toBe(3);
    // still over: still counting, nothing recorded
    f.timers.advance(10_000);
    await f.budget.check();
    expect(f.appended).toEqual([]);
    // space comes back (an operator cleaned up): under the margin, the count is recorded
    f.disk.logBytes = 80_000;
    f.timers.advance(10_000);
    await f.budget.check();
    expect(f.appended).toEqual([
      {
        type: 'ReadingsNotRecorded',
        data: {
          count: 3,
          reason: 'disk-budget',
          since: '2026-12-04T10:00:00.000Z',
          until: '2026-12-04T10:00:01.500Z',
          sensors: { hum: 1, temp: 2 },
        },
        meta: { actor: 'system' },
      },
    ]);
    expect(f.budget.admits()).toBe(true);
    expect(f.lines.at(-1)).toMatch(/back under the budget .*recording readings again/);
    await f.budget.stop();
  });

  it('stop: a free-space limit counts as much as the size limit', async () => {
    const f = fakeDisk({ minFreeBytes: 1_000_000, policy: 'stop' }, { logBytes: 10_000, freeBytes: 900_000 });
    await f.budget.start();
    expect(f.budget.admits()).toBe(false);
    await f.budget.stop();
  });

  it('brings the measurement forward when the appends since the last one pass the budget', async () => {
    const f = fakeDisk({ maxBytes: 1_000_000 }, { logBytes: 200_000, freeBytes: 1e9 }, { acked: 5000 });
    await f.budget.start();
    // 200 bytes an event as measured (200,000 bytes for 1000 events): 4000 more pass the budget
    f.append(3000);
    expect(f.timers.pending()).toEqual([10_000]);
    f.disk.logBytes = 1_100_000;
    f.append(1100);
    expect(f.timers.pending()).toEqual([0]);
    f.timers.advance(0);
    await f.budget.check();
    expect(f.calls[0]).toMatch(/^prune/);
    await f.budget.stop();
  });

  it('after a failed check, waits for the timer instead of checking again at every append', async () => {
    const f = fakeDisk({ maxBytes: 100_000 }, { logBytes: 120_000, freeBytes: 1e9 }, { thinFails: true });
    const errors: unknown[] = [];
    f.budget.on('error', (err) => errors.push(err));
    await f.budget.start();
    expect(errors).toHaveLength(1);
    f.append(100);
    f.append(100);
    expect(f.timers.pending()).toEqual([10_000]);
    f.timers.advance(10_000);
    await f.budget.check();
    expect(errors.length).toBeGreaterThanOrEqual(2);
    await f.budget.stop();
  });

  it('without limits it only measures', async () => {
    const f = fakeDisk({}, { logBytes: 1e12, freeBytes: 0 }, { acked: 900 });
    await f.budget.start();
    expect(f.budget.limited).toBe(false);
    expect(f.calls).toEqual([]);
    expect(f.budget.admits()).toBe(true);
    await f.budget.stop();
  });
});

describe('retention budget keys in the config', () => {
  const base = { id: 'pi-01', sources: [{ name: 'node', driver: 'line', port: '/dev/ttyUSB0' }] };
  it('takes sizes as bytes or with a unit, and a policy', () => {
    const c = resolveDeviceConfig(
      { ...base, retention: { maxBytes: '2GB', minFreeBytes: '200MiB', policy: 'stop' } },
      {},
    );
    expect(c.retention).toEqual({ maxBytes: 2e9, minFreeBytes: 200 * 1024 ** 2, policy: 'stop' });
    expect(resolveDeviceConfig({ ...base, retention: { maxBytes: 5000 } }, {}).retention?.maxBytes).toBe(
      5000,
    );
    expect(resolveDeviceConfig({ ...base, retention: { maxBytes: '1.5kB' } }, {}).retention?.maxBytes).toBe(
      1500,
    );
  });
  it('refuses a bad size or policy in one line naming the key', () => {
    for (const [retention, key] of [
      [{ maxBytes: '2 parsecs' }, 'retention.maxBytes'],
      [{ minFreeBytes: -1 }, 'retention.minFreeBytes'],
      [{ policy: 'drop' }, 'retention.policy'],
    ] as const) {
      try {
        resolveDeviceConfig({ ...base, retention }, {});
        expect.unreachable();
      } catch (err) {
        expect((err as { code: string }).code).toBe('CONFIG_INVALID');
        expect((err as Error).message).toContain(key);
      }
    }
  });
});
