// The hub's web page, served beside the HTTP API: the fleet page at `/`, the device page at
// `/device/ID`, the files of the package's `web/` folder at `/assets/*`, uPlot and Leaflet
// from their npm packages at `/vendor/*` (nothing from a CDN: the page works with no
// internet), and `/ui/config.json` (the map's tile URL, when the operator gave one). Every
// answer carries a Content-Security-Policy (no inline script; images from the tile server
// only) and nosniff, and an ETag the browser revalidates with. A file is only ever found
// by a name checked against a pattern and then looked up inside its folder: no path the
// client writes (`..`, `%2f`, an absolute path) reaches another file.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fail } from '../errors.js';
import { Params } from './http-params.js';

export interface WebOptions {
  /** A Leaflet tile URL template (`https://tile.example.org/{z}/{x}/{y}.png`); none: a plain map. */
  tiles?: string | null;
  /** The tiles' attribution, shown on the map. */
  attribution?: string | null;
  /** The folder of the page's own files (default: the package's `web/`). */
  webDir?: string;
}

/** Answers a GET for the page and its files; false when the path is not one of them. */
export type WebRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  parts: string[],
) => Promise<boolean>;

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
};

/** A device id, as the API takes it. */
const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/** One path segment of a file we serve: no leading dot (so no `..`, no hidden files), no slash. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const require = createRequire(import.meta.url);
/** A file of an installed package, found as Node finds the package (hoisted or not). */
function packageFile(pkg: string, file: string): string {
  return join(dirname(require.resolve(`${pkg}/package.json`)), file);
}

/** The vendored files, by the name the page asks for. */
function vendorFiles(): Map<string, string> {
  return new Map([
    ['uplot.min.js', packageFile('uplot', 'dist/uPlot.iife.min.js')],
    ['uplot.esm.js', packageFile('uplot', 'dist/uPlot.esm.js')],
    ['uplot.min.css', packageFile('uplot', 'dist/uPlot.min.css')],
    ['leaflet.js', packageFile('leaflet', 'dist/leaflet.js')],
    ['leaflet.css', packageFile('leaflet', 'dist/leaflet.css')],
  ]);
}

/** `web/` beside `src/` (running from the sources) or beside `dist/` (built, installed). */
export function defaultWebDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const dir = resolve(here, up, 'web');
    if (existsSync(join(dir, 'fleet.html'))) return dir;
  }
  return resolve(here, '../../web');
}

/**
 * Checks a `--map-tiles` template: http(s), with {z}, {x} and {y}; its host may start with
 * Leaflet's `{s}.` subdomain placeholder, nothing else. Returns the CSP source of its origin.
 */
export function tileSource(template: string): string {
  const m = /^(https?):\/\/([^/?#]+)\//.exec(template);
  const bad = (why: string) =>
    fail(
      'USAGE',
      `hub: --map-tiles must be an http(s) URL template like https://tile.example.org/{z}/{x}/{y}.png: ${why}`,
    );
  if (!m) throw bad(`"${template}" is not one`);
  for (const p of ['{z}', '{x}', '{y}']) if (!template.includes(p)) throw bad(`it has no ${p}`);
  const host = m[2]!.replace(/^\{s\}\./, '*.');
  if (!/^(\*\.)?[A-Za-z0-9.-]+(:\d{1,5})?$/.test(host))
    throw bad(`its host "${m[2]}" may hold only {s}. in front`);
  return `${m[1]}://${host}`;
}

export function contentSecurityPolicy(tiles: string | null | undefined): string {
  const img = ["'self'", 'data:', ...(tiles ? [tileSource(tiles)] : [])].join(' ');
  // uPlot and Leaflet set style attributes; scripts stay 'self' only (no inline script)
  return `default-src 'self'; img-src ${img}; style-src 'self' 'unsafe-inline'`;
}

interface Cached {
  mtimeMs: number;
  size: number;
  body: Buffer;
  etag: string;
}

export function createWebRoutes(opts: WebOptions = {}): WebRoutes {
  const webDir = opts.webDir ?? defaultWebDir();
  const csp = contentSecurityPolicy(opts.tiles);
  const config = Buffer.from(
    `${JSON.stringify({ tiles: opts.tiles ?? null, attribution: opts.attribution ?? null })}\n`,
  );
  let vendor: Map<string, string> | null = null;
  const leafletImages = () => packageFile('leaflet', 'dist/images');
  // files are read once and kept while their mtime and size hold (a few hundred KB in all)
  const cache = new Map<string, Cached>();

  async function load(path: string): Promise<Cached | null> {
    let s: Awaited<ReturnType<typeof stat>>;
    try {
      s = await stat(path);
    } catch {
      return null;
    }
    if (!s.isFile()) return null;
    const hit = cache.get(path);
    if (hit && hit.mtimeMs === s.mtimeMs && hit.size === s.size) return hit;
    const body = await readFile(path);
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    const entry = { mtimeMs: s.mtimeMs, size: s.size, body, etag };
    cache.set(path, entry);
    return entry;
  }

  function send(req: IncomingMessage, res: ServerResponse, type: string, body: Buffer, etag: string): void {
    const headers = {
      'content-type': type,
      etag,
      // revalidated on every use: the names carry no version, and a 304 costs a few bytes
      'cache-control': 'no-cache',
      'content-security-policy': csp,
      'x-content-type-options': 'nosniff',
    };
    const inm = req.headers['if-none-match'];
    if (inm?.split(',').some((t) => t.trim() === etag)) {
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-length': body.length }).end(body);
  }

  /** A file of `dir` by its checked name; false (a 404 for the caller) when there is none. */
  async function file(
    req: IncomingMessage,
    res: ServerResponse,
    dir: string,
    name: string,
  ): Promise<boolean> {
    const type = TYPES[extname(name).toLowerCase()];
    if (!NAME_RE.test(name) || type === undefined) return false;
    const path = join(dir, name);
    // belt and braces: the pattern already keeps the name inside the folder
    if (!path.startsWith(resolve(dir) + sep)) return false;
    const f = await load(path);
    if (!f) return false;
    send(req, res, type, f.body, f.etag);
    return true;
  }

  return async (req, res, url, parts) => {
    const [first, second, third] = parts;
    // a page takes any query (?token=, a range): the page reads it itself
    if (parts.length === 0) return file(req, res, webDir, 'fleet.html');
    if (first === 'device' && parts.length === 2 && ID_RE.test(second!))
      return file(req, res, webDir, 'device.html');
    if (first === 'assets' && parts.length === 2) return file(req, res, webDir, second!);
    if (first === 'vendor' && parts.length === 2) {
      vendor ??= vendorFiles();
      const path = vendor.get(second!);
      if (path === undefined) return false;
      const f = await load(path);
      if (!f) return false;
      send(req, res, TYPES[extname(path)]!, f.body, f.etag);
      return true;
    }
    if (first === 'vendor' && second === 'images' && parts.length === 3) {
      return file(req, res, leafletImages(), third!);
    }
    if (first === 'ui' && second === 'config.json' && parts.length === 2) {
      new Params(url, []);
      send(
        req,
        res,
        TYPES['.json']!,
        config,
        `"${createHash('sha256').update(config).digest('base64url').slice(0, 22)}"`,
      );
      return true;
    }
    return false;
  };
}
