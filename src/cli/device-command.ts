// `fieldlog device`: reads the configured sources into the device's log until SIGINT or
// SIGTERM, then stops cleanly (sources closed, pending events written, log closed).
import { createSources } from '../device/build-sources.js';
import { type DeviceFlags, readConfigFile, resolveDeviceConfig } from '../device/config.js';
import { configuredPrecision } from '../device/display-precision.js';
import { Recorder } from '../device/recorder.js';
import type { SourceDeps } from '../device/sources/source.js';
import { fail } from '../errors.js';
import { describeEvent } from '../log/describe.js';
import type { Envelope } from '../log/envelope.js';
import { EventLog } from '../log/event-log.js';
import { SensorPrecision } from '../log/precision.js';
import { Replicator } from '../sync/replicator.js';
import { flag, int, parseFlags, str } from './args.js';
import { maybeConsole } from './console-wiring.js';
import { mqttSecurity } from './hub-command.js';
import type { Output } from './output.js';

export const DEVICE_USAGE = `fieldlog device --id ID --data DIR --driver line|nmea|firmata --port PATH [--baud N]
                [--mqtt URL] [--fleet F] [--config FILE] [--source NAME] [--no-ui]`;

export const VERSION = '0.1.0';

export interface DeviceRunOptions {
  signal: AbortSignal;
  /** Serial binding for every source (tests and the demo pass the simulator's). */
  deps?: SourceDeps;
}

export async function runDevice(argv: string[], output: Output, opts: DeviceRunOptions): Promise<number> {
  let out = output;
  const cmd = 'device';
  const p = parseFlags(
    cmd,
    argv,
    {
      id: { type: 'string' },
      data: { type: 'string' },
      driver: { type: 'string' },
      port: { type: 'string' },
      baud: { type: 'string' },
      mqtt: { type: 'string' },
      fleet: { type: 'string' },
      config: { type: 'string' },
      source: { type: 'string' },
      'no-ui': { type: 'boolean' },
    },
    { min: 0, max: 0 },
  );
  const dir = str(p, 'data');
  if (dir === undefined) throw fail('USAGE', `${cmd}: --data DIR is required`);
  const flags: DeviceFlags = {};
  for (const k of ['id', 'fleet', 'mqtt', 'driver', 'port', 'source'] as const) {
    const v = str(p, k);
    if (v !== undefined) flags[k] = v;
  }
  const baud = int(p, cmd, 'baud', 50, 4_000_000);
  if (baud !== undefined) flags.baud = baud;
  const configFile = str(p, 'config');
  const config = resolveDeviceConfig(
    configFile === undefined ? undefined : readConfigFile(configFile),
    flags,
    configFile ?? 'flags',
  );
  // everything is validated before anything is opened or written
  const sources = createSources(config, opts.deps);

  const log = await EventLog.open(dir, { device: config.id, create: true });
  const others = log.deviceNames().filter((d) => d !== config.id);
  if (others.length > 0) {
    await log.close();
    throw fail('CONFIG_INVALID', `${dir} holds the log of ${others.join(', ')}, not ${config.id}`);
  }
  const recorder = new Recorder(log, config, sources, { version: VERSION });
  let replicator: Replicator | null = null;
  if (config.mqtt) {
    const { url, ...security } = config.mqtt;
    replicator = new Replicator(log, { url, fleet: config.fleet ?? 'default', mqtt: mqttSecurity(security) });
    replicator.on(
      'connected',
      () => void out.line(`${new Date().toISOString()} replicating to ${url}`).catch(() => {}),
    );
    replicator.on(
      'disconnected',
      () =>
        void out
          .line(`${new Date().toISOString()} broker connection lost; the log keeps everything`)
          .catch(() => {}),
    );
    replicator.on(
      'rejected-ack',
      (why: string) => void out.line(`${new Date().toISOString()} ack ignored: ${why}`).catch(() => {}),
    );
  }
  let failure: unknown = null;
  let quitFromConsole: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    quitFromConsole = resolve;
    recorder.on('error', (err) => {
      failure = err;
      resolve();
    });
    opts.signal.addEventListener('abort', () => resolve(), { once: true });
  });

  const ui = maybeConsole({
    noUi: flag(p, 'no-ui'),
    recorder,
    log,
    deviceId: config.id,
    replicator,
    ...(config.console ? { settings: config.console } : {}),
    precision: configuredPrecision(config),
  });
  ui?.on('quit', () => quitFromConsole());
  // with the console on, the terminal is its: nothing else may write there
  if (ui) out = { line: async () => {} };

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

  try {
    await recorder.start();
    replicator?.start();
    await out.line(
      `fieldlog device ${config.id}: logging ${config.sources.map((s) => `${s.name} (${s.driver} ${s.port})`).join(', ')} to ${dir}`,
    );
    ui?.start();
    if (!opts.signal.aborted) await stopped;
  } finally {
    clearInterval(tally);
    ui?.stop();
    const reason = failure
      ? `error: ${(failure as Error).message}`
      : ((opts.signal.reason as string | undefined) ?? 'stopped');
    await recorder.stop(reason);
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
      await replicator.stop();
    }
    await log.close();
  }
  if (failure) throw failure;
  return 0;
}
