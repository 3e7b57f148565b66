// `fieldlog sim`: runs a simulated sensor (line node, NMEA receiver, Firmata board) on a serial
// path or on a fresh pty pair until SIGINT/SIGTERM, then prints what it sent (the README's `fieldlog sim`).

import { type CommandSpec, int, parseFlags, str } from '../src/cli/args.js';
import type { Output } from '../src/cli/output.js';
import { fail } from '../src/errors.js';
import { FIRMATA_FAULTS, FirmataBoard, type FirmataFault, seededRandom } from './firmata-board.js';
import { LINE_FAULTS, type LineFault, LineNode } from './line-node.js';
import type { SerialSimulator } from './mock-port.js';
import { NMEA_FAULTS, type NmeaFault, NmeaReceiver } from './nmea-receiver.js';
import { type PortRun, PtyLine, runOnPty } from './pty.js';

export const SIM: CommandSpec = {
  name: 'sim',
  args: 'line|nmea|firmata',
  positionals: { min: 1, max: 1 },
  summary:
    'Runs a simulated sensor on a serial port or a fresh pty until SIGINT or SIGTERM, then prints what it sent as one JSON line: line (a fieldlog sensor node), nmea (a GPS receiver) or firmata (a StandardFirmata board).',
  flags: {
    port: {
      type: 'string',
      value: 'PATH',
      group: 'where',
      required: true,
      help: 'run on this existing serial port',
    },
    pty: {
      type: 'boolean',
      group: 'where',
      required: true,
      help: "make a pty pair (with socat) and print the device side's path on the first line",
    },
    rate: {
      type: 'string',
      value: 'HZ',
      help: 'frames (or samples) per second (line and firmata up to 1000, nmea up to 10)',
    },
    faults: {
      type: 'string',
      value: 'LIST',
      help: `faults to inject, comma-separated: line ${LINE_FAULTS.join(', ')}; nmea ${NMEA_FAULTS.join(', ')}; firmata ${FIRMATA_FAULTS.join(', ')}`,
    },
    'fault-rate': {
      type: 'string',
      value: 'N',
      help: 'faults a second on average (above 0, at most 1000; needs --faults); without it line and nmea spoil 5 % of frames',
    },
    seed: {
      type: 'string',
      value: 'N',
      help: 'seed the random faults and noise (0 to 4294967295), to repeat a run',
    },
  },
};

// The usual UART speed of each kind of device; a pty ignores it.
const KINDS = {
  line: { faults: LINE_FAULTS as readonly string[], maxHz: 1000, baudRate: 115200 },
  nmea: { faults: NMEA_FAULTS as readonly string[], maxHz: 10, baudRate: 9600 },
  firmata: { faults: FIRMATA_FAULTS as readonly string[], maxHz: 1000, baudRate: 57600 },
} as const;
type Kind = keyof typeof KINDS;

interface Simulation {
  sim: SerialSimulator & { start(): void; stop(): void };
  stats(): unknown;
  onLineChange?(listener: (present: boolean) => void): () => void;
}

export async function runSim(
  argv: string[],
  out: Pick<Output, 'line'>,
  signal: AbortSignal,
): Promise<number> {
  const p = parseFlags(SIM, argv);
  const kind = p.positionals[0] ?? '';
  if (!Object.hasOwn(KINDS, kind))
    throw fail('USAGE', `sim: unknown simulator "${kind}" (line, nmea or firmata)`);
  const spec = KINDS[kind as Kind];
  const command = `sim ${kind}`;
  const path = str(p, 'port');
  const hz = int(p, 'rate', 1, spec.maxHz);
  const faults = parseFaults(command, str(p, 'faults'), spec.faults);
  const perSecond = faultRate(command, str(p, 'fault-rate'), faults);
  const seed = int(p, 'seed', 0, 0xffffffff);
  const random = seed === undefined ? Math.random : seededRandom(seed);
  const periodMs = hz === undefined ? undefined : Math.round(1000 / hz);
  const simulation = build(kind as Kind, { periodMs, faults, perSecond, random });

  const outcome =
    path === undefined
      ? await onPty(simulation, spec.baudRate, out, signal)
      : await onPort(simulation, path, spec.baudRate, signal);
  if (outcome instanceof Error) throw outcome;
  const stats = simulation.stats();
  if (stats !== undefined) await out.line(JSON.stringify({ sim: kind, stats }));
  return 0;
}

