// Touch input from Linux evdev (/dev/input/eventN) for the framebuffer console, where gpm
// is unreliable on a Pi: raw input_event records are parsed, a touch is calibrated to a
// screen cell, and down/up are handed to blessed as mouse events, so a tap reaches the
// element under it along the same path as a mouse click.
//
// Finding the calibration: `sudo evtest /dev/input/event0` (apt install evtest) lists the
// device's axes with their ranges, e.g. `Event code 0 (ABS_X) Min 0 Max 799` and
// `Event code 1 (ABS_Y) Min 0 Max 479`: those are minX/maxX/minY/maxY. Touch the top-left
// and bottom-right corners and watch the values: if moving right changes ABS_Y, set
// swapXY; if a value shrinks towards the right (or the bottom), set invertX (invertY).
// A screen rotated with `display_lcd_rotate=2` usually needs both inverts.

import { EventEmitter } from 'node:events';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';

export const EV_SYN = 0;
export const EV_KEY = 1;
export const EV_ABS = 3;
export const SYN_REPORT = 0;
export const BTN_TOUCH = 0x14a;
export const ABS_X = 0;
export const ABS_Y = 1;
export const ABS_MT_SLOT = 0x2f;
export const ABS_MT_POSITION_X = 0x35;
export const ABS_MT_POSITION_Y = 0x36;
export const ABS_MT_TRACKING_ID = 0x39;

/**
 * struct input_event is a struct timeval (two longs) then u16 type, u16 code, s32 value:
 * 24 bytes where long is 64-bit (arm64, x64), 16 bytes on 32-bit Raspberry Pi OS (armhf).
 */
export const NATIVE_RECORD_SIZE = process.arch === 'arm' || process.arch === 'ia32' ? 16 : 24;

export interface InputEvent {
  sec: number;
  usec: number;
  type: number;
  code: number;
  value: number;
}

/** Whole records from `buf` (little-endian, as on every Pi); `rest` is a partial record. */
export function parseInputEvents(
  buf: Buffer,
  recordSize = NATIVE_RECORD_SIZE,
): { events: InputEvent[]; rest: Buffer } {
  if (recordSize !== 16 && recordSize !== 24) throw new RangeError('an input_event is 16 or 24 bytes');
  const events: InputEvent[] = [];
  let off = 0;
  for (; off + recordSize <= buf.length; off += recordSize) {
    const wide = recordSize === 24;
    events.push({
      sec: wide ? Number(buf.readBigInt64LE(off)) : buf.readInt32LE(off),
      usec: wide ? Number(buf.readBigInt64LE(off + 8)) : buf.readInt32LE(off + 4),
      type: buf.readUInt16LE(off + recordSize - 8),
      code: buf.readUInt16LE(off + recordSize - 6),
      value: buf.readInt32LE(off + recordSize - 4),
    });
  }
  return { events, rest: buf.subarray(off) };
}

/** The bytes of one record: for tests and simulators. */
export function encodeInputEvent(
  e: Partial<InputEvent> & Pick<InputEvent, 'type' | 'code' | 'value'>,
  recordSize = 24,
): Buffer {
  const b = Buffer.alloc(recordSize);
  if (recordSize === 24) {
    b.writeBigInt64LE(BigInt(e.sec ?? 0), 0);
    b.writeBigInt64LE(BigInt(e.usec ?? 0), 8);
  } else {
    b.writeInt32LE(e.sec ?? 0, 0);
    b.writeInt32LE(e.usec ?? 0, 4);
  }
  b.writeUInt16LE(e.type, recordSize - 8);
  b.writeUInt16LE(e.code, recordSize - 6);
  b.writeInt32LE(e.value, recordSize - 4);
  return b;
}

export interface Calibration {
  /** Raw ranges of the device's axes, as evtest prints them (before any swap). */
  minX: number;
  maxX: number;
  minY: number;
  maxY: number;
  /** Raw X runs along the screen's rows (a panel mounted rotated by 90°). */
  swapXY?: boolean;
  /** Applied after the swap, in screen directions. */
  invertX?: boolean;
  invertY?: boolean;
}

/** A raw touch position to the screen cell under it, clamped to the screen. */
export function calibrate(
  raw: { x: number; y: number },
  cal: Calibration,
  screen: { cols: number; rows: number },
): { col: number; row: number } {
  const norm = (v: number, lo: number, hi: number) => (hi === lo ? 0 : (v - lo) / (hi - lo));
  let nx = norm(raw.x, cal.minX, cal.maxX);
  let ny = norm(raw.y, cal.minY, cal.maxY);
  if (cal.swapXY) [nx, ny] = [ny, nx];
  if (cal.invertX) nx = 1 - nx;
  if (cal.invertY) ny = 1 - ny;
  const cell = (n: number, count: number) => Math.min(count - 1, Math.max(0, Math.floor(n * count)));
  return { col: cell(nx, screen.cols), row: cell(ny, screen.rows) };
}

export interface RawTouch {
  action: 'down' | 'move' | 'up';
  x: number;
  y: number;
}

/**
 * Input events to touches, decided at each SYN_REPORT (a frame is only consistent there).
 * Contact comes from BTN_TOUCH or, for panels that only speak multitouch, from slot 0's
 * tracking id; the position from ABS_X/Y or slot 0's ABS_MT_POSITION_X/Y.
 */
export class TouchDecoder {
  private x = 0;
  private y = 0;
  private contact = false;
  private wasDown = false;
  private slot = 0;
  private moved = false;
  private sawButton = false;

