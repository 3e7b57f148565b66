// The hub's HTTP API (node:http): JSON answers, NDJSON for event streams, server-sent
// events for the live fleet feed, Prometheus text for metrics. Streams are read from the
// store a chunk at a time and follow the client's pace; nothing loads a whole history.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { z } from 'zod';
import { isFieldlogError } from '../errors.js';
import { deviceState } from '../log/device-state.js';
import type { Envelope } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import { Projector } from '../log/projection.js';
import type { DeviceInfo } from '../sync/ingest.js';

export interface HubApiOptions {
  log: EventLog;
  devices: () => DeviceInfo[];
  metrics: () => Record<string, number>;
  heartbeatMs?: number;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const ID_RE = /^[A-Za-z0-9._-]{1,64}$/;
const int = z.coerce.number().int().min(0);
const time = z
  .string()
  .refine((v) => /^\d{4}-\d\d-\d\d/.test(v) && Number.isFinite(Date.parse(v)), 'must be an RFC 3339 time');
const eventsQuery = z.strictObject({
  'from-seq': int.optional(),
  'to-seq': int.optional(),
  since: time.optional(),
  until: time.optional(),
  limit: int.optional(),
});
const fleetQuery = z.strictObject({ from: int.optional(), to: int.optional(), limit: int.optional() });
const stateQuery = z.strictObject({ at: time.optional(), 'at-seq': int.optional() });
const liveQuery = z.strictObject({ 'last-event-id': int.optional() });

function query<T>(schema: z.ZodType<T>, url: URL): T {
  const r = schema.safeParse(Object.fromEntries(url.searchParams));
  if (!r.success) {
    const i = r.error.issues[0];
    const name = i?.code === 'unrecognized_keys' ? i.keys[0] : i?.path.join('.');
    throw new HttpError(
      400,
      'BAD_PARAMETER',
      `${name ?? 'query'}: ${i?.code === 'unrecognized_keys' ? 'unknown parameter' : i?.message}`,
    );
  }
  return r.data;
}

/** Write with the client's pace; false once the client has gone. */
async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed) return false;
  if (res.write(text)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed;
}

