// What every serial source reports (SourceEvent) and SerialConnection, the one place that opens
// a port, notices it going away, and reopens it with backoff until stopped, for all three drivers.
import { type OpenOptions, SerialPortStream } from '@serialport/stream';
import type { Command } from '../line-protocol.js';
import type { Position } from '../nmea.js';

export type SourceEvent =
  | { kind: 'connected'; port: string; identity?: string }
  /**
   * `unavailable`: the port could not be opened (or, for firmata, no board answered on it), as
   * opposed to an open port going away. One per outage, never one per retry. `reason` is a
   * stable token (DISCONNECT_REASONS); `detail` the transport's own words, for people.
   */
  | { kind: 'disconnected'; reason: string; unavailable: boolean; detail?: string }
  | { kind: 'readings'; readings: { sensor: string; value: number; unit?: string }[]; counter?: number }
  | { kind: 'position'; position: Position }
  /** One per rejected frame; the recorder aggregates them. */
  | { kind: 'rejected'; reason: string; sample: string }
  /** A frame-counter gap: `count` frames between `after` and `next` never arrived. */
  | { kind: 'lost'; count: number; after: number; next: number }
  | { kind: 'identity'; nodeId: string; firmware: string; version: string }
  | { kind: 'fault'; code: string; text: string }
  | { kind: 'answer'; command: string; ok: boolean; why?: string };

export type SourceSink = (ev: SourceEvent) => void;

export interface Source {
  readonly name: string;
  readonly driver: 'line' | 'nmea' | 'firmata';
  readonly port: string;
  /** Connects, and from then on reconnects forever; never throws. A second call does nothing. */
  start(sink: SourceSink): void;
  /** Stops retrying, closes the port and reports what it still held. Idempotent. */
  stop(): Promise<void>;
  /** line only: write a `$FLC` command; the node's answer arrives as an 'answer' event. */
  send?(cmd: Command): Promise<void>;
}

export const DISCONNECT_REASONS = [
  'unplugged', // the open port went away (err.disconnected)
  'closed', // the port closed or ended without saying why
  'error', // a read or write failed
  'not-found', // no such port
  'permission-denied',
  'busy', // another process holds it
  'open-failed', // any other refusal to open
  'no-answer', // firmata: the port opened but no board finished the handshake
  'board-reset', // firmata: the board restarted under us, so its pin setup is gone
  'protocol-error', // firmata: the protocol library choked on what the board sent
] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/** serialport's BindingInterface: the real one, binding-mock, or firmware-sim's SimulatorBinding. */
export type SerialBinding = OpenOptions['binding'];

export interface SourceClock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

