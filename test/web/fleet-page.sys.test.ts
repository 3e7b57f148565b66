// The fleet page in a real Chromium against a real `fieldlog hub` process fed by real
// simulated devices.
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HubProcess, launchBrowser, openPage, startHub, stopAll } from '../support/browser.js';

let browser: Browser;
let hub: HubProcess;
beforeAll(async () => {
  browser = await launchBrowser();
  hub = await startHub();
});
afterAll(async () => {
  await browser?.close();
  await stopAll();
});

describe('the fleet page', () => {
  it('opens at / with no console errors, page errors or failed requests', async () => {
    const p = await openPage(browser, `${hub.base}/`);
    await p.page.waitForSelector('#summary:has-text("devices")');
    expect(await p.page.title()).toBe('fieldlog · fleet');
    expect(p.problems).toEqual([]);
    await p.close();
  });
});