  feed(e: InputEvent): RawTouch | null {
    if (e.type === EV_KEY && e.code === BTN_TOUCH) {
      this.sawButton = true;
      this.contact = e.value !== 0;
    } else if (e.type === EV_ABS) {
      if (e.code === ABS_MT_SLOT) this.slot = e.value;
      else if (e.code === ABS_X || (e.code === ABS_MT_POSITION_X && this.slot === 0)) {
        this.x = e.value;
        this.moved = true;
      } else if (e.code === ABS_Y || (e.code === ABS_MT_POSITION_Y && this.slot === 0)) {
        this.y = e.value;
        this.moved = true;
      } else if (e.code === ABS_MT_TRACKING_ID && this.slot === 0 && !this.sawButton) {
        this.contact = e.value !== -1;
      }
    } else if (e.type === EV_SYN && e.code === SYN_REPORT) {
      const moved = this.moved;
      this.moved = false;
      if (this.contact && !this.wasDown) {
        this.wasDown = true;
        return { action: 'down', x: this.x, y: this.y };
      }
      if (!this.contact && this.wasDown) {
        this.wasDown = false;
        return { action: 'up', x: this.x, y: this.y };
      }
      if (this.contact && moved) return { action: 'move', x: this.x, y: this.y };
    }
    return null;
  }
}

export interface TouchTarget {
  /** Screen size in cells, read at each touch so a resize is followed. */
  cols: number;
  rows: number;
  /** Where a touch goes: blessed's program 'mouse' event in the console. */
  emitMouse(data: {
    name: 'mouse';
    type: 'touch';
    action: 'mousedown' | 'mousemove' | 'mouseup';
    button: 'left';
    x: number;
    y: number;
    shift: false;
    meta: false;
    ctrl: false;
  }): void;
}

export interface TouchOptions {
  calibration: Calibration;
  recordSize?: number;
}

/**
 * Reads input_event records from a stream and turns touches into mouse events on a
 * target. Emits 'touch' ({action, col, row}) for each, and 'error' if the stream fails
 * (a touch panel unplugged must not take the console down: listen for it).
 */
export class TouchInput extends EventEmitter {
  private rest: Buffer = Buffer.alloc(0);
  private readonly decoder = new TouchDecoder();
  private readonly recordSize: number;
  private readonly onData = (chunk: Buffer) => this.feed(chunk);
  private readonly onError = (err: Error) => {
    if (this.listenerCount('error') > 0) this.emit('error', err);
  };

  constructor(
    private readonly stream: Readable,
    private readonly target: TouchTarget,
    private readonly opts: TouchOptions,
  ) {
    super();
    this.recordSize = opts.recordSize ?? NATIVE_RECORD_SIZE;
    stream.on('data', this.onData);
    stream.on('error', this.onError);
  }

  /** Open an evdev device (or a FIFO, or a file of records). */
  static open(path: string, target: TouchTarget, opts: TouchOptions & { pollMs?: number }): TouchInput {
    return new TouchInput(pollDevice(path, opts.pollMs), target, opts);
  }

  private feed(chunk: Buffer): void {
    const buf = this.rest.length ? Buffer.concat([this.rest, chunk]) : chunk;
    const { events, rest } = parseInputEvents(buf, this.recordSize);
    this.rest = Buffer.from(rest);
    for (const e of events) {
      const t = this.decoder.feed(e);
      if (!t) continue;
      const { col, row } = calibrate(t, this.opts.calibration, this.target);
      const action = t.action === 'down' ? 'mousedown' : t.action === 'up' ? 'mouseup' : 'mousemove';
      this.target.emitMouse({
        name: 'mouse',
        type: 'touch',
        action,
        button: 'left',
        x: col,
        y: row,
        shift: false,
        meta: false,
        ctrl: false,
      });
      this.emit('touch', { action: t.action, col, row });
    }
  }

  close(): void {
    this.stream.off('data', this.onData);
    this.stream.off('error', this.onError);
    this.stream.destroy();
  }
}

/** The console's screen as a touch target: blessed's own mouse path. */
export function screenTarget(screen: {
  width: number | string;
  height: number | string;
  program: { emit(event: string, ...args: unknown[]): boolean };
}): TouchTarget {
  return {
    get cols() {
      return Number(screen.width);
    },
    get rows() {
      return Number(screen.height);
    },
    emitMouse: (data) => {
      screen.program.emit('mouse', data);
    },
  };
}

/**
 * A device read without blocking: fs.createReadStream on /dev/input/eventN parks a libuv
 * thread in read() until the next touch (LevelDB shares that pool), and its pending read
 * keeps the process alive after a clean stop until someone touches the screen. So the file
 * is opened O_NONBLOCK and polled; an idle poll is one failed read.
 */
export function pollDevice(path: string, intervalMs = 15): Readable {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const buf = Buffer.alloc(24 * 64);
  let timer: NodeJS.Timeout | null = null;
  let closed = false;
  const stream = new Readable({
    read() {},
    destroy(err, cb) {
      closed = true;
      if (timer) clearTimeout(timer);
      try {
        closeSync(fd);
      } catch {}
      cb(err);
    },
  });
  const poll = () => {
    timer = null;
    if (closed) return;
    try {
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, null);
        // 0: end of a file, or a FIFO with no writer yet: look again later, like tail -f
        if (n <= 0) break;
        stream.push(Buffer.from(buf.subarray(0, n)));
        if (n < buf.length) break;
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK') {
        // ENODEV: the panel went away
        stream.destroy(err as Error);
        return;
      }
    }
    timer = setTimeout(poll, intervalMs);
    timer.unref();
  };
  poll();
  return stream;
}
