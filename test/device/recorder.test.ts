import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DeviceConfig } from '../../src/device/config.js';
import { Recorder } from '../../src/device/recorder.js';
import { EventLog } from '../../src/log/event-log.js';
import { FakeSource } from '../support/fake-source.js';

const config: DeviceConfig = {
  id: 'pi-01',
  sources: [{ name: 'node', driver: 'line', port: '/dev/fake' }],
  alarms: [{ sensor: 'temp', above: 30, hysteresis: 0.5 }],
};

const timers = {
  now: () => Date.now(),
  setTimeout: (cb: () => void, ms: number) => setTimeout(cb, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

async function events(log: EventLog, type?: string) {
  await log.flushed();
  const out = [];
  for await (const e of log.events()) if (!type || e.type === type) out.push(e);
  return out;
}

describe('Recorder', () => {
  let log: EventLog;
  let src: FakeSource;
  let rec: Recorder;
  beforeEach(async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    log = await EventLog.memory({ device: 'pi-01' });
    src = new FakeSource('node');
    rec = new Recorder(log, config, [src], {
      version: '9.9.9',
      clock: timers,
      rejectWindowMs: 5000,
      clockCheck: () => ({ synced: true, basis: 'test' }),
    });
    await rec.start();
  });
  afterEach(async () => {
    await rec.stop('test over');
    await log.close();
    vi.useRealTimers();
  });

  it('records DeviceStarted, connections and readings with the sensor as actor', async () => {
    src.emit({ kind: 'connected', port: '/dev/fake' });
    src.emit({
      kind: 'readings',
      counter: 1,
      readings: [
        { sensor: 'temp', value: 21.5, unit: 'C' },
        { sensor: 'hum', value: 40 },
      ],
    });
    const all = await events(log);
    expect(all.map((e) => e.type)).toEqual([
      'DeviceStarted',
      'SourceConnected',
      'ReadingRecorded',
      'ReadingRecorded',
    ]);
    expect(all[0]!.data).toMatchObject({
      version: '9.9.9',
      clockSynced: true,
      sources: [{ name: 'node', driver: 'line' }],
    });
    expect(all[2]).toMatchObject({
      data: { source: 'node', sensor: 'temp', value: 21.5, unit: 'C' },
      meta: { actor: 'sensor:node' },
    });
    expect(all[3]!.data).toEqual({ source: 'node', sensor: 'hum', value: 40 });
    expect(rec.state().sensors.temp?.value).toBe(21.5);
    expect(rec.state().sources.node?.connected).toBe(true);
  });

  it('raises and clears alarms with hysteresis', async () => {
    for (const v of [29, 30.5, 31, 29.8, 29.4, 30.2])
      src.emit({ kind: 'readings', readings: [{ sensor: 'temp', value: v }] });
    const alarms = (await events(log)).filter((e) => e.type.startsWith('Alarm'));
    expect(alarms.map((e) => `${e.type}:${(e.data as { value: number }).value}`)).toEqual([
      'AlarmRaised:30.5',
      'AlarmCleared:29.4',
      'AlarmRaised:30.2',
    ]);
    expect(alarms[0]!.data).toEqual({
      alarm: 'temp-above',
      sensor: 'temp',
      kind: 'above',
      limit: 30,
      value: 30.5,
    });
    expect(rec.activeAlarms()).toEqual(['temp-above']);
  });

  it('aggregates rejected frames: one event per source per window, flushed on disconnect', async () => {
    for (let i = 0; i < 7; i++)
      src.emit({ kind: 'rejected', reason: i % 2 ? 'checksum' : 'noise', sample: `aa${i}` });
    expect(await events(log, 'FramesRejected')).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(5000);
    src.emit({ kind: 'rejected', reason: 'overlong', sample: 'bb' });
    src.emit({ kind: 'disconnected', reason: 'unplugged', unavailable: false });
    const rej = await events(log, 'FramesRejected');
    expect(rej.map((e) => e.data)).toEqual([
      { source: 'node', count: 7, reasons: { noise: 4, checksum: 3 }, sample: 'aa0' },
      { source: 'node', count: 1, reasons: { overlong: 1 }, sample: 'bb' },
    ]);
    expect((await events(log)).at(-1)).toMatchObject({
      type: 'SourceDisconnected',
      data: { source: 'node', reason: 'unplugged' },
    });
    expect(rec.state().frames.rejected).toBe(8);
  });

  it('records frame loss, node identity, faults and answers', async () => {
    src.emit({ kind: 'lost', count: 3, after: 10, next: 14 });
    src.emit({ kind: 'identity', nodeId: 'n-7', firmware: 'fl-node', version: '1.2' });
    src.emit({ kind: 'fault', code: 'E2', text: 'sensor bus stuck' });
    src.emit({ kind: 'answer', command: 'RATE', ok: false, why: 'too fast' });
    const types = (await events(log)).slice(1).map((e) => [e.type, e.data]);
    expect(types).toEqual([
      ['FramesLost', { source: 'node', count: 3, after: 10, next: 14 }],
      ['SourceIdentified', { source: 'node', nodeId: 'n-7', firmware: 'fl-node', version: '1.2' }],
      ['SourceFaultReported', { source: 'node', code: 'E2', text: 'sensor bus stuck' }],
      ['SourceCommandAnswered', { source: 'node', command: 'RATE', ok: false, why: 'too fast' }],
    ]);
  });

  it('validates operator commands and records them with the operator as actor', async () => {
    const count = async () => (await events(log)).length;
    const before = await count();
    await expect(rec.acknowledgeAlarm('temp-above', 'ana')).rejects.toMatchObject({
      code: 'COMMAND_REJECTED',
    });
    await expect(rec.addNote('   ', 'ana')).rejects.toMatchObject({ code: 'COMMAND_REJECTED' });
    await expect(rec.addNote('hello', '')).rejects.toMatchObject({ code: 'COMMAND_REJECTED' });
    await expect(rec.changeThreshold('temp', { above: 10, below: 20 }, 'ana')).rejects.toMatchObject({
      code: 'COMMAND_REJECTED',
    });
    await expect(rec.changeThreshold('Temp!', { above: 10, below: null }, 'ana')).rejects.toMatchObject({
      code: 'COMMAND_REJECTED',
    });
    await expect(rec.changeThreshold('temp', { above: 30, below: null }, 'ana')).rejects.toMatchObject({
      code: 'COMMAND_REJECTED',
    });
    expect(await count()).toBe(before);

    src.emit({ kind: 'readings', readings: [{ sensor: 'temp', value: 25 }] });
    const change = await rec.changeThreshold('temp', { above: 24, below: null }, 'ana');
    expect(change).toMatchObject({
      type: 'ThresholdChanged',
      data: { sensor: 'temp', above: 24, below: null, hysteresis: 0.5 },
      meta: { actor: 'operator:ana' },
    });
    await log.flushed();
    expect(rec.activeAlarms()).toEqual(['temp-above']);
    const ack = await rec.acknowledgeAlarm('temp-above', 'bo b', 'fan checked');
    expect(ack).toMatchObject({
      data: { alarm: 'temp-above', comment: 'fan checked' },
      meta: { actor: 'operator:bo b' },
    });
    await expect(rec.acknowledgeAlarm('temp-above', 'ana')).rejects.toMatchObject({
      code: 'COMMAND_REJECTED',
    });
    const note = await rec.addNote(' door left open ', 'ana');
    expect(note.data).toEqual({ text: 'door left open' });
    await log.flushed();
    expect(rec.state().alarms['temp-above']).toMatchObject({ acknowledgedBy: 'operator:bo b' });
    expect(rec.state().notes.at(-1)).toMatchObject({ text: 'door left open', by: 'operator:ana' });
  });

  it('keeps operator thresholds and active alarms across a restart', async () => {
    src.emit({ kind: 'readings', readings: [{ sensor: 'temp', value: 25 }] });
    await rec.changeThreshold('temp', { above: 24, below: null }, 'ana');
    await rec.stop('restart');
    const src2 = new FakeSource('node');
    rec = new Recorder(log, config, [src2], {
      version: '9.9.9',
      clock: timers,
      clockCheck: () => ({ synced: false, basis: 'test' }),
    });
    await rec.start();
    expect(rec.limits('temp')).toEqual({ above: 24, below: null, hysteresis: 0.5 });
    expect(rec.activeAlarms()).toEqual(['temp-above']);
    src2.emit({ kind: 'readings', readings: [{ sensor: 'temp', value: 25.5 }] });
    const all = await events(log);
    expect(all.filter((e) => e.type === 'AlarmRaised')).toHaveLength(1);
    expect(
      all
        .filter((e) => e.type === 'DeviceStarted')
        .map((e) => (e.data as { clockSynced: boolean }).clockSynced),
    ).toEqual([true, false]);
    expect(
      all.some((e) => e.type === 'DeviceStopped' && (e.data as { reason: string }).reason === 'restart'),
    ).toBe(true);
  });

  it('stops cleanly: sources stopped, pending rejects written, DeviceStopped last', async () => {
    src.emit({ kind: 'rejected', reason: 'noise', sample: '00' });
    await rec.stop('SIGTERM');
    expect(src.stopped).toBe(true);
    const all = await events(log);
    expect(all.slice(-2).map((e) => e.type)).toEqual(['FramesRejected', 'DeviceStopped']);
    await expect(rec.addNote('late', 'ana')).rejects.toMatchObject({ code: 'COMMAND_REJECTED' });
    src.emit({ kind: 'readings', readings: [{ sensor: 'temp', value: 1 }] });
    expect(await events(log)).toHaveLength(all.length);
  });
});

describe('Recorder stopping', () => {
  it('records what a source reports while it stops', async () => {
    const log = await EventLog.memory({ device: 'pi-01' });
    const src = new FakeSource('gps', 'nmea');
    src.stop = async () => {
      src.emit({ kind: 'position', position: { fixTime: '2026-11-24T10:00:00.000Z', lat: 1, lon: 2 } });
    };
    const rec = new Recorder(log, config, [src], {
      version: '1',
      clock: timers,
      clockCheck: () => ({ synced: true, basis: 'test' }),
    });
    await rec.start();
    await rec.stop('SIGTERM');
    const types = (await events(log)).map((e) => e.type);
    expect(types).toEqual(['DeviceStarted', 'PositionRecorded', 'DeviceStopped']);
    await log.close();
  });
});
