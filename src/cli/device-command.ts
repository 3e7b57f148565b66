// `fieldlog device`: reads the configured sources into the device's log until SIGINT or
// SIGTERM, then stops cleanly (sources closed, pending events written, log closed).
import { createSources } from '../device/build-sources.js';
import { type DeviceFlags, readConfigFile, resolveDeviceConfig } from '../device/config.js';
import { DiskBudget, logPruner, measureFolder } from '../device/disk-budget.js';
import { configuredPrecision } from '../device/display-precision.js';
import { attachIdentity, keyPath } from '../device/identity.js';
import { Recorder } from '../device/recorder.js';
import { Retention } from '../device/retention.js';
import type { SourceDeps } from '../device/sources/source.js';
import { UnrecordedReadings } from '../device/unrecorded.js';
import { fail } from '../errors.js';
import type { Listening } from '../http-server.js';
import { describeEvent } from '../log/describe.js';
import type { Envelope } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { SensorPrecision } from '../log/precision.js';
import { loadIdentity } from '../log/signing.js';
import { Replicator } from '../sync/replicator.js';
import { VERSION } from '../version.js';
import { type CommandSpec, flag, int, parseFlags, str } from './args.js';
import { maybeConsole, stopCause } from './console-wiring.js';
import { deviceErrors, stoppedBy, watchDeviceErrors } from './device-errors.js';
import { mqttSecurity } from './mqtt-options.js';

/**
 * `durability: "interval"`: one fsync a second at most. LevelDB's options as measured by
 * bench/wear.bench.ts (100,000 readings): a 4 MiB write buffer with compression wrote 1.37×
 * the readings' bytes, 16 MiB 1.34× (four times the memory and the replay at start for 2 %),
 * 1 MiB 1.70×, uncompressed 1.53×; so LevelDB's defaults, stated here so they stay chosen.
 */
const LOW_WEAR = { syncEveryMs: 1000, store: { writeBufferSize: 4 * 1024 * 1024, compression: true } };

import type { Output } from './output.js';

export const DEVICE: CommandSpec = {
  name: 'device',
  positionals: { min: 0, max: 0 },
  summary:
    'Reads the configured serial sources into the log in DIR until SIGINT or SIGTERM (or q on the console), and replicates it to the hub when an MQTT URL is given. The flags describe one source; --config describes several, and flags win.',
  flags: {
    data: { type: 'string', value: 'DIR', required: true, help: "the device's log folder (created if new)" },
    id: {
      type: 'string',
      value: 'ID',
      help: 'the device (stream) id, [A-Za-z0-9._-]{1,64}; required unless the config file has it',
    },
    driver: { type: 'string', value: 'line|nmea|firmata', help: "the source's driver" },
    port: { type: 'string', value: 'PATH', help: "the source's serial port, e.g. /dev/ttyUSB0" },
    baud: {
      type: 'string',
      value: 'N',
      help: "the source's speed (default: line 9600, nmea 9600, firmata 57600)",
    },
    source: {
      type: 'string',
      value: 'NAME',
      help: "the source's name, replacing the config file's source of that name (default: the driver's name)",
    },
    mqtt: {
      type: 'string',
      value: 'URL',
      help: 'replicate to the hub through this broker (mqtt:// or mqtts://)',
    },
    fleet: {
      type: 'string',
      value: 'F',
      help: "the fleet in the MQTT topics (default: the config's, or default)",
    },
    config: {
      type: 'string',
      value: 'FILE',
      help: 'a JSON config file (sources, alarms, mqtt credentials, console)',
    },
    metrics: {
      type: 'string',
      value: 'PORT',
      help: "serve the device's Prometheus metrics at http://HOST:PORT/metrics",
    },
    'metrics-host': {
      type: 'string',
      value: 'HOST',
      help: 'the address --metrics listens on (default: 127.0.0.1)',
    },
    'no-ui': { type: 'boolean', help: 'no operator console even on a terminal: print event lines instead' },
  },
};

export interface DeviceRunOptions {
  signal: AbortSignal;
  /** Serial binding for every source (tests and the demo pass the simulator's). */
  deps?: SourceDeps;
}

