// System tier: real socat pty pairs with a simulator on one side and a serialport SerialPort on
// the other; unplug/replug driven by the node's disconnect, the same way in-process and over a
// pty; and `fieldlog sim` (runSim) end to end, arguments to shutdown.

import { once } from 'node:events';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SerialPortStream } from '@serialport/stream';
import { SerialPort } from 'serialport';
import { afterEach, describe, expect, it } from 'vitest';
import { LineNode } from '../../firmware-sim/line-node.js';
import { attachSimulator } from '../../firmware-sim/mock-port.js';
import { openPtyPair, PtyLine, runOnPty } from '../../firmware-sim/pty.js';
import { runSim } from '../../firmware-sim/sim-command.js';
import { encodeCommand, LineSplitter, type ParsedLine, parseLine } from '../../src/device/line-protocol.js';
import { FixEpochs, type Position, parseSentence } from '../../src/device/nmea.js';
import { startCli } from '../support/proc.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );
const handles = (kind: string): number => process.getActiveResourcesInfo().filter((r) => r === kind).length;

type HostPort = SerialPort | SerialPortStream;

function openPort(port: HostPort): Promise<void> {
  return new Promise((resolve, reject) => port.open((err) => (err ? reject(err) : resolve())));
}
function closePort(port: HostPort): Promise<void> {
  return port.isOpen ? new Promise((resolve) => port.close(() => resolve())) : Promise.resolve();
}

/** The device side in miniature: lines from the port, parsed, and a way to wait for one. */
function lineReader(port: HostPort) {
  const splitter = new LineSplitter();
  const lines: ParsedLine[] = [];
  let waiter: (() => void) | undefined;
  port.on('data', (chunk: Buffer) => {
    for (const line of splitter.push(chunk)) lines.push(parseLine(line));
    waiter?.();
  });
  /** Resolves with the first line from `from` on that passes `test`. */
  const next = async (test: (l: ParsedLine) => boolean, from = 0): Promise<ParsedLine> => {
    for (;;) {
      const found = lines.slice(from).find(test);
      if (found) return found;
      await new Promise<void>((resolve) => {
        waiter = resolve;
      });
    }
  };
  return { lines, next };
}

const isReadings = (l: ParsedLine): boolean => l.kind === 'readings';

describe('openPtyPair', () => {
  it('makes two linked ptys in a temp folder and removes everything on close', async () => {
    const processes = handles('ProcessWrap');
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    await expect(await exists(pair.devicePath)).toBe(true);
    await expect(await exists(pair.simPath)).toBe(true);
    await pair.close();
    await pair.close(); // idempotent
    await expect(await exists(dirname(pair.devicePath))).toBe(false);
    await expect(handles('ProcessWrap')).toBe(processes);
  });

  it('fails with SOURCE_UNAVAILABLE when socat is missing, leaving nothing behind', async () => {
    // A private TMPDIR (os.tmpdir() reads it on every call), so other runs' ptys cannot interfere.
    const dir = await mkdtemp(join(tmpdir(), 'fieldlog-test-'));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = dir;
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    cleanups.push(() => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    });
    await expect(openPtyPair({ socat: join(dir, 'no-socat-here') })).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
    });
    await expect(PtyLine.open(new LineNode(), { socat: 'no-such-socat' })).rejects.toMatchObject({
      code: 'SOURCE_UNAVAILABLE',
    });
    await expect(await readdir(dir)).toEqual([]);
  });
});

