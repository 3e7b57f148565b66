// A console on a fake terminal over a real Recorder and an in-memory log, for the UI tests.
import { PassThrough, Writable } from 'node:stream';
import type { DeviceConfig } from '../../src/device/config.js';
import { Recorder } from '../../src/device/recorder.js';
import { EventLog } from '../../src/log/event-log.js';
import { OperatorConsole, type OperatorConsoleOptions } from '../../src/ui/console.js';
import { FakeSource } from '../support/fake-source.js';

export { FakeSource };

/** A terminal that collects what blessed writes; `slow` holds every write until released. */
export class FakeTerminal extends Writable {
  columns: number;
  rows: number;
  isTTY = true;
  bytes = 0;
  private held: (() => void)[] = [];
  constructor(
    cols: number,
    rows: number,
    private slow = false,
  ) {
    super({ highWaterMark: 1024 });
    this.columns = cols;
    this.rows = rows;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    if (this.slow) this.held.push(() => cb());
    else cb();
  }
  release(): void {
    this.slow = false;
    for (const cb of this.held.splice(0)) cb();
  }
}

export const config: DeviceConfig = {
  id: 'pi-01',
  sources: [{ name: 'node', driver: 'line', port: '/dev/fake' }],
  alarms: [{ sensor: 'temp', above: 30, hysteresis: 0.5 }],
};

export const timers = {
  now: () => Date.now(),
  setTimeout: (cb: () => void, ms: number) => setTimeout(cb, ms),
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
};

export interface Rig {
  log: EventLog;
  src: FakeSource;
  rec: Recorder;
  ui: OperatorConsole;
  input: PassThrough;
  term: FakeTerminal;
  close(): Promise<void>;
}

export async function rig(
  opts: Partial<OperatorConsoleOptions> & { cols?: number; rows?: number; slow?: boolean } = {},
): Promise<Rig> {
  const log = await EventLog.memory({ device: 'pi-01' });
  const src = new FakeSource('node');
  const rec = new Recorder(log, config, [src], {
    version: '0.1.0',
    clock: timers,
    clockCheck: () => ({ synced: true, basis: 'test' }),
  });
  await rec.start();
  const input = new PassThrough();
  const term = new FakeTerminal(opts.cols ?? 100, opts.rows ?? 30, opts.slow);
  const ui = new OperatorConsole({
    recorder: rec,
    log,
    deviceId: 'pi-01',
    operator: 'ana',
    ...opts,
    screen: { input, output: term, terminal: 'xterm-256color' },
  });
  ui.start();
  return {
    log,
    src,
    rec,
    ui,
    input,
    term,
    async close() {
      ui.stop();
      await rec.stop('test over');
      await log.close();
    },
  };
}

/** blessed's drawn frame: per row, per column, [packed attribute, character]. */
function cells(ui: OperatorConsole): [number, string][][] {
  return (ui.screen as unknown as { lines: [number, string][][] }).lines;
}

/** The screen as text, one string per row. */
export function screenText(ui: OperatorConsole): string[] {
  return cells(ui).map((row) => row.map((cell) => cell[1]).join(''));
}

/** The row holding `text`, and where. */
export function find(ui: OperatorConsole, text: string): { row: number; col: number } | null {
  const rows = screenText(ui);
  for (let row = 0; row < rows.length; row++) {
    const col = rows[row]!.indexOf(text);
    if (col >= 0) return { row, col };
  }
  return null;
}

const COLOURS = ['black', 'red', 'green', 'yellow', 'blue', 'magenta', 'cyan', 'white'];

/** Colours of one cell, from blessed's packed attribute (flags << 18 | fg << 9 | bg). */
export function cellColours(ui: OperatorConsole, row: number, col: number): { fg: string; bg: string } {
  const attr = cells(ui)[row]![col]![0];
  const name = (c: number) => COLOURS[c] ?? (c === 0x1ff ? 'default' : String(c));
  return { fg: name((attr >> 9) & 0x1ff), bg: name(attr & 0x1ff) };
}