function parseFaults(command: string, text: string | undefined, known: readonly string[]): string[] {
  if (text === undefined) return [];
  const names = text.split(',').map((name) => name.trim());
  for (const name of names) {
    if (!known.includes(name))
      throw fail(
        'USAGE',
        `${command}: unknown fault "${name}" in --faults (known: ${known.length > 0 ? known.join(', ') : 'none'})`,
      );
  }
  return names;
}

/**
 * `--fault-rate N`: faults a second on average, so that one is seen within seconds when asked
 * whatever the sample rate. Without it each kind keeps its gentle default (a 5 % chance per
 * line frame or NMEA epoch, 0.05 a second for the board).
 */
function faultRate(command: string, text: string | undefined, faults: string[]): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n <= 0 || n > 1000)
    throw fail(
      'USAGE',
      `${command}: --fault-rate must be faults a second, above 0 and at most 1000, got "${text}"`,
    );
  if (faults.length === 0) throw fail('USAGE', `${command}: --fault-rate needs --faults to say which`);
  return n;
}

/** A chance per frame sent every `periodMs` that gives `perSecond` faults a second (at most every frame). */
export function chancePerFrame(perSecond: number, periodMs: number): number {
  return Math.min(1, (perSecond * periodMs) / 1000);
}

function build(
  kind: Kind,
  o: { periodMs: number | undefined; faults: string[]; perSecond: number | undefined; random: () => number },
): Simulation {
  // line and NMEA draw per frame: at the starting period (a device's $FLC,RATE may change it)
  const perFrame =
    o.perSecond === undefined ? {} : { faultRate: chancePerFrame(o.perSecond, o.periodMs ?? 1000) };
  switch (kind) {
    case 'line': {
      const node = new LineNode({
        periodMs: o.periodMs,
        faults: o.faults as LineFault[],
        random: o.random,
        ...perFrame,
      });
      return { sim: node, stats: () => node.stats, onLineChange: (l) => node.onLineChange(l) };
    }
    case 'nmea': {
      const gps = new NmeaReceiver({
        periodMs: o.periodMs,
        faults: o.faults as NmeaFault[],
        random: o.random,
        startupText: true,
        ...perFrame,
      });
      return { sim: gps, stats: () => gps.stats };
    }
    case 'firmata': {
      const board = new FirmataBoard({
        announce: true,
        samplingIntervalMs: o.periodMs,
        random: o.random,
        faults: o.faults as FirmataFault[],
        ...(o.perSecond === undefined ? {} : { faultsPerSecond: o.perSecond }),
      });
      return { sim: board, stats: () => board.stats };
    }
  }
}

/** Device path first on stdout, then run until aborted; a `disconnect` fault unplugs the pty. */
async function onPty(
  s: Simulation,
  baudRate: number,
  out: Pick<Output, 'line'>,
  signal: AbortSignal,
): Promise<Error | undefined> {
  const line = await PtyLine.open(s.sim, { baudRate });
  let fatal: (err: Error) => void = () => {};
  const failed = new Promise<Error>((resolve) => {
    fatal = resolve;
  });
  const unfollow = s.onLineChange?.((present) => {
    (present ? line.replug() : line.unplug()).catch((err: unknown) => fatal(err as Error));
  });
  try {
    await out.line(line.devicePath);
    s.sim.start();
    const outcome = await untilAborted(signal, failed);
    return outcome === 'aborted' ? undefined : outcome;
  } finally {
    s.sim.stop();
    unfollow?.();
    await line.close();
  }
}

/** An existing port or pty: nothing to unplug, so a `disconnect` fault is the node falling silent. */
async function onPort(
  s: Simulation,
  path: string,
  baudRate: number,
  signal: AbortSignal,
): Promise<Error | undefined> {
  const run: PortRun = await runOnPty(s.sim, path, { baudRate });
  try {
    s.sim.start();
    const outcome = await untilAborted(signal, run.ended);
    if (outcome === 'aborted') return undefined;
    return fail('SOURCE_DISCONNECTED', `${path} went away${outcome ? `: ${outcome.message}` : ''}`, outcome);
  } finally {
    s.sim.stop();
    await run.close();
  }
}

async function untilAborted<T>(signal: AbortSignal, other: Promise<T>): Promise<T | 'aborted'> {
  if (signal.aborted) return 'aborted';
  let onAbort = (): void => {};
  const aborted = new Promise<'aborted'>((resolve) => {
    onAbort = () => resolve('aborted');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([aborted, other]);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
