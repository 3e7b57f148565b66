// `fieldlog sim fleet`: N simulated devices in one process replicating to a hub through a
// broker, until SIGINT/SIGTERM or --duration; then one JSON summary line (the README's
// `fieldlog sim fleet`). Progress goes to stderr once a few seconds on a terminal.
import { readFileSync } from 'node:fs';
import { type CommandSpec, flag, int, parseFlags, str } from '../src/cli/args.js';
import type { Output } from '../src/cli/output.js';
import { fail } from '../src/errors.js';
import { DEFAULT_PREFIX, isId } from '../src/sync/messages.js';
import type { SimFleetStats } from './fleet.js';

export const SIM_FLEET: CommandSpec = {
  name: 'sim fleet',
  positionals: { min: 0, max: 0 },
  summary:
    'Runs N simulated devices in one process, each with its own hash-chained log and the real replicator, recording readings, GPS positions and alarms and replicating them through a broker to a hub, until SIGINT or SIGTERM (or --duration); then prints a one-line JSON summary.',
  flags: {
    devices: {
      type: 'string',
      value: 'N',
      required: true,
      help: 'how many devices (1 to 100000), named sim-0001, sim-0002, …',
    },
    rate: {
      type: 'string',
      value: 'HZ',
      required: true,
      help: 'readings a second per device (above 0, at most 1000; 0.1 is one every 10 s)',
    },
    mqtt: {
      type: 'string',
      value: 'URL',
      required: true,
      help: 'the broker (mqtt://, mqtts://, ws://, wss://)',
    },
    backlog: {
      type: 'string',
      value: 'EVENTS',
      help: 'events each device holds, not yet replicated, when it connects (back from an outage)',
    },
    fleet: { type: 'string', value: 'F', default: 'default', help: 'the fleet in the MQTT topics' },
    prefix: { type: 'string', value: 'P', default: DEFAULT_PREFIX, help: 'the MQTT topic prefix' },
    data: {
      type: 'string',
      value: 'DIR',
      help: 'keep the device logs in DIR/sim-0001, … (kept, and continued by the next run); without it a temp folder removed at exit',
    },
    seed: {
      type: 'string',
      value: 'N',
      help: 'seed the simulated values (0 to 4294967295), to repeat a run',
    },
    duration: { type: 'string', value: 'SEC', help: 'stop after SEC seconds' },
    drain: {
      type: 'string',
      value: 'SEC',
      default: '10',
      help: 'on stopping, wait up to SEC seconds for the hub to acknowledge what was recorded',
    },
    progress: {
      type: 'boolean',
      help: 'print a progress line to stderr every 2 s even when stderr is not a terminal',
    },
  },
};

const PROGRESS_MS = 2000;

/** A positive number of readings a second, at most 1000. */
function rateFlag(text: string): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1000)
    throw fail(
      'USAGE',
      `sim fleet: --rate must be readings a second, above 0 and at most 1000, not "${text}"`,
    );
  return n;
}

export async function runSimFleet(
  argv: string[],
  out: Pick<Output, 'line'>,
  signal: AbortSignal,
  err: { write(s: string): unknown; isTTY?: boolean } = process.stderr,
): Promise<number> {
  const cmd = SIM_FLEET.name;
  const p = parseFlags(SIM_FLEET, argv);
  const devices = int(p, 'devices', 1, 100_000)!;
  const rate = rateFlag(str(p, 'rate')!);
  const url = str(p, 'mqtt')!;
  if (!/^(mqtts?|wss?|tcp|ssl):\/\/.+/.test(url))
    throw fail('USAGE', `${cmd}: --mqtt must be an mqtt://, mqtts://, ws:// or wss:// URL`);
  const backlog = int(p, 'backlog', 0, 10_000_000) ?? 0;
  const fleet = str(p, 'fleet')!;
  if (!isId(fleet)) throw fail('USAGE', `${cmd}: --fleet must match [A-Za-z0-9._-]{1,64}`);
  const prefix = str(p, 'prefix')!;
  if (!/^[^#+/]+(\/[^#+/]+)*$/.test(prefix))
    throw fail('USAGE', `${cmd}: --prefix must be topic levels without + or #`);
  const seed = int(p, 'seed', 0, 0xffffffff);
  const duration = int(p, 'duration', 1, 365 * 86_400);
  const drain = int(p, 'drain', 0, 3600)!;
  const showProgress = flag(p, 'progress') || err.isTTY === true;
  const limit = openFileLimit();
  const needed = filesNeeded(devices);
  if (limit !== undefined && limit < needed)
    throw fail(
      'USAGE',
      `${cmd}: ${devices} devices need about ${needed} open files and this process may open ${limit}; raise the limit first (ulimit -n ${needed})`,
    );

  // loaded only to run: `fieldlog help` need not load LevelDB and MQTT
  const { createSimFleet } = await import('./fleet.js');
  const sim = createSimFleet({
    devices,
    rate,
    url,
    backlog,
    fleet,
    prefix,
    dataDir: str(p, 'data'),
    seed,
    drainMs: drain * 1000,
  });
  if (signal.aborted) return 0;
  await sim.start(); // a failed start has closed what it opened
  const at = sim.stats();
  err.write(
    `sim fleet: ${at.devices} devices recording and replicating, ${at.logged.toLocaleString('en-US')} events in their logs, data ${sim.dataDir}\n`,
  );
  const ticker = showProgress ? progress(sim.stats, err) : null;
  let stopTimer: NodeJS.Timeout | undefined;
  await new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener('abort', () => resolve(), { once: true });
    if (duration !== undefined) stopTimer = setTimeout(resolve, duration * 1000);
  });
  clearTimeout(stopTimer);
  if (ticker) clearInterval(ticker);
  await out.line(summary(await sim.stop()));
  return 0;
}

/**
 * Measured: 1,000 devices held 5,024 descriptors (each log's LevelDB keeps its journal, table,
 * manifest, info log and lock open; each replicator a socket), so 6 a device and a margin.
 */
export function filesNeeded(devices: number): number {
  return devices * 6 + 64;
}

/** The soft limit on open files (Linux's /proc), or undefined where it cannot be read. */
function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (!m || m[1] === 'unlimited') return undefined;
    return Number(m[1]);
  } catch {
    return undefined;
  }
}

function summary(s: SimFleetStats): string {
  return JSON.stringify({
    sim: 'fleet',
    devices: s.devices,
    recorded: s.recorded,
    logged: s.logged,
    acknowledged: s.acknowledged,
  });
}

/** `sim fleet: 1000 devices, 998 connected, recorded 1,234 (+500/s), acknowledged 1,200 (+480/s), RSS 512 MiB`. */
function progress(stats: () => SimFleetStats, err: { write(s: string): unknown }): NodeJS.Timeout {
  let last = stats();
  let at = Date.now();
  const n = (x: number) => Math.round(x).toLocaleString('en-US');
  return setInterval(() => {
    const s = stats();
    const now = Date.now();
    const secs = (now - at) / 1000;
    err.write(
      `sim fleet: ${s.devices} devices, ${s.connected} connected, recorded ${n(s.recorded)} (${n((s.recorded - last.recorded) / secs)}/s), acknowledged ${n(s.acknowledged)} (${n((s.acknowledged - last.acknowledged) / secs)}/s), behind ${n(s.logged - s.acknowledged)}, RSS ${n(process.memoryUsage.rss() / 2 ** 20)} MiB\n`,
    );
    last = s;
    at = now;
  }, PROGRESS_MS);
}
