// The fleet page in a real Chromium against a real `fieldlog hub` process fed by real
// simulated devices: three from `fieldlog sim fleet` and one `fieldlog device` reading a
// simulated GPS and sensor node on ptys, with an alarm rule that is raised at once. The page
// lists them, shows their alarms and a marker per position, turns the device offline when its
// process dies (its MQTT last will), fits a phone's width and a desktop's, shows which
// devices sign their logs (the real device's key fingerprint, on the list and on its page's
// Trust panel), and logs no error. The README's screenshots are taken here.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeviceEntry,
  type DeviceProcess,
  type HubProcess,
  launchBrowser,
  openPage,
  screenshot,
  scrollWidth,
  startDevice,
  startFleet,
  startHub,
  stopAll,
  waitForDevices,
} from '../support/browser.js';
import { startCli } from '../support/proc.js';

const SIMS = ['sim-0001', 'sim-0002', 'sim-0003'];
const ALL = [...SIMS, 'pi-gps'];

let browser: Browser;
let hub: HubProcess;
let gps: DeviceProcess;
let ready: DeviceEntry[];
beforeAll(async () => {
  browser = await launchBrowser();
  hub = await startHub();
  startFleet(hub, { devices: SIMS.length, rate: 5, args: ['--seed', '3'] });
  gps = await startDevice(hub, {
    id: 'pi-gps',
    sensors: ['nmea', 'line'],
    alarms: [{ sensor: 'temp', above: -100 }],
  });
  // every device online with a position, and the GPS device's alarm raised
  ready = await waitForDevices(
    hub,
    (ds) =>
      ALL.every((id) => ds.some((d) => d.device === id && d.online && d.position)) &&
      (ds.find((d) => d.device === 'pi-gps')?.alarms?.length ?? 0) > 0,
  );
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stopAll();
});

const row = (id: string) => `#devices tr[data-device="${id}"]`;

