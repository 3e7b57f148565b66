// Browser tests' harness: Debian's Chromium driven by playwright-core (which downloads no
// browser), pages that record every console error, uncaught page error, failed request and
// HTTP error answer (a browser test ends asserting there were none), and the real processes
// a page is tested against: a `fieldlog hub` with its embedded broker and its HTTP API on
// port 0, fed by `fieldlog sim fleet` or by a `fieldlog device` reading a simulated sensor
// on a pty. Conditions are waited for by watching them (the hub's status, /devices, the
// page), never by sleeping.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { type Proc, startCli } from './proc.js';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
/**
 * Where screenshots are written: over the README's (committed, docs/screenshots) only when
 * FIELDLOG_SCREENSHOTS=1 asks, else into a temporary folder, so that a test run leaves the
 * working tree as it found it.
 */
export const SCREENSHOTS =
  process.env.FIELDLOG_SCREENSHOTS === '1'
    ? fileURLToPath(new URL('../../docs/screenshots/', import.meta.url))
    : join(tmpdir(), 'fieldlog-screenshots');

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

export interface WatchedPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, page errors, failed requests and 4xx/5xx answers, in order. */
  problems: string[];
  /** Stops recording problems (before closing: closing aborts the page's live streams). */
  close(): Promise<void>;
}

/**
 * A page of its own context (own cookies) at the given viewport, recording problems from
 * the first request on, then navigated to `url` (until the load event).
 */
export async function openPage(
  browser: Browser,
  url: string,
  { width = 1280, height = 800 }: { width?: number; height?: number } = {},
): Promise<WatchedPage> {
  const context = await browser.newContext({ viewport: { width, height } });
  const page = await context.newPage();
  const problems: string[] = [];
  let recording = true;
  const note = (s: string) => {
    if (recording) problems.push(s);
  };
  page.on('console', (m) => {
    if (m.type() === 'error') note(`console error: ${m.text()} (${m.location().url})`);
  });
  page.on('pageerror', (e) => note(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // a read the page itself aborted (superseded by a newer one: its AbortController) is by
    // design; Chromium reports it as ERR_ABORTED. Anything else is a problem.
    const why = r.failure()?.errorText;
    if (why === 'net::ERR_ABORTED' && r.resourceType() === 'fetch') return;
    note(`request failed: ${r.method()} ${r.url()}: ${why}`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) note(`HTTP ${r.status()}: ${r.request().method()} ${r.url()}`);
  });
  await page.goto(url);
  return {
    page,
    context,
    problems,
    async close() {
      recording = false;
      await context.close();
    },
  };
}

/** The page's width as laid out: more than the viewport means a horizontal scroll bar. */
export function scrollWidth(page: Page): Promise<number> {
  return page.evaluate(() => document.scrollingElement!.scrollWidth);
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Every process a helper started, for `stopAll` in afterAll. */
const started: Proc[] = [];
const folders: string[] = [];

function start(args: string[]): Proc {
  const p = startCli(args);
  started.push(p);
  return p;
}

function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `fieldlog-web-${name}-`));
  folders.push(dir);
  return dir;
}

/** Kills every process the helpers started (devices first, the hub last) and removes their folders. */
export async function stopAll(): Promise<void> {
  for (const p of started.splice(0).reverse()) await p.stop('SIGKILL');
  for (const d of folders.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface HubProcess {
  proc: Proc;
  /** The HTTP base URL, `http://127.0.0.1:PORT`. */
  base: string;
  /** The embedded broker's URL, for devices. */
  mqtt: string;
  dir: string;
  /** Its store: the LevelDB folder (restart a hub on it with `startHub({store})`) or URL. */
  store: string;
}

/**
 * A real `fieldlog hub`: its own LevelDB folder (or `store`, e.g. a postgres:// URL), the
 * embedded broker and the HTTP API on free ports, `args` added (`--map-tiles …`). Resolves
 * once the hub has subscribed and said so on its retained status topic: a device that
 * connects after that is heard at once.
 */
export async function startHub({
  store,
  http = 0,
  args = [],
}: {
  store?: string;
  /** The HTTP port (default 0: any free one); a restarted hub takes its predecessor's. */
  http?: number;
  args?: string[];
} = {}): Promise<HubProcess> {
  const dir = tempDir('hub');
  const where = store ?? join(dir, 'store');
  const proc = start([
    'hub',
    '--store',
    where,
    '--broker-port',
    '0',
    '--broker-host',
    '127.0.0.1',
    '--http',
    String(http),
    ...args,
  ]);
  const line = await proc.waitFor(/^fieldlog hub: .* http http:\/\//, 60_000);
  const base = /http (http:\/\/[^\s,]+)/.exec(line)![1]!;
  const url = /broker (mqtt:\/\/[^\s,]+)/.exec(line)![1]!;
  await hubOnline(url);
  return { proc, base, mqtt: url, dir, store: where };
}

/** Resolves when the hub's retained status says online (default fleet and prefix). */
async function hubOnline(url: string): Promise<void> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0 });
  try {
    await new Promise<void>((resolve, reject) => {
      client.on('message', (_t, payload) => {
        if ((JSON.parse(payload.toString()) as { online?: boolean }).online === true) resolve();
      });
      client.subscribeAsync('fieldlog/default/hub/status', { qos: 1 }).catch(reject);
    });
  } finally {
    await client.endAsync(true);
  }
}

