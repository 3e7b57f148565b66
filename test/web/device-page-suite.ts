// The device page's browser tests (run by device-page.sys.test.ts on LevelDB and by
// device-page-pg.sys.test.ts on PostgreSQL): the page (/device/ID) in a real Chromium
// against a real `fieldlog hub` fed by a real simulated device (`fieldlog sim fleet`): first 3,000 events of history with alarms
// acknowledged by operators, then operators' notes, a threshold change, source trouble and
// a redaction appended to the device's own log (`fieldlog log append`, `log redact`), then
// the device live again. What the page shows is compared with what the hub's API answers
// for the same range or time (the range drawn again once the hub holds all it covers: the
// device is live), and the export with `fieldlog hub export`.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bucketFor } from '../../src/hub/http-series.js';
import {
  type HubProcess,
  launchBrowser,
  openPage,
  screenshot,
  scrollWidth,
  startHub,
  stopAll,
  waitForDevices,
} from '../support/browser.js';
import { runCli } from '../support/cli.js';
import { type Proc, startCli } from '../support/proc.js';

const ID = 'sim-0001';
let browser: Browser;
let hub: HubProcess;
let simDir: string;
let live: Proc | null = null;
/** The device log's head once the operators' events were appended and redacted. */
let head = 0;

interface Envelope {
  seq: number;
  type: string;
  time: string;
  data: Record<string, unknown> | null;
  meta?: { actor?: string };
  hash: string;
}

async function getJson<T>(path: string): Promise<T> {
  const res = await fetch(`${hub.base}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

async function getNdjson(path: string): Promise<Envelope[]> {
  const res = await fetch(`${hub.base}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Envelope);
}

function fleetSim(args: string[]): Proc {
  return startCli([
    'sim',
    'fleet',
    '--devices',
    '1',
    '--mqtt',
    hub.mqtt,
    '--data',
    simDir,
    '--seed',
    '7',
    ...args,
  ]);
}

/** A sim run's closing summary, once it has stopped. */
async function summary(p: Proc): Promise<{ logged: number; acknowledged: number }> {
  await p.exited;
  const line = p.lines.find((l) => l.startsWith('{"sim":"fleet"'));
  expect(line, p.stderr).toBeDefined();
  return JSON.parse(line!) as { logged: number; acknowledged: number };
}

/** The page at /device/ID, once its range is drawn (charts, track, timeline, state). */
async function openDevice(width: number) {
  const p = await openPage(browser, `${hub.base}/device/${ID}`, { width, height: 900 });
  await p.page.waitForSelector('body[data-drawn]');
  return p;
}

const range = (page: Page) =>
  page.evaluate(
    () =>
      (window as unknown as { fieldlogDevice: { range: { from: number; to: number } } }).fieldlogDevice.range,
  );

const iso = (ms: number) => new Date(ms).toISOString();

/** The time of the latest reading the hub holds of the device. */
async function latestReading(): Promise<number> {
  const { sensors } = await getJson<{ sensors: { last: string }[] }>(`/devices/${ID}/sensors`);
  return Math.max(...sensors.map((s) => Date.parse(s.last)));
}

/**
 * Resolves once the hub holds every event of the device timed up to `until`: the device
 * times its events in seq order and the hub stores them in seq order, so a reading timed
 * after `until` has all of those before it (polled every 100 ms, as /devices is).
 */
async function hubHoldsUpTo(until: number): Promise<void> {
  while ((await latestReading()) <= until) await new Promise((r) => setTimeout(r, 100));
}

/**
 * The page's range drawn again, by the page (its `show`, as a zoom does), once the hub holds
 * every event up to `until`, the end of what the range's answers cover. The device is live:
 * what the page asked for first could still grow after it asked, and the test's own later
 * answer for the same URL would hold more (the chart of 45 points, the answer of 46).
 */
async function redrawSettled(page: Page, r: { from: number; to: number }, until: number): Promise<void> {
  await hubHoldsUpTo(until);
  const drawn = Number(await page.evaluate(() => document.body.dataset.drawn));
  await page.evaluate(({ from, to }) => (window as unknown as PageGlobal).fieldlogDevice.show(from, to), r);
  await page.waitForFunction((n) => Number(document.body.dataset.drawn) > n, drawn);
  expect(await range(page)).toEqual(r);
}

