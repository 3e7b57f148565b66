// The operator console: live values, alarms and the event tail on the device's screen,
// HISTORY by scrubbing back through the log, and operator actions through the recorder's
// command API. It never holds up logging: the recorder's 'events' only feed O(1) buffers
// and mark the screen dirty; frames are drawn at most maxFps times a second, from a timer.
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { emptyDeviceState } from '../log/device-state.js';
import type { Envelope } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import { SensorPrecision } from '../log/precision.js';
import { sizeOnDisk } from '../log/size-on-disk.js';
import {
  type ActionHost,
  acknowledge,
  type ConsoleRecorder,
  openLimits,
  openNotes,
  openOperator,
  type Tone,
} from './actions.js';
import type { Key, Modal } from './dialogs.js';
import { HistoryLoader, type PastView } from './history.js';
import { createScreen, Panels, type Screen, type ScreenOptions } from './panels.js';
import { type SparkStyle, Trends } from './sparkline.js';
import { EventTail } from './tail.js';
import { type Calibration, pollDevice, screenTarget, TouchInput } from './touch.js';
import { alarmOrder, type ConsoleView, type DiskView, dateTime, esc } from './widgets.js';

export { type ConsoleRecorder, NOTE_PRESETS } from './actions.js';

/** What the console needs of replication (issue 4's Replicator fits); absent: "no hub". */
export interface SyncView {
  status(): { connected: boolean; acked: number; head: number; backlog: number; lastError?: string };
}

export interface ConsoleClock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface OperatorConsoleOptions {
  recorder: ConsoleRecorder;
  log: EventLog;
  deviceId: string;
  /** Recorded as `operator:<name>`; changed from the console with `o`. */
  operator: string;
  /** Names offered when changing operator (a touchscreen has no keyboard to type one). */
  operators?: string[];
  sync?: SyncView;
  screen?: ScreenOptions;
  /** evdev touch input: a device path (/dev/input/eventN) or a stream; see touch.ts for calibration. */
  touch?: { input: string | Readable; calibration: Calibration; recordSize?: number };
  clock?: ConsoleClock;
  maxFps?: number;
  /** 'ascii' for console fonts without block characters. */
  sparkStyle?: SparkStyle;
  /**
   * A line under the header for what the operator needs beside the device: the demo says
   * where its hub's HTTP API listens (with the console on, nothing else may print it).
   */
  infoLine?: string;
  /** Decimals per sensor known from the configuration; others show the most decimals seen. */
  precision?: Readonly<Record<string, number>>;
  /** The disk budget: the header shows disk use against it (read at each frame, no I/O). */
  disk?: { status(): DiskView };
}

const MINUTE = 60_000;
const EMPTY = emptyDeviceState();
// quit first: a narrow screen (80 columns) cuts the line's end, and how to leave must stay
const HINTS = 'q quit · a ack · n note · t limits · o operator · ←/→ 1 min · PgUp/PgDn 10 min · l LIVE';

