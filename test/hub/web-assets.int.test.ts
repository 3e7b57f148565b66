// The hub's web page routes on a real server on port 0: the pages, web/ and the vendored
// uPlot and Leaflet files, /ui/config.json, the security headers, ETag revalidation, and
// no path reaching a file outside the folders served.
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { tileSource } from '../../src/hub/web-assets.js';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const WEB = new URL('../../web/', import.meta.url);
const require = createRequire(import.meta.url);
const pkgDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
const OSM = 'https://{s}.tile.openstreetmap.org/{z}/{x}/{y}.png';

let hub: EventLog;
const servers: Awaited<ReturnType<typeof listenHubApi>>[] = [];

async function serve(web?: Parameters<typeof createHubApi>[0]['web']): Promise<string> {
  const api = createHubApi({
    store: fleetStoreOver(hub),
    devices: () => [],
    metrics: () => ({}),
    ...(web ? { web } : {}),
  });
  const srv = await listenHubApi(api, 0);
  servers.push(srv);
  return `http://127.0.0.1:${srv.port}`;
}

/** A GET with the path sent exactly as written (fetch would normalise `..` away first). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    request({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

let base: string;
beforeAll(async () => {
  hub = await EventLog.memory({ fleet: true });
  base = await serve();
});

afterAll(async () => {
  for (const s of servers) await s.close();
  await hub.close();
});

describe('the web page routes', () => {
  it('serves the fleet page at / and the device page at /device/ID, with CSP and nosniff', async () => {
    for (const [path, file] of [
      ['/', 'fleet.html'],
      ['/?token=x', 'fleet.html'],
      ['/device/pi-01', 'device.html'],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('content-security-policy')).toBe(
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'",
      );
      expect(await res.text()).toBe(readFileSync(new URL(file, WEB), 'utf8'));
    }
  });

  it('serves web/ under /assets with content types by extension', async () => {
    for (const [name, type] of [
      ['common.js', 'text/javascript; charset=utf-8'],
      ['style.css', 'text/css; charset=utf-8'],
      ['favicon.svg', 'image/svg+xml'],
    ] as const) {
      const res = await fetch(`${base}/assets/${name}`);
      expect(res.status, name).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(await res.text()).toBe(readFileSync(new URL(name, WEB), 'utf8'));
    }
  });

  it('serves uPlot and Leaflet from their npm packages', async () => {
    for (const [path, pkg, file, type] of [
      ['/vendor/uplot.min.js', 'uplot', 'dist/uPlot.iife.min.js', 'text/javascript; charset=utf-8'],
      ['/vendor/uplot.esm.js', 'uplot', 'dist/uPlot.esm.js', 'text/javascript; charset=utf-8'],
      ['/vendor/uplot.min.css', 'uplot', 'dist/uPlot.min.css', 'text/css; charset=utf-8'],
      ['/vendor/leaflet.js', 'leaflet', 'dist/leaflet.js', 'text/javascript; charset=utf-8'],
      ['/vendor/leaflet.css', 'leaflet', 'dist/leaflet.css', 'text/css; charset=utf-8'],
      ['/vendor/images/marker-icon.png', 'leaflet', 'dist/images/marker-icon.png', 'image/png'],
    ] as const) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(Buffer.from(await res.arrayBuffer()).equals(readFileSync(join(pkgDir(pkg), file)))).toBe(true);
    }
  });

  it('answers 304 to a request with the current ETag', async () => {
    const first = await fetch(`${base}/assets/common.js`);
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(first.headers.get('cache-control')).toBe('no-cache');
    const again = await fetch(`${base}/assets/common.js`, { headers: { 'if-none-match': etag! } });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    const stale = await fetch(`${base}/assets/common.js`, { headers: { 'if-none-match': '"old"' } });
    expect(stale.status).toBe(200);
  });

  it('reaches no file outside the folders it serves', async () => {
    const secret = readFileSync(new URL('../../package.json', import.meta.url), 'utf8');
    for (const path of [
      '/assets/../package.json',
      '/assets/..%2fpackage.json',
      '/assets/%2e%2e/package.json',
      '/assets/%2e%2e%2fpackage.json',
      '/assets/..%5cpackage.json',
      '/assets/%2fetc%2fpasswd',
      '/assets/.hidden.js',
      '/assets/sub/common.js',
      '/vendor/images/..%2f..%2fpackage.json',
      '/vendor/..%2fpackage.json',
      '/vendor/package.json',
      '/device/..%2f..%2fpackage.json',
    ]) {
      const r = await rawGet(base, path);
      expect([400, 404], `${path} → ${r.status}`).toContain(r.status);
      expect(r.body, path).not.toContain('"name": "fieldlog"');
      expect(JSON.parse(r.body).error.code, path).toMatch(/^(NOT_FOUND|BAD_PARAMETER)$/);
    }
    expect(secret).toContain('"name": "fieldlog"');
  });

  it('answers 404 NOT_FOUND for an unknown asset or vendor file', async () => {
    for (const path of [
      '/assets/nope.js',
      '/assets/fleet.exe',
      '/vendor/nope.js',
      '/vendor/images/nope.png',
    ]) {
      const res = await fetch(base + path);
      expect(res.status, path).toBe(404);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    }
  });

  it('gives the map settings at /ui/config.json, and lets the tile server into img-src', async () => {
    const none = await fetch(`${base}/ui/config.json`);
    expect(none.headers.get('content-type')).toBe('application/json');
    expect(await none.json()).toEqual({ tiles: null, attribution: null });

    const withTiles = await serve({ tiles: OSM, attribution: '© OpenStreetMap contributors' });
    const res = await fetch(`${withTiles}/ui/config.json`);
    expect(await res.json()).toEqual({ tiles: OSM, attribution: '© OpenStreetMap contributors' });
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'self'; img-src 'self' data: https://*.tile.openstreetmap.org; style-src 'self' 'unsafe-inline'",
    );
    const bad = await fetch(`${base}/ui/config.json?x=1`);
    expect(bad.status).toBe(400);
  });

  it('takes only GET', async () => {
    const res = await fetch(`${base}/`, { method: 'POST' });
    expect(res.status).toBe(405);
  });
});

describe('--map-tiles', () => {
  it('takes an http(s) template with {z}, {x}, {y} and an optional {s}. host', () => {
    expect(tileSource(OSM)).toBe('https://*.tile.openstreetmap.org');
    expect(tileSource('http://tiles.local:8080/{z}/{x}/{y}.png')).toBe('http://tiles.local:8080');
    for (const bad of [
      'ftp://x.org/{z}/{x}/{y}.png',
      'https://x.org/{z}/{x}.png',
      'https://{s}x.org/{z}/{x}/{y}.png',
      "https://x.org'; script-src *;/{z}/{x}/{y}",
      'tiles/{z}/{x}/{y}.png',
    ]) {
      expect(() => tileSource(bad), bad).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });

  it('the hub refuses a bad template in one line, exit 2', async () => {
    const r = await runCli([
      'hub',
      '--data',
      '/nonexistent/never-created',
      '--map-tiles',
      'ftp://x/{z}/{x}/{y}',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toMatch(
      /^fieldlog: hub: --map-tiles must be an http\(s\) URL template.* \[USAGE\]$/,
    );
  });
});
