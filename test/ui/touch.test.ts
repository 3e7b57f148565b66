// evdev touch input: parsing input_event records, calibration, and taps reaching blessed
// elements through a real FIFO and a file, as /dev/input/eventN would deliver them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import blessed from 'blessed';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  ABS_MT_POSITION_X,
  ABS_MT_POSITION_Y,
  ABS_MT_TRACKING_ID,
  ABS_X,
  ABS_Y,
  BTN_TOUCH,
  type Calibration,
  calibrate,
  EV_ABS,
  EV_KEY,
  EV_SYN,
  encodeInputEvent,
  type InputEvent,
  parseInputEvents,
  SYN_REPORT,
  screenTarget,
  TouchDecoder,
  TouchInput,
} from '../../src/ui/touch.js';
import { FakeTerminal, find, rig } from './harness.js';

const cal: Calibration = { minX: 0, maxX: 799, minY: 0, maxY: 479 };
const SCREEN = { cols: 100, rows: 30 };

/** The records of one tap at a raw position, as a single-touch panel sends them. */
function tap(x: number, y: number, size = 24): Buffer {
  const ev = (type: number, code: number, value: number) => encodeInputEvent({ type, code, value }, size);
  return Buffer.concat([
    ev(EV_KEY, BTN_TOUCH, 1),
    ev(EV_ABS, ABS_X, x),
    ev(EV_ABS, ABS_Y, y),
    ev(EV_SYN, SYN_REPORT, 0),
    ev(EV_KEY, BTN_TOUCH, 0),
    ev(EV_SYN, SYN_REPORT, 0),
  ]);
}

/** Raw coordinates at the middle of a screen cell, for `cal` on a 100×30 screen. */
function rawAt(col: number, row: number): { x: number; y: number } {
  return { x: Math.round((col + 0.5) * 8), y: Math.round((row + 0.5) * 16) };
}

describe('parseInputEvents', () => {
  it('reads 24-byte records (64-bit) and keeps a partial record for later', () => {
    const a = encodeInputEvent({ sec: 1_700_000_000, usec: 123_456, type: EV_ABS, code: ABS_X, value: 512 });
    const b = encodeInputEvent({ type: EV_KEY, code: BTN_TOUCH, value: 1 });
    const { events, rest } = parseInputEvents(Buffer.concat([a, b, b.subarray(0, 10)]), 24);
    expect(events).toEqual<InputEvent[]>([
      { sec: 1_700_000_000, usec: 123_456, type: EV_ABS, code: ABS_X, value: 512 },
      { sec: 0, usec: 0, type: EV_KEY, code: BTN_TOUCH, value: 1 },
    ]);
    expect(rest).toHaveLength(10);
  });

  it('reads 16-byte records (32-bit Raspberry Pi OS) and negative values', () => {
    const buf = Buffer.concat([
      encodeInputEvent({ sec: 5, usec: 6, type: EV_ABS, code: ABS_MT_TRACKING_ID, value: -1 }, 16),
      encodeInputEvent({ type: EV_SYN, code: SYN_REPORT, value: 0 }, 16),
    ]);
    expect(buf).toHaveLength(32);
    const { events, rest } = parseInputEvents(buf, 16);
    expect(events.map((e) => [e.sec, e.usec, e.type, e.code, e.value])).toEqual([
      [5, 6, EV_ABS, ABS_MT_TRACKING_ID, -1],
      [0, 0, EV_SYN, SYN_REPORT, 0],
    ]);
    expect(rest).toHaveLength(0);
  });

  it('matches the kernel layout byte for byte', () => {
    const b = encodeInputEvent({ sec: 1, usec: 2, type: 3, code: 0x35, value: 300 });
    expect(b.toString('hex')).toBe(`${'0100000000000000'}${'0200000000000000'}0300${'3500'}2c010000`);
  });
});

describe('calibrate', () => {
  it('maps the raw ranges onto screen cells, clamped', () => {
    expect(calibrate({ x: 0, y: 0 }, cal, SCREEN)).toEqual({ col: 0, row: 0 });
    expect(calibrate({ x: 799, y: 479 }, cal, SCREEN)).toEqual({ col: 99, row: 29 });
    expect(calibrate({ x: 400, y: 240 }, cal, SCREEN)).toEqual({ col: 50, row: 15 });
    expect(calibrate({ x: -50, y: 9999 }, cal, SCREEN)).toEqual({ col: 0, row: 29 });
  });

  it('honours a raw range that does not start at zero (resistive panels)', () => {
    const r = { minX: 200, maxX: 3900, minY: 300, maxY: 3800 };
    expect(calibrate({ x: 200, y: 300 }, r, SCREEN)).toEqual({ col: 0, row: 0 });
    expect(calibrate({ x: 2050, y: 2050 }, r, SCREEN)).toEqual({ col: 50, row: 15 });
  });

  it('swaps and inverts axes', () => {
    // a panel mounted rotated: raw X runs down the screen, raw Y runs right to left
    const rotated: Calibration = { minX: 0, maxX: 479, minY: 0, maxY: 799, swapXY: true, invertX: true };
    expect(calibrate({ x: 0, y: 0 }, rotated, SCREEN)).toEqual({ col: 99, row: 0 });
    expect(calibrate({ x: 479, y: 799 }, rotated, SCREEN)).toEqual({ col: 0, row: 29 });
    const upsideDown: Calibration = { ...cal, invertX: true, invertY: true };
    expect(calibrate({ x: 0, y: 0 }, upsideDown, SCREEN)).toEqual({ col: 99, row: 29 });
    expect(calibrate({ x: 799, y: 479 }, upsideDown, SCREEN)).toEqual({ col: 0, row: 0 });
  });
});

