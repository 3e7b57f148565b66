// Runs any simulated serial device in-process: a serialport binding (wrapping
// @serialport/binding-mock) whose ports are wired to simulators, plus plain-stream plumbing.

import { createRequire } from 'node:module';
import { SerialPortStream } from '@serialport/stream';
import { fail } from '../src/errors.js';

// Neither package maps types for ESM importers, so their types are read as CommonJS.
type Mock = typeof import('@serialport/binding-mock', { with: { 'resolution-mode': 'require' }});
type MockBindingInterface = Mock['MockBinding'];
type MockPortBinding = InstanceType<Mock['MockPortBinding']>;
type OpenOptions = Parameters<MockBindingInterface['open']>[0];
type PortInfo = Awaited<ReturnType<MockBindingInterface['list']>>[number];

// The CommonJS copy on purpose: an ESM import loads binding-mock's .mjs build, a second module
// with its own port table that serialport's SerialPortMock (and anyone using require) never sees.
const { MockBinding } = createRequire(import.meta.url)('@serialport/binding-mock') as {
  MockBinding: MockBindingInterface;
};

/** A device on the far end of a serial line: bytes in, bytes out, optional line events. */
export interface SerialSimulator {
  receive(bytes: Buffer): void;
  /** Subscribe to the bytes the device sends; returns the unsubscribe function. */
  onData(listener: (bytes: Buffer) => void): () => void;
  /** The host opened the port (an Uno resets here: DTR pulses on open). */
  hostOpened?(): void;
  hostClosed?(): void;
}

/** A byte stream such as a SerialPort, a pty's fd streams joined, or a net.Socket. */
export interface ByteStream {
  write(chunk: Buffer): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  off(event: 'data', listener: (chunk: Buffer) => void): unknown;
}

/** Connect a simulator to a stream (e.g. the device side of a pty); returns the detach function. */
export function attachToStream(sim: SerialSimulator, stream: ByteStream): () => void {
  const fromHost = (chunk: Buffer): void => sim.receive(chunk);
  stream.on('data', fromHost);
  const stopSending = sim.onData((bytes) => stream.write(bytes));
  return () => {
    stream.off('data', fromHost);
    stopSending();
  };
}

export interface LineOptions {
  /** Defaults to a unique `/dev/ttySIM<n>`; binding-mock keeps ports in one global table. */
  path?: string;
  /** Largest chunk a single read returns; 1 makes every byte its own 'data' event. */
  maxReadSize?: number;
  /** Keep every byte the host writes, for hostWrites(). Off by default: a demo runs for days. */
  record?: boolean;
}

let nextPort = 0;

/** The cable between host and simulator: plug state, what the host wrote, what got dropped. */
export class SimulatedLine {
  readonly path: string;
  readonly sim: SerialSimulator;
  /** Bytes the simulator sent while no host had the port open (a real UART drops them too). */
  droppedBytes = 0;
  #record: boolean;
  #written: Buffer[] = [];
  #present = true;
  #port: SimulatedPort | null = null;
  #stopForwarding: () => void;

