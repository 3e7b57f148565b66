// Pseudo-terminal pairs from socat, so a simulator stands in for a serial device that any program
// (the fieldlog device, minicom, gpsd) opens by path; PtyLine unplugs and replugs it like a USB
// adapter: the path vanishes, the reader's port fails as disconnected, then the path comes back.

import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { fail, isFieldlogError } from '../src/errors.js';
import { attachToStream, type ByteStream, type SerialSimulator } from './mock-port.js';

export interface PtyPair {
  /** For the program under test (the fieldlog device). */
  readonly devicePath: string;
  /** For the simulator. */
  readonly simPath: string;
  /** Stop socat: both paths vanish, whoever has them open sees a disconnect. Idempotent. */
  close(): Promise<void>;
}

export interface PtyPairOptions {
  /** Folder for the two links; default a fresh temp folder, removed on close. A given one is kept. */
  dir?: string;
  /** The socat executable. Default `socat` on the PATH. */
  socat?: string;
  /** How long socat may take to set up both ptys. Default 5000 ms. */
  timeoutMs?: number;
}

const READY = 'starting data transfer loop';
// socat parses its address arguments: these characters would split or re-quote a link path.
const SOCAT_SPECIAL = /[,:!"'\\\s]/;
const NOT_FOUND = 127;

/**
 * socat under a watchdog shell. The watchdog reads our end of a pipe and kills socat at EOF, so
 * socat, its ptys, links and (when it is ours) folder go whenever we do: on close() and also when
 * this process is killed (SIGKILL runs no handler, but the kernel still closes the pipe).
 * fd 3 carries the pipe because sh gives background jobs /dev/null as their stdin.
 */
const WATCHDOG = `
command -v "$1" >/dev/null 2>&1 || { echo "$1: not found" >&2; exit ${NOT_FOUND}; }
exec 3<&0
"$1" -d -d "pty,raw,echo=0,link=$2" "pty,raw,echo=0,link=$3" </dev/null 3<&- &
pid=$!
{ cat <&3 >/dev/null; kill "$pid"; } >/dev/null 2>&1 &
exec 3<&-
wait "$pid"
code=$?
[ -z "$4" ] || rmdir "$4" 2>/dev/null
exit $code
`;

/** Two connected ptys, `<dir>/device` and `<dir>/sim`, via `socat pty,raw,echo=0 pty,raw,echo=0`. */
export async function openPtyPair(options: PtyPairOptions = {}): Promise<PtyPair> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'fieldlog-pty-')));
  return openPair(dir, options.dir === undefined, options);
}

async function openPair(dir: string, ownDir: boolean, options: PtyPairOptions): Promise<PtyPair> {
  const devicePath = join(dir, 'device');
  const simPath = join(dir, 'sim');
  const removeDir = ownDir ? () => rm(dir, { recursive: true, force: true }) : async () => {};
  if (SOCAT_SPECIAL.test(dir)) {
    await removeDir();
    throw fail('SOURCE_UNAVAILABLE', `cannot make ptys in ${dir}: socat cannot take , : ! quotes or spaces`);
  }
  const args = [options.socat ?? 'socat', devicePath, simPath, ownDir ? dir : ''];
  const child = spawn('sh', ['-c', WATCHDOG, 'sh', ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.stdin?.on('error', () => {}); // EPIPE when the shell is already gone: nothing left to stop
  try {
    await socatReady(child, options.timeoutMs ?? 5000);
    await Promise.all([access(devicePath), access(simPath)]);
  } catch (err) {
    await stop(child, exited);
    await removeDir();
    if (isFieldlogError(err)) throw err;
    throw fail('SOURCE_UNAVAILABLE', `socat did not create the ptys: ${(err as Error).message}`, err);
  }
  let closing: Promise<void> | undefined;
  return {
    devicePath,
    simPath,
    close() {
      closing ??= (async () => {
        await stop(child, exited);
        // socat unlinks on SIGTERM; one killed harder may not have.
        await Promise.all([rm(devicePath, { force: true }), rm(simPath, { force: true })]);
        await removeDir();
      })();
      return closing;
    },
  };
}

/** Resolves on socat's "starting data transfer loop" notice (both ptys and links exist by then). */
function socatReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let log = '';
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      child.off('error', onError);
      child.off('exit', onExit);
      // Keep draining socat's diagnostics so a full pipe can never block it.
      child.stderr?.off('data', onData).resume();
      if (err) reject(err);
      else resolve();
    };
    const onData = (chunk: Buffer): void => {
      log += chunk.toString();
      if (log.includes(READY)) finish();
    };
    const onError = (err: Error): void => {
      finish(fail('SOURCE_UNAVAILABLE', `cannot run socat: ${err.message}`, err));
    };
    const onExit = (code: number | null): void => {
      const last = log.trim().split('\n').at(-1) ?? '';
      finish(
        code === NOT_FOUND
          ? fail('SOURCE_UNAVAILABLE', 'socat is not installed (needed for --pty; apt-get install socat)')
          : fail('SOURCE_UNAVAILABLE', `socat exited (${code}) before the ptys were ready: ${last}`),
      );
    };
    const timer = setTimeout(() => finish(new Error(`no pty after ${timeoutMs} ms`)), timeoutMs);
    child.stderr?.on('data', onData);
    child.once('error', onError);
    child.once('exit', onExit);
  });
}

