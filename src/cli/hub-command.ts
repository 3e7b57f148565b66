// `fieldlog hub`: the fleet's event store. Connects to an MQTT broker (or runs one),
// verifies and stores every device's events, serves the HTTP API, and stops cleanly.
import mqtt from 'mqtt';
import { fail } from '../errors.js';
import { type EmbeddedBroker, startBroker } from '../hub/broker.js';
import type { FleetStore } from '../hub/fleet-store.js';
import { createHubApi, listenHubApi } from '../hub/http-api.js';
import { LevelFleetStore } from '../hub/leveldb-fleet-store.js';
import { loadKeysFile, SignatureGate } from '../hub/signatures.js';
import { tileSource } from '../hub/web-assets.js';
import { internalErrors } from '../internal-errors.js';
import { Ingest } from '../sync/ingest.js';
import { DEFAULT_PREFIX, hubStatusTopic, isId } from '../sync/messages.js';
import { type CommandSpec, flag, int, str } from './args.js';
import { HTTP_ACCESS_FLAGS, type HttpAccess, httpAccess } from './hub-access.js';
import { isPgUrl, openHubStore, parseWithConfig, storeFlags } from './hub-store.js';
import { mqttSecurity } from './mqtt-options.js';
import type { Output } from './output.js';
import { sayRefusals } from './refusals.js';

export const HUB: CommandSpec = {
  name: 'hub',
  positionals: { min: 0, max: 0 },
  summary:
    "The fleet's event store: verifies and stores every device's events arriving over MQTT (from an embedded broker, or an external one with --mqtt) and serves the HTTP API and the web page with --http. Stops cleanly on SIGINT or SIGTERM.",
  flags: {
    ...storeFlags("the hub's", true),
    config: {
      type: 'string',
      value: 'FILE',
      help: 'read the flags from this JSON file (its keys are the long flag names: "store", "httpHost"…); flags given win',
    },
    mqtt: {
      type: 'string',
      value: 'URL',
      group: 'broker',
      help: 'use this external broker (mqtt://, mqtts://, ws://, wss://) instead of the embedded one',
    },
    'broker-port': {
      type: 'string',
      value: 'N',
      group: 'broker',
      help: "the embedded broker's port (default: 1883)",
    },
    'broker-host': {
      type: 'string',
      value: 'H',
      default: '0.0.0.0',
      help: 'the address the embedded broker listens on',
    },
    http: { type: 'string', value: 'PORT', help: 'serve the HTTP API on this port (none without it)' },
    'http-host': {
      type: 'string',
      value: 'H',
      default: '127.0.0.1',
      help: 'the address the HTTP API listens on',
    },
    'map-tiles': {
      type: 'string',
      value: 'URL',
      help: "the web page's map tiles, a URL template such as https://tile.example.org/{z}/{x}/{y}.png (default: none, a plain map)",
    },
    'map-attribution': {
      type: 'string',
      value: 'TEXT',
      help: "the tiles' attribution, shown on the map",
    },
    ...HTTP_ACCESS_FLAGS,
    fleet: {
      type: 'string',
      value: 'F',
      default: 'default',
      help: "the fleet of the hub's own status topic",
    },
    prefix: { type: 'string', value: 'P', default: DEFAULT_PREFIX, help: 'the MQTT topic prefix' },
    share: {
      type: 'string',
      value: 'GROUP',
      help: "take events and hello through the broker's shared subscription $share/GROUP/… so that several hubs on one PostgreSQL store split the fleet (needs --mqtt and --store postgres://)",
    },
    username: { type: 'string', value: 'U', help: "the hub's user name on the broker" },
    password: { type: 'string', value: 'P', help: "the hub's password on the broker" },
    ca: { type: 'string', value: 'FILE', help: "a PEM file of the CA that signed the broker's certificate" },
    cert: {
      type: 'string',
      value: 'FILE',
      help: 'a PEM client certificate, for brokers that authenticate by certificate',
    },
    key: { type: 'string', value: 'FILE', help: "the client certificate's PEM private key" },
    keys: {
      type: 'string',
      value: 'FILE',
      help: "enrolled device keys: a JSON object of device id → public key (as fieldlog device key show prints it); an enrolled device's events are stored only as far as its signatures go; reloaded on SIGHUP",
    },
    tofu: {
      type: 'boolean',
      help: 'trust on first use: bind the first key a device presents (its DeviceKeyAdded) in the store and hold it to that key from then on',
    },
    'require-signatures': {
      type: 'boolean',
      help: 'refuse the events of a device that is not enrolled (by --keys, or bound by --tofu)',
    },
  },
  notes: [
    "fieldlog hub export --help: export a device's or the fleet's history from a hub's store.",
    'fieldlog hub verify --help: check every chain a hub store holds.',
  ],
};

