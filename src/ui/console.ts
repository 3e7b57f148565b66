// The operator console: live values, alarms and the event tail on the device's screen,
// HISTORY by scrubbing back through the log, and operator actions through the recorder's
// command API. It never holds up logging: the recorder's 'events' only feed O(1) buffers
// and mark the screen dirty; frames are drawn at most maxFps times a second, from a timer.
import { EventEmitter } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import blessed from 'blessed';
import type { Recorder } from '../device/recorder.js';
import { isFieldlogError } from '../errors.js';
import type { Envelope } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import {
  type Key,
  type LimitsDraft,
  type Modal,
  makeButton,
  Picker,
  TextEntry,
  ThresholdEditor,
} from './dialogs.js';
import { HistoryLoader, type PastView } from './history.js';
import { computeLayout, inner, type Layout, type Rect } from './layout.js';
import { type SparkStyle, Trends } from './sparkline.js';
import { EventTail } from './tail.js';
import { type Calibration, screenTarget, TouchInput } from './touch.js';
import {
  alarmOrder,
  alarmsContent,
  type ConsoleView,
  esc,
  eventsContent,
  headerContent,
  positionContent,
  sensorsContent,
} from './widgets.js';

/** What the console needs of replication (issue 4's Replicator fits); absent: "offline". */
export interface SyncView {
  status(): { connected: boolean; acked: number; head: number; backlog: number; lastError?: string };
}

export interface ConsoleClock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export type ConsoleRecorder = Pick<
  Recorder,
  'liveState' | 'on' | 'off' | 'acknowledgeAlarm' | 'addNote' | 'changeThreshold' | 'limits'
>;

export interface OperatorConsoleOptions {
  recorder: ConsoleRecorder;
  log: EventLog;
  deviceId: string;
  /** Recorded as `operator:<name>`; changed from the console with `o`. */
  operator: string;
  /** Names offered when changing operator (a touchscreen has no keyboard to type one). */
  operators?: string[];
  sync?: SyncView;
  screen?: {
    input?: Readable;
    output?: Writable;
    terminal?: string;
    /** For streams that are not a TTY: the size to draw at. */
    width?: number;
    height?: number;
  };
  /** evdev touch input (see touch.ts for calibration). */
  touch?: { input: Readable; calibration: Calibration; recordSize?: number };
  clock?: ConsoleClock;
  maxFps?: number;
  /** 'ascii' for console fonts without block characters. */
  sparkStyle?: SparkStyle;
}

export const NOTE_PRESETS = [
  'Checked on site',
  'Sensor cleaned',
  'Battery replaced',
  'Maintenance started',
  'Maintenance finished',
] as const;

const MINUTE = 60_000;
const HINTS = 'a ack · n note · t limits · o operator · ←/→ 1 min · PgUp/PgDn 10 min · l LIVE · q quit';
const BUTTONS: readonly [string, (c: OperatorConsole) => void][] = [
  ['« 10m', (c) => c.scrub(-10 * MINUTE)],
  ['‹ 1m', (c) => c.scrub(-MINUTE)],
  ['1m ›', (c) => c.scrub(MINUTE)],
  ['10m »', (c) => c.scrub(10 * MINUTE)],
  ['LIVE', (c) => c.live()],
  ['ACK', (c) => c.acknowledge()],
  ['NOTE', (c) => c.openNotes()],
  ['LIMITS', (c) => c.openLimits()],
  ['OPERATOR', (c) => c.openOperator()],
];