describe('a line node on a real pty', () => {
  it('delivers frames the device parses, and answers RATE', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const host = new SerialPort({ path: pair.devicePath, baudRate: 115200, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const reader = lineReader(host);
    const node = new LineNode({ periodMs: 20, record: true });
    const run = await runOnPty(node, pair.simPath);
    cleanups.push(() => run.close());
    cleanups.push(() => node.stop());
    node.start();

    await expect(await reader.next((l) => l.kind === 'identity')).toMatchObject({ nodeId: 'node-1' });
    await reader.next((l) => l.kind === 'readings' && l.counter === 9);
    const frames = reader.lines.filter(isReadings);
    await expect(frames).toEqual(node.validFrames().slice(0, frames.length));
    await expect(reader.lines.filter((l) => l.kind === 'rejected')).toEqual([]);

    host.write(encodeCommand({ kind: 'rate', ms: 5 }));
    await expect(await reader.next((l) => l.kind === 'answer')).toEqual({
      kind: 'answer',
      command: 'RATE',
      ok: true,
    });
    await expect(node.periodMs).toBe(5);
  });
});

/**
 * What a harness does for the `disconnect` fault, the same for both kinds of line: follow the
 * node's line events with unplug()/replug(), and reopen the host port once the line is back.
 */
const rigs = {
  'in-process (mock binding)': async (node: LineNode) => {
    const link = attachSimulator(node, { autoOpen: false });
    return { line: link.line, port: link.port as HostPort, close: () => link.close() };
  },
  'over a pty (socat)': async (node: LineNode) => {
    const line = await PtyLine.open(node);
    const port = new SerialPort({ path: line.devicePath, baudRate: 115200, autoOpen: false });
    return {
      line,
      port: port as HostPort,
      close: async () => {
        await closePort(port);
        await line.close();
      },
    };
  },
};

describe.each(Object.entries(rigs))('the disconnect fault %s', (_name, rig) => {
  it('closes the host port as disconnected, and frames resume with a counter gap after replug', async () => {
    const node = new LineNode({ periodMs: 20, record: true });
    const { line, port, close } = await rig(node);
    cleanups.push(close);
    cleanups.push(() => node.stop());
    let plugging: Promise<unknown> = Promise.resolve();
    node.onLineChange((present) => {
      plugging = Promise.resolve(present ? line.replug() : line.unplug());
    });
    const back = new Promise<void>((resolve) => node.onLineChange((present) => present && resolve()));
    await openPort(port);
    const reader = lineReader(port);
    node.start();
    await reader.next((l) => l.kind === 'readings' && l.counter === 3);

    const closed = once(port, 'close');
    node.disconnect(300);
    const [err] = (await closed) as [{ disconnected?: boolean } | null];
    await expect(err?.disconnected).toBe(true);
    await back;
    await plugging;
    const seen = reader.lines.length;
    await openPort(port);
    const after = await reader.next(isReadings, seen);
    const before = reader.lines.slice(0, seen).filter(isReadings).at(-1);
    if (after.kind !== 'readings' || before?.kind !== 'readings') throw new Error('no readings');
    await expect(after.counter - before.counter).toBeGreaterThan(5); // ~15 samples in 300 ms
    await expect(node.validFrames()).toContainEqual(after);
  });
});

describe('fieldlog sim (runSim)', () => {
  /** An Output whose lines a test can wait for. */
  function capture() {
    const lines: string[] = [];
    let waiter: (() => void) | undefined;
    return {
      lines,
      async line(text: string) {
        lines.push(text);
        waiter?.();
      },
      async first(): Promise<string> {
        while (lines.length === 0) await new Promise<void>((resolve) => (waiter = resolve));
        return lines[0]!;
      },
    };
  }

  it.each([
    [[], 'missing argument'],
    [['gyro', '--pty'], 'gyro'],
    [['line'], '--pty'],
    [['line', '--pty', '--port', '/dev/ttyUSB0'], 'not both'],
    [['line', '--pty', '--rate', '0'], '--rate'],
    [['nmea', '--pty', '--rate', '50'], '--rate'],
    [['line', '--pty', '--faults', 'checksum,meteor'], 'meteor'],
    [['firmata', '--pty', '--faults', 'drop'], 'drop'],
    [['line', '--pty', '--seed', 'abc'], '--seed'],
    [['line', '--pty', '--faults', 'checksum', '--fault-rate', '0'], '--fault-rate'],
    [['line', '--pty', '--faults', 'checksum', '--fault-rate', 'often'], '--fault-rate'],
    [['firmata', '--pty', '--fault-rate', '5'], '--faults'],
    [['line', '--pty', '--baud', '9600'], '--baud'],
  ])('refuses %j with a one-line USAGE error naming the problem', async (argv, naming) => {
    const out = capture();
    const error = await runSim(argv, out, new AbortController().signal).then(
      () => undefined,
      (err: unknown) => err,
    );
    await expect(error).toMatchObject({ code: 'USAGE', message: expect.stringContaining(naming) });
    await expect((error as Error).message).not.toContain('\n');
    await expect(out.lines).toEqual([]);
  });

  it('line --pty prints the device path first, runs until aborted, then cleans up', async () => {
    const processes = handles('ProcessWrap');
    const out = capture();
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const result = runSim(
      ['line', '--pty', '--rate', '50', '--faults', 'garbage,checksum', '--seed', '7'],
      out,
      abort.signal,
    );
    const path = await out.first();
    const host = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const reader = lineReader(host);
    // The FLI sent at start went nowhere before this side opened: ask for it, as a device does.
    host.write(encodeCommand({ kind: 'identify' }));
    await reader.next((l) => l.kind === 'identity');
    const since = reader.lines.findIndex((l) => l.kind === 'identity');
    // Five good frames, whatever noise and bad checksums come between them.
    await reader.next(() => reader.lines.slice(since).filter(isReadings).length >= 5, since);

    abort.abort();
    await expect(await result).toBe(0);
    await expect(await exists(path)).toBe(false);
    await expect(await exists(dirname(path))).toBe(false);
    await expect(handles('ProcessWrap')).toBe(processes);
    const summary = JSON.parse(out.lines[1] ?? '{}');
    await expect(summary).toMatchObject({ sim: 'line', stats: { identities: 2 } });
    await expect(summary.stats.framesOk).toBeGreaterThanOrEqual(5);
  });

  it('nmea --port PATH runs on an existing pty: the device gets fixes', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const host = new SerialPort({ path: pair.devicePath, baudRate: 9600, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const result = runSim(['nmea', '--port', pair.simPath, '--rate', '10'], capture(), abort.signal);
    const epochs = new FixEpochs();
    const splitter = new LineSplitter();
    const positions: Position[] = [];
    await new Promise<void>((resolve) => {
      host.on('data', (chunk: Buffer) => {
        for (const line of splitter.push(chunk))
          positions.push(...epochs.push(parseSentence(line), Date.now()));
        if (positions.length >= 3) resolve();
      });
    });
    abort.abort();
    await expect(await result).toBe(0);
    for (const p of positions) await expect(Math.abs(p.lat - 47.3769)).toBeLessThan(0.01);
  });

  it('firmata --pty answers REPORT_VERSION like StandardFirmata', async () => {
    const out = capture();
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const result = runSim(['firmata', '--pty'], out, abort.signal);
    const host = new SerialPort({ path: await out.first(), baudRate: 57600, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const data = once(host, 'data');
    host.write(Buffer.from([0xf9]));
    const [chunk] = (await data) as [Buffer];
    await expect([...chunk.subarray(0, 3)]).toEqual([0xf9, 2, 5]);
    abort.abort();
    await expect(await result).toBe(0);
  });

  it('firmata --faults reset --fault-rate 5: the host sees the board announce itself again within seconds', async () => {
    const out = capture();
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const result = runSim(
      ['firmata', '--pty', '--faults', 'reset', '--fault-rate', '5', '--seed', '3'],
      out,
      abort.signal,
    );
    const host = new SerialPort({ path: await out.first(), baudRate: 57600, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    // REPORT_VERSION (0xF9) only ever comes unprompted here: this side asks nothing. A pty
    // keeps what the board said at power-on until this side opens
    let announced = 0;
    await new Promise<void>((resolve) => {
      host.on('data', (chunk: Buffer) => {
        announced += chunk.filter((b) => b === 0xf9).length;
        if (announced >= 3) resolve(); // the power-on announcement, then resets
      });
    });
    abort.abort();
    await expect(await result).toBe(0);
    const summary = JSON.parse(out.lines[1] ?? '{}');
    await expect(summary).toMatchObject({ sim: 'firmata', stats: { faults: { reset: expect.any(Number) } } });
    await expect(summary.stats.faults.reset).toBeGreaterThanOrEqual(2);
    await expect(summary.stats.boots).toBe(summary.stats.faults.reset + 1);
  });

  it('line --fault-rate as high as the frame rate spoils every frame', async () => {
    const out = capture();
    const abort = new AbortController();
    cleanups.push(() => abort.abort());
    const result = runSim(
      ['line', '--pty', '--rate', '20', '--faults', 'checksum', '--fault-rate', '20', '--seed', '9'],
      out,
      abort.signal,
    );
    const host = new SerialPort({ path: await out.first(), baudRate: 115200, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const reader = lineReader(host);
    await reader.next(() => reader.lines.filter((l) => l.kind === 'rejected').length >= 5);
    abort.abort();
    await expect(await result).toBe(0);
    await expect(reader.lines.filter(isReadings)).toEqual([]);
    const summary = JSON.parse(out.lines[1] ?? '{}');
    await expect(summary.stats.framesOk).toBe(0);
    await expect(summary.stats.faults.checksum).toBeGreaterThanOrEqual(5);
  });

  it.each(['SIGINT', 'SIGTERM'] as const)(
    'the fieldlog process prints its firmata stats line on %s, as line and nmea do',
    async (signal) => {
      const sim = startCli(['sim', 'firmata', '--pty']);
      cleanups.push(() => sim.stop('SIGKILL'));
      await sim.waitFor(/^\//);
      await expect(await sim.stop(signal)).toBe(0);
      const summary = JSON.parse(sim.lines.find((l) => l.startsWith('{')) ?? '{}');
      await expect(summary).toMatchObject({
        sim: 'firmata',
        stats: { boots: 1, analogMessages: 0, digitalMessages: 0, answers: 0, faults: { reset: 0 } },
      });
    },
  );

  it('--port fails with SOURCE_UNAVAILABLE for a path that is not there', async () => {
    await expect(
      runSim(['line', '--port', '/nonexistent/ttyUSB9'], capture(), new AbortController().signal),
    ).rejects.toMatchObject({ code: 'SOURCE_UNAVAILABLE' });
  });

  it('--port fails with SOURCE_DISCONNECTED when the port goes away under it', async () => {
    const pair = await openPtyPair();
    cleanups.push(() => pair.close());
    const host = new SerialPort({ path: pair.devicePath, baudRate: 115200, autoOpen: false });
    cleanups.push(() => closePort(host));
    await openPort(host);
    const failed = runSim(
      ['line', '--port', pair.simPath, '--rate', '50'],
      capture(),
      new AbortController().signal,
    ).then(
      () => undefined,
      (err: unknown) => err,
    );
    await lineReader(host).next(isReadings); // the simulator has the port and is running
    await pair.close();
    await expect(await failed).toMatchObject({ code: 'SOURCE_DISCONNECTED' });
  });
});