const SIGNATURE_REASONS = new Set([
  'bad-signature',
  'key-change-unsigned',
  'key-unknown',
  'key-mismatch',
  'unsigned',
]);

/** The API once `api()` has it; until then 503 `STARTING` (the store is still opening). */
export function startingHandler(
  api: () => ReturnType<typeof createHubApi> | null,
): Parameters<typeof listenHubApi>[0] {
  return (req, res) => {
    const ready = api();
    if (ready) return ready(req, res);
    res
      .writeHead(503, { 'content-type': 'application/json' })
      .end('{"error":{"code":"STARTING","message":"the hub is opening its store; try again in a moment"}}\n');
  };
}

/** The HTTP API on the port the user asked for, or one line saying why not (never another port). */
export async function listenOrFail(
  cmd: string,
  handler: Parameters<typeof listenHubApi>[0],
  port: number,
  host: string,
  access: HttpAccess = {},
): Promise<Awaited<ReturnType<typeof listenHubApi>>> {
  try {
    return await listenHubApi(handler, port, host, access);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'is in use' : code === 'EACCES' ? 'is not allowed' : 'cannot be used';
    throw fail(
      'USAGE',
      `${cmd}: --http ${port}: ${host}:${port} ${why} (${code ?? (err as Error).message})`,
      err,
    );
  }
}

