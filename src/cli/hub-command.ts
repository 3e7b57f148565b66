// `fieldlog hub`: the fleet's event store. Connects to an MQTT broker (or runs one),
// verifies and stores every device's events, serves the HTTP API, and stops cleanly.
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions } from 'mqtt';
import { fail } from '../errors.js';
import { type EmbeddedBroker, startBroker } from '../hub/broker.js';
import { createHubApi, listenHubApi } from '../hub/http-api.js';
import { internalErrors } from '../internal-errors.js';
import { EventLog } from '../log/event-log.js';
import { Ingest } from '../sync/ingest.js';
import { DEFAULT_PREFIX, hubStatusTopic, isId } from '../sync/messages.js';
import { int, parseFlags, str } from './args.js';
import type { Output } from './output.js';

export const HUB_USAGE = `fieldlog hub --data DIR [--mqtt URL | --broker-port N] [--http PORT] [--fleet F]
             [--username U] [--password P] [--ca FILE] [--cert FILE] [--key FILE]`;

function readPem(flagName: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(
      'CONFIG_INVALID',
      `--${flagName} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

/** MQTT options for TLS and credentials, shared by the hub and the device. */
export function mqttSecurity(o: {
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}): Partial<IClientOptions> {
  const out: Partial<IClientOptions> = {};
  if (o.username !== undefined) out.username = o.username;
  if (o.password !== undefined) out.password = o.password;
  const ca = readPem('ca', o.ca);
  const cert = readPem('cert', o.cert);
  const key = readPem('key', o.key);
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  return out;
}

export async function runHub(argv: string[], out: Output, signal: AbortSignal): Promise<number> {
  const cmd = 'hub';
  const p = parseFlags(
    cmd,
    argv,
    {
      data: { type: 'string' },
      mqtt: { type: 'string' },
      'broker-port': { type: 'string' },
      'broker-host': { type: 'string' },
      http: { type: 'string' },
      'http-host': { type: 'string' },
      fleet: { type: 'string' },
      prefix: { type: 'string' },
      username: { type: 'string' },
      password: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
    },
    { min: 0, max: 0 },
  );
  const dir = str(p, 'data');
  if (dir === undefined) throw fail('USAGE', `${cmd}: --data DIR is required`);
  const external = str(p, 'mqtt');
  const brokerPort = int(p, cmd, 'broker-port', 0, 65535);
  if (external !== undefined && brokerPort !== undefined)
    throw fail('USAGE', `${cmd}: give --mqtt or --broker-port, not both`);
  if (external !== undefined && !/^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(external)) {
    throw fail('USAGE', `${cmd}: --mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL`);
  }
  const httpPort = int(p, cmd, 'http', 0, 65535);
  const fleet = str(p, 'fleet') ?? 'default';
  if (!isId(fleet)) throw fail('USAGE', `${cmd}: --fleet must match [A-Za-z0-9._-]{1,64}`);
  const prefix = str(p, 'prefix') ?? DEFAULT_PREFIX;
  const security = mqttSecurity({
    username: str(p, 'username'),
    password: str(p, 'password'),
    ca: str(p, 'ca'),
    cert: str(p, 'cert'),
    key: str(p, 'key'),
  } as Record<string, string | undefined>);

  const log = await EventLog.open(dir, { create: true, fleet: true });
  // what the repair on open did is said once: a payload purged now was due since a crash
  for (const r of log.repaired) {
    await out.line(
      `${new Date().toISOString()} repaired ${r.device} seq ${r.seq}: purged the payload its EventRedacted names (left by an interrupted write)`,
    );
  }
  let broker: EmbeddedBroker | null = null;
  let http: Awaited<ReturnType<typeof listenHubApi>> | null = null;
  const ingest = new Ingest(log, { prefix });
  // one reporter for the hub: a store error in the ingest (the device resends what was
  // not acknowledged) and an unexpected error in the API are one line each, and counted
  const errors = internalErrors();
  ingest.on('error', (err: unknown) => errors.report('ingest', err));
  ingest.on(
    'fork',
    (f: { device: string; seqs: number[] }) =>
      void out
        .line(`${new Date().toISOString()} FORK from ${f.device} at seq ${f.seqs.join(', ')}: quarantined`)
        .catch(() => {}),
  );
  const statusTopic = hubStatusTopic(prefix, fleet);
  const status = (online: boolean) => JSON.stringify({ online, time: new Date().toISOString() });
  let client: mqtt.MqttClient | null = null;
  try {
    if (external === undefined)
      broker = await startBroker({ port: brokerPort ?? 1883, host: str(p, 'broker-host') ?? '0.0.0.0' });
    const url = external ?? broker!.url;
    client = mqtt.connect(url, {
      protocolVersion: 4,
      clean: true,
      reconnectPeriod: 2000,
      clientId: `fieldlog-hub-${process.pid}-${Date.now().toString(36)}`,
      will: { topic: statusTopic, payload: Buffer.from(status(false)), qos: 1, retain: true },
      ...security,
    });
    const c = client;
    c.on('error', (err) => void out.line(`${new Date().toISOString()} mqtt: ${err.message}`).catch(() => {}));
    c.on('connect', () => {
      void ingest
        .attach(c)
        .then(() => c.publishAsync(statusTopic, status(true), { qos: 1, retain: true }))
        .catch(() => {});
      void out.line(`${new Date().toISOString()} connected to ${url}`).catch(() => {});
    });
    if (httpPort !== undefined) {
      const metrics = () => ({ ...ingest.totals });
      http = await listenHubApi(
        createHubApi({ log, devices: () => ingest.devices(), metrics, errors }),
        httpPort,
        str(p, 'http-host') ?? '127.0.0.1',
      );
    }
    await out.line(
      `fieldlog hub: store ${dir}, ${broker ? `broker mqtt://${str(p, 'broker-host') ?? '0.0.0.0'}:${broker.port}` : `broker ${external}`}${http ? `, http http://${str(p, 'http-host') ?? '127.0.0.1'}:${http.port}` : ''}`,
    );
    if (!signal.aborted)
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    if (client) {
      if (client.connected) {
        await Promise.race([
          client.publishAsync(statusTopic, status(false), { qos: 1, retain: true }).catch(() => {}),
          new Promise((r) => setTimeout(r, 1000)),
        ]);
      }
      ingest.detach();
      await client.endAsync(true);
    }
    await ingest.idle();
    await http?.close();
    await broker?.close();
    await log.close();
  }
  return 0;
}
