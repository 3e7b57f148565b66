// The device page in a real Chromium (Debian's, through playwright-core; skipped with one
// line where it is missing): a real `fieldlog hub` process serves a store holding a device
// with 1,000,000 readings over 30 days (the simulated fleet's model, sealed with its own
// clock so the readings are spread over the month), and a device with 1,000 readings over
// the same 30 days. Measured, each a median over fresh browser contexts (nothing cached):
//   1. page load to charts drawn (navigation to the page's first `data-charts` mark, on the
//      "30 days" range it opens on), for the big device ÷ the same for the small one; and
//      to all its parts drawn (`data-drawn`: the track and the timeline too), the same way:
//      what a thousand times the history costs the page;
//   2. the timeline's own read, as the page asks it (its event types over the 30 days, at
//      most 2,000), timed alone from this process: big ÷ small (the stores' index of sparse
//      events is what keeps it from reading a month of readings);
//   3. the bytes the page load transferred (HTML, scripts, styles, API answers), for the
//      big device ÷ the raw NDJSON of that device's events over the same 30 days
//      (/devices/ID/events?since=&until=): what the page spares the network.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium } from 'playwright-core';
import { seededRandom } from '../firmware-sim/firmata-board.js';
import { FleetDeviceModel } from '../firmware-sim/fleet-model.js';
import { openLevelFleetStore } from '../src/hub/leveldb-fleet-store.js';
import type { EventInput } from '../src/log/envelope.js';
import { EventLog } from '../src/log/event-log.js';
import { type BenchResult, median } from './report.js';

const DAY = 86_400_000;
const SPAN = 30 * DAY;
// the browser tests' Chromium (test/support/browser.ts, which the build cannot compile: it
// runs functions in the page, typed against the DOM)
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;

interface Hub {
  child: ChildProcess;
  base: string;
}

/** A real `fieldlog hub` on the store, its HTTP API and embedded broker on free ports. */
async function startHub(store: string): Promise<Hub> {
  const args = ['hub', '--data', store, '--broker-port', '0', '--broker-host', '127.0.0.1', '--http', '0'];
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  // read all it says (a pipe left unread would block it), until it says where it serves
  let out = '';
  const base = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      out += String(chunk);
      const m = /^fieldlog hub: .* http (http:\/\/[^\s,]+)/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('close', () => reject(new Error(`the hub stopped before serving: ${out}`)));
  });
  return { child, base };
}

async function stopHub(hub: Hub): Promise<void> {
  if (hub.child.exitCode !== null) return;
  hub.child.kill('SIGTERM');
  await once(hub.child, 'close');
}

/**
 * Store `readings` readings of one simulated device (with its fixes and alarms) spread
 * evenly over the 30 days up to `end`, through the fleet store's own append (verified,
 * chained, indexed as the hub's ingest stores them).
 */
async function fill(dir: string, device: string, readings: number, end: number): Promise<number> {
  const store = await openLevelFleetStore(dir, { create: true, sync: false });
  // the model adds a fix every tenth reading and a few alarm events: about 1.11 events a reading (1.15 keeps the last one before `end`)
  const step = SPAN / (readings * 1.15);
  const start = end - SPAN;
  let at = start;
  // each event sealed reads the clock once: it moves on by one step per event
  const clock = {
    now: () => {
      const t = at;
      at += step;
      return t;
    },
    mono: () => at - start,
  };
  const log = await EventLog.memory({ device, clock });
  const model = new FleetDeviceModel(1, seededRandom(7));
  let done = 0;
  let events = 0;
  try {
    while (done < readings) {
      const inputs: EventInput[] = [];
      while (inputs.length < 2000 && done < readings) {
        // each input is sealed at the clock's time: its own tick, spread over the month
        for (const input of model.tick(at)) inputs.push(input);
        done++;
      }
      const sealed = await log.appendMany(inputs);
      const outcome = await store.append(device, sealed);
      if (outcome.kind !== 'stored') throw new Error(`bench store refused a batch: ${outcome.kind}`);
      await outcome.written;
      events += sealed.length;
    }
  } finally {
    await log.close();
    await store.close();
  }
  return events;
}

/** The event types the page's timeline asks for (web/device-timeline.js TIMELINE_TYPES). */
const TIMELINE_TYPES = [
  'AlarmRaised',
  'AlarmAcknowledged',
  'AlarmCleared',
  'NoteAdded',
  'ThresholdChanged',
  'SourceConnected',
  'SourceDisconnected',
  'FramesRejected',
  'FramesLost',
  'DeviceStarted',
  'DeviceStopped',
  'EventRedacted',
];

/** ms for the timeline's read of `device` over the month up to `end`, its body read whole; and its events. */
async function timelineRead(hub: Hub, device: string, end: number): Promise<{ ms: number; events: number }> {
  const q = new URLSearchParams({
    type: TIMELINE_TYPES.join(','),
    since: new Date(end - SPAN).toISOString(),
    until: new Date(end).toISOString(),
    limit: '2000',
  });
  const t0 = performance.now();
  const text = await (await fetch(`${hub.base}/devices/${device}/events?${q}`)).text();
  return { ms: performance.now() - t0, events: text.split('\n').filter((l) => l !== '').length };
}

