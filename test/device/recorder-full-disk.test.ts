// What the recorder decides when its log's disk is full (LOG_DISK_FULL): readings counted,
// its other events held and written first when writing works again, then the
// ReadingsNotRecorded; operator commands refused; never an 'error' that would stop the device.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DeviceConfig } from '../../src/device/config.js';
import { HELD_MAX, Recorder } from '../../src/device/recorder.js';
import { UnrecordedReadings } from '../../src/device/unrecorded.js';
import { EventLog } from '../../src/log/event-log.js';
import { FakeSource } from '../support/fake-source.js';
import { manualTimers } from '../support/manual-timers.js';

const config: DeviceConfig = {
  id: 'pi-01',
  sources: [{ name: 'node', driver: 'line', port: '/dev/fake' }],
  alarms: [{ sensor: 'temp', above: 30 }],
};

function enospc(): Error {
  return Object.assign(new Error('IO error: 000005.log: No space left on device'), {
    code: 'LEVEL_IO_ERROR',
  });
}

describe('Recorder on a full disk', () => {
  let log: EventLog;
  let src: FakeSource;
  let rec: Recorder;
  let timers: ReturnType<typeof manualTimers>;
  let warnings: string[];
  let errors: unknown[];

  beforeEach(async () => {
    timers = manualTimers();
    log = await EventLog.memory({ device: 'pi-01', diskFull: { timers } });
    src = new FakeSource('node');
    warnings = [];
    errors = [];
    rec = new Recorder(log, config, [src], {
      version: '9.9.9',
      clockCheck: () => ({ synced: true, basis: 'test' }),
      unrecorded: new UnrecordedReadings({ warn: (l) => warnings.push(l) }),
    });
    rec.on('error', (e) => errors.push(e));
    await rec.start();
    src.emit({ kind: 'connected', port: '/dev/fake' });
    src.reading('temp', 20);
    await log.flushed();
  });
  afterEach(async () => {
    await rec.stop('test over');
    await log.close();
  });

  const fill = () => {
    log.disk.write = () => Promise.reject(enospc());
  };
  const free = () => {
    delete (log.disk as { write?: unknown }).write;
  };
  async function types(fromSeq: number) {
    await log.flushed();
    const out: { type: string; data: unknown }[] = [];
    for await (const e of log.events({ fromSeq })) out.push({ type: e.type, data: e.data });
    return out;
  }

  it('counts readings, holds alarms and source events, and writes them first when space returns', async () => {
    const head = log.head().seq;
    fill();
    src.reading('temp', 35); // decides AlarmRaised, in the batch that fails
    await expect.poll(() => log.diskFull).toBe(true);
    src.emit({
      kind: 'readings',
      readings: [
        { sensor: 'temp', value: 36 },
        { sensor: 'hum', value: 50 },
      ],
    });
    src.emit({ kind: 'disconnected', reason: 'unplugged', unavailable: false });
    await expect(rec.addNote('hello', 'ana')).rejects.toMatchObject({ code: 'COMMAND_REJECTED' });
    expect(log.head().seq).toBe(head);
    expect(rec.unrecorded.pending()).toMatchObject([
      { count: 3, reason: 'disk-full', sensors: { hum: 1, temp: 2 } },
    ]);
    expect(rec.unrecorded.total('disk-full')).toBe(3);
    expect(warnings).toHaveLength(1);
    expect(errors).toEqual([]);

    free();
    const writable = new Promise((r) => log.once('writable', r));
    timers.fire();
    await writable;
    src.reading('temp', 37);
    const after = await types(head + 1);
    expect(after.map((e) => e.type)).toEqual([
      'AlarmRaised',
      'SourceDisconnected',
      'ReadingsNotRecorded',
      'ReadingRecorded',
    ]);
    expect(after[2]!.data).toMatchObject({ count: 3, reason: 'disk-full', sensors: { hum: 1, temp: 2 } });
    expect(rec.unrecorded.counting()).toBe(false);
    expect((await log.verify()).ok).toBe(true);
    // commands work again
    await expect(rec.addNote('back', 'ana')).resolves.toMatchObject({ type: 'NoteAdded' });
  });

  it('holds at most HELD_MAX events and counts the rest by type', async () => {
    fill();
    src.reading('temp', 21);
    await expect.poll(() => log.diskFull).toBe(true);
    for (let i = 0; i < HELD_MAX + 3; i++) src.emit({ kind: 'fault', code: 'E1', text: 'x' });
    free();
    const writable = new Promise((r) => log.once('writable', r));
    timers.fire();
    await writable;
    const written = await types(1);
    expect(written.filter((e) => e.type === 'SourceFaultReported')).toHaveLength(HELD_MAX);
    expect(written.find((e) => e.type === 'ReadingsNotRecorded')?.data).toMatchObject({
      count: 1,
      events: { SourceFaultReported: 3 },
    });
  });

  it('stopReadings (a budget\'s "stop"): readings counted as disk-budget, their alarms written, the count recorded on resume', async () => {
    const head = log.head().seq;
    await rec.stopReadings('disk-budget');
    src.reading('temp', 35);
    src.reading('hum', 40);
    src.emit({ kind: 'position', position: { fixTime: '10:00:00.000Z', lat: 1, lon: 2 } });
    await log.flushed();
    expect((await types(head + 1)).map((e) => e.type)).toEqual(['AlarmRaised']);
    expect(rec.unrecorded.total('disk-budget')).toBe(3);
    await rec.stopReadings(null);
    src.reading('temp', 20);
    const after = await types(head + 2);
    expect(after.map((e) => e.type)).toEqual(['ReadingsNotRecorded', 'ReadingRecorded', 'AlarmCleared']);
    expect(after[0]!.data).toMatchObject({
      count: 3,
      reason: 'disk-budget',
      sensors: { hum: 1, node: 1, temp: 1 },
    });
    expect(errors).toEqual([]);
  });

  it('still stops the device on other write errors', async () => {
    log.disk.write = () => Promise.reject(new Error('EIO: i/o error, write'));
    src.reading('temp', 21);
    await expect.poll(() => errors.length).toBe(1);
    expect(errors[0]).toMatchObject({ code: 'LOG_WRITE_FAILED' });
    free();
  });
});
