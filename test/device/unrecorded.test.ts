// The counter of readings not recorded: what it counts per reason, the one warning line, the
// ReadingsNotRecorded events `record` writes (and what it keeps when that write fails).
import { describe, expect, it } from 'vitest';
import { UnrecordedReadings } from '../../src/device/unrecorded.js';
import type { EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { payloadProblem } from '../../src/log/events.js';

const T0 = Date.parse('2026-12-04T10:00:00.000Z');

function counter() {
  const lines: string[] = [];
  const u = new UnrecordedReadings({ warn: (l) => lines.push(l), now: () => T0 });
  return { u, lines };
}

describe('UnrecordedReadings', () => {
  it('counts per reason and sensor, with the first and last time, and warns once when it starts', () => {
    const { u, lines } = counter();
    expect(u.counting()).toBe(false);
    u.count('disk-full', ['temp', 'hum'], T0);
    u.count('disk-full', ['temp'], T0 + 1500);
    u.count('disk-budget', ['temp'], T0 + 10);
    expect(u.pending()).toEqual([
      {
        count: 3,
        reason: 'disk-full',
        since: '2026-12-04T10:00:00.000Z',
        until: '2026-12-04T10:00:01.500Z',
        sensors: { hum: 1, temp: 2 },
      },
      {
        count: 1,
        reason: 'disk-budget',
        since: '2026-12-04T10:00:00.010Z',
        until: '2026-12-04T10:00:00.010Z',
        sensors: { temp: 1 },
      },
    ]);
    expect(u.total('disk-full')).toBe(3);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^2026-12-04T10:00:00.000Z warning: readings are NOT being recorded: .*full/);
    expect(lines[1]).toMatch(/disk budget/);
    // every payload fits the vocabulary's schema
    for (const p of u.pending()) expect(payloadProblem('ReadingsNotRecorded', { ...p })).toBeUndefined();
  });

  it('records one event per reason, starts over, keeps the totals and warns again next time', async () => {
    const { u, lines } = counter();
    const log = await EventLog.memory({ device: 'pi-01' });
    u.count('disk-full', ['temp', 'temp'], T0);
    u.count('disk-budget', ['hum'], T0);
    const written = await u.record(log, 'disk-full');
    expect(written.map((e) => [e.type, (e.data as { reason: string }).reason, e.meta?.actor])).toEqual([
      ['ReadingsNotRecorded', 'disk-full', 'system'],
    ]);
    expect((written[0]!.data as { count: number }).count).toBe(2);
    expect(u.counting('disk-full')).toBe(false);
    expect(u.counting('disk-budget')).toBe(true);
    expect(await u.record(log, 'disk-full')).toEqual([]);
    expect((await u.record(log)).map((e) => (e.data as { reason: string }).reason)).toEqual(['disk-budget']);
    expect(u.total('disk-full')).toBe(2);
    u.count('disk-full', ['temp'], T0 + 5);
    expect(lines).toHaveLength(3);
    await log.close();
  });

  it('keeps the counts, and what was counted meanwhile, when writing them fails', async () => {
    const { u, lines } = counter();
    u.count('disk-full', ['temp'], T0);
    let fail!: (e: Error) => void;
    const log = {
      appendMany: (_: EventInput[]) =>
        new Promise<never>((_r, reject) => {
          fail = reject;
        }),
    };
    const attempt = u.record(log);
    u.count('disk-full', ['hum'], T0 + 100);
    fail(new Error('ENOSPC'));
    await expect(attempt).rejects.toThrow('ENOSPC');
    expect(u.pending()).toEqual([
      {
        count: 2,
        reason: 'disk-full',
        since: '2026-12-04T10:00:00.000Z',
        until: '2026-12-04T10:00:00.100Z',
        sensors: { hum: 1, temp: 1 },
      },
    ]);
    expect(lines).toHaveLength(1);
  });

  it('counts other events by type beside the readings, outside the metric', () => {
    const { u, lines } = counter();
    u.countEvent('disk-full', 'SourceConnected', T0);
    u.count('disk-full', ['temp'], T0 + 1);
    expect(u.pending()).toEqual([
      {
        count: 1,
        reason: 'disk-full',
        since: '2026-12-04T10:00:00.000Z',
        until: '2026-12-04T10:00:00.001Z',
        sensors: { temp: 1 },
        events: { SourceConnected: 1 },
      },
    ]);
    expect(u.total('disk-full')).toBe(1);
    expect(lines).toHaveLength(1);
  });

  it('refuses a ReadingsNotRecorded without its fields', () => {
    expect(payloadProblem('ReadingsNotRecorded', { count: 1, reason: 'disk-full' })).toMatch(/since/);
    expect(
      payloadProblem('ReadingsNotRecorded', { count: -1, reason: 'x', since: 'a', until: 'b', sensors: {} }),
    ).toMatch(/count/);
  });
});
