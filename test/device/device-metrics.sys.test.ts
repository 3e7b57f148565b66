// `fieldlog device --metrics 0` as a real process, reading `fieldlog sim line --pty` and
// replicating to a real `fieldlog hub`: its /metrics says what it does, and promtool's
// own parser accepts it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { metricValue } from '../support/metrics-text.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-metrics-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
afterEach(async () => {
  await killAll(running);
});

const start = startInto(running);

const value = metricValue;

describe('fieldlog device --metrics', () => {
  it('serves the device metrics as valid Prometheus text', async () => {
    const hub = start([
      'hub',
      '--data',
      join(root, 'hub'),
      '--broker-port',
      '0',
      '--broker-host',
      '127.0.0.1',
    ]);
    const broker = /mqtt:\/\/[^\s,]+/.exec(await hub.waitFor(/broker mqtt:\/\//))![0];
    const sim = start(['sim', 'line', '--pty', '--rate', '20']);
    const port = await sim.waitFor(/^\//);
    const device = start([
      'device',
      '--id',
      'pi-m',
      '--data',
      join(root, 'device'),
      '--driver',
      'line',
      '--port',
      port,
      '--mqtt',
      broker,
      '--metrics',
      '0',
      '--no-ui',
    ]);
    const url = /http:\/\/\S+\/metrics/.exec(await device.waitFor(/metrics http:\/\//))![0];
    let text = '';
    await expect
      .poll(
        async () => {
          text = await (await fetch(url)).text();
          return (value(text, 'fieldlog_device_replication_acked_seq') ?? 0) > 0 &&
            (value(text, 'fieldlog_device_readings_total{source="line"}') ?? 0) > 0
            ? 'ready'
            : text;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe('ready');
    expect(value(text, 'fieldlog_device_source_connected{source="line"}')).toBe(1);
    expect(value(text, 'fieldlog_device_frames_rejected_total{source="line"}')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'fieldlog_device_frames_lost_total{source="line"}')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'fieldlog_device_log_head_seq')).toBeGreaterThan(1);
    expect(value(text, 'fieldlog_device_log_size_bytes')).toBeGreaterThan(0);
    expect(value(text, 'fieldlog_device_replication_connected')).toBe(1);
    expect(value(text, 'fieldlog_device_replication_backlog')).toBeGreaterThanOrEqual(0);
    expect(value(text, 'fieldlog_device_internal_errors_total{where="recorder"}')).toBe(0);
    expect(value(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.status).toBe(0);
    expect((await fetch(url.replace('/metrics', '/other'))).status).toBe(404);
    expect(await device.stop('SIGTERM')).toBe(0);
  });

  it('says the disk use, the budget, the free space and what the budget gave up', async () => {
    const sim = start(['sim', 'line', '--pty', '--rate', '20']);
    const port = await sim.waitFor(/^\//);
    const config = join(root, 'pi-budget.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-budget',
        sources: [{ name: 'line', driver: 'line', port }],
        retention: { maxBytes: '1kB', policy: 'thin' },
        metrics: { port: 0 },
      }),
    );
    const device = start(['device', '--config', config, '--data', join(root, 'budget'), '--no-ui']);
    const url = /http:\/\/\S+\/metrics/.exec(await device.waitFor(/metrics http:\/\//))![0];
    let text = '';
    // past a 1 kB budget from the start, with nothing to thin: readings are counted, not recorded
    await expect
      .poll(
        async () => {
          text = await (await fetch(url)).text();
          return (value(text, 'fieldlog_device_readings_not_recorded_total{reason="disk-budget"}') ?? 0) > 0
            ? 'ready'
            : text;
        },
        { timeout: 30_000, interval: 200 },
      )
      .toBe('ready');
    expect(value(text, 'fieldlog_device_log_budget_bytes')).toBe(1000);
    expect(value(text, 'fieldlog_device_log_bytes')).toBeGreaterThan(1000);
    expect(value(text, 'fieldlog_device_fs_free_bytes')).toBeGreaterThan(0);
    // the readings of the moments before the budget's first check were recorded (and may have
    // been thinned); from then on none is
    const recorded = value(text, 'fieldlog_device_readings_total{source="line"}')!;
    expect(value(text, 'fieldlog_device_readings_purged_total')).toBeLessThanOrEqual(recorded);
    const counted = value(text, 'fieldlog_device_readings_not_recorded_total{reason="disk-budget"}')!;
    await expect
      .poll(
        async () =>
          value(
            await (await fetch(url)).text(),
            'fieldlog_device_readings_not_recorded_total{reason="disk-budget"}',
          ),
        { timeout: 30_000, interval: 200 },
      )
      .toBeGreaterThan(counted + 10);
    text = await (await fetch(url)).text();
    expect(value(text, 'fieldlog_device_readings_total{source="line"}')).toBe(recorded);
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.status).toBe(0);
    expect(await device.stop('SIGTERM')).toBe(0);
  });
});
