// `fieldlog demo`: everything on one machine with nothing installed beyond npm. Simulated
// sensor node, GPS and Firmata board run in process over the mock serial binding; the
// device records them, signing its log with the key a real device makes at first start, and
// replicates over an embedded MQTT broker to a hub that binds that key on first use and serves
// its HTTP API. Stops cleanly on SIGINT/SIGTERM, leaving logs that verify, signed.
import { join } from 'node:path';
import mqtt from 'mqtt';
import { FirmataBoard, sineWaveform } from '../../firmware-sim/firmata-board.js';
import { LineNode } from '../../firmware-sim/line-node.js';
import { SimulatorBinding } from '../../firmware-sim/mock-port.js';
import { NmeaReceiver } from '../../firmware-sim/nmea-receiver.js';
import { createSources } from '../device/build-sources.js';
import type { DeviceConfig } from '../device/config.js';
import { configuredPrecision } from '../device/display-precision.js';
import { attachIdentity, KEY_FILE } from '../device/identity.js';
import { Recorder } from '../device/recorder.js';
import type { SerialBinding } from '../device/sources/source.js';
import { UnrecordedReadings } from '../device/unrecorded.js';
import { startBroker } from '../hub/broker.js';
import { createHubApi, listenHubApi } from '../hub/http-api.js';
import { fleetStoreOver } from '../hub/leveldb-fleet-store.js';
import { SignatureGate } from '../hub/signatures.js';
import { describeEvent } from '../log/describe.js';
import type { Envelope } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { SensorPrecision } from '../log/precision.js';
import { Ingest } from '../sync/ingest.js';
import { Replicator } from '../sync/replicator.js';
import { VERSION } from '../version.js';
import { type CommandSpec, flag, given, int, parseFlags, str } from './args.js';
import { maybeConsole, stopCause } from './console-wiring.js';
import { deviceErrors, stoppedBy, watchDeviceErrors } from './device-errors.js';
import { listenOrFail, startingHandler } from './hub-command.js';
import type { Output } from './output.js';
import { sayRefusals } from './refusals.js';

export const DEMO: CommandSpec = {
  name: 'demo',
  positionals: { min: 0, max: 0 },
  summary:
    'Everything on one machine: a simulated sensor node, GPS and Firmata board, the device (signing its log with the key it makes at first start), an embedded MQTT broker and a hub with its HTTP API that binds that key on first use. q or Ctrl-C stops it; both logs then verify, signed.',
  flags: {
    data: {
      type: 'string',
      value: 'DIR',
      default: './data',
      help: 'where to keep the device log (DIR/device) and the hub store (DIR/hub)',
    },
    http: {
      type: 'string',
      value: 'PORT',
      default: '8080',
      help: "the hub API's port on 127.0.0.1; without the flag a free port is taken when 8080 is in use",
    },
    'no-ui': { type: 'boolean', help: 'no operator console: print event lines instead' },
  },
};

/**
 * What `opening` gives, or its error once `opened` are closed: a listening server left open
 * would keep the process alive after the error line (a second demo on a locked folder).
 */
async function closingOnFailure<T>(opening: Promise<T>, opened: { close(): Promise<void> }[]): Promise<T> {
  try {
    return await opening;
  } catch (err) {
    for (const o of opened.reverse()) await o.close().catch(() => {});
    throw err;
  }
}

