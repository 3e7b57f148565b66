// `durability: "interval"` (the low-wear mode) on a real `fieldlog device` process reading
// the line simulator on a pty and replicating to a hub: killed with SIGKILL mid-stream, its
// log opens and verifies, what it lost is within the documented second, and nothing the hub
// acknowledged is missing from it.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { runCli } from '../support/cli.js';
import { killAll, type Proc, startInto } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-low-wear-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const running: Proc[] = [];
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await killAll(running);
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

const start = startInto(running);

describe('fieldlog device, durability "interval"', () => {
  it('after SIGKILL: the log verifies, loses at most the last second, and holds all the hub acknowledged', async () => {
    const broker = await startBroker({ port: 0 });
    cleanups.push(() => broker.close());
    const hubLog = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
    const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
    const ingest = new Ingest(fleetStoreOver(hubLog));
    await ingest.attach(client);
    cleanups.push(async () => {
      ingest.detach();
      await client.endAsync(true);
      await ingest.idle();
      await hubLog.close();
    });

    const sim = start(['sim', 'line', '--pty', '--rate', '50']);
    const port = await sim.waitFor(/^\//);
    const data = join(root, 'pi-lw');
    const config = join(root, 'pi-lw.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-lw',
        durability: 'interval',
        mqtt: { url: broker.url },
        sources: [{ name: 'node', driver: 'line', port }],
      }),
    );
    const device = start(['device', '--config', config, '--data', data, '--no-ui']);
    await device.waitFor(/replicating to mqtt:/);
    // replicated for a while: several fsync periods' worth on the hub
    await expect
      .poll(() => (hubLog.hasDevice('pi-lw') ? hubLog.head('pi-lw').seq : 0), { timeout: 30_000 })
      .toBeGreaterThan(150);
    await expect(device.stop('SIGKILL')).resolves.toBe('SIGKILL');
    const killedAt = Date.now();
    await ingest.idle();
    const held = hubLog.head('pi-lw');

    const v = await runCli(['log', 'verify', data, '--json']);
    expect(v.stderr).toBe('');
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout) as { ok: boolean; head: { seq: number; hash: string } };
    expect(report.ok).toBe(true);

    const log = await EventLog.open(data, { device: 'pi-lw' });
    try {
      // everything the hub holds is the device's own, unchanged: no fork on restart
      expect(log.head().seq).toBeGreaterThanOrEqual(held.seq);
      expect(await log.hashAt(held.seq)).toBe(held.hash);
      // what was lost: the readings of at most the last second (the sync period)
      const last = await log.get(log.head().seq);
      expect(killedAt - Date.parse(last!.time)).toBeLessThanOrEqual(1000);
    } finally {
      await log.close();
    }
  });

  it('refuses a bad durability in one line, exit 2, before opening anything', async () => {
    const config = join(root, 'bad.json');
    writeFileSync(
      config,
      JSON.stringify({
        id: 'pi-bad',
        durability: 'sometimes',
        sources: [{ name: 'n', driver: 'line', port: '/dev/null' }],
      }),
    );
    const r = await runCli(['device', '--config', config, '--data', join(root, 'bad'), '--no-ui']);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^fieldlog: .*bad\.json: durability: .*"every-commit"\|"interval" \[CONFIG_INVALID\]$/m,
    );
    expect(existsSync(join(root, 'bad'))).toBe(false);
  });
});