export async function runDevice(argv: string[], output: Output, opts: DeviceRunOptions): Promise<number> {
  let out = output;
  const p = parseFlags(DEVICE, argv);
  const dir = str(p, 'data')!;
  const flags: DeviceFlags = {};
  for (const k of ['id', 'fleet', 'mqtt', 'driver', 'port', 'source'] as const) {
    const v = str(p, k);
    if (v !== undefined) flags[k] = v;
  }
  const baud = int(p, 'baud', 50, 4_000_000);
  if (baud !== undefined) flags.baud = baud;
  const metricsPort = int(p, 'metrics', 0, 65535);
  if (metricsPort !== undefined) flags.metrics = metricsPort;
  const metricsHost = str(p, 'metrics-host');
  if (metricsHost !== undefined) flags.metricsHost = metricsHost;
  const configFile = str(p, 'config');
  const config = resolveDeviceConfig(
    configFile === undefined ? undefined : readConfigFile(configFile),
    flags,
    configFile ?? 'flags',
  );
  // everything is validated before anything is opened or written
  const sources = createSources(config, opts.deps);
  // a configured key must be there and private; DATA/device.key is made at first start
  const configuredKey = config.identity?.key;
  if (configuredKey !== undefined) loadIdentity(configuredKey);

  const log = await EventLog.open(dir, {
    device: config.id,
    create: true,
    ...(config.durability === 'interval' ? LOW_WEAR : {}),
  });
  // the low-wear mode's fsync failed: retried next second, and replication waits for it
  log.on(
    'sync-error',
    (err: Error) =>
      void output
        .line(`${new Date().toISOString()} warning: the log's fsync failed (${err.message}); retrying`)
        .catch(() => {}),
  );
  const others = log.deviceNames().filter((d) => d !== config.id);
  if (others.length > 0) {
    await log.close();
    throw fail('CONFIG_INVALID', `${dir} holds the log of ${others.join(', ')}, not ${config.id}`);
  }
  try {
    // recorded before the first signed event; from here on every group commit ends signed
    await attachIdentity(log, keyPath(dir, configuredKey), {
      create: configuredKey === undefined,
      warn: (line) => void output.line(`${new Date().toISOString()} warning: ${line}`).catch(() => {}),
    });
  } catch (err) {
    await log.close();
    throw err;
  }
  const errors = deviceErrors();
  const unrecorded = new UnrecordedReadings({ warn: (line) => errors.warn(line) });
  let replicator: Replicator | null = null;
  const budget = new DiskBudget({
    settings: {
      maxBytes: config.retention?.maxBytes ?? 0,
      minFreeBytes: config.retention?.minFreeBytes ?? 0,
      policy: config.retention?.policy ?? 'thin',
    },
    log,
    measure: measureFolder(dir),
    // what the hub holds: retention's durable mark (kept across restarts), else this run's acks
    acknowledged: () => Math.max(retention?.acknowledged() ?? -1, replicator?.status().acked ?? -1),
    pruner: logPruner(log),
    unrecorded,
    // on stderr, held while the console owns the terminal (its header shows the state)
    warn: (line) => errors.warn(`${new Date().toISOString()} ${line}`),
  });
  const recorder = new Recorder(log, config, sources, {
    version: VERSION,
    clockWatch: true,
    unrecorded,
    readingGate: budget,
  });
  let stopping = false;
  if (config.mqtt) {
    const { url, ...security } = config.mqtt;
    replicator = new Replicator(log, { url, fleet: config.fleet ?? 'default', mqtt: mqttSecurity(security) });
    replicator.on(
      'connected',
      () => void out.line(`${new Date().toISOString()} replicating to ${url}`).catch(() => {}),
    );
    replicator.on('disconnected', () => {
      // our own disconnect at a stop is no loss: say it only when the broker went away
      if (stopping) return;
      void out
        .line(`${new Date().toISOString()} broker connection lost; the log keeps everything`)
        .catch(() => {});
    });
    // a hub that holds less than this device pruned: said once, in one line (see behindAnchor)
    replicator.on(
      'behind-anchor',
      (line: string) => void out.line(`${new Date().toISOString()} warning: ${line}`).catch(() => {}),
    );
    replicator.on('hub-time', (ms: number) => recorder.hubTime(ms));
    replicator.on(
      'rejected-ack',
      (why: string) => void out.line(`${new Date().toISOString()} ack ignored: ${why}`).catch(() => {}),
    );
    replicator.on(
      'rejected-time',
      (why: string) => void out.line(`${new Date().toISOString()} hub time ignored: ${why}`).catch(() => {}),
    );
  }
  // pruning what the hub holds, when configured: a prune that fails is reported and tried next round
  const retention = config.retention ? new Retention(log, config.retention) : null;
  retention?.on('error', (err: unknown) => errors.report('retention', err));
  if (retention && replicator) retention.follow(replicator);
  let failure: unknown = null;
  let quitFromConsole: () => void = () => {};
  let quitBy: string | null = null;
  const stopped = new Promise<void>((resolve) => {
    quitFromConsole = resolve;
    watchDeviceErrors({ recorder, replicator }, errors, (err) => {
      failure = err;
      resolve();
    });
    opts.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let metrics: Listening | null = null;
  if (config.metrics) {
    // loaded only when asked for: prom-client costs a device without --metrics memory for nothing
    const [{ createDeviceMetrics }, { listenMetrics }] = await Promise.all([
      import('../device/metrics.js'),
      import('../metrics.js'),
    ]);
    const host = config.metrics.host ?? '127.0.0.1';
    const registry = createDeviceMetrics({
      log,
      dir,
      recorder,
      sync: replicator,
      errors,
      unrecorded,
      budget,
    });
    try {
      metrics = await listenMetrics(registry, config.metrics.port, host, errors);
    } catch (err) {
      await log.close();
      throw fail(
        'USAGE',
        `device: --metrics ${config.metrics.port}: cannot listen on ${host} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      );
    }
  }

  const ui = maybeConsole({
    noUi: flag(p, 'no-ui'),
    recorder,
    log,
    deviceId: config.id,
    replicator,
    ...(config.console ? { settings: config.console } : {}),
    precision: configuredPrecision(config),
    disk: budget,
  });
  ui?.on('quit', (operator: string) => {
    quitBy ??= operator;
    quitFromConsole();
  });
  // with the console on, the terminal is its: nothing else may write there
  if (ui) {
    out = { line: async () => {} };
    errors.hold();
  }

  // a full filesystem is not a crash (src/log/full-disk.ts, the recorder): say when it begins and ends
  const say = (line: string) => void out.line(`${new Date().toISOString()} ${line}`).catch(() => {});
  log.on('disk-full', (err: Error) =>
    say(
      `warning: the log's filesystem is full (${err.message}); the device keeps running: readings are counted, other events held, operator commands refused, until space returns`,
    ),
  );
  log.on('writable', () => say("the log's filesystem has space again; recording resumed"));
  log.on('probe-error', (err: Error) =>
    say(`warning: reopening the log after the full disk failed (${err.message}); retrying`),
  );

  // Headless: one line per event that is not a reading, and a count of readings now and then.
  let readings = 0;
  const shown = new SensorPrecision(configuredPrecision(config));
  const onEvents = (events: Envelope[]) => {
    for (const e of events) {
      shown.seeEvent(e);
      if (e.type === 'ReadingRecorded' || e.type === 'PositionRecorded') readings++;
      else void out.line(`${e.time} #${e.seq} ${describeEvent(e, shown)}`).catch(() => {});
    }
  };
  recorder.on('events', onEvents);
  const tally = setInterval(() => {
    if (readings > 0)
      void out
        .line(`${new Date().toISOString()} ${readings} reading(s) recorded, head #${log.head().seq}`)
        .catch(() => {});
    readings = 0;
  }, 10_000);
  tally.unref();

  budget.on('error', (err: unknown) => errors.report('recorder', err));
  try {
    await recorder.start();
    await retention?.start();
    await budget.start();
    replicator?.start();
    await out.line(
      `fieldlog device ${config.id}: logging ${config.sources.map((s) => `${s.name} (${s.driver} ${s.port})`).join(', ')} to ${dir}${metrics ? `, metrics http://${config.metrics?.host ?? '127.0.0.1'}:${metrics.port}/metrics` : ''}`,
    );
    ui?.start();
    if (!opts.signal.aborted) await stopped;
  } finally {
    clearInterval(tally);
    ui?.stop();
    errors.release();
    const cause = stopCause({ failure, quitBy, signal: opts.signal });
    await budget.stop();
    await recorder.stop(cause.reason, cause.operator);
    recorder.off('events', onEvents);
    if (replicator) {
      // give the hub a moment to take the tail; whatever it does not take stays in the log
      const until = Date.now() + 2000;
      while (
        replicator.status().connected &&
        replicator.status().acked < log.head().seq &&
        Date.now() < until
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      stopping = true;
      await replicator.stop();
    }
    await retention?.stop();
    await metrics?.close();
    await log.close();
  }
  if (failure) throw stoppedBy(failure, `device ${config.id}`);
  return 0;
}
