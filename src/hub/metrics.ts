// The hub's Prometheus metrics, through prom-client with one registry per hub (never the
// global one: tests and the demo run several hubs in one process). Values the ingest
// and the store already keep are read when scraped; the HTTP API's own counters (live
// clients, dropped clients) are kept here.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { InternalErrors } from '../internal-errors.js';
import { internalErrorsCounter, mirrorCounter, mirrorGauge, newRegistry } from '../metrics.js';
import type { DeviceInfo } from '../sync/ingest.js';
import type { FleetStore } from './fleet-store.js';

export interface HubMetricsSources {
  store: FleetStore;
  devices: () => DeviceInfo[] | Promise<DeviceInfo[]>;
  /** The ingest's fleet-wide totals (messages, events, duplicates, forks, rejects, acks). */
  totals: () => Record<string, number>;
  errors: InternalErrors;
  /** HTTP requests refused for want of the right token (src/hub/http-auth.ts), by reason. */
  refused: () => Record<'missing' | 'wrong', number>;
}

export interface HubMetrics {
  registry: Registry;
  liveClients: Gauge;
  liveDropped: Counter;
  devicesLiveClients: Gauge;
  devicesLiveDropped: Counter;
  verifications: Counter<'result'>;
}

/** Help for the ingest's totals; `rejects` is left out: it is the sum of the per-device series. */
const TOTALS: Record<string, string> = {
  messages: 'MQTT messages received.',
  events: 'Events stored.',
  duplicates: 'Events received again and dropped as duplicates.',
  forks: 'Forked events quarantined, fleet-wide.',
  acks: 'Acknowledgements sent.',
  times: "Messages with the hub's time sent to devices (on hello, then at most once a minute each).",
  waiting: 'Events received but not stored because no valid signature covers them yet (an unsigned tail).',
};

export function createHubMetrics(src: HubMetricsSources): HubMetrics {
  const registry = newRegistry();
  const started = Date.now();
  // one read of the devices per scrape, shared by every per-device series (prom-client
  // collects all metrics of a scrape at once)
  let scrape: Promise<DeviceInfo[]> | null = null;
  const devices = () => {
    if (!scrape) {
      scrape = Promise.resolve(src.devices());
      setImmediate(() => {
        scrape = null;
      });
    }
    return scrape;
  };
  const perDevice = (f: (d: DeviceInfo) => number) => async () =>
    (await devices()).map((d) => [{ device: d.device }, f(d)] as [{ device: string }, number]);
  mirrorGauge(
    registry,
    'fieldlog_hub_device_head_seq',
    'Highest seq stored per device.',
    ['device'],
    perDevice((d) => d.head.seq),
  );
  mirrorGauge(
    registry,
    'fieldlog_hub_device_online',
    'Whether the device says it is online (1) or not (0).',
    ['device'],
    perDevice((d) => (d.online ? 1 : 0)),
  );
  mirrorGauge(
    registry,
    'fieldlog_hub_device_lag',
    'Events the device has that the hub does not hold yet.',
    ['device'],
    perDevice((d) => d.lag),
  );
  mirrorCounter(
    registry,
    'fieldlog_hub_device_forks_total',
    'Forked events quarantined, per device.',
    ['device'],
    perDevice((d) => d.forks),
  );
  mirrorCounter(
    registry,
    'fieldlog_hub_rewinds_total',
    'Batches answered with a gap (the device rewinds to what the hub holds and resends), per device.',
    ['device'],
    perDevice((d) => d.rewinds),
  );
  mirrorCounter(
    registry,
    'fieldlog_hub_rejects_total',
    'Messages rejected, per device and reason.',
    ['device', 'reason'],
    async () =>
      (await devices()).flatMap((d) =>
        Object.entries(d.rejects).map(
          ([reason, n]) => [{ device: d.device, reason }, n] as [{ device: string; reason: string }, number],
        ),
      ),
  );
  for (const [key, help] of Object.entries(TOTALS)) {
    mirrorCounter(registry, `fieldlog_hub_${key}_total`, help, [], () => [[{}, src.totals()[key] ?? 0]]);
  }
  mirrorGauge(
    registry,
    'fieldlog_hub_fleet_position',
    'Events stored across the fleet (the fleet head position).',
    [],
    async () => [[{}, await src.store.fleetHead()]],
  );
  mirrorGauge(
    registry,
    'fieldlog_hub_store_bytes',
    "Bytes the fleet store takes (a LevelDB store's folder; absent when the store cannot tell cheaply).",
    [],
    async () => {
      const size = await src.store.sizeBytes();
      return size === undefined ? [] : [[{}, size]];
    },
  );
  mirrorGauge(registry, 'fieldlog_hub_uptime_seconds', 'Seconds since the hub started.', [], () => [
    [{}, Math.round((Date.now() - started) / 1000)],
  ]);
  internalErrorsCounter(registry, 'fieldlog_hub', src.errors, ['http', 'ingest']);
  mirrorCounter(
    registry,
    'fieldlog_hub_http_refused_total',
    'HTTP requests refused for want of the token, by reason (missing, wrong).',
    ['reason'],
    () => Object.entries(src.refused()).map(([reason, n]) => [{ reason }, n] as [{ reason: string }, number]),
  );

  const liveClients = new Gauge({
    name: 'fieldlog_hub_live_clients',
    help: 'Clients connected to the live feed (/fleet/live).',
    registers: [registry],
  });
  const liveDropped = new Counter({
    name: 'fieldlog_hub_live_clients_dropped_total',
    help: 'Live feed clients dropped for falling too far behind (they may resume with Last-Event-ID).',
    registers: [registry],
  });
  const devicesLiveClients = new Gauge({
    name: 'fieldlog_hub_devices_live_clients',
    help: 'Clients connected to the live device list (/devices/live).',
    registers: [registry],
  });
  const devicesLiveDropped = new Counter({
    name: 'fieldlog_hub_devices_live_clients_dropped_total',
    help: 'Live device list clients dropped for falling too far behind (they reconnect and get every device again).',
    registers: [registry],
  });
  const verifications = new Counter({
    name: 'fieldlog_hub_verifications_total',
    help: 'Verifications of a stored chain run on request (POST /devices/ID/verify), by result (ok, failed).',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  return { registry, liveClients, liveDropped, devicesLiveClients, devicesLiveDropped, verifications };
}