  constructor(sim: SerialSimulator, options: LineOptions) {
    this.sim = sim;
    this.path = options.path ?? `/dev/ttySIM${process.pid}-${nextPort++}`;
    this.#record = options.record ?? false;
    MockBinding.createPort(this.path, { maxReadSize: options.maxReadSize ?? 1024 });
    this.#stopForwarding = sim.onData((bytes) => {
      if (this.#port?.acceptsData) this.#port.fromDevice(bytes);
      else this.droppedBytes += bytes.length;
    });
  }

  get present(): boolean {
    return this.#present;
  }
  get hostOpen(): boolean {
    return this.#port?.isOpen ?? false;
  }

  /** Everything the host wrote so far (needs `record: true`). */
  hostWrites(): Buffer {
    return Buffer.concat(this.#written);
  }

  /** Pull the cable: the host's pending read fails with a disconnect, and reopening fails until replug(). */
  unplug(): void {
    this.#present = false;
    this.#port?.disconnect();
  }

  replug(): void {
    this.#present = true;
  }

  /** Stop forwarding the simulator's output; the host port, if open, stays open but silent. */
  detach(): void {
    this.#stopForwarding();
  }

  /** @internal */
  opened(port: SimulatedPort): void {
    this.#port = port;
    this.sim.hostOpened?.();
  }
  /** @internal */
  closed(port: SimulatedPort): void {
    if (this.#port !== port) return;
    this.#port = null;
    this.sim.hostClosed?.();
  }
  /** @internal */
  fromHost(bytes: Buffer): void {
    if (this.#record) this.#written.push(bytes);
    this.sim.receive(bytes);
  }
}

function disconnectedError(path: string): Error {
  return Object.assign(fail('SOURCE_DISCONNECTED', `${path} was unplugged`), { disconnected: true });
}

/** An open port: binding-mock underneath, with writes delivered to the simulator and unplug support. */
// Checked against BindingPortInterface where SerialPortStream<SimulatorBinding> is built below.
export class SimulatedPort {
  readonly #inner: MockPortBinding;
  readonly #line: SimulatedLine;
  #failRead: ((err: Error) => void) | null = null;
  #unplugged = false;

  constructor(inner: MockPortBinding, line: SimulatedLine) {
    this.#inner = inner;
    this.#line = line;
  }

  get openOptions(): Required<OpenOptions> {
    return this.#inner.openOptions;
  }
  get isOpen(): boolean {
    return this.#inner.isOpen;
  }
  /** @internal */
  get acceptsData(): boolean {
    return this.#inner.isOpen && !this.#unplugged;
  }

  /** @internal */
  fromDevice(bytes: Buffer): void {
    this.#inner.emitData(bytes);
  }

  /** @internal */
  disconnect(): void {
    this.#unplugged = true;
    const failRead = this.#failRead;
    this.#failRead = null;
    // A non-canceled read error is how serialport learns of a disconnect (bindings-interface).
    failRead?.(disconnectedError(this.#line.path));
  }

  read(buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
    if (this.#unplugged) return Promise.reject(disconnectedError(this.#line.path));
    return new Promise((resolve, reject) => {
      this.#failRead = reject;
      this.#inner.read(buffer, offset, length).then(
        (result) => {
          this.#failRead = null;
          resolve(result);
        },
        (err: unknown) => {
          this.#failRead = null;
          reject(err);
        },
      );
    });
  }

  async write(buffer: Buffer): Promise<void> {
    if (this.#unplugged) throw disconnectedError(this.#line.path);
    await this.#inner.write(buffer);
    this.#line.fromHost(Buffer.from(buffer));
  }

  async close(): Promise<void> {
    await this.#inner.close();
    this.#line.closed(this);
  }

  update(options: Parameters<MockPortBinding['update']>[0]): Promise<void> {
    return this.#inner.update(options);
  }
  set(options: Parameters<MockPortBinding['set']>[0]): Promise<void> {
    return this.#inner.set(options);
  }
  get(): ReturnType<MockPortBinding['get']> {
    return this.#inner.get();
  }
  getBaudRate(): Promise<{ baudRate: number }> {
    return this.#inner.getBaudRate();
  }
  flush(): Promise<void> {
    return this.#inner.flush();
  }
  drain(): Promise<void> {
    return this.#inner.drain();
  }
}

/** A serialport binding whose ports are simulators: give it to any code that opens ports by path. */
export class SimulatorBinding {
  readonly #lines = new Map<string, SimulatedLine>();

  attach(sim: SerialSimulator, options: LineOptions = {}): SimulatedLine {
    const line = new SimulatedLine(sim, options);
    this.#lines.set(line.path, line);
    return line;
  }

  async list(): Promise<PortInfo[]> {
    const all = await MockBinding.list();
    return all.filter((info) => this.#lines.get(info.path)?.present);
  }

  async open(options: OpenOptions): Promise<SimulatedPort> {
    const line = this.#lines.get(options.path);
    if (!line?.present) throw fail('SOURCE_UNAVAILABLE', `cannot open ${options.path}: no such port`);
    const port = new SimulatedPort(await MockBinding.open(options), line);
    line.opened(port);
    return port;
  }
}

export interface SimulatedSerialLink {
  readonly path: string;
  readonly binding: SimulatorBinding;
  readonly line: SimulatedLine;
  /** The host side, opening on its own (autoOpen) unless told not to. */
  readonly port: SerialPortStream<SimulatorBinding>;
  /** Close the host side if open and stop forwarding; the simulator itself keeps running. */
  close(): Promise<void>;
}

/** One simulator on its own line, with a host-side SerialPort-compatible stream to it. */
export function attachSimulator(
  sim: SerialSimulator,
  options: LineOptions & { baudRate?: number; autoOpen?: boolean } = {},
): SimulatedSerialLink {
  const binding = new SimulatorBinding();
  const line = binding.attach(sim, options);
  const port = new SerialPortStream({
    binding,
    path: line.path,
    baudRate: options.baudRate ?? 57600,
    autoOpen: options.autoOpen ?? true,
  });
  return {
    path: line.path,
    binding,
    line,
    port,
    async close() {
      line.detach();
      if (port.opening) await new Promise((settle) => port.once('open', settle).once('error', settle));
      if (port.isOpen) await new Promise((settle) => port.close(settle));
    },
  };
}