export function createHubApi(opts: HubApiOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { log } = opts;
  const started = Date.now();

  function device(id: string): string {
    if (!ID_RE.test(id))
      throw new HttpError(400, 'BAD_PARAMETER', 'device id must match [A-Za-z0-9._-]{1,64}');
    if (!log.hasDevice(id)) throw new HttpError(404, 'DEVICE_UNKNOWN', `no events of device ${id}`);
    return id;
  }

  async function deviceEvents(id: string, url: URL, res: ServerResponse): Promise<void> {
    const q = query(eventsQuery, url);
    let from = q['from-seq'] ?? 1;
    let to = q['to-seq'] ?? log.head(id).seq;
    const byTime = q.since !== undefined || q.until !== undefined;
    const since = q.since ? Date.parse(q.since) : 0;
    const until = q.until ? Date.parse(q.until) : Number.POSITIVE_INFINITY;
    if (byTime) {
      const bounds = await log.timeBounds({
        device: id,
        since,
        until: Number.isFinite(until) ? until : undefined,
      });
      from = Math.max(from, bounds?.fromSeq ?? Number.POSITIVE_INFINITY);
      to = Math.min(to, bounds?.toSeq ?? 0);
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let left = q.limit ?? Number.POSITIVE_INFINITY;
    for await (const chunk of log.eventsJson({ device: id, fromSeq: from, toSeq: to })) {
      let text = '';
      for (const e of chunk) {
        if (left <= 0) break;
        if (byTime) {
          const t = Date.parse(e.json.slice(e.json.indexOf('"time":"') + 8, e.json.indexOf('"time":"') + 32));
          if (t < since || t > until) continue;
        }
        text += `${e.json}\n`;
        left--;
      }
      if (!(await write(res, text)) || left <= 0) break;
    }
    res.end();
  }

  async function fleetEvents(url: URL, res: ServerResponse): Promise<void> {
    const q = query(fleetQuery, url);
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    let left = q.limit ?? Number.POSITIVE_INFINITY;
    for await (const { position, event } of log.fleetEvents(q.from ?? 1, q.to ?? Number.MAX_SAFE_INTEGER)) {
      if (left-- <= 0) break;
      if (!(await write(res, `${JSON.stringify({ position, event })}\n`))) break;
    }
    res.end();
  }

  async function live(req: IncomingMessage, url: URL, res: ServerResponse): Promise<void> {
    const q = query(liveQuery, url);
    const header = req.headers['last-event-id'];
    const lastId =
      header !== undefined && /^\d+$/.test(String(header))
        ? Number(header)
        : (q['last-event-id'] ?? log.fleetHead);
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    res.write(': fieldlog live\n\n');
    // buffer live events while the missed ones are replayed, then drop what was replayed
    const buffered: { position: number; event: Envelope }[] = [];
    let replaying = true;
    let last = lastId;
    const send = (position: number, event: Envelope) => {
      if (position <= last || res.destroyed) return;
      last = position;
      res.write(`id: ${position}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`);
    };
    // a fleet store hands over what it kept; what it did not keep is read back, in order
    let backlog: Promise<void> = Promise.resolve();
    const onAppend = (events: Envelope[] | null, first?: number, count = events?.length ?? 0) => {
      if (first === undefined) return;
      const deliver = (position: number, event: Envelope) => {
        if (replaying) buffered.push({ position, event });
        else send(position, event);
      };
      backlog = backlog.then(async () => {
        if (events) {
          for (let i = 0; i < events.length; i++) deliver(first + i, events[i]!);
        } else {
          for await (const { position, event } of log.fleetEvents(first, first + count - 1)) {
            if (res.destroyed) return;
            deliver(position, event);
          }
        }
      });
      backlog.catch(() => res.destroy());
    };
    log.on('append', onAppend);
    const beat = setInterval(() => res.write(': heartbeat\n\n'), opts.heartbeatMs ?? 15_000);
    res.on('close', () => {
      clearInterval(beat);
      log.off('append', onAppend);
    });
    for await (const { position, event } of log.fleetEvents(lastId + 1, log.fleetHead)) {
      if (res.destroyed) return;
      send(position, event);
    }
    // live batches that came during the replay, in order, then live
    await backlog;
    replaying = false;
    for (const b of buffered.splice(0)) send(b.position, b.event);
  }

  async function state(id: string, url: URL, res: ServerResponse): Promise<void> {
    const q = query(stateQuery, url);
    const r = await new Projector(log, deviceState, { device: id }).stateAt(
      q.at !== undefined ? { time: q.at } : q['at-seq'] !== undefined ? { seq: q['at-seq'] } : {},
    );
    json(res, 200, { device: id, asOfSeq: r.seq, state: r.state });
  }

  function metrics(res: ServerResponse): void {
    const lines: string[] = [];
    const metric = (name: string, help: string, type: 'counter' | 'gauge', samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of samples) lines.push(`${name}${labels} ${v}`);
    };
    const devs = opts.devices();
    const esc = (s: string) => s.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
    metric(
      'fieldlog_hub_device_head_seq',
      'Highest seq stored per device.',
      'gauge',
      devs.map((d) => [`{device="${esc(d.device)}"}`, d.head.seq]),
    );
    metric(
      'fieldlog_hub_device_online',
      'Whether the device says it is online.',
      'gauge',
      devs.map((d) => [`{device="${esc(d.device)}"}`, d.online ? 1 : 0]),
    );
    metric(
      'fieldlog_hub_device_lag',
      'Events the device has that the hub does not hold yet.',
      'gauge',
      devs.map((d) => [`{device="${esc(d.device)}"}`, d.lag]),
    );
    metric(
      'fieldlog_hub_device_forks_total',
      'Forked events quarantined.',
      'counter',
      devs.map((d) => [`{device="${esc(d.device)}"}`, d.forks]),
    );
    metric(
      'fieldlog_hub_rejects_total',
      'Messages rejected, by reason.',
      'counter',
      devs.flatMap((d) =>
        Object.entries(d.rejects).map(
          ([r, n]) => [`{device="${esc(d.device)}",reason="${esc(r)}"}`, n] as [string, number],
        ),
      ),
    );
    metric('fieldlog_hub_fleet_position', 'Events stored across the fleet.', 'gauge', [['', log.fleetHead]]);
    for (const [k, v] of Object.entries(opts.metrics()))
      metric(`fieldlog_hub_${k}_total`, `Ingest ${k}.`, 'counter', [['', v]]);
    metric('fieldlog_hub_uptime_seconds', 'Seconds since the hub started.', 'gauge', [
      ['', Math.round((Date.now() - started) / 1000)],
    ]);
    metric('process_resident_memory_bytes', 'Resident memory.', 'gauge', [['', process.memoryUsage().rss]]);
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
    res.end(`${lines.join('\n')}\n`);
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://hub');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (req.method !== 'GET') throw new HttpError(405, 'METHOD_NOT_ALLOWED', 'only GET');
    if (parts.length === 1 && parts[0] === 'devices') return json(res, 200, { devices: opts.devices() });
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'events')
      return deviceEvents(device(parts[1]!), url, res);
    if (parts.length === 3 && parts[0] === 'devices' && parts[2] === 'state')
      return state(device(parts[1]!), url, res);
    if (parts.length === 2 && parts[0] === 'fleet' && parts[1] === 'events') return fleetEvents(url, res);
    if (parts.length === 2 && parts[0] === 'fleet' && parts[1] === 'live') return live(req, url, res);
    if (parts.length === 1 && parts[0] === 'metrics') return metrics(res);
    throw new HttpError(404, 'NOT_FOUND', `no such endpoint: ${url.pathname}`);
  }

  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : isFieldlogError(err)
            ? new HttpError(err.exitCode === 2 ? 400 : 500, err.code, err.message)
            : new HttpError(500, 'INTERNAL', 'internal error');
      if (!res.headersSent) json(res, e.status, { error: { code: e.code, message: e.message } });
      else res.destroy();
    });
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}

export async function listenHubApi(
  handler: ReturnType<typeof createHubApi>,
  port: number,
  host = '127.0.0.1',
): Promise<{ port: number; server: Server; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : port,
    server,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
