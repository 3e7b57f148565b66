// The hub's HTTP server with a token, in process over a real store on disk: every request
// needs the token (as a Bearer header or the cookie a ?token= visit sets), whatever its
// route, and refusals are counted in /metrics.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { httpAuth } from '../../src/hub/http-auth.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const TOKEN = 'c0ffee-7e57-70ken-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'fieldlog-auth-'));
let hub: EventLog;

/** A hub API behind a fresh token check (its own refusal counts) on port 0. */
async function guardedApi() {
  const auth = httpAuth(TOKEN);
  const api = createHubApi({
    store: fleetStoreOver(hub),
    devices: () =>
      hub.deviceNames().map((device) => ({
        device,
        fleet: null,
        online: true,
        lastSeen: null,
        head: hub.head(device),
        lag: 0,
        rejects: {},
        forks: 0,
        duplicates: 0,
        rewinds: 0,
      })),
    metrics: () => ({}),
    auth,
  });
  const srv = await listenHubApi(api, 0, '127.0.0.1', { auth });
  return { srv, base: `http://127.0.0.1:${srv.port}` };
}

let srv: Awaited<ReturnType<typeof listenHubApi>>;
let base: string;
beforeAll(async () => {
  hub = await EventLog.open(join(root, 'hub'), { create: true, fleet: true, sync: false });
  const dev = await EventLog.memory({ device: 'pi-a', clock: fakeClock() });
  await dev.appendMany([{ type: 'NoteAdded', data: { text: 'one' }, meta: { actor: 'operator:ana' } }]);
  const evs: Envelope[] = [];
  for await (const e of dev.events()) evs.push(e);
  await hub.appendSealed(evs);
  await dev.close();
  ({ srv, base } = await guardedApi());
});

