// The fleet page on a hub whose store is PostgreSQL: the same list and map, fed by
// `fieldlog sim fleet`, and every device turning offline when the simulator stops.
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
import { startPostgres, type TestPostgres } from '../support/pg.js';
import type { Proc } from '../support/proc.js';

const SIMS = ['sim-0001', 'sim-0002'];

let browser: Browser;
let cluster: TestPostgres;
let base: string;
let fleet: Proc;
beforeAll(async () => {
  cluster = await startPostgres();
  browser = await launchBrowser();
  const hub = await startHub({ store: cluster.url });
  base = hub.base;
  fleet = startFleet(hub, { devices: SIMS.length, rate: 5 });
  await waitForDevices(hub, (ds) =>
    SIMS.every((id) => ds.some((d) => d.device === id && d.online && d.position)),
  );
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stopAll();
  await cluster?.stop();
});

describe('the fleet page on PostgreSQL', () => {
  it('lists the devices with their markers, and turns them offline when the simulator stops', async () => {
    const p = await openPage(browser, `${base}/`);
    const { page } = p;
    for (const id of SIMS) {
      await page.waitForSelector(`#devices tr[data-device="${id}"][data-online="true"]`);
      await page.waitForSelector(`#map path.leaflet-interactive[data-device="${id}"]`);
    }
    // SIGTERM: the simulator says goodbye (status offline) for each of its devices
    await fleet.stop('SIGTERM');
    for (const id of SIMS)
      await page.waitForSelector(`#devices tr[data-device="${id}"][data-online="false"]`);
    await expect(page.locator('#summary').textContent()).resolves.toMatch(
      /^2 devices · 0 online · 2 offline/,
    );
    expect(p.problems).toEqual([]);
    await p.close();
  });
});
