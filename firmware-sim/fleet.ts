// A simulated fleet in one process: N devices, each with its own real EventLog (its own
// LevelDB folder, tuned for many small instances) and the real Replicator, recording
// readings, positions and alarms at a rate, optionally starting with a backlog that the hub
// has not seen yet. `fieldlog sim fleet`, the benchmarks and system tests build on this.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { fail } from '../src/errors.js';
import type { EventInput } from '../src/log/envelope.js';
import { type Clock, EventLog } from '../src/log/event-log.js';
import { DEFAULT_PREFIX } from '../src/sync/messages.js';
import { Replicator, type ReplicatorOptions } from '../src/sync/replicator.js';
import { seededRandom } from './firmata-board.js';
import { FleetDeviceModel } from './fleet-model.js';

export interface FleetTimers {
  setInterval(cb: () => void, ms: number): unknown;
  clearInterval(h: unknown): void;
  now(): number;
}

export interface SimFleetOptions {
  devices: number;
  /** Reading ticks a second per device (each tick records one reading, and now and then a fix or alarm). */
  rate: number;
  /** The broker: mqtt://, mqtts://, ws:// or wss://. */
  url: string;
  /** Events each device holds before it starts replicating (recorded "during an outage"). */
  backlog?: number;
  fleet?: string;
  prefix?: string;
  /** Where the device logs go (`DIR/sim-0001`, …); a temp folder removed at stop without it. */
  dataDir?: string;
  seed?: number;
  /** How long stop() waits for the hub to acknowledge what was recorded (default 10 s). */
  drainMs?: number;
  /** Options for every replicator (MQTT credentials, window, batch size). */
  replicator?: Partial<Omit<ReplicatorOptions, 'url' | 'fleet' | 'prefix'>>;
  timers?: FleetTimers;
}

export interface SimFleetStats {
  devices: number;
  /** Replicators connected to the broker now. */
  connected: number;
  /** Events recorded by this run (backlogs included). */
  recorded: number;
  /** Events in the devices' logs (more than `recorded` when --data held earlier runs). */
  logged: number;
  /** Of those, what the hub has acknowledged holding durably. */
  acknowledged: number;
  /** Appends the logs refused (should stay 0). */
  failedAppends: number;
}

export interface SimDevice {
  id: string;
  dir: string;
  log: EventLog;
  replicator: Replicator;
}

export interface SimFleet {
  /** Open the logs, write the backlogs, connect every replicator and start recording. */
  start(): Promise<void>;
  /** Stop recording, give the hub drainMs to acknowledge the rest, close everything. */
  stop(): Promise<SimFleetStats>;
  stats(): SimFleetStats;
  readonly devices: readonly SimDevice[];
  /** Where the device logs are. */
  readonly dataDir: string;
}