export async function runHub(argv: string[], out: Output, signal: AbortSignal): Promise<number> {
  const cmd = HUB.name;
  const p = parseWithConfig(HUB, argv);
  const external = str(p, 'mqtt');
  const brokerPort = int(p, 'broker-port', 0, 65535);
  if (external !== undefined && !/^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(external)) {
    throw fail('USAGE', `${cmd}: --mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL`);
  }
  const httpPort = int(p, 'http', 0, 65535);
  const mapTiles = str(p, 'map-tiles');
  // checked before anything is opened: a bad template is a usage error, not a broken map
  if (mapTiles !== undefined) tileSource(mapTiles);
  const web = { tiles: mapTiles ?? null, attribution: str(p, 'map-attribution') ?? null };
  const httpHost = str(p, 'http-host')!;
  const access = httpAccess(cmd, p, httpHost, httpPort !== undefined);
  const fleet = str(p, 'fleet')!;
  if (!isId(fleet)) throw fail('USAGE', `${cmd}: --fleet must match [A-Za-z0-9._-]{1,64}`);
  const prefix = str(p, 'prefix')!;
  const share = str(p, 'share');
  if (share !== undefined) {
    // a group name is one topic level: no '/', '+' or '#'
    if (!isId(share)) throw fail('USAGE', `${cmd}: --share must match [A-Za-z0-9._-]{1,64}`);
    // aedes (1.x) has no shared subscriptions: it would deliver nothing to any hub
    if (external === undefined)
      throw fail(
        'USAGE',
        `${cmd}: --share needs an external broker (--mqtt URL): the embedded one has no shared subscriptions`,
      );
    // several hubs cannot open one LevelDB folder: sharing needs a shared store
    if (!isPgUrl(str(p, 'store')))
      throw fail(
        'USAGE',
        `${cmd}: --share needs a shared store (--store postgres://…), not a LevelDB folder`,
      );
  }
  const security = mqttSecurity({
    username: str(p, 'username'),
    password: str(p, 'password'),
    ca: str(p, 'ca'),
    cert: str(p, 'cert'),
    key: str(p, 'key'),
  } as Record<string, string | undefined>);

  // the keys file before anything starts: a bad one is one line and exit 2
  const keysFile = str(p, 'keys');
  const gate = new SignatureGate({
    ...(keysFile === undefined ? {} : { keys: loadKeysFile(keysFile) }),
    tofu: flag(p, 'tofu'),
    requireSignatures: flag(p, 'require-signatures'),
  });

  // The ports first: one that is taken fails in one line before the store is opened or
  // created. The API answers 503 until the store is open (nobody knows its URL before).
  let api: ReturnType<typeof createHubApi> | null = null;
  let http: Awaited<ReturnType<typeof listenHubApi>> | null = null;
  let broker: EmbeddedBroker | null = null;
  let store: FleetStore;
  try {
    if (httpPort !== undefined) {
      http = await listenOrFail(
        cmd,
        startingHandler(() => api),
        httpPort,
        httpHost,
        access,
      );
    }
    if (external === undefined)
      broker = await startBroker({ port: brokerPort ?? 1883, host: str(p, 'broker-host')! });
    store = await openHubStore(cmd, p, { create: true });
  } catch (err) {
    await http?.close();
    await broker?.close();
    throw err;
  }
  // what the repair on open did is said once: a payload purged now was due since a crash
  for (const r of store instanceof LevelFleetStore ? store.repaired : []) {
    await out.line(
      `${new Date().toISOString()} repaired ${r.device} seq ${r.seq}: purged the payload its EventRedacted names (left by an interrupted write)`,
    );
  }
  const ingest = new Ingest(store, { prefix, gate, ...(share === undefined ? {} : { share }) });
  const reload = () => {
    if (keysFile === undefined) return;
    const at = new Date().toISOString();
    try {
      gate.setKeys(loadKeysFile(keysFile));
      void out.line(`${at} keys: reloaded ${keysFile}, ${gate.enrolled} devices enrolled`).catch(() => {});
    } catch (err) {
      void out
        .line(`${at} keys: ${(err as Error).message}; keeping the ${gate.enrolled} keys enrolled before`)
        .catch(() => {});
    }
  };
  process.on('SIGHUP', reload);
  // one reporter for the hub: a store error in the ingest (the device resends what was
  // not acknowledged) and an unexpected error in the API are one line each, and counted
  const errors = internalErrors();
  ingest.on('error', (err: unknown) => errors.report('ingest', err));
  // a refusal is counted every time (/devices, /metrics) and said once per device and reason
  sayRefusals(ingest, (line) => void out.line(line).catch(() => {}), {
    label: 'REFUSED',
    reasons: SIGNATURE_REASONS,
  });
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
    api = createHubApi({
      store,
      devices: () => ingest.devices(),
      watchOnline: (l) => ingest.onOnline(l),
      enrolledKey: (device) => gate.keyOf(device),
      metrics: () => ({ ...ingest.totals }),
      errors,
      web,
      auth: access.auth,
    });
    const signatures = keysFile === undefined ? '' : `, ${gate.enrolled} devices enrolled by ${keysFile}`;
    await out.line(
      `fieldlog hub: store ${store.location}, ${broker ? `broker mqtt://${str(p, 'broker-host')}:${broker.port}` : `broker ${external}`}${share === undefined ? '' : ` (shared group ${share})`}${http ? `, http ${access.tls ? 'https' : 'http'}://${httpHost}:${http.port}${access.auth ? ' (token required)' : ''}` : ''}${signatures}${gate.tofu ? ', keys bound on first use' : ''}${gate.requireSignatures ? ', signatures required' : ''}`,
    );
    if (!signal.aborted)
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  } finally {
    process.off('SIGHUP', reload);
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
    await store.close();
  }
  return 0;
}
