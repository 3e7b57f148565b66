// The real processes: `fieldlog sim` on socat ptys and `fieldlog device` reading them.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-device-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
afterEach(async () => {
  await killAll(running);
});

const start = startInto(running);

/** `fieldlog device` headless on one source. */
function device(id: string, dir: string, driver: string, port: string): Proc {
  return start(['device', '--id', id, '--data', dir, '--driver', driver, '--port', port, '--no-ui']);
}

async function sim(kind: string, ...extra: string[]): Promise<{ proc: Proc; port: string }> {
  const proc = start(['sim', kind, '--pty', ...extra]);
  const port = await proc.waitFor(/^\//);
  return { proc, port };
}

async function readLog(dir: string): Promise<Envelope[]> {
  const log = await EventLog.open(dir);
  try {
    const report = await log.verify();
    expect(report.errors).toEqual([]);
    const out: Envelope[] = [];
    for await (const e of log.events()) out.push(e);
    return out;
  } finally {
    await log.close();
  }
}

describe('fieldlog device with fieldlog sim on ptys', () => {
  it('records a noisy line node: readings, rejects in aggregate, never a bad reading', async () => {
    const { port } = await sim(
      'line',
      '--rate',
      '20',
      '--faults',
      'garbage,checksum,truncate,overlong,drop',
      '--seed',
      '7',
    );
    const dir = join(root, 'line');
    const dev = device('pi-line', dir, 'line', port);
    await dev.waitFor(/line connected/);
    await dev.waitFor(/bad frame\(s\) rejected/, 30_000);
    await dev.waitFor(/frame\(s\) lost/, 30_000);
    expect(await dev.stop('SIGTERM')).toBe(0);
    const events = await readLog(dir);
    const readings = events.filter((e) => e.type === 'ReadingRecorded');
    expect(readings.length).toBeGreaterThan(20);
    for (const r of readings) {
      expect(r.data).toMatchObject({ source: 'line' });
      expect(['temp', 'hum', 'pressure']).toContain((r.data as { sensor: string }).sensor);
      expect(Number.isFinite((r.data as { value: number }).value)).toBe(true);
    }
    // the node's start-up $FLI is lost before the port opens; the device asks on connect
    expect(events.find((e) => e.type === 'SourceIdentified')?.data).toMatchObject({
      source: 'line',
      nodeId: expect.any(String),
    });
    const rejected = events.filter((e) => e.type === 'FramesRejected');
    expect(rejected.length).toBeGreaterThan(0);
    expect(events.at(-1)).toMatchObject({ type: 'DeviceStopped', data: { reason: 'SIGTERM' } });
  });

  it('survives SIGKILL mid-stream: the log verifies and the next start continues the chain', async () => {
    const { port } = await sim('line', '--rate', '50');
    const dir = join(root, 'kill');
    const args = ['device', '--id', 'pi-kill', '--data', dir, '--driver', 'line', '--port', port, '--no-ui'];
    const first = start(args);
    await first.waitFor(/reading\(s\) recorded|line connected/);
    await new Promise((r) => setTimeout(r, 700)); // let readings flow before the plug is pulled
    await first.stop('SIGKILL');
    const afterKill = await readLog(dir);
    expect(afterKill.some((e) => e.type === 'ReadingRecorded')).toBe(true);
    const second = start(args);
    await second.waitFor(/line connected/);
    expect(await second.stop('SIGINT')).toBe(0);
    const all = await readLog(dir);
    expect(all.length).toBeGreaterThan(afterKill.length);
    expect(all.filter((e) => e.type === 'DeviceStarted')).toHaveLength(2);
    expect(all.slice(0, afterKill.length)).toEqual(afterKill);
  });

  it('refuses a second device on the same folder while the first keeps logging', async () => {
    const { port } = await sim('line', '--rate', '20');
    const dir = join(root, 'locked');
    const first = device('pi-lock', dir, 'line', port);
    await first.waitFor(/line connected/);
    const second = await runCli([
      'device',
      '--id',
      'pi-lock',
      '--data',
      dir,
      '--driver',
      'line',
      '--port',
      port,
      '--no-ui',
    ]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/LOG_LOCKED/);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    await first.waitFor(/reading\(s\) recorded/, 15_000);
    expect(await first.stop()).toBe(0);
  });

  it('records a GPS receiver on a pty as positions', async () => {
    const { port } = await sim('nmea', '--rate', '5');
    const dir = join(root, 'gps');
    const dev = device('pi-gps', dir, 'nmea', port);
    await dev.waitFor(/reading\(s\) recorded/, 20_000);
    expect(await dev.stop()).toBe(0);
    const positions = (await readLog(dir)).filter((e) => e.type === 'PositionRecorded');
    expect(positions.length).toBeGreaterThan(0);
    expect(positions[0]!.data).toMatchObject({
      source: 'nmea',
      lat: expect.any(Number),
      lon: expect.any(Number),
    });
  });

  it('reads a simulated StandardFirmata board through johnny-five on a pty', async () => {
    const { port } = await sim('firmata');
    const dir = join(root, 'firmata');
    const config = join(root, 'firmata.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-uno',
        sources: [
          {
            name: 'uno',
            driver: 'firmata',
            port,
            sampleMs: 200,
            pins: [
              { sensor: 'light', pin: 'A0', unit: '%', scale: [0, 100] },
              { sensor: 'raw', pin: 'A1' },
            ],
          },
        ],
        // always raised: its line shows light to the ADC step over 0–100 (2 decimals)
        alarms: [{ sensor: 'light', below: 101 }],
      }),
    );
    const dev = start(['device', '--config', config, '--data', dir, '--no-ui']);
    await dev.waitFor(/uno connected/, 20_000);
    await dev.waitFor(/reading\(s\) recorded/, 20_000);
    expect(await dev.waitFor(/ALARM light/)).toMatch(/ALARM light below 101\.00: \d{1,3}\.\d\d$/);
    expect(await dev.stop()).toBe(0);
    const readings = (await readLog(dir))
      .filter((e) => e.type === 'ReadingRecorded')
      .map((e) => e.data as { sensor: string; value: number; unit?: string });
    const light = readings.filter((r) => r.sensor === 'light');
    const raw = readings.filter((r) => r.sensor === 'raw');
    expect(light.length).toBeGreaterThan(0);
    for (const r of light) expect(r.value >= 0 && r.value <= 100 && r.unit === '%').toBe(true);
    for (const r of raw) expect(Number.isInteger(r.value) && r.value >= 0 && r.value <= 1023).toBe(true);
  });

  it('records an unplugged cable and resumes when it is back', async () => {
    const { port } = await sim('line', '--rate', '20', '--faults', 'disconnect', '--seed', '3');
    const dir = join(root, 'unplug');
    const dev = device('pi-unplug', dir, 'line', port);
    await dev.waitFor(/line connected/);
    await dev.waitFor(/line (disconnected|unavailable)/, 40_000);
    await expect
      .poll(() => dev.lines.filter((l) => /line connected/.test(l)).length, {
        timeout: 40_000,
        interval: 200,
      })
      .toBeGreaterThan(1);
    expect(await dev.stop()).toBe(0);
    const events = await readLog(dir);
    const types = events.map((e) => e.type);
    const firstDown = types.indexOf('SourceDisconnected');
    expect(firstDown).toBeGreaterThan(0);
    expect(types.slice(firstDown).includes('SourceConnected')).toBe(true);
  });

  it('keeps logging from the other sources while one is unplugged', async () => {
    const a = await sim('line', '--rate', '20', '--faults', 'disconnect', '--seed', '5');
    const b = await sim('line', '--rate', '20');
    const dir = join(root, 'two');
    const config = join(root, 'two.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-two',
        sources: [
          { name: 'flaky', driver: 'line', port: a.port },
          { name: 'steady', driver: 'line', port: b.port },
        ],
      }),
    );
    const dev = start(['device', '--config', config, '--data', dir, '--no-ui']);
    await dev.waitFor(/flaky (disconnected|unavailable)/, 40_000);
    await expect
      .poll(() => dev.lines.filter((l) => /flaky connected/.test(l)).length, {
        timeout: 40_000,
        interval: 200,
      })
      .toBeGreaterThan(1);
    expect(await dev.stop()).toBe(0);
    const events = await readLog(dir);
    const down = events.findIndex(
      (e) => e.type === 'SourceDisconnected' && (e.data as { source: string }).source === 'flaky',
    );
    const up = events.findIndex(
      (e, i) => i > down && e.type === 'SourceConnected' && (e.data as { source: string }).source === 'flaky',
    );
    const during = events.slice(down, up).filter((e) => e.type === 'ReadingRecorded');
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((e) => (e.data as { source: string }).source === 'steady')).toBe(true);
  });

  it('refuses bad flags and configuration in one line with exit code 2, writing nothing', async () => {
    const dir = join(root, 'never');
    for (const args of [
      ['device', '--id', 'x', '--data', dir, '--driver', 'modbus', '--port', '/dev/null'],
      ['device', '--id', 'bad id', '--data', dir, '--driver', 'line', '--port', '/dev/null'],
      ['device', '--data', dir, '--driver', 'line', '--port', '/dev/null', '--baud', 'fast'],
      ['device', '--id', 'x', '--driver', 'line', '--port', '/dev/null'],
      ['device', '--id', 'x', '--data', dir, '--driver', 'line', '--port', '/dev/null', '--colour', 'red'],
      ['sim', 'line', '--pty', '--faults', 'gremlins'],
    ]) {
      const r = await runCli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
    const cfg = join(root, 'bad.json');
    writeFileSync(
      cfg,
      JSON.stringify({ id: 'x', sources: [{ name: 'a', driver: 'line', port: '/dev/null', speed: 9600 }] }),
    );
    const r = await runCli(['device', '--config', cfg, '--data', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown key "sources\[0\]\.speed"/);
    expect(existsSync(dir)).toBe(false);
  });
});