/** What the page exposes for its tests (web/device.js: `window.fieldlogDevice`). */
interface PageGlobal {
  fieldlogDevice: {
    range: { from: number; to: number };
    charts: {
      charts: Map<
        string,
        {
          url: string;
          plot: {
            width: number;
            data: number[][];
            cursor: { left: number };
            posToVal(px: number, scale: string): number;
          };
        }
      >;
    };
    map: { track: { t: number[] } };
    events: { tail: { seq: number; shownAt: number }[] };
    show(from: number, to: number): Promise<void>;
  };
}

export interface SuiteOptions {
  /** A postgres:// URL for the hub's store, or undefined for a LevelDB folder of its own. */
  store: () => Promise<string | undefined>;
  cleanup?: () => Promise<void>;
  /** Whether this run writes the README's screenshots. */
  screenshots: boolean;
}

/** The device page's browser tests, against a hub on the store `opts.store` gives. */
export function devicePageSuite(name: string, opts: SuiteOptions): void {
  /** The hub's store: a postgres:// URL, or undefined for its own LevelDB folder. */
  let store: string | undefined;
  beforeAll(async () => {
    browser = await launchBrowser();
    store = await opts.store();
    hub = await startHub(store === undefined ? {} : { store });
    simDir = mkdtempSync(join(tmpdir(), 'fieldlog-web-device-'));
    // history: 3,000 events timed over the last 50 minutes, replicated, then the sim stops
    const history = await summary(
      fleetSim(['--rate', '1', '--backlog', '3000', '--duration', '1', '--drain', '60']),
    );
    expect(history.acknowledged).toBe(history.logged);
    const log = join(simDir, ID);
    const operator = [
      { type: 'NoteAdded', data: { text: 'pump replaced' }, meta: { actor: 'operator:ana' } },
      {
        type: 'ThresholdChanged',
        data: { sensor: 'temp', above: 26, below: null },
        meta: { actor: 'operator:ana' },
      },
      {
        type: 'SourceDisconnected',
        data: { source: 'node', reason: 'unplugged' },
        meta: { actor: 'system' },
      },
      {
        type: 'SourceConnected',
        data: { source: 'node', driver: 'line', port: '/dev/ttyUSB0' },
        meta: { actor: 'system' },
      },
      {
        type: 'FramesRejected',
        data: { source: 'node', count: 3, reasons: { checksum: 3 }, sample: '$FLR,1,temp:2*00' },
        meta: { actor: 'sensor:node' },
      },
      {
        type: 'FramesLost',
        data: { source: 'node', count: 2, after: 10, next: 13 },
        meta: { actor: 'sensor:node' },
      },
      { type: 'NoteAdded', data: { text: 'call 555-0101 about it' }, meta: { actor: 'operator:bo' } },
    ];
    const appended = await runCli(['log', 'append', log], {
      input: operator.map((e) => JSON.stringify(e)).join('\n'),
    });
    expect(appended.code, appended.stderr).toBe(0);
    const noteSeq = (JSON.parse(appended.stdout) as { head: { seq: number } }).head.seq;
    const redacted = await runCli([
      'log',
      'redact',
      log,
      '--seq',
      String(noteSeq),
      '--reason',
      'personal data',
      '--actor',
      'operator:ana',
    ]);
    expect(redacted.code, redacted.stderr).toBe(0);
    head = noteSeq + 1;
    // the device live again: it replicates what was appended and goes on recording
    live = fleetSim(['--rate', '1']);
    await waitForDevices(hub, (ds) => (ds.find((d) => d.device === ID)?.head.seq ?? 0) > head);
  }, 240_000);

  afterAll(async () => {
    await live?.stop('SIGKILL');
    await browser?.close();
    await stopAll();
    await opts.cleanup?.();
    if (simDir) rmSync(simDir, { recursive: true, force: true });
  });

  describe(`the device page (${name})`, () => {
    it('draws one chart per sensor with as many points as the series endpoint answers for its range', async () => {
      const p = await openDevice(1280);
      const { page } = p;
      // a series answer covers whole buckets: its last one runs past `to`, to that bucket's
      // end, and takes a sensor's reading timed after `to` but in it, stored after the page
      // asked (one point more when that sensor had none in it yet): the range's charts are
      // final once the hub holds every reading up to the end of the biggest bucket its
      // answers can have (an answer of readings turns into buckets as readings come)
      const { from, to } = await range(page);
      const points = await page.evaluate(() =>
        [...(window as unknown as PageGlobal).fieldlogDevice.charts.charts.values()].map((c) =>
          Number(new URL(c.url, location.href).searchParams.get('points')),
        ),
      );
      const bucket = Math.max(...points.map((n) => bucketFor(from, to, n)));
      await redrawSettled(page, { from, to }, Math.floor(to / bucket) * bucket + bucket - 1);
      const charts = await page.evaluate(() =>
        [...(window as unknown as PageGlobal).fieldlogDevice.charts.charts].map(([sensor, c]) => ({
          sensor,
          url: c.url as string,
          width: c.plot.width as number,
          t: c.plot.data[0] as number[],
          min: c.plot.data[1] as number[],
          max: c.plot.data[2] as number[],
          avg: c.plot.data[3] as number[],
        })),
      );
      const { sensors } = await getJson<{ sensors: { sensor: string }[] }>(`/devices/${ID}/sensors`);
      expect(charts.map((c) => c.sensor).sort()).toEqual(sensors.map((s) => s.sensor).sort());
      expect(charts.map((c) => c.sensor).sort()).toEqual(['hum', 'pressure', 'temp']);
      for (const c of charts) {
        const q = new URL(c.url, hub.base).searchParams;
        expect(q.get('sensor')).toBe(c.sensor);
        expect(q.get('from')).toBe(iso(from));
        expect(q.get('to')).toBe(iso(to));
        // about one bucket per pixel of the chart
        expect(Math.abs(Number(q.get('points')) - c.width)).toBeLessThan(60);
        const answer = await getJson<{ t: number[]; min: number[]; max: number[]; avg: number[] }>(c.url);
        expect(answer.t.length).toBeGreaterThan(10);
        expect(c.t.length).toBe(answer.t.length);
        expect(c.t).toEqual(answer.t);
        for (const k of ['min', 'max', 'avg'] as const) expect(c[k]).toEqual(answer[k]);
      }
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it('draws the GPS track of the range and its alarms with who acknowledged them', async () => {
      const p = await openDevice(1280);
      const { page } = p;
      const { from, to } = await range(page);
      // `to` is the time of the latest reading stored when the page asked: an acknowledgement
      // recorded in the same millisecond after it can still have been on its way
      await redrawSettled(page, { from, to }, to);
      const track = await getJson<{ t: number[]; lat: number[]; lon: number[] }>(
        `/devices/${ID}/track?from=${iso(from)}&to=${iso(to)}`,
      );
      expect(track.t.length).toBeGreaterThan(10);
      const drawn = await page.evaluate(
        () => (window as unknown as PageGlobal).fieldlogDevice.map.track.t.length as number,
      );
      expect(drawn).toBeGreaterThan(10);
      // the polyline has one vertex per fix drawn (Leaflet's SVG path: M x y L x y …)
      const vertices = await page.$eval(
        '.leaflet-overlay-pane path:not(.dv-position)',
        (el) => (el.getAttribute('d') ?? '').split(/[ML]/).filter((s) => s.trim() !== '').length,
      );
      expect(vertices).toBeGreaterThan(1);

      const acks = await getNdjson(
        `/devices/${ID}/events?type=AlarmAcknowledged&since=${iso(from)}&until=${iso(to)}`,
      );
      expect(acks.length).toBeGreaterThan(0);
      const rows = await page.$$eval('#dv-alarms tr.dv-alarm', (trs) =>
        trs.map((tr) => ({
          alarm: tr.getAttribute('data-alarm'),
          by: tr.querySelector('.dv-ack')!.getAttribute('data-by'),
          text: tr.querySelector('.dv-ack')!.textContent,
        })),
      );
      const acked = rows.filter((r) => r.by !== '');
      expect(acked.map((r) => r.by)).toEqual(acks.map((e) => e.meta?.actor).reverse());
      for (const r of acked) expect(r.text).toContain(r.by!.replace('operator:', ''));

      // notes, the threshold change with its actor, and the sources' trouble on the timeline
      const timeline = await page.$$eval('#dv-timeline li[data-type]', (lis) =>
        lis.map((li) => ({ type: li.getAttribute('data-type'), text: li.textContent ?? '' })),
      );
      const of = (type: string) => timeline.filter((e) => e.type === type).map((e) => e.text);
      expect(of('NoteAdded').join('\n')).toContain('pump replaced');
      expect(of('NoteAdded').join('\n')).toContain('by ana');
      expect(of('ThresholdChanged')[0]).toContain('by ana');
      expect(of('SourceDisconnected')[0]).toContain('unplugged');
      expect(of('FramesRejected')[0]).toContain('rejected 3 frame');
      expect(of('FramesLost')[0]).toContain('lost 2 frame');
      expect(of('EventRedacted')[0]).toContain('personal data');
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it("shows the state as of the scrubber's time, equal to GET /devices/ID/state?at=, and moves the charts cursor with it", async () => {
      const p = await openDevice(1280);
      const { page } = p;
      const { from, to } = await range(page);
      const [ack] = await getNdjson(
        `/devices/${ID}/events?type=AlarmAcknowledged&since=${iso(from)}&limit=1`,
      );
      // just after an acknowledgement: an alarm is active and acknowledged by someone
      const at = Date.parse(ack!.time) + 1;
      await page.$eval(
        '#dv-scrubber',
        (el, v) => {
          (el as HTMLInputElement).value = String(v);
          el.dispatchEvent(new Event('input'));
        },
        at,
      );
      await expectStateShown(page, at);
      const api = await getJson<{ state: { alarms: Record<string, { acknowledgedBy?: string }> } }>(
        `/devices/${ID}/state?at=${iso(at)}`,
      );
      expect(Object.values(api.state.alarms).some((a) => a.acknowledgedBy === ack!.meta?.actor)).toBe(true);
      // every chart's cursor is at that time, to a pixel
      const msPerPx = (to - from) / 800;
      for (const t of await cursorTimes(page)) expect(Math.abs(t - at)).toBeLessThan(2 * msPerPx);

      // and the reverse: the cursor moved over a chart moves the scrubber and the state
      const over = (await page.locator('.dv-chart .u-over').nth(1).boundingBox())!;
      await page.mouse.move(over.x + over.width * 0.3, over.y + over.height / 2);
      await page.waitForFunction(
        (old) => Number((document.getElementById('dv-scrubber') as HTMLInputElement).value) !== old,
        at,
      );
      const moved = Number(await page.$eval('#dv-scrubber', (el) => (el as HTMLInputElement).value));
      for (const t of await cursorTimes(page)) expect(Math.abs(t - moved)).toBeLessThan(2 * msPerPx);
      await expectStateShown(page, moved);
      if (opts.screenshots) await screenshot(page, 'device-desktop');
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it('tails the device live: a newly stored event is on the page within 2 s of the hub storing it', async () => {
      const p = await openDevice(1280);
      const { page } = p;
      await page.waitForSelector('#dv-live:has-text("live")');
      const top = Number(await page.$eval('#dv-events > li', (li) => li.getAttribute('data-seq')));
      // when the hub's store has each event: the hub publishes an event once it is stored
      const stored = new Map<number, number>();
      const ctl = new AbortController();
      const res = await fetch(`${hub.base}/fleet/live?device=${ID}`, { signal: ctl.signal });
      const reading = (async () => {
        const decoder = new TextDecoder();
        let buf = '';
        try {
          for await (const chunk of res.body!) {
            buf += decoder.decode(chunk as Uint8Array, { stream: true });
            let i = buf.indexOf('\n\n');
            for (; i >= 0; i = buf.indexOf('\n\n')) {
              const data = /^data: (.*)$/m.exec(buf.slice(0, i));
              buf = buf.slice(i + 2);
              if (data) stored.set((JSON.parse(data[1]!) as Envelope).seq, Date.now());
            }
          }
        } catch {
          // aborted at the end
        }
      })();
      const next = await page.waitForFunction((after) => {
        const tail = (window as unknown as PageGlobal).fieldlogDevice.events.tail as {
          seq: number;
          shownAt: number;
        }[];
        return tail.find((x) => x.seq > after) ?? false;
      }, top);
      // the first event the test saw stored after the page's list, and when the page showed it
      await expect.poll(() => [...stored.keys()].some((s) => s > top)).toBe(true);
      const seq = Math.min(...[...stored.keys()].filter((s) => s > top));
      const shown = await page.waitForFunction(
        (s) =>
          (
            (window as unknown as PageGlobal).fieldlogDevice.events.tail as { seq: number; shownAt: number }[]
          ).find((x) => x.seq === s),
        seq,
      );
      const { shownAt } = (await shown.jsonValue()) as { shownAt: number };
      expect(shownAt - stored.get(seq)!).toBeLessThan(2000);
      expect(await page.$$eval(`#dv-events > li[data-seq="${seq}"]`, (l) => l.length)).toBe(1);
      expect(await next.jsonValue()).toBeTruthy();
      ctl.abort();
      await reading;
      // an event expands to its JSON and hash
      const first = page.locator('#dv-events > li').first();
      await first.locator('summary').click();
      const hash = await first.locator('.dv-hash code').textContent();
      const json = JSON.parse((await first.locator('.dv-json').textContent())!) as Envelope;
      expect(json.hash).toBe(hash);
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it('pages through the events newest first, any type or one type', async () => {
      const p = await openDevice(1280);
      const { page } = p;
      await page.selectOption('#dv-type', 'AlarmRaised');
      await page.waitForSelector('#dv-events > li[data-type="AlarmRaised"]');
      const raised = await getNdjson(`/devices/${ID}/events?type=AlarmRaised`);
      const seqs = () =>
        page.$$eval('#dv-events > li[data-seq]', (l) => l.map((x) => Number(x.getAttribute('data-seq'))));
      expect(await seqs()).toEqual(raised.map((e) => e.seq).reverse());
      await page.selectOption('#dv-type', '');
      await page.waitForFunction(() => document.querySelectorAll('#dv-events > li[data-seq]').length >= 50);
      const firstPage = await seqs();
      await page.click('#dv-older');
      await page.waitForFunction(() => document.querySelectorAll('#dv-events > li[data-seq]').length >= 100);
      const both = await seqs();
      // the device is live: the tail may have put newer events above the first page meanwhile
      const at = both.indexOf(firstPage[0]!);
      expect(at).toBeGreaterThanOrEqual(0);
      expect(both.slice(at, at + firstPage.length)).toEqual(firstPage);
      const older = both.slice(both.length - 50);
      expect(older).toEqual(older.map((_, i) => older[0]! - i));
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it('verifies the stored chain on demand and lists the redaction with its reason and actor', async () => {
      const p = await openDevice(1280);
      const { page } = p;
      await page.waitForSelector('#dv-trust tr[data-target]');
      const redaction = await page.$eval('#dv-trust tr[data-target]', (tr) => tr.textContent);
      expect(redaction).toContain('personal data');
      expect(redaction).toContain('ana');
      await page.click('#dv-verify');
      await page.waitForSelector('#dv-trust [data-ok="true"]');
      const trust = await getJson<{ verification: { ok: boolean; events: number } }>(`/devices/${ID}/trust`);
      expect(trust.verification.ok).toBe(true);
      expect(trust.verification.events).toBeGreaterThan(head);
      expect(await page.$eval('#dv-trust [data-ok]', (e) => e.textContent)).toContain(
        `${trust.verification.events} events`,
      );
      expect(p.problems).toEqual([]);
      await p.close();
    });

    it('fits a phone (390 px) and a desktop (1280 px) without horizontal scrolling', async () => {
      for (const width of [390, 1280]) {
        const p = await openDevice(width);
        expect(await scrollWidth(p.page)).toBeLessThanOrEqual(width);
        if (width === 390 && opts.screenshots) await screenshot(p.page, 'device-phone');
        expect(p.problems).toEqual([]);
        await p.close();
      }
    });

    it('exports the visible range as CSV and NDJSON, byte-equal to `fieldlog hub export`', async () => {
      // the device stops and the hub has all of it, so the range's events are final
      await live!.stop('SIGTERM');
      const last = await summary(live!);
      expect(last.acknowledged).toBe(last.logged);
      live = null;
      const p = await openDevice(1280);
      const { page } = p;
      const { from, to } = await range(page);
      const downloads: Record<string, Buffer> = {};
      for (const format of ['csv', 'ndjson']) {
        const [download] = await Promise.all([
          page.waitForEvent('download'),
          page.click(`#dv-export-${format}`),
        ]);
        expect(download.suggestedFilename()).toBe(`${ID}.${format}`);
        downloads[format] = readFileSync((await download.path())!);
      }
      expect(p.problems).toEqual([]);
      await p.close();
      // a LevelDB store is its hub's alone: the CLI reads it once the hub has stopped
      expect(await hub.proc.stop('SIGTERM')).toBe(0);
      for (const format of ['csv', 'ndjson']) {
        const out = join(simDir, `export.${format}`);
        const r = await runCli([
          'hub',
          'export',
          ...(store === undefined ? ['--data', join(hub.dir, 'store')] : ['--store', store]),
          '--device',
          ID,
          '--format',
          format,
          '--since',
          iso(from),
          '--until',
          iso(to),
          '--out',
          out,
        ]);
        expect(r.code, r.stderr).toBe(0);
        const expected = readFileSync(out);
        expect(expected.length).toBeGreaterThan(1000);
        expect(downloads[format]!.equals(expected)).toBe(true);
      }
    });
  });
}

/** The as-of panel shows the state at `at`, and it equals the API's answer for that time. */
async function expectStateShown(page: Page, at: number): Promise<void> {
  await page.waitForSelector(`#dv-asof-state[data-at="${at}"]`);
  const api = await getJson<{
    asOfSeq: number;
    state: {
      sensors: Record<string, { value: number }>;
      alarms: Record<string, { acknowledgedBy?: string }>;
      sources: Record<string, { connected: boolean }>;
      position: { lat: number; lon: number } | null;
    };
  }>(`/devices/${ID}/state?at=${iso(at)}`);
  const shown = await page.evaluate(() => {
    const box = document.getElementById('dv-asof-state')!;
    const rows = (sel: string) => [...box.querySelectorAll(sel)];
    const pos = box.querySelector('tr[data-lat]');
    return {
      after: box.querySelector('p')!.textContent,
      sensors: Object.fromEntries(
        rows('tr[data-sensor]').map((tr) => [
          tr.getAttribute('data-sensor'),
          Number(tr.getAttribute('data-value')),
        ]),
      ),
      alarms: Object.fromEntries(
        rows('tr[data-alarm]').map((tr) => [tr.getAttribute('data-alarm'), tr.getAttribute('data-by')]),
      ),
      sources: Object.fromEntries(
        rows('tr[data-source]').map((tr) => [
          tr.getAttribute('data-source'),
          tr.getAttribute('data-connected') === 'true',
        ]),
      ),
      position: pos
        ? { lat: Number(pos.getAttribute('data-lat')), lon: Number(pos.getAttribute('data-lon')) }
        : null,
    };
  });
  expect(shown.after).toContain(`#${api.asOfSeq} `);
  expect(shown.sensors).toEqual(
    Object.fromEntries(Object.entries(api.state.sensors).map(([k, v]) => [k, v.value])),
  );
  expect(shown.alarms).toEqual(
    Object.fromEntries(Object.entries(api.state.alarms).map(([k, v]) => [k, v.acknowledgedBy ?? ''])),
  );
  expect(shown.sources).toEqual(
    Object.fromEntries(Object.entries(api.state.sources).map(([k, v]) => [k, v.connected])),
  );
  expect(shown.position).toEqual(
    api.state.position ? { lat: api.state.position.lat, lon: api.state.position.lon } : null,
  );
}

/** The time under each chart's cursor. */
function cursorTimes(page: Page): Promise<number[]> {
  return page.evaluate(() =>
    [...(window as unknown as PageGlobal).fieldlogDevice.charts.charts.values()].map((c) =>
      c.plot.posToVal(c.plot.cursor.left, 'x'),
    ),
  );
}
