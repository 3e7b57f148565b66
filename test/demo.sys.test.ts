// `npm start` is `fieldlog demo`: everything on one machine, stopped cleanly, logs that verify
// and are signed by the device's key, which the demo's hub bound on first use.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../src/log/event-log.js';
import { loadIdentity } from '../src/log/signing.js';
import { runCli } from './support/cli.js';
import { startCli } from './support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-demo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fieldlog demo', () => {
  it('records the simulated sensors, replicates them to the hub, and stops cleanly', async () => {
    const demo = startCli(['demo', '--data', root, '--http', '0', '--no-ui']);
    try {
      const api = await demo.waitFor(/hub API http:/);
      await demo.waitFor(/uno connected/);
      await demo.waitFor(/reading\(s\) in 10 s; log head #\d+; hub holds #\d+ \(connected\)/, 30_000);
      const url = /http:\/\/[^/\s]+/.exec(api)![0];
      const devices = (await (await fetch(`${url}/devices`)).json()) as {
        devices: { device: string; head: { seq: number } }[];
      };
      expect(devices.devices[0]).toMatchObject({ device: 'demo-pi' });
      expect(devices.devices[0]!.head.seq).toBeGreaterThan(10);
      // the device made its key at first start, as `fieldlog device` does; the hub bound it
      const keyFile = join(root, 'device', 'device.key');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const { fingerprint } = loadIdentity(keyFile);
      expect(demo.lines).toContain(
        `device key ${fingerprint} (${keyFile}); the hub binds it on first use and keeps only what it signs`,
      );
      expect(devices.devices[0]).toMatchObject({ key: { fingerprint, enrolled: 'tofu', signed: true } });
    } finally {
      expect(await demo.stop('SIGINT')).toBe(0);
    }
    // where the hub API was, said again at the end (with the console on, the only place it is printed)
    expect(demo.lines).toContain(
      `hub API was http://127.0.0.1:${/:(\d+)\//.exec(await demo.waitFor(/hub API http:/))![1]}/devices; device log ${join(root, 'device')}, hub store ${join(root, 'hub')}`,
    );
    const dev = await EventLog.open(join(root, 'device'));
    const hub = await EventLog.open(join(root, 'hub'));
    try {
      const d = await dev.verify('demo-pi', {});
      const h = await hub.verify('demo-pi', {});
      expect(d.ok && h.ok).toBe(true);
      expect(h.head).toEqual(d.head);
      // signed to the head on both sides: the last group commit and the last batch end signed
      for (const r of [d, h])
        expect(r.signatures).toMatchObject({ keys: 1, lastSigned: d.head.seq, unsignedTail: null });
      const types = new Set<string>();
      for await (const e of dev.foldEvents()) types.add(e.type);
      for (const t of [
        'DeviceKeyAdded',
        'DeviceStarted',
        'SourceConnected',
        'ReadingRecorded',
        'PositionRecorded',
        'DeviceStopped',
      ])
        expect(types).toContain(t);
    } finally {
      await dev.close();
      await hub.close();
    }
    // what the demo tells a stranger to run says so too
    const fp = loadIdentity(join(root, 'device', 'device.key')).fingerprint;
    for (const dir of ['device', 'hub']) {
      const v = await runCli(['log', 'verify', join(root, dir)]);
      expect(v).toMatchObject({ code: 0, stderr: '' });
      expect(v.stdout).toMatch(
        new RegExp(
          `^demo-pi: ok, \\d+ events, head \\d+ [0-9a-f]{64}\\n {2}signed by ${fp} \\(1 key\\), last signature at seq \\d+\\n$`,
        ),
      );
    }
  });
});