export async function runDemo(argv: string[], output: Output, signal: AbortSignal): Promise<number> {
  let out = output;
  const p = parseFlags(DEMO, argv);
  const data = str(p, 'data')!;
  const httpPort = int(p, 'http', 0, 65535)!;

  // the simulated hardware, on the mock serial binding
  const binding = new SimulatorBinding();
  const node = new LineNode({
    nodeId: 'demo-node',
    periodMs: 1000,
    faults: ['garbage', 'checksum', 'drop'],
    faultRate: 0.03,
  });
  const gps = new NmeaReceiver({ periodMs: 1000, fixLoss: { everyMs: 90_000, forMs: 15_000 } });
  const board = new FirmataBoard({
    waveforms: { 0: sineWaveform({ mean: 600, amplitude: 300, periodMs: 60_000, noise: 8 }) },
  });
  const lines = [binding.attach(node), binding.attach(gps), binding.attach(board)];
  const config: DeviceConfig = {
    id: 'demo-pi',
    fleet: 'demo',
    sources: [
      { name: 'node', driver: 'line', port: lines[0]!.path, identify: true },
      { name: 'gps', driver: 'nmea', port: lines[1]!.path },
      {
        name: 'uno',
        driver: 'firmata',
        port: lines[2]!.path,
        pins: [{ sensor: 'light', pin: 'A0', unit: '%', scale: [0, 100] }],
      },
    ],
    alarms: [
      { sensor: 'temp', above: 20.5, hysteresis: 0.2 },
      { sensor: 'light', below: 15 },
    ],
  };

  // The API's port first, before anything is opened or written. The default port may be
  // taken (another demo): any free port will do; a port the user asked for is theirs, or a
  // clear error. The API answers 503 until the hub's store is open.
  let api: ReturnType<typeof createHubApi> | null = null;
  const lazy = startingHandler(() => api);
  const http = given(p, 'http')
    ? await listenOrFail('demo', lazy, httpPort, '127.0.0.1')
    : await listenHubApi(lazy, httpPort).catch(() => listenHubApi(lazy, 0));
  const broker = await closingOnFailure(startBroker({ port: 0 }), [http]);
  const hubLog = await closingOnFailure(EventLog.open(join(data, 'hub'), { create: true, fleet: true }), [
    http,
    broker,
  ]);
  const deviceLog = await closingOnFailure(
    EventLog.open(join(data, 'device'), { device: config.id, create: true }),
    [http, broker, hubLog],
  );
  // The same identity as `fieldlog device`: DATA/device/device.key made (0600) at first start,
  // DeviceKeyAdded recorded before the first signed event, every group commit signed from here.
  const keyFile = join(data, 'device', KEY_FILE);
  const identity = await closingOnFailure(
    attachIdentity(deviceLog, keyFile, {
      create: true,
      warn: (line) => void output.line(`${new Date().toISOString()} warning: ${line}`).catch(() => {}),
    }),
    [http, broker, hubLog, deviceLog],
  );
  // one reporter for the demo's parts (held while the console is on): each error one line, counted
  const errors = deviceErrors();
  const hubStore = fleetStoreOver(hubLog);
  // the hub binds the first key the device presents (--tofu): the demo shows a signed,
  // enrolled device without a keys file to hand over
  const gate = new SignatureGate({ tofu: true });
  const ingest = new Ingest(hubStore, { gate });
  ingest.on('error', (err: unknown) => errors.report('ingest', err));
  // a refusal (a key file replaced in a reused DATA folder) is said, not hidden
  sayRefusals(ingest, (line) => void out.line(line).catch(() => {}), { label: 'hub REFUSED' });
  const hubClient = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  await ingest.attach(hubClient);
  api = createHubApi({
    store: hubStore,
    devices: () => ingest.devices(),
    watchOnline: (l) => ingest.onOnline(l),
    enrolledKey: (device) => gate.keyOf(device),
    metrics: () => ({ ...ingest.totals }),
    errors,
  });
  const sources = createSources(config, { binding: binding as unknown as SerialBinding });
  // its warnings go where the errors go: held while the console owns the terminal
  const unrecorded = new UnrecordedReadings({ warn: (line) => errors.warn(line) });
  const recorder = new Recorder(deviceLog, config, sources, { version: VERSION, unrecorded });
  const replicator = new Replicator(deviceLog, { url: broker.url, fleet: config.fleet! });
  let quit: () => void = () => {};
  let failure: unknown = null;
  let quitBy: string | null = null;
  const quitting = new Promise<void>((resolve) => {
    quit = resolve;
    signal.addEventListener('abort', () => resolve(), { once: true });
  });
  watchDeviceErrors({ recorder, replicator }, errors, (err) => {
    failure = err;
    quit();
  });
  const deviceDir = join(data, 'device');
  const hubDir = join(data, 'hub');
  const apiUrl = `http://127.0.0.1:${http.port}/devices`;
  const ui = maybeConsole({
    noUi: flag(p, 'no-ui'),
    recorder,
    log: deviceLog,
    deviceId: config.id,
    replicator,
    settings: { operator: 'demo' },
    precision: configuredPrecision(config),
    // the console owns the terminal, so where the hub listens is said on it
    infoLine: `hub API ${apiUrl} · device log ${deviceDir} · hub store ${hubDir}`,
  });
  ui?.on('quit', (operator: string) => {
    quitBy ??= operator;
    quit();
  });
  if (ui) {
    out = { line: async () => {} };
    errors.hold();
  }
  let readings = 0;
  const shown = new SensorPrecision(configuredPrecision(config));
  recorder.on('events', (events: Envelope[]) => {
    for (const e of events) {
      shown.seeEvent(e);
      if (e.type === 'ReadingRecorded' || e.type === 'PositionRecorded') readings++;
      else void out.line(`${e.time} #${e.seq} ${describeEvent(e, shown)}`).catch(() => {});
    }
  });
  const tally = setInterval(() => {
    const s = replicator.status();
    void out
      .line(
        `${new Date().toISOString()} ${readings} reading(s) in 10 s; log head #${deviceLog.head().seq}; hub holds #${Math.max(0, s.acked)} (${s.connected ? 'connected' : 'offline'})`,
      )
      .catch(() => {});
    readings = 0;
  }, 10_000);
  try {
    for (const sim of [node, gps, board]) sim.start();
    await recorder.start();
    replicator.start();
    await out.line(`fieldlog demo: device log ${deviceDir}, hub store ${hubDir}`);
    await out.line(
      `device key ${identity!.fingerprint} (${keyFile}); the hub binds it on first use and keeps only what it signs`,
    );
    await out.line(`hub API ${apiUrl}  (Ctrl-C stops)`);
    ui?.start();
    if (!signal.aborted) await quitting;
  } finally {
    clearInterval(tally);
    ui?.stop();
    errors.release();
    const cause = stopCause({ failure, quitBy, signal });
    await recorder.stop(cause.reason, cause.operator);
    const until = Date.now() + 3000;
    while (replicator.status().acked < deviceLog.head().seq && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    await replicator.stop();
    for (const sim of [node, gps, board]) sim.stop();
    for (const l of lines) l.detach();
    ingest.detach();
    await hubClient.endAsync(true);
    await ingest.idle();
    await http.close();
    await broker.close();
    await deviceLog.close();
    await hubLog.close();
  }
  if (failure) throw stoppedBy(failure, 'the demo device');
  // after the console has given the terminal back: the API's address outlives the screen
  await output.line(`hub API was ${apiUrl}; device log ${deviceDir}, hub store ${hubDir}`);
  await output.line(
    `stopped; check with: npx fieldlog log verify ${deviceDir} && npx fieldlog log verify ${hubDir}`,
  );
  return 0;
}