const systemClock: ConsoleClock = {
  now: () => Date.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/**
 * Events: 'quit' (q or Ctrl-C, with the operator's name: the caller stops the device),
 * 'operator' (the new name).
 */
export class OperatorConsole extends EventEmitter {
  private drawn = 0;
  private screenRef: Screen | null = null;
  private panels: Panels | null = null;
  private operatorName: string;
  private readonly clock: ConsoleClock;
  private readonly frameMs: number;
  private trends = new Trends();
  private readonly precision: SensorPrecision;
  private tail: EventTail;
  /** Live events that arrive while the tail and trends are read back at start. */
  private seedBuffer: Envelope[] | null = [];
  private readonly loader: HistoryLoader;
  private history: { asOf: number; view: PastView | null } | null = null;
  /** The first event's time: HISTORY goes no further back (null: not known yet, or none). */
  private firstTime: number | null = null;
  private modal: Modal | null = null;
  private selectedAlarm: string | null = null;
  private message: { text: string; tone: Tone; until: number } | null = null;
  private sizeBytes: number | null = null;
  private dirty = true;
  private lastFrame = Number.NEGATIVE_INFINITY;
  private frameTimer: unknown = null;
  private tickTimer: unknown = null;
  private sizeTimer: unknown = null;
  private waitingDrain = false;
  private touch: TouchInput | null = null;
  private running = false;
  private readonly onEvents = (envelopes: Envelope[]) => this.ingest(envelopes);

  constructor(private readonly o: OperatorConsoleOptions) {
    super();
    this.operatorName = o.operator;
    this.clock = o.clock ?? systemClock;
    this.frameMs = 1000 / Math.max(1, o.maxFps ?? 10);
    this.precision = new SensorPrecision(o.precision ?? {});
    this.tail = new EventTail(undefined, this.precision);
    this.loader = new HistoryLoader(o.log, { precision: this.precision });
  }

  /** Frames drawn so far. */
  get frames(): number {
    return this.drawn;
  }

  get operator(): string {
    return this.operatorName;
  }

  set operator(name: string) {
    this.operatorName = name;
    this.emit('operator', name);
    this.markDirty();
  }

  /** The blessed screen (for tests and extra adapters); null before start. */
  get screen(): Screen | null {
    return this.screenRef;
  }

  /** HISTORY's as-of time, or null when LIVE. */
  get asOf(): number | null {
    return this.history?.asOf ?? null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const screen = createScreen(this.o.screen ?? {}, `fieldlog ${this.o.deviceId}`);
    this.screenRef = screen;
    const act = (f: () => void) => () => {
      if (!this.modal) f();
    };
    this.panels = new Panels(
      screen,
      [
        { label: '« 10m', press: act(() => this.scrub(-10 * MINUTE)) },
        { label: '‹ 1m', press: act(() => this.scrub(-MINUTE)) },
        { label: '1m ›', press: act(() => this.scrub(MINUTE)) },
        { label: '10m »', press: act(() => this.scrub(10 * MINUTE)) },
        { label: 'LIVE', press: act(() => this.live()) },
        { label: 'ACK', press: act(() => this.act(() => acknowledge(this.host(), this.selectedAlarm))) },
        { label: 'NOTE', press: act(() => this.act(() => openNotes(this.host()))) },
        { label: 'LIMITS', press: act(() => this.act(() => openLimits(this.host()))) },
        { label: 'OPERATOR', press: act(() => openOperator(this.host())) },
      ],
      (line) => this.tapAlarm(line),
    );
    screen.on('keypress', (ch: string | undefined, key: Key) => this.key(ch, key));
    screen.on('resize', () => this.markDirty());
    if (this.o.touch) this.openTouch(this.o.touch, screen);
    this.o.recorder.on('events', this.onEvents);
    void this.findStart();
    void this.seed();
    this.tick();
    this.pollSize();
    this.frame();
  }

  /** A touch panel that cannot be opened is said on screen; keys and mouse still work. */
  private openTouch(t: NonNullable<OperatorConsoleOptions['touch']>, screen: Screen): void {
    const opts = {
      calibration: t.calibration,
      ...(t.recordSize === undefined ? {} : { recordSize: t.recordSize }),
    };
    try {
      const input = typeof t.input === 'string' ? pollDevice(t.input) : t.input;
      this.touch = new TouchInput(input, screenTarget(screen), opts);
      this.touch.on('error', (err: Error) => this.say(`touch input: ${err.message}`, 'error'));
    } catch (err) {
      // EACCES: the user needs to be in the `input` group
      this.say(`touch input: ${(err as Error).message}`, 'error');
    }
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.o.recorder.off('events', this.onEvents);
    this.loader.cancel();
    for (const t of [this.frameTimer, this.tickTimer, this.sizeTimer]) {
      if (t !== null) this.clock.clearTimeout(t);
    }
    this.frameTimer = this.tickTimer = this.sizeTimer = null;
    this.touch?.close();
    this.screenRef?.destroy();
  }

  // ------------------------------------------------------------------ feeding

  /** The recorder's 'events' handler: cheap, bounded work per event, then mark dirty. */
  private ingest(envelopes: readonly Envelope[]): void {
    if (this.seedBuffer) {
      for (const e of envelopes) this.seedBuffer.push(e);
    } else {
      for (const e of envelopes) this.take(e, this.trends, this.tail);
    }
    this.markDirty();
  }

  /** Where the log begins, for HISTORY's lower bound. */
  private async findStart(): Promise<void> {
    try {
      const first = await this.o.log.get(1);
      if (first && this.firstTime === null) this.firstTime = Date.parse(first.time);
    } catch {
      // a log closed under us: scrubbing is then unbounded, as it has nothing to show anyway
    }
  }

  private take(e: Envelope, trends: Trends, tail: EventTail): void {
    if (e.seq === 1 && this.firstTime === null) this.firstTime = Date.parse(e.time);
    if (e.type === 'ReadingRecorded' && e.data !== null) {
      const { sensor, value } = e.data;
      if (typeof sensor === 'string' && typeof value === 'number') {
        this.precision.see(sensor, value);
        trends.push(sensor, Date.parse(e.time), value);
      }
    }
    tail.add(e);
  }

  /** Read back the recent tail and trends, then add what arrived meanwhile. */
  private async seed(): Promise<void> {
    let past: PastView | null = null;
    try {
      past = await new HistoryLoader(this.o.log, { precision: this.precision }).load(this.clock.now());
    } catch (err) {
      this.say(`could not read the log back: ${(err as Error).message}`, 'error');
    }
    const buffered = this.seedBuffer ?? [];
    this.seedBuffer = null;
    if (past) {
      this.trends = past.trends;
      this.tail = past.tail;
    }
    const after = past?.seq ?? 0;
    for (const e of buffered) if (e.seq > after) this.take(e, this.trends, this.tail);
    this.markDirty();
  }

  private tick(): void {
    this.markDirty();
    this.tickTimer = this.clock.setTimeout(() => this.tick(), 1000);
  }

  private pollSize(): void {
    const dir = this.o.log.location;
    if (dir !== null) {
      sizeOnDisk(dir).then(
        (n) => {
          this.sizeBytes = n;
        },
        () => {},
      );
    }
    this.sizeTimer = this.clock.setTimeout(() => this.pollSize(), 5000);
  }

  // ------------------------------------------------------------------ drawing

  /** Ask for a frame; frames are coalesced to at most maxFps a second. */
  private markDirty(): void {
    this.dirty = true;
    if (this.frameTimer !== null || !this.running || this.waitingDrain) return;
    const wait = Math.max(0, this.lastFrame + this.frameMs - this.clock.now());
    this.frameTimer = this.clock.setTimeout(() => {
      this.frameTimer = null;
      this.frame();
    }, wait);
  }

  private frame(): void {
    const screen = this.screenRef;
    if (!this.dirty || !screen || !this.panels || !this.running) return;
    const out = (this.o.screen?.output ?? process.stdout) as Writable;
    if (out.writableNeedDrain) {
      // the terminal is behind: skip frames until it catches up, the state keeps moving
      this.waitingDrain = true;
      out.once('drain', () => {
        this.waitingDrain = false;
        this.markDirty();
      });
      return;
    }
    this.dirty = false;
    this.lastFrame = this.clock.now();
    try {
      this.panels.draw(this.view(), this.statusText());
      screen.render();
    } catch (err) {
      // a drawing bug must not take the device down (blessed would exit on an uncaught error)
      this.say(`console: ${(err as Error).message}`, 'error');
    }
    this.drawn++;
  }

  /** HISTORY never shows live values under its header: empty until the past is built. */
  private shownState(): ConsoleView['state'] {
    if (this.history) return this.history.view?.state ?? EMPTY;
    return this.o.recorder.liveState;
  }

  private view(): ConsoleView {
    const now = this.clock.now();
    const h = this.history;
    const past = h?.view ?? null;
    const state = this.shownState();
    const alarms = alarmOrder(state);
    if (!alarms.some((a) => a.alarm === this.selectedAlarm)) {
      this.selectedAlarm = (alarms.find((a) => a.acknowledgedAt === undefined) ?? alarms[0])?.alarm ?? null;
    }
    return {
      mode: h ? 'history' : 'live',
      deviceId: this.o.deviceId,
      operator: this.operatorName,
      now,
      asOf: h?.asOf ?? null,
      loading: h !== null && (past === null || past.asOf !== h.asOf),
      atStart: h !== null && h.asOf === this.firstTime,
      state,
      head: this.o.log.isClosed ? state.seq : this.o.log.head().seq,
      sizeBytes: this.sizeBytes,
      disk: this.o.disk?.status() ?? null,
      sync: this.syncStatus(),
      diskFull: this.o.log.diskFull
        ? (this.o.recorder.unrecorded?.pending('disk-full')[0]?.count ?? 0)
        : null,
      trends: past?.trends ?? this.trends,
      trendTime: h ? h.asOf : now,
      tail: past?.tail ?? this.tail,
      selectedAlarm: this.selectedAlarm,
      sparkStyle: this.o.sparkStyle ?? 'blocks',
      precision: this.precision,
      infoLine: this.o.infoLine,
    };
  }

  private syncStatus(): ConsoleView['sync'] {
    if (!this.o.sync) return null;
    try {
      return this.o.sync.status();
    } catch (err) {
      return { connected: false, acked: -1, head: 0, backlog: 0, lastError: (err as Error).message };
    }
  }

  private statusText(): string {
    const m = this.message;
    if (m && m.until > this.clock.now()) {
      const tone = m.tone === 'error' ? 'red-fg' : m.tone === 'ok' ? 'green-fg' : 'yellow-fg';
      return ` {${tone}}{bold}${esc(m.text)}{/bold}{/${tone}}`;
    }
    // no gray anywhere: on an 8-colour terminal (TERM=linux, the Pi's console) blessed turns it black
    return ` ${esc(HINTS)}`;
  }

  private say(text: string, tone: Tone): void {
    this.message = { text, tone, until: this.clock.now() + 10_000 };
    this.markDirty();
  }

  // ------------------------------------------------------------------ input

  /** Main-screen keys; a dialog that is open gets every key instead. */
  private static readonly KEYS: Record<string, (c: OperatorConsole) => void> = {
    q: (c) => c.emit('quit', c.operatorName),
    left: (c) => c.scrub(-MINUTE),
    right: (c) => c.scrub(MINUTE),
    'S-left': (c) => c.scrub(-10 * MINUTE),
    pageup: (c) => c.scrub(-10 * MINUTE),
    'S-right': (c) => c.scrub(10 * MINUTE),
    pagedown: (c) => c.scrub(10 * MINUTE),
    l: (c) => c.live(),
    escape: (c) => c.live(),
    a: (c) => c.act(() => acknowledge(c.host(), c.selectedAlarm)),
    n: (c) => c.act(() => openNotes(c.host())),
    t: (c) => c.act(() => openLimits(c.host())),
    o: (c) => openOperator(c.host()),
    up: (c) => c.moveSelection(-1),
    down: (c) => c.moveSelection(1),
  };

  private key(ch: string | undefined, key: Key): void {
    // in raw mode the terminal sends Ctrl-C as a key, not SIGINT
    if (key.full === 'C-c') {
      this.emit('quit', this.operatorName);
    } else if (this.modal) {
      this.modal.key(ch, key);
      this.markDirty();
    } else {
      OperatorConsole.KEYS[key.full]?.(this);
    }
  }

  private host(): ActionHost {
    const self = this;
    return {
      screen: this.screenRef!,
      recorder: this.o.recorder,
      operators: this.o.operators ?? [],
      precision: this.precision,
      get operator() {
        return self.operatorName;
      },
      set operator(name: string) {
        self.operator = name;
      },
      say: (text, tone) => this.say(text, tone),
      setModal: (modal) => {
        this.modal = modal;
        this.markDirty();
      },
    };
  }

  /** Actions change the present: in HISTORY they wait for LIVE. */
  private act(f: () => void): void {
    if (this.history !== null) this.say('HISTORY shows the past: go LIVE (l) to act', 'info');
    else f();
  }

  private tapAlarm(line: number): void {
    if (this.modal) return;
    const a = alarmOrder(this.shownState())[Math.floor(line / 2)];
    if (a) this.selectedAlarm = a.alarm;
    this.markDirty();
  }

  private moveSelection(dir: 1 | -1): void {
    const alarms = alarmOrder(this.shownState());
    if (alarms.length === 0) return;
    const i = alarms.findIndex((a) => a.alarm === this.selectedAlarm);
    this.selectedAlarm = alarms[(i + dir + alarms.length) % alarms.length]!.alarm;
    this.markDirty();
  }

  /** Move the as-of time; reaching now goes LIVE, and it stops at the log's first event. */
  scrub(deltaMs: number): void {
    const now = this.clock.now();
    // from LIVE, land on a whole minute so the as-of times read well
    let target = this.history ? this.history.asOf + deltaMs : Math.floor((now + deltaMs) / MINUTE) * MINUTE;
    if (target >= now) {
      this.live();
      return;
    }
    const first = this.firstTime;
    if (first === null && !this.o.log.isClosed && this.o.log.head().seq === 0) {
      this.say('nothing recorded yet: no history to show', 'info');
      return;
    }
    if (first !== null && target < first) {
      // before the first event there is nothing to show: the past ends here, and says so
      this.say(`start of the log: first event at ${dateTime(first)}, nothing before it`, 'info');
      if (this.history?.asOf === first) return;
      target = first;
    }
    this.history = { asOf: target, view: this.history?.view ?? null };
    this.markDirty();
    this.loader.load(target).then(
      (view) => {
        // a newer scrub or LIVE made this one stale
        if (!view || this.history?.asOf !== target) return;
        this.history.view = view;
        this.markDirty();
      },
      (err: unknown) => this.say(`could not build the past state: ${(err as Error).message}`, 'error'),
    );
  }

  /** Back to the present. */
  live(): void {
    this.loader.cancel();
    if (this.history) this.say('LIVE', 'info');
    this.history = null;
    this.markDirty();
  }
}
