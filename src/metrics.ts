// Prometheus metrics shared by the hub and the device, through prom-client: a registry
// per process part (never prom-client's global one, so that tests and the demo can run
// several), metrics whose values live elsewhere read at each scrape, and a small server
// for a process that has no HTTP API of its own (the device).

import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { type Listening, listen } from './http-server.js';
import type { InternalErrors } from './internal-errors.js';

type Samples<L extends string> = [Partial<Record<L, string>>, number][];

/** prom-client's gauges that carry a counter's `_total` suffix (promtool flags them); the same values are exported without it. */
const MISNAMED = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** A registry with the process's own metrics (memory, CPU, event loop). */
export function newRegistry(): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of MISNAMED) registry.removeSingleMetric(name);
  return registry;
}

/** A counter whose value is kept elsewhere: set from its source (which may answer later) at each scrape. */
export function mirrorCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => Samples<L> | Promise<Samples<L>>,
): Counter<L> {
  return new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const samples = await read();
      this.reset();
      for (const [labels, v] of samples) this.inc(labels, v);
    },
  });
}

/** A gauge read from its source at each scrape. */
export function mirrorGauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: L[],
  read: () => Samples<L> | Promise<Samples<L>>,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const samples = await read();
      this.reset();
      for (const [labels, v] of samples) this.set(labels, v);
    },
  });
}

/** `<prefix>_internal_errors_total{where}`, with a zero for each usual place so that rates work from the start. */
export function internalErrorsCounter(
  registry: Registry,
  prefix: string,
  errors: InternalErrors,
  places: string[],
): Counter<'where'> {
  return mirrorCounter(
    registry,
    `${prefix}_internal_errors_total`,
    'Internal errors reported (one log line each) and survived, by where they happened.',
    ['where'],
    () => {
      const all = new Map<string, number>(places.map((p) => [p, 0]));
      for (const [where, n] of errors.counts) all.set(where, n);
      return [...all].map(([where, n]) => [{ where }, n]);
    },
  );
}

/** Serve `GET /metrics` (and nothing else) from a registry. */
export function listenMetrics(
  registry: Registry,
  port: number,
  host: string,
  errors: InternalErrors,
): Promise<Listening> {
  return listen(
    (req, res) => {
      if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://device').pathname !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('only GET /metrics\n');
        return;
      }
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          errors.report('metrics', err);
          res.writeHead(500, { 'content-type': 'text/plain' });
          res.end('internal error; logged\n');
        },
      );
    },
    port,
    host,
  );
}
