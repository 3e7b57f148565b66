// The hub's HTTP API (node:http): JSON answers, NDJSON for event streams, server-sent
// events for the live fleet feed (live-feed.ts), Prometheus text for metrics (metrics.ts).
// The web page and its files are web-assets.ts'. Streams are read from the store a chunk at
// a time and follow the client's pace; nothing loads a whole history. Bad requests get a 400 in plain words (http-params.ts);
// anything unexpected is a 500 that is reported (one line, counted) while the API serves on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isFieldlogError } from '../errors.js';
import { type Listening, listen, type TlsFiles } from '../http-server.js';
import { type InternalErrors, internalErrors } from '../internal-errors.js';
import { correctedJsonLines } from '../log/clock-correction.js';
import type { Envelope } from '../log/envelope.js';
import type { DeviceInfo } from '../sync/ingest.js';
import { DeviceStates } from './device-cache.js';
import { DeviceFeed } from './device-feed.js';
import { DeviceKeys } from './device-keys.js';
import { trustOf, Verifications } from './device-trust.js';
import type { FleetStore } from './fleet-store.js';
import type { HttpAuth } from './http-auth.js';
import { deviceSummaries } from './http-devices.js';
import { eventFilters, wantsCorrected } from './http-event-filters.js';
import { serveExport } from './http-export.js';
import { badParameter, checkRange, HttpError, Params, wholeNumber } from './http-params.js';
import { serveSensors, serveSeries, serveTrack } from './http-series.js';
import { DEFAULT_LIVE_QUEUE_BYTES, serveLive, write } from './live-feed.js';
import { createHubMetrics, type HubMetrics } from './metrics.js';
import { createWebRoutes, type WebOptions } from './web-assets.js';

export interface HubApiOptions {
  store: FleetStore;
  devices: () => DeviceInfo[] | Promise<DeviceInfo[]>;
  /** The ingest's fleet-wide totals. */
  metrics: () => Record<string, number>;
  /** Where internal errors are reported (default: one line on stderr). */
  errors?: InternalErrors;
  heartbeatMs?: number;
  /** What one live client may have queued before it is dropped (default 1 MiB). */
  liveQueueBytes?: number;
  /** The web page's map tiles (web-assets.ts); the page itself is always served. */
  web?: WebOptions;
  /** The token check the server runs (listenHubApi's `auth`), for its refusals in /metrics. */
  auth?: HttpAuth;
  /** Tells when a device goes online or offline (the ingest's onOnline), for /devices/live. */
  watchOnline?: (listener: (device: string) => void) => () => void;
  /** A device's key in the keys file (`--keys`), for the `key` of /devices and /trust. */
  enrolledKey?: (device: string) => string | undefined;
}

export type HubApi = ((req: IncomingMessage, res: ServerResponse) => void) & {
  metrics: HubMetrics;
  errors: InternalErrors;
};

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