async function pageLoad(
  browser: Browser,
  hub: Hub,
  device: string,
): Promise<{ ms: number; allMs: number; bytes: number; points: number }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  let bytes = 0;
  page.on('requestfinished', (req) => {
    void req.sizes().then((s) => {
      bytes += s.responseBodySize + s.responseHeadersSize;
    });
  });
  const t0 = performance.now();
  await page.goto(`${hub.base}/device/${device}`);
  // both devices' histories span the month: the page opens on "30 days"
  await page.waitForSelector('body[data-charts="1"]');
  const ms = performance.now() - t0;
  await page.waitForSelector('body[data-drawn="1"]');
  const allMs = performance.now() - t0;
  const span = Number(
    await page.evaluate('window.fieldlogDevice.range.to - window.fieldlogDevice.range.from'),
  );
  if (span !== SPAN) throw new Error(`the page opened on a range of ${span} ms, not 30 days`);
  const points = Number(
    await page.evaluate(
      '[...window.fieldlogDevice.charts.charts.values()].reduce((n, c) => n + c.plot.data[0].length, 0)',
    ),
  );
  // let the last sizes settle before the context goes
  await page.waitForLoadState('networkidle').catch(() => {});
  await context.close();
  return { ms, allMs, bytes, points };
}

export async function benchPage({ quick }: { quick: boolean }): Promise<BenchResult[]> {
  if (!existsSync(CHROMIUM)) {
    process.stdout.write(`page: skipped, no Chromium at ${CHROMIUM} (set CHROMIUM=…)\n`);
    return [];
  }
  const big = quick ? 100_000 : 1_000_000;
  const small = 1_000;
  const dir = mkdtempSync(join(tmpdir(), 'fieldlog-bench-page-'));
  const end = Date.now();
  const store = join(dir, 'store');
  process.stdout.write(
    `page: filling a hub store with ${big.toLocaleString('en-US')} readings over 30 days…\n`,
  );
  const bigEvents = await fill(store, 'big', big, end);
  await fill(store, 'small', small, end);
  let browser: Browser | null = null;
  let hub: Hub | null = null;
  try {
    hub = await startHub(store);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    // a first load of each warms the hub (rollups, caches) and the browser's code cache
    await pageLoad(browser, hub, 'big');
    await pageLoad(browser, hub, 'small');
    const bigRuns: Awaited<ReturnType<typeof pageLoad>>[] = [];
    const smallRuns: Awaited<ReturnType<typeof pageLoad>>[] = [];
    for (let i = 0; i < (quick ? 2 : 5); i++) {
      bigRuns.push(await pageLoad(browser, hub, 'big'));
      smallRuns.push(await pageLoad(browser, hub, 'small'));
    }
    const bigReads: { ms: number; events: number }[] = [];
    const smallReads: { ms: number; events: number }[] = [];
    for (let i = 0; i < 5; i++) {
      bigReads.push(await timelineRead(hub, 'big', end));
      smallReads.push(await timelineRead(hub, 'small', end));
    }
    const raw = await fetch(
      `${hub.base}/devices/big/events?since=${new Date(end - SPAN).toISOString()}&until=${new Date(end).toISOString()}`,
    );
    let rawBytes = 0;
    for await (const chunk of raw.body!) rawBytes += (chunk as Uint8Array).byteLength;
    const bigMs = median(bigRuns.map((r) => r.ms));
    const smallMs = median(smallRuns.map((r) => r.ms));
    const bigBytes = median(bigRuns.map((r) => r.bytes));
    process.stdout.write(
      `page: big device ${bigEvents.toLocaleString('en-US')} events, ${bigRuns[0]!.points} points drawn, ${bigReads[0]!.events} timeline events; small ${smallRuns[0]!.points} points, ${smallReads[0]!.events} timeline events\n`,
    );
    return [
      {
        name: `page load ${big / 1000}k readings`,
        value: bigMs,
        unit: 'ms to charts drawn',
        baseline: {
          name: `the same page, ${small.toLocaleString('en-US')} readings`,
          value: smallMs,
          unit: 'ms',
        },
        ratio: bigMs / smallMs,
      },
      {
        name: `page drawn ${big / 1000}k readings`,
        value: median(bigRuns.map((r) => r.allMs)),
        unit: 'ms to all parts drawn',
        baseline: {
          name: `the same page, ${small.toLocaleString('en-US')} readings`,
          value: median(smallRuns.map((r) => r.allMs)),
          unit: 'ms',
        },
        ratio: median(bigRuns.map((r) => r.allMs)) / median(smallRuns.map((r) => r.allMs)),
      },
      {
        name: `timeline read ${big / 1000}k readings`,
        value: median(bigReads.map((r) => r.ms)),
        unit: 'ms',
        baseline: {
          name: `the same read, ${small.toLocaleString('en-US')} readings`,
          value: median(smallReads.map((r) => r.ms)),
          unit: 'ms',
        },
        ratio: median(bigReads.map((r) => r.ms)) / median(smallReads.map((r) => r.ms)),
      },
      {
        name: `page payload ${big / 1000}k readings`,
        value: bigBytes,
        unit: 'bytes transferred',
        baseline: { name: 'raw events of the range (NDJSON)', value: rawBytes, unit: 'bytes' },
        ratio: rawBytes / bigBytes,
      },
    ];
  } finally {
    await browser?.close();
    if (hub) await stopHub(hub);
    rmSync(dir, { recursive: true, force: true });
  }
}