const systemTimers: FleetTimers = {
  setInterval: (cb, ms) => setInterval(cb, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  now: () => Date.now(),
};

/** How often the scheduler looks for due readings: every device's ticks fall into these slots. */
const SLOT_MS = 50;
/** Logs opened (and backlogs written) at a time. */
const OPEN_AT_ONCE = 16;
/** Events of a backlog staged per append call (one LevelDB batch). */
const BACKLOG_CHUNK = 1000;
/** Average events per tick, to start a backlog about where it ends now. */
const EVENTS_PER_TICK = 1.13;

/**
 * LevelDB's defaults are for one big database: an 8 MiB block cache and a 4 MiB write buffer
 * each. A thousand device logs in one process with those would want gigabytes; a device's
 * working set is its last few hundred events.
 */
export const SMALL_LEVELDB = {
  // no block cache: a device's reads are its replication's one pass over what it wrote
  cacheSize: 0,
  writeBufferSize: 64 * 1024,
  blockSize: 4096,
  maxOpenFiles: 16,
} as const;

/**
 * A replicator's defaults suit one device per process: 64 batches of up to 120 KiB in flight
 * and its whole backlog read ahead. A thousand of them catching up at once would hold
 * gigabytes; these hold about 100 events read ahead and 2 batches of 32 KiB in flight each.
 */
export const FLEET_REPLICATION = { readAhead: 100, window: 2, batchBytes: 32 * 1024 } as const;

export function deviceId(i: number, n: number): string {
  return `sim-${String(i + 1).padStart(Math.max(4, String(n).length), '0')}`;
}

interface Member extends SimDevice {
  model: FleetDeviceModel;
  /** The time the log's clock says while a backlog is written (undefined: the real clock). */
  virtual: number | undefined;
  nextAt: number;
  hubHas: number;
}

export function createSimFleet(opts: SimFleetOptions): SimFleet {
  const timers = opts.timers ?? systemTimers;
  const fleet = opts.fleet ?? 'default';
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const backlog = opts.backlog ?? 0;
  const periodMs = 1000 / opts.rate;
  // one generator per device: the same seed gives each device the same events whatever order they open in
  const randomFor = (i: number) =>
    opts.seed === undefined ? Math.random : seededRandom((opts.seed + Math.imul(i, 0x9e3779b1)) >>> 0);
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'fieldlog-sim-fleet-'));
  const members: Member[] = [];
  let recorded = 0;
  let failedAppends = 0;
  let scheduler: unknown = null;
  let stopping: Promise<SimFleetStats> | null = null;

  const onAppendFailed = (): void => {
    failedAppends++;
  };

  async function openMember(i: number): Promise<Member> {
    const id = deviceId(i, opts.devices);
    const dir = join(dataDir, id);
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      ...SMALL_LEVELDB,
    });
    try {
      mkdirSync(dir, { recursive: true });
      await db.open();
    } catch (err) {
      throw openError(dir, err);
    }
    const m = { virtual: undefined, nextAt: 0, hubHas: 0 } as Partial<Member> as Member;
    const bootAt = timers.now() - (backlog / EVENTS_PER_TICK) * periodMs;
    const clock: Clock = {
      now: () => m.virtual ?? timers.now(),
      mono: () => Math.max(0, (m.virtual ?? timers.now()) - bootAt),
    };
    // a simulated device need not fsync each batch: it is stopped cleanly, and the OS has
    // every write (LevelDB's journal) even when the process dies
    const log = await EventLog.fromBackend(db, { device: id, create: true, sync: false, clock }, dir);
    const random = randomFor(i);
    Object.assign(m, { id, dir, log, model: new FleetDeviceModel(i, random) });
    if (backlog > 0) await writeBacklog(m, bootAt);
    m.replicator = new Replicator(log, {
      ...FLEET_REPLICATION,
      ...opts.replicator,
      url: opts.url,
      fleet,
      prefix,
      random,
    });
    m.replicator.on('acked', (upTo: number) => {
      m.hubHas = upTo;
    });
    return m;
  }

  /** `backlog` events timed as if recorded at the rate up to now, staged a chunk at a time. */
  async function writeBacklog(m: Member, from: number): Promise<void> {
    let at = from;
    let left = backlog;
    while (left > 0) {
      const chunk: EventInput[] = [];
      const times: number[] = [];
      while (chunk.length < Math.min(left, BACKLOG_CHUNK)) {
        const t = Math.min(Math.round(at), timers.now());
        for (const input of m.model.tick(t)) {
          chunk.push(input);
          times.push(t);
        }
        at += periodMs;
      }
      chunk.length = times.length = Math.min(chunk.length, left);
      // the log seals synchronously in call order: the clock is set per event
      let last: Promise<unknown> = Promise.resolve();
      for (let k = 0; k < chunk.length; k++) {
        m.virtual = times[k];
        last = m.log.append(chunk[k]!);
      }
      m.virtual = undefined;
      await last;
      recorded += chunk.length;
      left -= chunk.length;
    }
  }

  /** Every due tick of every device, each device's events in one append. */
  function onSlot(): void {
    const now = timers.now();
    for (const m of members) {
      if (m.nextAt > now) continue;
      const inputs: EventInput[] = [];
      for (let k = 0; m.nextAt <= now && k < 1000; k++) {
        inputs.push(...m.model.tick(Math.round(m.nextAt)));
        m.nextAt += periodMs;
      }
      recorded += inputs.length;
      m.log.appendMany(inputs).catch(onAppendFailed);
    }
  }

  function stats(): SimFleetStats {
    let logged = 0;
    let acknowledged = 0;
    let connected = 0;
    for (const m of members) {
      logged += m.log.head().seq;
      acknowledged += m.hubHas;
      if (m.replicator.status().connected) connected++;
    }
    return { devices: members.length, connected, recorded, logged, acknowledged, failedAppends };
  }

  async function drain(): Promise<void> {
    const deadline = timers.now() + (opts.drainMs ?? 10_000);
    await Promise.all(members.map((m) => m.log.flushed()));
    for (;;) {
      if (members.every((m) => m.hubHas >= m.log.head().seq)) return;
      if (timers.now() >= deadline) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function start(): Promise<void> {
    for (let i = 0; i < opts.devices; i += OPEN_AT_ONCE) {
      const idx = Array.from({ length: Math.min(OPEN_AT_ONCE, opts.devices - i) }, (_, k) => i + k);
      const opened = await Promise.allSettled(idx.map(openMember));
      for (const o of opened) if (o.status === 'fulfilled') members.push(o.value);
      const failed = opened.find((o) => o.status === 'rejected');
      if (failed) {
        await closeAll();
        throw (failed as PromiseRejectedResult).reason;
      }
    }
    const t0 = timers.now();
    for (const [i, m] of members.entries()) {
      // spread the devices over one period so that they do not all record in the same slot
      m.nextAt = t0 + (periodMs * i) / members.length;
      m.log.append(startedEvent()).catch(onAppendFailed);
      recorded++;
      m.replicator.start();
    }
    scheduler = timers.setInterval(onSlot, Math.min(SLOT_MS, periodMs));
  }

  async function closeAll(): Promise<void> {
    await Promise.all(members.map((m) => m.replicator?.stop().catch(() => {})));
    await Promise.all(members.map((m) => m.log.close().catch(() => {})));
    if (ownDir) rmSync(dataDir, { recursive: true, force: true });
  }

  function stop(): Promise<SimFleetStats> {
    stopping ??= (async () => {
      if (scheduler !== null) timers.clearInterval(scheduler);
      scheduler = null;
      await drain();
      const final = stats();
      await closeAll();
      return final;
    })();
    return stopping;
  }

  return {
    start,
    stop,
    stats,
    get devices() {
      return members;
    },
    dataDir,
  };
}

/** One line naming the folder: locked by another run, or not a folder that can hold a log. */
function openError(dir: string, err: unknown): Error {
  const e = err as { code?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e.code === 'LEVEL_LOCKED' || e.cause?.code === 'LEVEL_LOCKED')
    return fail(
      'LOG_LOCKED',
      `${dir} is in use by another process (another sim fleet on the same --data?)`,
      err,
    );
  return fail('LOG_NOT_FOUND', `${dir} cannot be opened as a log: ${e.cause?.message ?? e.message}`, err);
}

function startedEvent(): EventInput {
  return {
    type: 'DeviceStarted',
    data: {
      version: 'sim',
      sources: [
        { name: 'node', driver: 'sim', port: 'sim' },
        { name: 'gps', driver: 'sim', port: 'sim' },
      ],
      clockSynced: true,
      clockCheck: 'plausible',
    },
    meta: { actor: 'system' },
  };
}
