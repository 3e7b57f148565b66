// The simulated fleet device's events: every one is a valid payload of its type that a real
// log seals; readings of several sensors, fixes along a track, and alarms raised, acknowledged
// by an operator and cleared, each with its actor.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../firmware-sim/firmata-board.js';
import { FleetDeviceModel, TEMP_LIMIT } from '../../firmware-sim/fleet-model.js';
import type { EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { payloadProblem } from '../../src/log/events.js';

function run(ticks: number, seed = 1): EventInput[] {
  const m = new FleetDeviceModel(3, seededRandom(seed));
  const out: EventInput[] = [];
  for (let i = 0; i < ticks; i++) out.push(...m.tick(Date.UTC(2026, 11, 4) + i * 1000));
  return out;
}

describe('FleetDeviceModel', () => {
  it('records valid readings, positions and alarms that a log seals', async () => {
    const events = run(3000);
    for (const e of events) expect(payloadProblem(e.type, e.data), JSON.stringify(e)).toBeUndefined();
    const sensors = new Set(events.filter((e) => e.type === 'ReadingRecorded').map((e) => e.data.sensor));
    expect([...sensors].sort()).toEqual(['hum', 'pressure', 'temp']);
    expect(events.filter((e) => e.type === 'PositionRecorded').length).toBe(300);
    const log = await EventLog.memory({ device: 'sim-0004' });
    await log.appendMany(events);
    expect(log.head().seq).toBe(events.length);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it('raises an alarm above the limit, has an operator acknowledge it, and clears it', () => {
    const events = run(3000);
    const alarms = events.filter((e) => e.type.startsWith('Alarm'));
    const raised = alarms.filter((e) => e.type === 'AlarmRaised');
    expect(raised.length).toBeGreaterThan(1);
    for (const r of raised) {
      expect(r.meta).toEqual({ actor: 'system' });
      expect(r.data.value as number).toBeGreaterThan(TEMP_LIMIT);
    }
    const acks = alarms.filter((e) => e.type === 'AlarmAcknowledged');
    expect(acks.length).toBeGreaterThan(0);
    for (const a of acks) expect(a.meta?.actor).toMatch(/^operator:op\d$/);
    // each raise is followed by at most one acknowledgement and then its clear, in that order
    let state: 'clear' | 'raised' | 'acked' = 'clear';
    for (const a of alarms) {
      if (a.type === 'AlarmRaised') expect(state).toBe('clear');
      if (a.type === 'AlarmAcknowledged') expect(state).toBe('raised');
      if (a.type === 'AlarmCleared') expect(state).not.toBe('clear');
      state = a.type === 'AlarmRaised' ? 'raised' : a.type === 'AlarmAcknowledged' ? 'acked' : 'clear';
    }
    expect(alarms.some((e) => e.type === 'AlarmCleared')).toBe(true);
  });

  it('gives the same events for the same seed', () => {
    expect(run(500, 42)).toEqual(run(500, 42));
    expect(run(500, 42)).not.toEqual(run(500, 43));
  });
});