describe('TouchDecoder', () => {
  it('turns BTN_TOUCH down, positions and up into down/move/up at SYN', () => {
    const d = new TouchDecoder();
    const feed = (type: number, code: number, value: number) =>
      d.feed({ sec: 0, usec: 0, type, code, value });
    expect(feed(EV_KEY, BTN_TOUCH, 1)).toBeNull();
    expect(feed(EV_ABS, ABS_X, 10)).toBeNull();
    expect(feed(EV_ABS, ABS_Y, 20)).toBeNull();
    expect(feed(EV_SYN, SYN_REPORT, 0)).toEqual({ action: 'down', x: 10, y: 20 });
    feed(EV_ABS, ABS_X, 12);
    expect(feed(EV_SYN, SYN_REPORT, 0)).toEqual({ action: 'move', x: 12, y: 20 });
    expect(feed(EV_SYN, SYN_REPORT, 0)).toBeNull();
    feed(EV_KEY, BTN_TOUCH, 0);
    expect(feed(EV_SYN, SYN_REPORT, 0)).toEqual({ action: 'up', x: 12, y: 20 });
  });

  it('follows slot 0 of a multitouch-only panel (tracking id, MT positions)', () => {
    const d = new TouchDecoder();
    const feed = (type: number, code: number, value: number) =>
      d.feed({ sec: 0, usec: 0, type, code, value });
    feed(EV_ABS, ABS_MT_TRACKING_ID, 7);
    feed(EV_ABS, ABS_MT_POSITION_X, 300);
    feed(EV_ABS, ABS_MT_POSITION_Y, 200);
    expect(feed(EV_SYN, SYN_REPORT, 0)).toEqual({ action: 'down', x: 300, y: 200 });
    feed(EV_ABS, ABS_MT_TRACKING_ID, -1);
    expect(feed(EV_SYN, SYN_REPORT, 0)).toEqual({ action: 'up', x: 300, y: 200 });
  });
});

describe('TouchInput on a blessed screen', () => {
  let dir: string;
  let screen: blessed.Widgets.Screen;
  let clicks: string[];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'fieldlog-touch-'));
    screen = blessed.screen({
      input: new PassThrough(),
      output: new FakeTerminal(100, 30),
      terminal: 'xterm-256color',
      warnings: false,
    } as unknown as blessed.Widgets.IScreenOptions);
    clicks = [];
    for (const [name, left] of [
      ['left', 10],
      ['right', 60],
    ] as const) {
      const b = blessed.box({
        parent: screen,
        top: 20,
        left,
        width: 10,
        height: 3,
        mouse: true,
        content: name,
      });
      b.on('click', () => clicks.push(name));
    }
    // positions come from a render, as they do for a mouse
    screen.render();
  });
  afterEach(() => {
    screen.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a tap written to a FIFO clicks the element under it, and only that one', async () => {
    const fifo = join(dir, 'event0');
    execFileSync('mkfifo', [fifo]);
    const touch = TouchInput.open(fifo, screenTarget(screen), { calibration: cal, recordSize: 24 });
    const seen: unknown[] = [];
    touch.on('touch', (t) => seen.push(t));
    const w = await open(fifo, 'w');
    const at = rawAt(65, 21);
    // split mid-record, as a read from a device may be
    const bytes = tap(at.x, at.y);
    await w.write(bytes.subarray(0, 30));
    await w.write(bytes.subarray(30));
    await vi.waitFor(() => expect(clicks).toEqual(['right']));
    expect(seen).toEqual([
      { action: 'down', col: 65, row: 21 },
      { action: 'up', col: 65, row: 21 },
    ]);
    const miss = rawAt(40, 21);
    await w.write(tap(miss.x, miss.y));
    const left = rawAt(12, 20);
    await w.write(tap(left.x, left.y));
    await vi.waitFor(() => expect(clicks).toEqual(['right', 'left']));
    await w.close();
    touch.close();
  });

  it('reads 16-byte records from a file', async () => {
    const file = join(dir, 'records.bin');
    const at = rawAt(15, 22);
    writeFileSync(file, tap(at.x, at.y, 16));
    const touch = TouchInput.open(file, screenTarget(screen), { calibration: cal, recordSize: 16 });
    await vi.waitFor(() => expect(clicks).toEqual(['left']));
    touch.close();
  });
});

describe('OperatorConsole with touch', () => {
  it('says so when the touch device cannot be opened, and keeps going', async () => {
    const r = await rig({ touch: { input: '/nonexistent/event9', calibration: cal } });
    try {
      await vi.waitFor(() => expect(find(r.ui, 'touch input: ENOENT')).not.toBeNull());
      r.src.reading('temp', 21, 'C');
      await vi.waitFor(() => expect(find(r.ui, '21 C')).not.toBeNull());
    } finally {
      await r.close();
    }
  });

  it('a tap on ACK acknowledges the selected alarm as the operator', async () => {
    const touchInput = new PassThrough();
    const r = await rig({ touch: { input: touchInput, calibration: cal, recordSize: 24 } });
    try {
      r.src.reading('temp', 35, 'C');
      await vi.waitFor(() => expect(find(r.ui, 'NOT ACKNOWLEDGED')).not.toBeNull());
      const ack = find(r.ui, ' ACK ')!;
      const at = rawAt(ack.col + 2, ack.row);
      touchInput.write(tap(at.x, at.y));
      await vi.waitFor(async () => {
        await r.log.flushed();
        const acks = [];
        for await (const e of r.log.events()) if (e.type === 'AlarmAcknowledged') acks.push(e);
        expect(acks.map((e) => e.meta?.actor)).toEqual(['operator:ana']);
      });
      await vi.waitFor(() => expect(find(r.ui, 'ack ana')).not.toBeNull());
    } finally {
      await r.close();
    }
  });
});
