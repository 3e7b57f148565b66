// The console's blessed side: the screen on the given streams, one box per panel and the
// button bar, placed by computeLayout and filled from a ConsoleView at each frame.
import type { Readable, Writable } from 'node:stream';
import blessed from 'blessed';
import { makeButton } from './dialogs.js';
import { computeLayout, inner, type Layout, type Rect } from './layout.js';
import {
  alarmsContent,
  type ConsoleView,
  eventsContent,
  headerContent,
  positionContent,
  sensorsContent,
} from './widgets.js';

type Box = blessed.Widgets.BoxElement;
export type Screen = blessed.Widgets.Screen;

export interface ScreenOptions {
  input?: Readable;
  output?: Writable;
  terminal?: string;
  /** For streams that are not a TTY: the size to draw at. */
  width?: number;
  height?: number;
  /**
   * Draw UTF-8 (default). blessed otherwise guesses from LANG, which a systemd service or
   * a bare tmux often lacks, and falls back to VT100 line drawing that shows as "lqqk".
   */
  unicode?: boolean;
}

export function createScreen(s: ScreenOptions, title: string): Screen {
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
    forceUnicode: s.unicode ?? true,
    title,
  } as unknown as blessed.Widgets.IScreenOptions);
  // blessed prefers VT100 line drawing (ACS) even on a UTF-8 terminal; tmux and others then
  // show "lqqk" borders. Writing the UTF-8 characters themselves works everywhere UTF-8 does.
  if (s.unicode ?? true) {
    (screen.program as unknown as { tput: { brokenACS: boolean } }).tput.brokenACS = true;
  }
  dropSignalHandlers();
  return screen;
}

/**
 * blessed's own SIGTERM/SIGINT/SIGQUIT handlers exit(0) when they find themselves the only
 * listener, which is the case once a `process.once` handler of the caller has run: the device
 * would exit in the middle of its clean stop. Signals are the caller's business.
 */
function dropSignalHandlers(): void {
  const statics = (blessed as unknown as { widget: { Screen: Record<string, unknown> } }).widget.Screen;
  for (const [signal, key] of [
    ['SIGTERM', '_sigtermHandler'],
    ['SIGINT', '_sigintHandler'],
    ['SIGQUIT', '_sigquitHandler'],
  ] as const) {
    const handler = statics[key];
    if (typeof handler === 'function') process.off(signal, handler as () => void);
  }
}

export interface ButtonSpec {
  label: string;
  press(): void;
}

export class Panels {
  private readonly boxes: Record<'header' | 'sensors' | 'events' | 'position' | 'alarms' | 'status', Box>;
  private readonly buttons: Box[];
  private layoutKey = '';
  private layout: Layout | null = null;

  constructor(
    private readonly screen: Screen,
    private readonly buttonSpecs: readonly ButtonSpec[],
    /** A tap on line `n` (0-based, inside the border) of the alarms panel. */
    onAlarmTap: (line: number) => void,
  ) {
    const box = (label?: string) =>
      blessed.box({
        parent: screen,
        tags: true,
        // lines are clipped to fit here; blessed's word wrap would push rows out of place
        wrap: false,
        label: label ? ` ${label} ` : undefined,
        border: label ? { type: 'line' } : undefined,
        style: { border: { fg: 'white' }, label: { bold: true } },
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
    alarms.on('click', (data: { y: number }) => onAlarmTap(data.y - (alarms.lpos?.yi ?? 0) - 1));
    this.buttons = buttonSpecs.map((b) =>
      makeButton(screen, b.label, { top: 0, left: 0, tall: true }, b.press),
    );
    screen.on('resize', () => {
      this.layoutKey = '';
    });
  }

  private place(el: Box, r: Rect): void {
    el.top = r.top;
    el.left = r.left;
    el.width = r.width;
    el.height = r.height;
  }

  /** Lay out again only when the size or what there is to show changed. */
  private relayout(v: ConsoleView): Layout {
    const sensors = Object.keys(v.state.sensors).length;
    const hasPosition = v.state.position !== null;
    const headerRows = v.infoLine === undefined ? 2 : 3;
    const key = `${this.screen.width}x${this.screen.height}:${sensors}:${hasPosition}:${headerRows}`;
    if (key === this.layoutKey && this.layout) return this.layout;
    this.layoutKey = key;
    const l = computeLayout({
      width: Number(this.screen.width),
      height: Number(this.screen.height),
      sensors,
      hasPosition,
      buttons: this.buttonSpecs.map((b) => b.label),
      headerRows,
    });
    const b = this.boxes;
    for (const name of ['header', 'sensors', 'events', 'alarms', 'status'] as const)
      this.place(b[name], l[name]);
    if (l.position) {
      this.place(b.position, l.position);
      b.position.show();
    } else {
      b.position.hide();
    }
    this.buttons.forEach((btn, i) => {
      const r = l.buttons[i];
      if (r) this.place(btn, r);
    });
    this.layout = l;
    return l;
  }

  /** Fill every panel from the view; the caller renders. */
  draw(v: ConsoleView, status: string): void {
    const l = this.relayout(v);
    const b = this.boxes;
    b.header.style.bg = v.mode === 'history' ? 'yellow' : 'blue';
    b.header.style.fg = v.mode === 'history' ? 'black' : 'white';
    b.header.setContent(headerContent(v));
    const si = inner(l.sensors);
    b.sensors.setContent(sensorsContent(v, si.width, si.height));
    const ei = inner(l.events);
    b.events.setContent(eventsContent(v, ei.width, ei.height));
    if (l.position) b.position.setContent(positionContent(v, inner(l.position).width));
    b.alarms.setContent(alarmsContent(v, inner(l.alarms).width));
    b.status.setContent(status);
  }
}