const systemClock: ConsoleClock = {
  now: () => Date.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

type Box = blessed.Widgets.BoxElement;

/** Events: 'quit' (q or Ctrl-C: the caller stops the device), 'operator' (name). */
export class OperatorConsole extends EventEmitter {
  /** Frames drawn so far. */
  frames = 0;
  private screenRef: blessed.Widgets.Screen | null = null;
  private boxes: Record<'header' | 'sensors' | 'events' | 'position' | 'alarms' | 'status', Box> | null =
    null;
  private buttons: Box[] = [];
  private layoutKey = '';
  private layout: Layout | null = null;
  private operatorName: string;
  private readonly clock: ConsoleClock;
  private readonly frameMs: number;
  private trends = new Trends();
  private tail = new EventTail();
  /** Live events that arrive while the tail and trends are read back at start. */
  private seedBuffer: Envelope[] | null = [];
  private readonly loader: HistoryLoader;
  private history: { asOf: number; view: PastView | null } | null = null;
  private modal: Modal | null = null;
  private selectedAlarm: string | null = null;
  private message: { text: string; tone: 'ok' | 'error' | 'info'; until: number } | null = null;
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
  private readonly onKeypress = (ch: string | undefined, key: Key) => this.key(ch, key);

  constructor(private readonly o: OperatorConsoleOptions) {
    super();
    this.operatorName = o.operator;
    this.clock = o.clock ?? systemClock;
    this.frameMs = 1000 / Math.max(1, o.maxFps ?? 10);
    this.loader = new HistoryLoader(o.log);
  }

  get operator(): string {
    return this.operatorName;
  }

  set operator(name: string) {
    this.operatorName = name;
    this.emit('operator', name);
    this.markDirty();
  }

  /** The blessed screen (for touch adapters and tests); null before start. */
  get screen(): blessed.Widgets.Screen | null {
    return this.screenRef;
  }

  /** HISTORY's as-of time, or null when LIVE. */
  get asOf(): number | null {
    return this.history?.asOf ?? null;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    const s = this.o.screen ?? {};
    const output = (s.output ?? process.stdout) as Writable & { columns?: number; rows?: number };
    // blessed takes its size from the output stream; a fake or piped one has none
    if (s.width !== undefined && !output.columns) output.columns = s.width;
    if (s.height !== undefined && !output.rows) output.rows = s.height;
    // @types/blessed has input and output the wrong way round (Writable input, Readable output)
    const screen = blessed.screen({
      input: s.input ?? process.stdin,
      output,
      terminal: s.terminal,
      smartCSR: true,
      warnings: false,
      title: `fieldlog ${this.o.deviceId}`,
    } as unknown as blessed.Widgets.IScreenOptions);
    this.screenRef = screen;
    const box = (label?: string) =>
      blessed.box({
        parent: screen,
        tags: true,
        label: label ? ` ${label} ` : undefined,
        border: label ? { type: 'line' } : undefined,
        style: { border: { fg: 'gray' }, label: { bold: true } },
      });
    this.boxes = {
      header: box(),
      sensors: box('Sensors'),
      events: box('Events'),
      position: box('GPS'),
      alarms: box('Alarms'),
      status: box(),
    };
    const alarms = this.boxes.alarms;
    (alarms as Box & { enableMouse(): void }).enableMouse();
    alarms.on('click', (data: { y: number }) => this.tapAlarm(data.y - (alarms.lpos?.yi ?? 0) - 1));
    this.buttons = BUTTONS.map(([label, act]) =>
      makeButton(screen, label, { top: 0, left: 0, tall: true }, () => {
        if (!this.modal) act(this);
      }),
    );
    screen.on('keypress', this.onKeypress);
    screen.on('resize', () => {
      this.layoutKey = '';
      this.markDirty();
    });
    if (this.o.touch) {
      const t = this.o.touch;
      const opts =
        t.recordSize === undefined
          ? { calibration: t.calibration }
          : { calibration: t.calibration, recordSize: t.recordSize };
      this.touch = new TouchInput(t.input, screenTarget(screen), opts);
      this.touch.on('error', (err: Error) => this.say(`touch input: ${err.message}`, 'error'));
    }
    this.o.recorder.on('events', this.onEvents);
    void this.seed();
    this.tick();
    this.pollSize();
    this.frame();
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.o.recorder.off('events', this.onEvents);
    this.loader.cancel();
    for (const t of [this.frameTimer, this.tickTimer, this.sizeTimer])
      if (t !== null) this.clock.clearTimeout(t);
    this.frameTimer = this.tickTimer = this.sizeTimer = null;
    this.touch?.close();
    this.screenRef?.destroy();
  }

  // ------------------------------------------------------------------ feeding

  /** The recorder's 'events' handler: cheap, bounded work per event, then mark dirty. */
  private ingest(envelopes: readonly Envelope[]): void {
    if (this.seedBuffer) {
      this.seedBuffer.push(...envelopes);
    } else {
      for (const e of envelopes) this.take(e, this.trends, this.tail);
    }
    this.markDirty();
  }

  private take(e: Envelope, trends: Trends, tail: EventTail): void {
    if (e.type === 'ReadingRecorded' && e.data !== null) {
      const { sensor, value } = e.data;
      if (typeof sensor === 'string' && typeof value === 'number')
        trends.push(sensor, Date.parse(e.time), value);
    }
    tail.add(e);
  }

  /** Read back the recent tail and trends, then add what arrived meanwhile. */
  private async seed(): Promise<void> {
    let past: PastView | null = null;
    try {
      past = await new HistoryLoader(this.o.log).load(this.clock.now());
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
    if (this.o.log.location !== null && !this.o.log.isClosed) {
      this.o.log.approximateSize().then(
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
  markDirty(): void {
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
    if (!this.dirty || !screen || !this.running) return;
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
    this.draw(screen);
    screen.render();
    this.frames++;
  }

  private view(): ConsoleView {
    const now = this.clock.now();
    const h = this.history;
    const past = h?.view ?? null;
    const state = h ? (past?.state ?? this.o.recorder.liveState) : this.o.recorder.liveState;
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
      state,
      head: this.o.log.isClosed ? state.seq : this.o.log.head().seq,
      sizeBytes: this.sizeBytes,
      sync: this.o.sync?.status() ?? null,
      trends: past?.trends ?? this.trends,
      trendTime: h ? h.asOf : now,
      tail: past?.tail ?? this.tail,
      selectedAlarm: this.selectedAlarm,
      sparkStyle: this.o.sparkStyle ?? 'blocks',
    };
  }

  private place(el: Box, r: Rect): void {
    el.top = r.top;
    el.left = r.left;
    el.width = r.width;
    el.height = r.height;
  }

  private draw(screen: blessed.Widgets.Screen): void {
    const b = this.boxes!;
    const v = this.view();
    const sensors = Object.keys(v.state.sensors).length;
    const hasPosition = v.state.position !== null;
    const key = `${screen.width}x${screen.height}:${sensors}:${hasPosition}`;
    if (key !== this.layoutKey || !this.layout) {
      this.layoutKey = key;
      const l = computeLayout({
        width: Number(screen.width),
        height: Number(screen.height),
        sensors,
        hasPosition,
        buttons: BUTTONS.map(([label]) => label),
      });
      this.layout = l;
      for (const name of ['header', 'sensors', 'events', 'alarms', 'status'] as const)
        this.place(b[name], l[name]);
      if (l.position) this.place(b.position, l.position);
      b.position.hidden = !l.position;
      this.buttons.forEach((btn, i) => {
        const r = l.buttons[i];
        if (r) this.place(btn, r);
      });
    }
    const l = this.layout;
    b.header.style.bg = v.mode === 'history' ? 'yellow' : 'blue';
    b.header.style.fg = v.mode === 'history' ? 'black' : 'white';
    b.header.setContent(headerContent(v));
    const si = inner(l.sensors);
    b.sensors.setContent(sensorsContent(v, si.width, si.height));
    const ei = inner(l.events);
    b.events.setContent(eventsContent(v, ei.width, ei.height));
    if (l.position) b.position.setContent(positionContent(v, inner(l.position).width));
    b.alarms.setContent(alarmsContent(v, inner(l.alarms).width));
    b.status.setContent(this.statusText(v.now));
  }

  private statusText(now: number): string {
    const m = this.message;
    if (m && m.until > now) {
      const tone = m.tone === 'error' ? 'red-fg' : m.tone === 'ok' ? 'green-fg' : 'yellow-fg';
      return ` {${tone}}{bold}${esc(m.text)}{/bold}{/${tone}}`;
    }
    return ` {gray-fg}${esc(HINTS)}{/gray-fg}`;
  }

  private say(text: string, tone: 'ok' | 'error' | 'info'): void {
    this.message = { text, tone, until: this.clock.now() + 10_000 };
    this.markDirty();
  }

  // ------------------------------------------------------------------ input

  /** Main-screen keys; a dialog that is open gets every key instead. */
  private static readonly KEYS: Record<string, (c: OperatorConsole) => void> = {
    q: (c) => c.quit(),
    left: (c) => c.scrub(-MINUTE),
    right: (c) => c.scrub(MINUTE),
    'S-left': (c) => c.scrub(-10 * MINUTE),
    pageup: (c) => c.scrub(-10 * MINUTE),
    'S-right': (c) => c.scrub(10 * MINUTE),
    pagedown: (c) => c.scrub(10 * MINUTE),
    l: (c) => c.live(),
    escape: (c) => c.live(),
    a: (c) => c.acknowledge(),
    n: (c) => c.openNotes(),
    t: (c) => c.openLimits(),
    o: (c) => c.openOperator(),
    up: (c) => c.moveSelection(-1),
    down: (c) => c.moveSelection(1),
  };

  private key(ch: string | undefined, key: Key): void {
    // in raw mode the terminal sends Ctrl-C as a key, not SIGINT
    if (key.full === 'C-c') {
      this.quit();
    } else if (this.modal) {
      this.modal.key(ch, key);
      this.markDirty();
    } else {
      OperatorConsole.KEYS[key.full]?.(this);
    }
  }

  private quit(): void {
    this.emit('quit');
  }

  private tapAlarm(line: number): void {
    if (this.modal) return;
    const alarms = alarmOrder(this.history?.view?.state ?? this.o.recorder.liveState);
    const a = alarms[Math.floor(line / 2)];
    if (a) this.selectedAlarm = a.alarm;
    this.markDirty();
  }

  private moveSelection(dir: 1 | -1): void {
    const alarms = alarmOrder(this.history?.view?.state ?? this.o.recorder.liveState);
    if (alarms.length === 0) return;
    const i = alarms.findIndex((a) => a.alarm === this.selectedAlarm);
    this.selectedAlarm = alarms[(i + dir + alarms.length) % alarms.length]!.alarm;
    this.markDirty();
  }

  /** Move the as-of time; reaching now goes LIVE. */
  scrub(deltaMs: number): void {
    const now = this.clock.now();
    const target = (this.history?.asOf ?? now) + deltaMs;
    if (target >= now) {
      this.live();
      return;
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

  live(): void {
    this.loader.cancel();
    if (this.history) this.say('LIVE', 'info');
    this.history = null;
    this.markDirty();
  }

  private canAct(): boolean {
    if (this.history === null) return true;
    this.say('HISTORY shows the past: go LIVE (l) to act', 'info');
    return false;
  }

  /** Run a command; a refusal is shown, never thrown. */
  private async run(op: () => Promise<unknown>, done: string): Promise<boolean> {
    try {
      await op();
      this.say(done, 'ok');
      return true;
    } catch (err) {
      const text = err instanceof Error ? err.message : String(err);
      this.say(isFieldlogError(err, 'COMMAND_REJECTED') ? `refused: ${text}` : `failed: ${text}`, 'error');
      return false;
    }
  }

  acknowledge(): void {
    if (!this.canAct()) return;
    const alarm = this.selectedAlarm;
    if (alarm === null) {
      this.say('no active alarm to acknowledge', 'info');
      return;
    }
    const who = this.operatorName;
    void this.run(
      () => this.o.recorder.acknowledgeAlarm(alarm, who),
      `alarm ${alarm} acknowledged by ${who}`,
    );
  }

  private open(modal: Modal): void {
    this.modal = modal;
    this.markDirty();
  }

  private closed(): void {
    this.modal = null;
    this.markDirty();
  }

  openNotes(): void {
    if (!this.canAct() || !this.screenRef) return;
    this.open(
      new Picker(this.screenRef, 'Add a note', NOTE_PRESETS, (i) => {
        this.closed();
        const text = i === null ? undefined : NOTE_PRESETS[i];
        const who = this.operatorName;
        if (text) void this.run(() => this.o.recorder.addNote(text, who), `note added: ${text}`);
      }),
    );
  }

  openLimits(): void {
    if (!this.canAct() || !this.screenRef) return;
    const screen = this.screenRef;
    const live = this.o.recorder.liveState;
    const sensors = [...new Set([...Object.keys(live.sensors), ...Object.keys(live.thresholds)])].sort();
    if (sensors.length === 0) {
      this.say('no sensors yet', 'info');
      return;
    }
    const fmt = (v: number | null | undefined) => (v === null || v === undefined ? 'none' : String(v));
    const labels = sensors.map((s) => {
      const l = this.o.recorder.limits(s);
      return `${s.padEnd(12)} above ${fmt(l?.above)}, below ${fmt(l?.below)}`;
    });
    this.open(
      new Picker(screen, 'Change limits of', labels, (i) => {
        this.closed();
        const sensor = i === null ? undefined : sensors[i];
        if (sensor === undefined) return;
        const l = this.o.recorder.limits(sensor);
        const draft: LimitsDraft = { above: l?.above ?? null, below: l?.below ?? null };
        const editor: ThresholdEditor = new ThresholdEditor(
          screen,
          sensor,
          draft,
          live.sensors[sensor]?.value,
          async (d) => {
            const who = this.operatorName;
            const ok = await this.run(
              () => this.o.recorder.changeThreshold(sensor, d, who),
              `limits of ${sensor}: above ${fmt(d.above)}, below ${fmt(d.below)}`,
            );
            if (ok) this.closed();
            else if (this.message) editor.refuse(this.message.text);
            return ok;
          },
          () => this.closed(),
        );
        this.open(editor);
      }),
    );
  }

  openOperator(): void {
    if (!this.screenRef) return;
    const screen = this.screenRef;
    const names = [...new Set([this.operatorName, ...(this.o.operators ?? [])])];
    const other = 'Type a name…';
    this.open(
      new Picker(screen, `Operator (now ${this.operatorName})`, [...names, other], (i) => {
        this.closed();
        if (i === null) return;
        const name = names[i];
        if (name !== undefined) return this.setOperator(name);
        this.open(
          new TextEntry(screen, 'Operator name', '', (text) => {
            this.closed();
            if (text) this.setOperator(text);
          }),
        );
      }),
    );
  }

  private setOperator(name: string): void {
    this.operator = name;
    this.say(`operator is now ${name}`, 'ok');
  }
}
