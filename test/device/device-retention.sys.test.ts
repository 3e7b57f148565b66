// Retention on a real `fieldlog device` process reading `fieldlog sim line --pty` and
// replicating to a real `fieldlog hub` (its embedded broker): while it runs, acknowledged
// events older than `retention.keep` are pruned (its /metrics counts them, promtool checks
// the text), and afterwards `log verify` reports where the kept chain starts and its anchor,
// which is the hub's own hash at that seq: the hub holds everything, the device what is young.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { metricValue } from '../support/metrics-text.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
afterEach(async () => {
  await killAll(running);
});

const start = startInto(running);

const value = metricValue;

describe('fieldlog device with retention', () => {
  it('prunes acknowledged events older than keep while it runs; log verify reports the anchor', async () => {
    const hubData = join(root, 'hub');
    const hub = start(['hub', '--data', hubData, '--broker-port', '0', '--broker-host', '127.0.0.1']);
    const broker = /mqtt:\/\/[^\s,]+/.exec(await hub.waitFor(/broker mqtt:\/\//))![0];
    const sim = start(['sim', 'line', '--pty', '--rate', '50']);
    const port = await sim.waitFor(/^\//);
    const data = join(root, 'device');
    const config = join(root, 'pi-r.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-r',
        mqtt: { url: broker },
        retention: { keep: '3s' },
        sources: [{ name: 'node', driver: 'line', port }],
      }),
    );
    const device = start(['device', '--config', config, '--data', data, '--metrics', '0', '--no-ui']);
    const url = /http:\/\/\S+\/metrics/.exec(await device.waitFor(/metrics http:\/\//))![0];
    let text = '';
    await expect
      .poll(
        async () => {
          text = await (await fetch(url)).text();
          return (value(text, 'fieldlog_device_events_pruned_total') ?? 0) > 0 ? 'pruned' : text;
        },
        { timeout: 60_000, interval: 250 },
      )
      .toBe('pruned');
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(value(text, 'fieldlog_device_internal_errors_total{where="retention"}')).toBe(0);
    expect(await device.stop('SIGTERM')).toBe(0);
    expect(await hub.stop('SIGTERM')).toBe(0);

    const v = await runCli(['log', 'verify', data, '--json']);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as {
      ok: boolean;
      events: number;
      head: { seq: number };
      anchor: { seq: number; hash: string };
    };
    expect(report.ok).toBe(true);
    expect(report.anchor.seq).toBeGreaterThan(0);
    expect(report.events).toBe(report.head.seq - report.anchor.seq);
    const text2 = await runCli(['log', 'verify', data]);
    expect(text2.stdout).toContain(
      `starts at seq ${report.anchor.seq + 1}, anchored by hash ${report.anchor.hash}`,
    );

    // the hub holds the pruned events: its event at the anchor is the anchor, and it is old
    const cat = await runCli([
      'log',
      'cat',
      hubData,
      '--device',
      'pi-r',
      '--from-seq',
      String(report.anchor.seq),
      '--to-seq',
      String(report.anchor.seq),
    ]);
    const atAnchor = JSON.parse(cat.stdout) as { hash: string; time: string };
    expect(atAnchor.hash).toBe(report.anchor.hash);
    const head = await runCli(['log', 'cat', data, '--from-seq', String(report.head.seq)]);
    const last = JSON.parse(head.stdout) as { time: string };
    expect(Date.parse(last.time) - Date.parse(atAnchor.time)).toBeGreaterThanOrEqual(3000);
    const hubVerify = JSON.parse(
      (await runCli(['log', 'verify', hubData, '--device', 'pi-r', '--json'])).stdout,
    );
    expect(hubVerify).toMatchObject({ ok: true });
    expect(hubVerify.anchor).toBeUndefined();
  });
});