export function createHubApi(opts: HubApiOptions): HubApi {
  const { store } = opts;
  const errors = opts.errors ?? internalErrors();
  const metrics = createHubMetrics({
    store,
    devices: opts.devices,
    totals: opts.metrics,
    errors,
    refused: () => opts.auth?.refused() ?? { missing: 0, wrong: 0 },
  });
  const web = createWebRoutes(opts.web);
  const states = new DeviceStates(store);
  const keys = new DeviceKeys(store, opts.enrolledKey);
  const verifications = new Verifications(store, metrics.verifications);
  const deviceFeed = new DeviceFeed({
    store,
    states,
    keys,
    devices: opts.devices,
    ...(opts.watchOnline ? { watchOnline: opts.watchOnline } : {}),
    heartbeatMs: opts.heartbeatMs ?? 15_000,
    maxQueuedBytes: opts.liveQueueBytes ?? DEFAULT_LIVE_QUEUE_BYTES,
    onOpen: () => metrics.devicesLiveClients.inc(),
    onClose: () => metrics.devicesLiveClients.dec(),
    onDrop: () => metrics.devicesLiveDropped.inc(),
    onError: (err) => errors.report('http', err),
  });

  /** A device the store holds, with its durable head. */
  async function device(id: string): Promise<{ id: string; head: number }> {
    if (!ID_RE.test(id))
      throw badParameter('a device id is 1 to 64 letters, digits, dots, dashes or underscores');
    const head = (await store.head(id)).seq;
    if (head === 0) throw new HttpError(404, 'DEVICE_UNKNOWN', `no events of device ${id}`);
    return { id, head };
  }

  async function deviceEvents(id: string, url: URL, res: ServerResponse): Promise<void> {
    const q = new Params(url, [
      'from-seq',
      'to-seq',
      'since',
      'until',
      'limit',
      'type',
      'order',
      'corrected',
    ]);
    const fromSeq = q.int('from-seq');
    const toSeq = q.int('to-seq');
    checkRange('from-seq', fromSeq, 'to-seq', toSeq);
    const since = q.time('since');
    const until = q.time('until');
    if (since !== undefined && until !== undefined && until < since)
      throw badParameter(
        `until (${q.text('until')}) is before since (${q.text('since')}): the range would be empty`,
      );
    const events = store.events({
      device: id,
      fromSeq,
      toSeq,
      since,
      until,
      limit: q.int('limit'),
      ...eventFilters(q),
    });
    // the syncs that may correct what is shown: every ClockSynced from the window on (rare events)
    const syncs: Envelope[] | undefined = wantsCorrected(q) ? [] : undefined;
    if (syncs)
      for await (const chunk of store.events({ device: id, fromSeq, types: ['ClockSynced'] }))
        for (const { event } of chunk) syncs.push(event);
    for await (const chunk of firstReadThenHead(events, res)) {
      let text = '';
      if (syncs)
        text = correctedJsonLines(
          chunk.map((i) => i.event),
          syncs,
        );
      else for (const { event } of chunk) text += `${JSON.stringify(event)}\n`;
      if (!(await write(res, text))) break;
    }
    res.end();
  }

  async function fleetEvents(url: URL, res: ServerResponse): Promise<void> {
    const q = new Params(url, ['from', 'to', 'limit']);
    const from = q.int('from');
    const to = q.int('to');
    checkRange('from', from, 'to', to);
    const events = store.events({ fleet: true, from, to, limit: q.int('limit') });
    for await (const chunk of firstReadThenHead(events, res)) {
      let text = '';
      for (const { position, event } of chunk) text += `${JSON.stringify({ position, event })}\n`;
      if (!(await write(res, text))) break;
    }
    res.end();
  }

  async function live(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const q = new Params(url, ['last-event-id', 'device']);
    const only = q.text('device');
    if (only !== undefined && !ID_RE.test(only))
      throw badParameter('a device id is 1 to 64 letters, digits, dots, dashes or underscores');
    const header = req.headers['last-event-id'];
    const fromHeader = header === undefined ? undefined : wholeNumber('Last-Event-ID', String(header).trim());
    const fromQuery = q.int('last-event-id');
    if (fromHeader !== undefined && fromQuery !== undefined && fromHeader !== fromQuery)
      throw badParameter(`Last-Event-ID ${fromHeader} and last-event-id=${fromQuery} disagree: give one`);
    const head = await store.fleetHead();
    const lastId = fromHeader ?? fromQuery ?? head;
    if (lastId > head) throw badParameter(`Last-Event-ID ${lastId} is beyond the fleet's head (${head})`);
    await serveLive(res, lastId, {
      store,
      head,
      ...(only === undefined ? {} : { device: only }),
      heartbeatMs: opts.heartbeatMs ?? 15_000,
      maxQueuedBytes: opts.liveQueueBytes ?? DEFAULT_LIVE_QUEUE_BYTES,
      onOpen: () => metrics.liveClients.inc(),
      onClose: () => metrics.liveClients.dec(),
      onDrop: () => metrics.liveDropped.inc(),
    });
  }

  async function state({ id, head }: { id: string; head: number }, url: URL, res: ServerResponse) {
    const q = new Params(url, ['at', 'at-seq']);
    if (q.has('at') && q.has('at-seq')) throw badParameter('give at or at-seq, not both');
    const at = q.time('at');
    const atSeq = q.int('at-seq');
    if (atSeq !== undefined && atSeq > head)
      throw badParameter(`at-seq ${atSeq} is beyond the head of ${id} (${head})`);
    const r = await store.stateAt(
      id,
      at !== undefined ? { time: at } : atSeq !== undefined ? { seq: atSeq } : {},
    );
    json(res, 200, { device: id, asOfSeq: r.seq, state: r.state });
  }

  async function serveMetrics(url: URL, res: ServerResponse): Promise<void> {
    new Params(url, []);
    const text = await metrics.registry.metrics();
    res.writeHead(200, { 'content-type': metrics.registry.contentType });
    res.end(text);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://hub');
    let parts: string[];
    try {
      parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw badParameter(`the path ${url.pathname} is not valid percent-encoding`);
    }
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'verify') {
      if (req.method !== 'POST') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'only POST');
      new Params(url, []);
      return json(res, 200, await verifications.run((await device(parts[1]!)).id));
    }
    if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'only GET');
    if (await web(req, res, url, parts)) return;
    if (parts.length === 1 && parts[0] === 'devices') {
      new Params(url, []);
      return json(res, 200, { devices: await deviceSummaries(opts.devices, states, keys) });
    }
    if (parts.length === 2 && parts[0] === 'devices' && parts[1] === 'live') {
      new Params(url, []);
      return deviceFeed.serve(res);
    }
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'events')
      return deviceEvents((await device(parts[1]!)).id, url, res);
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'trust') {
      new Params(url, []);
      const { id } = await device(parts[1]!);
      const info = (await opts.devices()).find((d) => d.device === id);
      const head = await store.head(id);
      return json(res, 200, await trustOf({ store, states, verifications, keys }, id, head, info));
    }
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'state')
      return state(await device(parts[1]!), url, res);
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'export')
      return serveExport(store, (await device(parts[1]!)).id, url, res);
    // the charts' endpoints (http-series.ts)
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'sensors')
      return serveSensors(store, (await device(parts[1]!)).id, url, res, json);
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'series')
      return serveSeries(store, await device(parts[1]!), url, res, json);
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'track')
      return serveTrack(store, await device(parts[1]!), url, res, json);
    if (parts.length === 2 && parts[0] === 'fleet' && parts[1] === 'events') return fleetEvents(url, res);
    if (parts.length === 2 && parts[0] === 'fleet' && parts[1] === 'live') return live(req, url, res);
    if (parts.length === 1 && parts[0] === 'metrics') return serveMetrics(url, res);
    throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((err: unknown) => {
      let e: HttpError;
      if (err instanceof HttpError) e = err;
      else if (isFieldlogError(err) && err.exitCode === 2) e = new HttpError(400, err.code, err.message);
      else {
        // not the client's doing: say so once where the operator looks, and count it
        errors.report('http', err);
        e = new HttpError(500, 'INTERNAL', 'internal error; the hub has logged it');
      }
      if (!res.headersSent) json(res, e.status, { error: { code: e.code, message: e.message } });
      else res.destroy();
    });
  };
  return Object.assign(handler, { metrics, errors });
}

/**
 * An NDJSON stream whose 200 is sent once its first read succeeded: a store that fails at
 * once gets a 500 the client can read, not a stream cut short after a 200.
 */
async function* firstReadThenHead<T>(items: AsyncGenerator<T>, res: ServerResponse): AsyncGenerator<T> {
  try {
    const first = await items.next();
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    if (first.done) return;
    yield first.value;
    yield* items;
  } finally {
    await items.return(undefined);
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

export interface ListenHubApiOptions {
  /** Every request needs the token (the API, pages, assets: whatever `handler` serves). */
  auth?: HttpAuth;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsFiles;
}

export function listenHubApi(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  port: number,
  host = '127.0.0.1',
  opts: ListenHubApiOptions = {},
): Promise<Listening> {
  return listen(opts.auth ? opts.auth.guard(handler) : handler, port, host, opts.tls);
}