/**
 * `fieldlog sim fleet`: `devices` simulated devices (sim-0001, …) at `rate` readings a second
 * each, replicating through the hub's broker. Stop it (`proc.stop()`) to take them all offline.
 */
export function startFleet(
  hub: HubProcess,
  { devices, rate = 2, args = [] }: { devices: number; rate?: number; args?: string[] },
): Proc {
  return start([
    'sim',
    'fleet',
    '--devices',
    String(devices),
    '--rate',
    String(rate),
    '--mqtt',
    hub.mqtt,
    '--data',
    tempDir('fleet'),
    '--drain',
    '1',
    ...args,
  ]);
}

export interface DeviceProcess {
  id: string;
  /** The `fieldlog device` process; stopping it takes the device offline (its status or last will). */
  device: Proc;
  /** The firmware simulators on ptys (`fieldlog sim KIND --pty`), one per source. */
  sensors: Proc[];
  /** Its data folder (its log and its key file). */
  data: string;
}

/**
 * A `fieldlog device` reading simulated sensors on fresh ptys, replicating to the hub:
 * `nmea` a GPS receiver (source `gps`: positions), `line` a sensor node (source `node`:
 * temp, hum, pressure). `alarms` are the device's alarm rules (the config file's
 * `alarms`: `{sensor: 'temp', above: -100}` is raised at the first reading).
 */
export async function startDevice(
  hub: HubProcess,
  {
    id,
    sensors = ['nmea'],
    rate = 2,
    alarms = [],
  }: { id: string; sensors?: ('nmea' | 'line')[]; rate?: number; alarms?: Record<string, unknown>[] },
): Promise<DeviceProcess> {
  const dir = tempDir('device');
  const procs: Proc[] = [];
  const sources: Record<string, unknown>[] = [];
  for (const kind of sensors) {
    const sim = start(['sim', kind, '--pty', '--rate', String(rate), '--seed', '7']);
    procs.push(sim);
    const port = await sim.waitFor(/^\//);
    sources.push({ name: kind === 'nmea' ? 'gps' : 'node', driver: kind, port });
  }
  const config = join(dir, 'device.json');
  writeFileSync(config, JSON.stringify({ id, mqtt: { url: hub.mqtt }, sources, alarms }));
  const device = start(['device', '--config', config, '--data', join(dir, 'log'), '--no-ui']);
  return { id, device, sensors: procs, data: join(dir, 'log') };
}

export interface DeviceEntry {
  device: string;
  online: boolean;
  lastSeen: string | null;
  head: { seq: number; hash: string };
  lag: number;
  position?: { lat: number; lon: number; time: string } | null;
  alarms?: unknown[];
  [k: string]: unknown;
}

/** GET /devices until `ready` holds for its list (polled every 100 ms; fails after `timeoutMs`). */
export async function waitForDevices(
  hub: HubProcess,
  ready: (devices: DeviceEntry[]) => boolean,
  timeoutMs = 60_000,
): Promise<DeviceEntry[]> {
  const until = Date.now() + timeoutMs;
  let last: DeviceEntry[] = [];
  for (;;) {
    const res = await fetch(`${hub.base}/devices`);
    if (res.ok) {
      last = ((await res.json()) as { devices: DeviceEntry[] }).devices;
      if (ready(last)) return last;
    }
    if (Date.now() > until)
      throw new Error(`/devices never got ready within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