describe('the fleet page', () => {
  it('lists every device with its status, events, alarms and a link to its page', async () => {
    const p = await openPage(browser, `${hub.base}/`);
    const { page } = p;
    for (const id of ALL) await page.waitForSelector(`${row(id)}[data-online="true"]`);
    expect(await page.locator('#devices tbody tr').count()).toBe(ALL.length);
    for (const id of ALL) {
      expect(await page.locator(`${row(id)} a`).getAttribute('href')).toBe(`/device/${id}`);
      expect(Number(await page.locator(`${row(id)} td[data-label="events"]`).textContent())).toBeGreaterThan(
        0,
      );
    }
    await expect(page.locator(`${row('pi-gps')} td[data-label="alarms"]`).textContent()).resolves.toContain(
      'temp',
    );
    await expect(page.locator('#summary').textContent()).resolves.toMatch(
      /^4 devices · 4 online · 0 offline/,
    );
    expect(p.problems).toEqual([]);
    await p.close();
  });

  it("shows which devices sign their logs: the real device's key fingerprint, on the list and its Trust panel", async () => {
    // the fingerprint as the device's own `key show` prints it, not as the hub says
    const show = startCli(['device', 'key', 'show', '--data', gps.data, '--json']);
    expect(await show.exited).toBe(0);
    const { fingerprint } = JSON.parse(show.lines.join('')) as { fingerprint: string };
    await waitForDevices(hub, (ds) => ds.find((d) => d.device === 'pi-gps')?.key !== undefined);
    const p = await openPage(browser, `${hub.base}/`);
    const { page } = p;
    await page.waitForSelector(`${row('pi-gps')} td[data-label="key"] [data-signed="true"]`);
    const cell = page.locator(`${row('pi-gps')} td[data-label="key"] [data-signed]`);
    await expect(cell.getAttribute('data-fingerprint')).resolves.toBe(fingerprint);
    await expect(cell.getAttribute('title')).resolves.toContain(fingerprint);
    await expect(cell.textContent()).resolves.toBe('signed');
    // the simulated fleet's devices have no key
    await expect(page.locator(`${row(SIMS[0]!)} td[data-label="key"]`).textContent()).resolves.toBe('no key');
    expect(p.problems).toEqual([]);
    await p.close();
    // the device page's Trust panel (a page of its own: leaving the list aborts its live feed)
    const dp = await openPage(browser, `${hub.base}/device/pi-gps`);
    await dp.page.waitForSelector('#dv-trust .dv-fingerprint');
    await expect(dp.page.locator('#dv-trust .dv-fingerprint').textContent()).resolves.toBe(fingerprint);
    await expect(dp.page.locator('#dv-trust .dv-key').getAttribute('data-signed')).resolves.toBe('true');
    expect(dp.problems).toEqual([]);
    await dp.close();
  });

  it('shows a marker per device with a position on a map with no tiles', async () => {
    const p = await openPage(browser, `${hub.base}/`);
    const { page } = p;
    const withPosition = ready.filter((d) => d.position).map((d) => d.device);
    expect(withPosition.sort()).toEqual([...ALL].sort());
    for (const id of withPosition)
      await page.waitForSelector(`#map path.leaflet-interactive[data-device="${id}"]`);
    expect(await page.locator('#map path.leaflet-interactive').count()).toBe(withPosition.length);
    // no --map-tiles: no tile layer, nothing asked of the internet
    expect(await page.locator('#map img.leaflet-tile').count()).toBe(0);
    expect(p.problems).toEqual([]);
    await p.close();
  });

  it('filters and sorts the list, and keeps the choice in the address', async () => {
    const p = await openPage(browser, `${hub.base}/?sort=device`);
    const { page } = p;
    await page.waitForSelector(row('pi-gps'));
    await page.fill('#filter', 'pi-');
    await page.waitForFunction(
      () => document.querySelectorAll('#devices tbody tr[data-device]').length === 1,
    );
    expect(await page.locator('#devices tbody tr[data-device]').getAttribute('data-device')).toBe('pi-gps');
    expect(new URL(page.url()).searchParams.get('q')).toBe('pi-');
    await page.fill('#filter', '');
    await page.selectOption('#show', 'alarms');
    await page.waitForFunction(() => document.querySelectorAll('#devices tbody tr[data-device]').length >= 1);
    const alarmed = ready.filter((d) => (d.alarms?.length ?? 0) > 0).map((d) => d.device);
    await page.waitForFunction(
      (n) => document.querySelectorAll('#devices tbody tr[data-device]').length === n,
      alarmed.length,
    );
    await page.selectOption('#show', 'all');
    await page.selectOption('#sort', 'alarms');
    // the device with an alarm first
    await page.waitForFunction(
      () =>
        document.querySelector('#devices tbody tr[data-device]')?.getAttribute('data-device') === 'pi-gps',
    );
    expect(p.problems).toEqual([]);
    await p.close();
  });

  it('turns a device offline when its process dies, and the others stay online', async () => {
    const p = await openPage(browser, `${hub.base}/`);
    const { page } = p;
    await page.waitForSelector(`${row('pi-gps')}[data-online="true"]`);
    // SIGKILL: no goodbye; the broker publishes the device's last will
    await gps.device.stop('SIGKILL');
    await page.waitForSelector(`${row('pi-gps')}[data-online="false"]`, { timeout: 60_000 });
    expect(await page.locator(`${row('pi-gps')} td[data-label="status"]`).textContent()).toBe('offline');
    for (const id of SIMS) expect(await page.locator(row(id)).getAttribute('data-online')).toBe('true');
    await expect(page.locator('#summary').textContent()).resolves.toMatch(
      /^4 devices · 3 online · 1 offline/,
    );
    expect(p.problems).toEqual([]);
    await p.close();
  });

  for (const [name, width, height] of [
    ['phone', 390, 844],
    ['desktop', 1280, 800],
  ] as const) {
    it(`fits a ${name}'s width (${width} px) with no horizontal scrolling`, async () => {
      const p = await openPage(browser, `${hub.base}/`, { width, height });
      const { page } = p;
      for (const id of ALL) await page.waitForSelector(row(id));
      for (const id of ALL) await page.waitForSelector(`#map path.leaflet-interactive[data-device="${id}"]`);
      expect(await scrollWidth(page)).toBeLessThanOrEqual(width);
      await screenshot(page, `fleet-${name}`);
      expect(p.problems).toEqual([]);
      await p.close();
    });
  }
});

describe('the fleet page with --map-tiles', () => {
  it('draws tiles from the configured server with its attribution, allowed by the CSP', async () => {
    // a tile server on this machine: every tile is the same 1×1 PNG
    const PNG = Buffer.from(
      'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==',
      'base64',
    );
    const asked: string[] = [];
    const tiles = createServer((req, res) => {
      asked.push(req.url ?? '');
      res.writeHead(200, { 'content-type': 'image/png' }).end(PNG);
    });
    await new Promise<void>((r) => tiles.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(tiles.address() as AddressInfo).port}`;
    try {
      const tiled = await startHub({
        args: ['--map-tiles', `${origin}/{z}/{x}/{y}.png`, '--map-attribution', 'Test tiles'],
      });
      const p = await openPage(browser, `${tiled.base}/`);
      await p.page.waitForSelector('#map img.leaflet-tile-loaded');
      expect(asked.every((u) => /^\/\d+\/\d+\/\d+\.png$/.test(u))).toBe(true);
      expect(asked.length).toBeGreaterThan(0);
      await expect(p.page.locator('#map .leaflet-control-attribution').textContent()).resolves.toContain(
        'Test tiles',
      );
      expect(p.problems).toEqual([]);
      await p.close();
    } finally {
      await new Promise((r) => tiles.close(r));
    }
  });
});