/** Closing the watchdog's pipe stops socat (SIGTERM: it unlinks its links); the shell follows. */
async function stop(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.pid === undefined) return; // never started: nothing to wait for
  child.stdin?.end();
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}

export interface PortRun {
  readonly port: SerialPort;
  /** Bytes the simulator sent while nobody read the other side (see `maxBacklog`). */
  readonly droppedBytes: number;
  /** Settles when the port closes: with the error when it went away (err.disconnected), else null. */
  readonly ended: Promise<Error | null>;
  /** Detach the simulator and close the port. Idempotent. */
  close(): Promise<void>;
}

export interface PortRunOptions {
  /** Irrelevant on a pty; on a real port the node's UART speed. Default 115200. */
  baudRate?: number;
  /**
   * A pty passes little data while nobody has the other side open, and a real UART drops what
   * nobody reads: beyond this many unsent bytes the simulator's output is dropped, not queued
   * for ever. Default 4096.
   */
  maxBacklog?: number;
}

/**
 * Runs a simulator on a serial path: the sim side of a pty pair, or any port. Opened with
 * serialport (it opens ptys at any baud); modem lines and SerialPort.list() are never touched
 * since a pty has no modem lines and list() needs udev.
 */
export async function runOnPty(
  sim: SerialSimulator,
  simPath: string,
  options: PortRunOptions = {},
): Promise<PortRun> {
  const port = new SerialPort({ path: simPath, baudRate: options.baudRate ?? 115200, autoOpen: false });
  try {
    await new Promise<void>((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw fail('SOURCE_UNAVAILABLE', `cannot open ${simPath}: ${(err as Error).message}`, err);
  }
  const maxBacklog = options.maxBacklog ?? 4096;
  let dropped = 0;
  const stream: ByteStream = {
    write(chunk) {
      if (!port.isOpen || port.writableLength > maxBacklog) {
        dropped += chunk.length;
        return false;
      }
      return port.write(chunk);
    },
    on: (event, listener) => port.on(event, listener),
    off: (event, listener) => port.off(event, listener),
  };
  const detach = attachToStream(sim, stream);
  // Errors arrive again as the 'close' reason; listening keeps them from being unhandled.
  port.on('error', () => {});
  const ended = new Promise<Error | null>((resolve) =>
    port.once('close', (err?: Error | null) => resolve(err ?? null)),
  );
  let closing: Promise<void> | undefined;
  return {
    port,
    get droppedBytes() {
      return dropped;
    },
    ended,
    close() {
      closing ??= (async () => {
        detach();
        if (port.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
      })();
      return closing;
    },
  };
}

/**
 * A simulator on a pty pair whose device path survives unplug/replug, as a USB serial adapter's
 * does: the same calls as SimulatedLine's, so one harness drives both. Calls are serialised, so
 * a short outage's replug never overtakes its unplug.
 */
export class PtyLine {
  readonly devicePath: string;
  readonly #sim: SerialSimulator;
  readonly #dir: string;
  readonly #ownDir: boolean;
  readonly #options: PtyPairOptions & PortRunOptions;
  #pair: PtyPair | undefined;
  #run: PortRun | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(
    sim: SerialSimulator,
    dir: string,
    ownDir: boolean,
    options: PtyPairOptions & PortRunOptions,
  ) {
    this.#sim = sim;
    this.#dir = dir;
    this.#ownDir = ownDir;
    this.#options = options;
    this.devicePath = join(dir, 'device');
  }

  static async open(sim: SerialSimulator, options: PtyPairOptions & PortRunOptions = {}): Promise<PtyLine> {
    const dir =
      options.dir ?? join(tmpdir(), `fieldlog-pty-${process.pid}-${randomBytes(6).toString('hex')}`);
    const line = new PtyLine(sim, dir, options.dir === undefined, options);
    try {
      await line.#plug();
    } catch (err) {
      await line.close();
      throw err;
    }
    return line;
  }

  get present(): boolean {
    return this.#pair !== undefined;
  }

  /** Pull the cable: the sim side closes, socat stops, the device path vanishes. */
  unplug(): Promise<void> {
    return this.#enqueue(() => this.#unplug());
  }

  /** Put it back: a new pair under the same device path, the simulator attached again. */
  replug(): Promise<void> {
    return this.#enqueue(async () => {
      if (!this.#closed && this.#pair === undefined) await this.#plug();
    });
  }

  /** Unplug for good and remove the folder (if this line made it). Idempotent. */
  close(): Promise<void> {
    this.#closed = true;
    return this.#enqueue(async () => {
      await this.#unplug();
      if (this.#ownDir) await rm(this.#dir, { recursive: true, force: true });
    });
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(step);
    // A failed step must not wedge the ones after it; its own caller still gets the error.
    this.#queue = next.catch(() => {});
    return next;
  }

  async #plug(): Promise<void> {
    // A folder of our own goes with each unplug (so a killed process leaves nothing behind) and
    // comes back with the replug, under the same name, so the device path stays the same.
    if (this.#ownDir) await mkdir(this.#dir, { recursive: true, mode: 0o700 });
    const pair = await openPair(this.#dir, this.#ownDir, this.#options);
    try {
      this.#run = await runOnPty(this.#sim, pair.simPath, this.#options);
    } catch (err) {
      await pair.close();
      throw err;
    }
    this.#pair = pair;
  }

  async #unplug(): Promise<void> {
    await this.#run?.close();
    await this.#pair?.close();
    this.#run = undefined;
    this.#pair = undefined;
  }
}