// Globals are looked up per call so vi.useFakeTimers() installed after construction still applies.
export const systemClock: SourceClock = {
  now: () => performance.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

export interface SourceDeps {
  /** Default: serialport's autodetected native binding, loaded on first use. */
  binding?: SerialBinding;
  clock?: SourceClock;
  random?: () => number;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** ±fraction of each delay, so a fleet of devices does not retry in lockstep. */
  jitter: number;
  /** A connection that lasted this long resets the delay; a flapping one keeps backing off. */
  stableMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = {
  initialMs: 250,
  maxMs: 30_000,
  jitter: 0.2,
  stableMs: 10_000,
};

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, b: BackoffOptions, random: () => number): number {
  const base = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(0, Math.round(base * (1 + b.jitter * (2 * random() - 1))));
}

/** Sorts an open failure into a reason an operator can act on; real bindings give only a message. */
export function openFailureReason(err: unknown): DisconnectReason {
  const code = (err as { code?: unknown } | null)?.code;
  const text = `${typeof code === 'string' ? code : ''} ${err instanceof Error ? err.message : String(err)}`;
  if (/SOURCE_UNAVAILABLE|ENOENT|no such file|does not exist|no such port|cannot find/i.test(text))
    return 'not-found';
  if (/EACCES|EPERM|permission denied|access (is )?denied/i.test(text)) return 'permission-denied';
  if (/EBUSY|busy|lock/i.test(text)) return 'busy';
  return 'open-failed';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

let nativeBinding: Promise<SerialBinding> | undefined;
function defaultBinding(): Promise<SerialBinding> {
  // Lazy: loading serialport loads the native addon, which tests and `log` commands never need.
  nativeBinding ??= import('serialport').then((m) => m.SerialPort.binding as SerialBinding);
  return nativeBinding;
}

/** What a driver can do with the session it was handed. */
export interface SessionControl {
  /** A fresh port per session, not yet open: listeners attached now see every byte. */
  readonly port: SerialPortStream;
  /** False once the session ended or the source is stopping: late callbacks check it. */
  readonly active: boolean;
  /** The device is usable: reports 'connected'. line/nmea call it on open, firmata on board ready. */
  connected(identity?: string): void;
  /** Give up on this session (the port is closed) and retry with backoff. */
  drop(reason: DisconnectReason, detail?: string): void;
}

export interface SessionHooks {
  opened?(): void;
  /**
   * The session is over: report what it still holds (a truncated line, a pending epoch) now,
   * before 'disconnected'. `stopping` when stop() ended it. Called once, also if open failed.
   */
  ended(stopping: boolean): void;
}

export interface SerialConnectionOptions {
  path: string;
  baudRate: number;
  deps?: SourceDeps;
  backoff?: Partial<BackoffOptions>;
  /** Called once per port attempt, before the port opens. */
  session(control: SessionControl): SessionHooks;
}

interface SessionState {
  port: SerialPortStream;
  hooks: SessionHooks;
  connected: boolean;
  connectedAt: number;
  ended: boolean;
  drop?: { reason: DisconnectReason; detail?: string };
  error?: unknown;
  onEnded?: () => void;
}

/**
 * Owns the port of one source: open, watch, close, reopen. A new SerialPortStream per attempt,
 * so nothing of a dead connection (queued writes, protocol state) leaks into the next one.
 */
export class SerialConnection {
  readonly #o: SerialConnectionOptions;
  readonly #backoff: BackoffOptions;
  #emit: SourceSink = () => {};
  #started = false;
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #session: SessionState | undefined;
  #retry: unknown;
  #attempt = 0;
  /** A 'disconnected' was reported for the current outage; cleared by 'connected'. */
  #outage = false;

  constructor(options: SerialConnectionOptions) {
    this.#o = options;
    this.#backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  }

  get #clock(): SourceClock {
    return this.#o.deps?.clock ?? systemClock;
  }

  /** The port while a session is connected, for writes. */
  get openPort(): SerialPortStream | undefined {
    const s = this.#session;
    return s?.connected && !s.ended && s.port.isOpen ? s.port : undefined;
  }

  start(emit: SourceSink): void {
    if (this.#started || this.#stopping) return;
    this.#started = true;
    this.#emit = emit;
    this.#connect();
  }

  stop(): Promise<void> {
    this.#stopped ??= this.#stop();
    return this.#stopped;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    if (this.#retry !== undefined) this.#clock.clearTimeout(this.#retry);
    this.#retry = undefined;
    const s = this.#session;
    if (s === undefined || s.ended) return;
    const ended = new Promise<void>((resolve) => {
      s.onEnded = resolve;
    });
    // Still opening: the open callback sees #stopping and closes it.
    if (s.port.isOpen) this.#close(s);
    await ended;
  }

  #connect(): void {
    this.#retry = undefined;
    if (this.#stopping) return;
    const binding = this.#o.deps?.binding;
    if (binding !== undefined) {
      this.#open(binding);
      return;
    }
    defaultBinding().then(
      (b) => this.#open(b),
      (err: unknown) => this.#unavailable('open-failed', `no serial binding: ${messageOf(err)}`),
    );
  }

  #open(binding: SerialBinding): void {
    if (this.#stopping) return;
    let port: SerialPortStream;
    try {
      port = new SerialPortStream({
        binding,
        path: this.#o.path,
        baudRate: this.#o.baudRate,
        autoOpen: false,
      });
    } catch (err) {
      this.#unavailable('open-failed', messageOf(err));
      return;
    }
    const s: SessionState = {
      port,
      hooks: { ended: () => {} },
      connected: false,
      connectedAt: 0,
      ended: false,
    };
    this.#session = s;
    // Without an 'error' listener a failed write would crash the process; the close that
    // follows it is what ends the session.
    port.on('error', (err) => {
      s.error ??= err;
    });
    port.on('close', (err: { disconnected?: boolean; message?: string } | null) => this.#closed(s, err));
    port.on('end', () => this.#drop(s, 'closed', 'the port reported end of input'));
    const self = this;
    const control: SessionControl = {
      port,
      get active() {
        return self.#session === s && !s.ended && !self.#stopping;
      },
      connected: (identity) => this.#connected(s, identity),
      drop: (reason, detail) => this.#drop(s, reason, detail),
    };
    // A driver that throws (a library failing to load, say) costs a retry, never the process.
    try {
      s.hooks = this.#o.session(control);
    } catch (err) {
      this.#openFailed(s, err);
      return;
    }
    port.open((err) => {
      if (err) {
        this.#openFailed(s, err);
        return;
      }
      if (this.#stopping || s.drop !== undefined) {
        this.#close(s);
        return;
      }
      try {
        s.hooks.opened?.();
      } catch (err) {
        this.#drop(s, 'open-failed', messageOf(err));
      }
    });
  }

  #connected(s: SessionState, identity?: string): void {
    if (s.ended || s.connected || this.#session !== s || this.#stopping) return;
    s.connected = true;
    s.connectedAt = this.#clock.now();
    this.#outage = false;
    const ev: SourceEvent = { kind: 'connected', port: this.#o.path };
    if (identity !== undefined) ev.identity = identity;
    this.#emit(ev);
  }

  #drop(s: SessionState, reason: DisconnectReason, detail?: string): void {
    if (s.ended || s.drop !== undefined) return;
    s.drop = detail === undefined ? { reason } : { reason, detail };
    if (s.port.isOpen) this.#close(s);
  }

  #close(s: SessionState): void {
    // A failed close never emits 'close': end the session here so stop() cannot hang on it.
    s.port.close((err) => {
      if (err) this.#closed(s, null);
    });
  }

  #openFailed(s: SessionState, err: unknown): void {
    if (!this.#end(s)) return;
    this.#unavailable(openFailureReason(err), messageOf(err));
  }

  #closed(s: SessionState, err: { disconnected?: boolean; message?: string } | null): void {
    if (!this.#end(s)) return;
    let reason: DisconnectReason = 'closed';
    let detail: string | undefined;
    if (err?.disconnected) {
      reason = 'unplugged';
      detail = err.message;
    } else if (s.drop !== undefined) {
      ({ reason, detail } = s.drop);
    } else if (s.error !== undefined) {
      reason = 'error';
      detail = messageOf(s.error);
    }
    if (!s.connected) {
      this.#unavailable(reason, detail);
      return;
    }
    if (this.#clock.now() - s.connectedAt >= this.#backoff.stableMs) this.#attempt = 0;
    this.#outage = true;
    const ev: SourceEvent = { kind: 'disconnected', reason, unavailable: false };
    if (detail !== undefined) ev.detail = detail;
    this.#emit(ev);
    this.#scheduleRetry();
  }

  /** Ends a session once; false if it already ended. While stopping, also releases stop(). */
  #end(s: SessionState): boolean {
    if (s.ended) return false;
    s.ended = true;
    if (this.#session === s) this.#session = undefined;
    // A stream destroyed by a write error emits 'close' while the binding is still open.
    if (s.port.isOpen) s.port.close(() => {});
    s.hooks.ended(this.#stopping);
    if (this.#stopping) {
      s.onEnded?.();
      return false;
    }
    return true;
  }

  #unavailable(reason: DisconnectReason, detail?: string): void {
    if (this.#stopping) return;
    if (!this.#outage) {
      this.#outage = true;
      const ev: SourceEvent = { kind: 'disconnected', reason, unavailable: true };
      if (detail !== undefined) ev.detail = detail;
      this.#emit(ev);
    }
    this.#scheduleRetry();
  }

  #scheduleRetry(): void {
    if (this.#stopping) return;
    const delay = backoffDelay(this.#attempt++, this.#backoff, this.#o.deps?.random ?? Math.random);
    this.#retry = this.#clock.setTimeout(() => this.#connect(), delay);
  }
}

/** What a serial source's options always hold. */
export interface SerialSourceOptions {
  name: string;
  port: string;
  baud?: number;
  backoff?: Partial<BackoffOptions>;
}

/**
 * What the three drivers share: a name and a port, one SerialConnection that (re)opens the
 * port and runs a session per connection, and the sink their events go to.
 */
export abstract class SerialSource implements Source {
  abstract readonly driver: Source['driver'];
  readonly name: string;
  readonly port: string;
  protected readonly deps: SourceDeps;
  protected readonly conn: SerialConnection;
  protected sink: SourceSink = () => {};

  constructor(options: SerialSourceOptions, defaultBaud: number, deps: SourceDeps) {
    this.name = options.name;
    this.port = options.port;
    this.deps = deps;
    this.conn = new SerialConnection({
      path: options.port,
      baudRate: options.baud ?? defaultBaud,
      deps,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      session: (control) => this.session(control),
    });
  }

  /** One connection's life: what to do with its bytes, and on its end. */
  protected abstract session(control: SessionControl): SessionHooks;

  protected get clock(): SourceClock {
    return this.deps.clock ?? systemClock;
  }

  start(sink: SourceSink): void {
    this.sink = sink;
    this.conn.start(sink);
  }

  stop(): Promise<void> {
    return this.conn.stop();
  }
}
