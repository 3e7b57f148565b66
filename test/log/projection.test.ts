import { describe, expect, it } from 'vitest';
import { applyDeviceEvent, deviceState, emptyDeviceState } from '../../src/log/device-state.js';
import { EventLog } from '../../src/log/event-log.js';
import { foldAll, Projector } from '../../src/log/projection.js';
import { fakeClock, reading } from './helpers.js';

async function seeded(n: number) {
  const log = await EventLog.memory({
    device: 'd',
    clock: fakeClock(Date.parse('2026-01-01T00:00:00.000Z'), 1000),
  });
  await log.append({ type: 'DeviceStarted', data: { version: '1', sources: [], clockSynced: true } });
  for (let i = 1; i < n; i++) await log.append(reading('temp', i));
  return log;
}

describe('device state projection', () => {
  it('folds readings, alarms, acknowledgements, thresholds and notes', () => {
    const ev = (seq: number, type: string, data: Record<string, unknown> | null, actor?: string) => ({
      seq,
      type,
      data,
      timeMs: seq * 1000,
      time: new Date(seq * 1000).toISOString(),
      boot: 'b',
      mono: seq,
      ...(actor ? { meta: { actor } } : {}),
    });
    const s0 = emptyDeviceState();
    const s = foldAll(deviceState, [
      ev(1, 'DeviceStarted', { version: '1', sources: [], clockSynced: false }),
      ev(2, 'ReadingRecorded', { source: 'n', sensor: 't', value: 5, unit: 'C' }),
      ev(3, 'ReadingRecorded', { source: 'n', sensor: 't', value: -2, unit: 'C' }),
      ev(4, 'AlarmRaised', { alarm: 't-below', sensor: 't', kind: 'below', limit: 0, value: -2 }),
      ev(5, 'AlarmAcknowledged', { alarm: 't-below' }, 'operator:ann'),
      ev(6, 'ThresholdChanged', { sensor: 't', above: 30, below: -5 }, 'operator:ann'),
      ev(7, 'NoteAdded', { text: 'door open' }, 'operator:bob'),
      ev(8, 'NoteAdded', null),
    ]);
    expect(s.sensors.t).toMatchObject({ value: -2, min: -2, max: 5, count: 2, unit: 'C', seq: 3 });
    expect(s.alarms['t-below']).toMatchObject({ kind: 'below', acknowledgedBy: 'operator:ann' });
    expect(s.thresholds.t).toMatchObject({ above: 30, below: -5, by: 'operator:ann' });
    expect(s.notes).toEqual([
      { seq: 7, time: new Date(7000).toISOString(), text: 'door open', by: 'operator:bob' },
    ]);
    expect(s).toMatchObject({ seq: 8, events: 8, boots: 1, clockSynced: false });
    expect(s0).toEqual(emptyDeviceState()); // the fold never touched the initial state
    const cleared = applyDeviceEvent(s, ev(9, 'AlarmCleared', { alarm: 't-below', sensor: 't', value: 1 }));
    expect(cleared.alarms).toEqual({});
    expect(s.alarms['t-below']).toBeDefined();
    // a clock synchronised while running: the state says so, until the next start judges again
    const synced = applyDeviceEvent(s, ev(10, 'ClockSynced', { offsetMs: 3600000, source: 'hub' }));
    expect(synced.clockSynced).toBe(true);
    expect(applyDeviceEvent(synced, ev(11, 'ClockJumped', { deltaMs: 5000 })).clockSynced).toBe(true);
  });
});

describe('Projector', () => {
  it('answers state as of a seq and as of a time', async () => {
    const log = await seeded(50);
    const p = new Projector(log, deviceState);
    const now = await p.stateAt();
    expect(now.state.sensors.temp?.value).toBe(49);
    const at10 = await p.stateAt({ seq: 10 });
    expect(at10.state.sensors.temp).toMatchObject({ value: 9, max: 9, count: 9 });
    const atTime = await p.stateAt({ time: '2026-01-01T00:00:20.500Z' });
    expect(atTime.seq).toBe(21);
    expect(atTime.state.sensors.temp?.value).toBe(20);
    await log.close();
  });

  it('writes snapshots every N events, starts from them, and ignores one that no longer matches the chain', async () => {
    const log = await seeded(95);
    const p = new Projector(log, deviceState, { snapshotEvery: 20 });
    const full = await p.stateAt();
    expect(full.fromSnapshot).toBe(0);
    const again = await p.stateAt();
    expect(again.fromSnapshot).toBe(80);
    expect(again.state).toEqual(full.state);
    const mid = await p.stateAt({ seq: 70 });
    expect(mid.fromSnapshot).toBe(60);
    expect(mid.state.sensors.temp?.value).toBe(69);
    // a snapshot whose event hash differs (as if written for another history) is dropped
    await log.saveSnapshot(`device-state@${deviceState.version}`, 60, JSON.stringify({ bogus: true }));
    const key = (await log.db.keys({ reverse: true }).all()).find((k) => k[0] === 0x12 && k.at(-1) === 60);
    expect(key).toBeDefined();
    const raw = await log.db.get(key!);
    const tampered = new TextDecoder().decode(raw).replace(/"hash":"[0-9a-f]{4}/, '"hash":"ffff');
    await log.db.put(key!, new TextEncoder().encode(tampered));
    const at65 = await p.stateAt({ seq: 65 });
    expect(at65.fromSnapshot).toBe(40);
    expect(at65.state.sensors.temp?.value).toBe(64);
    await log.close();
  });

  it('folds what-if events in memory without writing them', async () => {
    const log = await seeded(5);
    const p = new Projector(log, deviceState);
    const w = await p.whatIf([
      reading('temp', 100),
      {
        type: 'AlarmRaised',
        data: { alarm: 'temp-above', sensor: 'temp', kind: 'above', limit: 90, value: 100 },
      },
    ]);
    expect(w.state.sensors.temp?.value).toBe(100);
    expect(Object.keys(w.state.alarms)).toEqual(['temp-above']);
    expect(log.count()).toBe(5);
    expect((await p.stateAt()).state.sensors.temp?.value).toBe(4);
    await log.close();
  });
});
