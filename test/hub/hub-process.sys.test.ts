// The real `fieldlog hub` process: a slow live-feed client replaying 100,000 events must
// not make the hub hold the fleet's history in memory, and /metrics is valid Prometheus
// text by promtool's own parser.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { type Proc, startCli } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-hub-'));
const EVENTS = 100_000;
/** A reading with a sample of its raw frame, as a sensor node sends them: ~600 bytes of envelope. */
const RAW = '$FLR,1,temp:21.50:C,hum:40.1:%*00 '.repeat(8);

/** A hub store of EVENTS events from two devices, built the way the hub stores them. */
async function buildHubStore(dir: string): Promise<void> {
  const hub = await EventLog.open(dir, { create: true, fleet: true, sync: false });
  try {
    for (const device of ['pi-a', 'pi-b']) {
      const dev = await EventLog.memory({ device, clock: fakeClock() });
      for (let i = 0; i < EVENTS / 2; i += 1000) {
        await dev.appendMany(
          Array.from({ length: 1000 }, (_, k) => ({
            type: 'ReadingRecorded',
            data: { source: 'node', sensor: 'temp', value: i + k, unit: 'C', raw: RAW },
          })),
        );
        const batch: Envelope[] = [];
        for await (const e of dev.events({ fromSeq: i + 1 })) batch.push(e);
        await hub.appendSealed(batch);
      }
      await dev.close();
    }
  } finally {
    await hub.close();
  }
}

function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) * 1024;
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]); // utime + stime
}

/** Resolves once the process has used no CPU for several samples in a row: it has done what it can. */
async function idle(pid: number, onSample: () => void): Promise<void> {
  let last = -1;
  let still = 0;
  while (still < 5) {
    await new Promise((r) => setTimeout(r, 100));
    onSample();
    const now = cpuTicks(pid);
    still = now === last ? still + 1 : 0;
    last = now;
  }
}

let hub: Proc;
let base: string;
beforeAll(async () => {
  await buildHubStore(join(root, 'hub'));
  hub = startCli(['hub', '--data', join(root, 'hub'), '--http', '0', '--broker-port', '0']);
  const line = await hub.waitFor(/http http:\/\//);
  base = /http:\/\/[^\s,]+/.exec(line)![0];
}, 300_000);

afterAll(async () => {
  await hub?.stop('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe('fieldlog hub (process)', () => {
  it('replays 100,000 events to a slow live client without holding them in memory', async () => {
    const pid = hub.child.pid!;
    // warm up what every request touches, then take the hub's footprint at rest
    for (const path of ['/devices', '/metrics', '/fleet/events?limit=1000'])
      await (await fetch(base + path)).text();
    await idle(pid, () => {});
    const baseline = rssBytes(pid);
    let peak = baseline;
    const sample = () => {
      peak = Math.max(peak, rssBytes(pid));
    };

    const res = await new Promise<IncomingMessage>((resolve, reject) =>
      get(`${base}/fleet/live`, { headers: { 'last-event-id': '0' } }, resolve).on('error', reject),
    );
    expect(res.statusCode).toBe(200);
    res.setEncoding('utf8');
    // read 5,000 events at a time, then stop reading until the hub has done all it can
    let expected = 1;
    let gaps = 0;
    let buf = '';
    let pauseAt = 5_000;
    const done = new Promise<void>((resolve, reject) => {
      res.on('data', (chunk: string) => {
        buf += chunk;
        const end = buf.lastIndexOf('\n\n');
        if (end < 0) return;
        for (const m of buf.slice(0, end).matchAll(/^id: (\d+)$/gm)) {
          if (Number(m[1]) !== expected) gaps++;
          expected = Number(m[1]) + 1;
        }
        buf = buf.slice(end + 2);
        if (expected > EVENTS) return resolve();
        if (expected > pauseAt) {
          pauseAt += 5_000;
          res.pause();
          idle(pid, sample).then(() => res.resume(), reject);
        }
      });
      res.on('error', reject);
    });
    await done;
    res.destroy();
    expect(gaps).toBe(0);
    expect(expected - 1).toBe(EVENTS);
    const grew = peak - baseline;
    console.log(
      `hub RSS at rest ${(baseline / 2 ** 20).toFixed(0)} MiB, peak during the replay ${(peak / 2 ** 20).toFixed(0)} MiB (+${(grew / 2 ** 20).toFixed(0)} MiB)`,
    );
    // the history replayed is ~60 MiB of event text (the hub that wrote it all to the
    // socket at once grew by ~200 MiB); a hub that follows the client's pace holds a
    // socket's worth and its own working set (~30 MiB measured), never the history
    expect(grew).toBeLessThan(64 * 2 ** 20);
  });

  it('serves /metrics that promtool accepts', async () => {
    const res = await fetch(`${base}/metrics`);
    const text = await res.text();
    // promtool's parser and linter: exit 0 only for text it parses with nothing to flag
    // (a family declared twice is a parse error)
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`).toBe('');
    expect(check.status).toBe(0);
    expect(text).toMatch(/^fieldlog_hub_device_head_seq\{device="pi-a"\} 50000$/m);
    expect(text).toMatch(/^fieldlog_hub_live_clients_dropped_total 0$/m);
  });
});
