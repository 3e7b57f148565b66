// The fleet page outlives its hub: when the hub process dies the page says it is
// reconnecting, and when a hub comes back on the same port and store (after a spell of 503
// answers, as a hub opening its store gives) it is live again with the fleet as that hub
// holds it (the live feed sends every device at connect).
import { createServer } from 'node:http';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  launchBrowser,
  openPage,
  startFleet,
  startHub,
  stopAll,
  waitForDevices,
} from '../support/browser.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  await stopAll();
});

describe('the fleet page when the hub restarts', () => {
  it('says it is reconnecting, then follows the new hub', async () => {
    const first = await startHub();
    const fleet = startFleet(first, { devices: 1, rate: 5 });
    await waitForDevices(first, (ds) => ds.some((d) => d.device === 'sim-0001' && d.online));
    const p = await openPage(browser, `${first.base}/`);
    const { page } = p;
    await page.waitForSelector('#live[data-state="live"]');
    await page.waitForSelector('#devices tr[data-device="sim-0001"][data-online="true"]');

    await fleet.stop('SIGKILL');
    await first.proc.stop('SIGKILL');
    await page.waitForSelector('#live[data-state="waiting"]');
    expect(await page.locator('#live').textContent()).toBe('reconnecting…');

    // a hub still opening its store answers 503: the browser then gives the live feed up
    // for good, and only the page's own retry brings it back
    const port = Number(new URL(first.base).port);
    let refused!: () => void;
    const refusedOnce = new Promise<void>((r) => (refused = r));
    const starting = createServer((req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":{"code":"STARTING"}}');
      if (req.url === '/devices/live') refused();
    });
    await new Promise<void>((r) => starting.listen(port, '127.0.0.1', r));
    await refusedOnce;
    starting.closeAllConnections();
    await new Promise((r) => starting.close(r));

    // the same store and port; the device's broker went with the old hub, so it is offline
    const second = await startHub({ store: first.store, http: port });
    expect(second.base).toBe(first.base);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 60_000 });
    await page.waitForSelector('#devices tr[data-device="sim-0001"][data-online="false"]');
    // the only complaints are the live feed's attempts while no hub listened
    expect(p.problems.filter((m) => !m.includes('/devices/live'))).toEqual([]);
    await p.close();
  });
});