afterAll(async () => {
  await srv.close();
  await hub.close();
  rmSync(root, { recursive: true, force: true });
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

async function refusedJson(res: Response, reason: 'missing' | 'wrong'): Promise<void> {
  expect(res.status).toBe(401);
  expect(res.headers.get('www-authenticate')).toBe(
    reason === 'wrong' ? 'Bearer error="invalid_token"' : 'Bearer',
  );
  expect(res.headers.get('content-type')).toBe('application/json');
  const body = (await res.json()) as { error: { code: string; message: string } };
  expect(body.error.code).toBe('UNAUTHORIZED');
  expect(body.error.message).not.toContain(TOKEN);
}

describe('a hub with a token', () => {
  it('refuses every route without it, those it does not know and other methods too', async () => {
    for (const path of [
      '/devices',
      '/devices/pi-a/events',
      '/metrics',
      '/fleet/live',
      '/assets/fleet.js',
      '/nowhere',
    ])
      await refusedJson(await fetch(`${base}${path}`), 'missing');
    await refusedJson(await fetch(`${base}/devices/pi-a/verify`, { method: 'POST' }), 'missing');
  });

  it('refuses a wrong token in the header or the cookie, and one that only starts like it', async () => {
    await refusedJson(await fetch(`${base}/devices`, { headers: bearer('nope') }), 'wrong');
    await refusedJson(await fetch(`${base}/devices`, { headers: bearer(`${TOKEN}x`) }), 'wrong');
    await refusedJson(await fetch(`${base}/devices`, { headers: bearer(TOKEN.slice(0, -1)) }), 'wrong');
    await refusedJson(
      await fetch(`${base}/devices`, { headers: { cookie: 'fieldlog_token=nope' } }),
      'wrong',
    );
    // another scheme is no token
    await refusedJson(
      await fetch(`${base}/devices`, { headers: { authorization: `Basic ${TOKEN}` } }),
      'missing',
    );
  });

  it('answers with the right token as a Bearer header or as the cookie', async () => {
    const byHeader = await fetch(`${base}/devices`, { headers: bearer(TOKEN) });
    expect(byHeader.status).toBe(200);
    expect(
      ((await byHeader.json()) as { devices: { device: string }[] }).devices.map((d) => d.device),
    ).toEqual(['pi-a']);
    const lower = await fetch(`${base}/devices/pi-a/state`, {
      headers: { authorization: `bearer ${TOKEN}` },
    });
    expect(lower.status).toBe(200);
    const byCookie = await fetch(`${base}/devices/pi-a/events`, {
      headers: { cookie: `theme=dark; fieldlog_token=${encodeURIComponent(TOKEN)}` },
    });
    expect(byCookie.status).toBe(200);
    expect((await byCookie.text()).split('\n')[0]).toContain('"seq":1');
    // the route's own answers come through as they are
    const unknown = await fetch(`${base}/nowhere`, { headers: bearer(TOKEN) });
    expect(unknown.status).toBe(404);
  });

  it('logs a browser in from ?token=: a cookie, and a 303 to the same address without the token', async () => {
    const res = await fetch(`${base}/device/pi-a?token=${TOKEN}&range=day`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/device/pi-a?range=day');
    const [cookie, ...more] = res.headers.getSetCookie();
    expect(more).toEqual([]);
    expect(cookie).toBe(`fieldlog_token=${TOKEN}; HttpOnly; SameSite=Strict; Path=/`);
    // what the browser sends back afterwards is enough
    const value = cookie!.split(';')[0]!;
    expect((await fetch(`${base}/devices`, { headers: { cookie: value } })).status).toBe(200);
    // the address keeps whatever else it had, and a bare one goes back to the page
    const bare = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
    expect(bare.headers.get('location')).toBe('/');
  });

  it('marks the cookie Secure when the browser is on HTTPS (behind a proxy that ends TLS)', async () => {
    const res = await fetch(`${base}/?token=${TOKEN}`, {
      redirect: 'manual',
      headers: { 'x-forwarded-proto': 'https' },
    });
    expect(res.headers.getSetCookie()).toEqual([
      `fieldlog_token=${TOKEN}; HttpOnly; SameSite=Strict; Path=/; Secure`,
    ]);
  });

  it('never redirects to another site from a path starting with //', async () => {
    const res = await fetch(`${base}//elsewhere.example/x?token=${TOKEN}`, { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/[^/]/);
  });

  it('answers a page with a plain page saying how to log in, never echoing a token', async () => {
    for (const [path, reason] of [
      ['/', 'missing'],
      ['/device/pi-a', 'missing'],
      ['/device/pi-a?token=not-it', 'wrong'],
    ] as const) {
      const res = await fetch(`${base}${path}`, { redirect: 'manual' });
      expect(res.status, path).toBe(401);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('www-authenticate')).toBe(
        reason === 'wrong' ? 'Bearer error="invalid_token"' : 'Bearer',
      );
      expect(res.headers.get('set-cookie')).toBeNull();
      const page = await res.text();
      expect(page).toContain('?token=');
      expect(page).not.toContain('not-it');
      expect(page).not.toContain(TOKEN);
    }
    // a browser asking for any address gets the page too
    const browser = await fetch(`${base}/devices`, { headers: { accept: 'text/html,*/*;q=0.8' } });
    expect(browser.headers.get('content-type')).toBe('text/html; charset=utf-8');
  });

  it('counts refusals in /metrics by reason', async () => {
    const own = await guardedApi();
    try {
      const counts = async () => {
        const text = await (await fetch(`${own.base}/metrics`, { headers: bearer(TOKEN) })).text();
        const n = (reason: string) =>
          Number(
            new RegExp(`^fieldlog_hub_http_refused_total\\{reason="${reason}"\\} (\\d+)$`, 'm').exec(
              text,
            )?.[1],
          );
        return { missing: n('missing'), wrong: n('wrong') };
      };
      expect(await counts()).toEqual({ missing: 0, wrong: 0 });
      for (let i = 0; i < 3; i++) await (await fetch(`${own.base}/devices`)).arrayBuffer();
      await (await fetch(`${own.base}/`, { headers: bearer('guess') })).arrayBuffer();
      await (await fetch(`${own.base}/?token=guess`)).arrayBuffer();
      expect(await counts()).toEqual({ missing: 3, wrong: 2 });
    } finally {
      await own.srv.close();
    }
  });
});

describe('a hub without a token', () => {
  it('serves as before, and says it refused nothing', async () => {
    const api = createHubApi({ store: fleetStoreOver(hub), devices: () => [], metrics: () => ({}) });
    const open = await listenHubApi(api, 0);
    try {
      const url = `http://127.0.0.1:${open.port}`;
      expect((await fetch(`${url}/devices`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toContain(
        'fieldlog_hub_http_refused_total{reason="missing"} 0',
      );
    } finally {
      await open.close();
    }
  });
});
