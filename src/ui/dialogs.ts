// The console's modal dialogs (a picker, the threshold editor, a text entry) and its
// finger-sized buttons. Keys reach a dialog through the console's one key router, never
// through blessed's per-element key handling, so a dialog open means the main keys are off.
import blessed from 'blessed';
import { esc } from './widgets.js';

type Box = blessed.Widgets.BoxElement;
type Screen = blessed.Widgets.Screen;
type Parent = Screen | Box;
export type Key = blessed.Widgets.Events.IKeyEventArg;

/** Enter arrives twice from blessed ('enter', then 'return'): dialogs act on 'enter' only. */
export interface Modal {
  readonly box: Box;
  key(ch: string | undefined, key: Key): void;
}

export function makeButton(
  parent: Parent,
  label: string,
  at: { top: number | string; left: number | string; width?: number; tall: boolean },
  onPress: () => void,
): Box {
  const b = blessed.box({
    parent,
    top: at.top,
    left: at.left,
    width: at.width ?? label.length + (at.tall ? 4 : 2),
    height: at.tall ? 3 : 1,
    content: esc(label),
    tags: true,
    align: 'center',
    valign: 'middle',
    mouse: true,
    border: at.tall ? { type: 'line' } : undefined,
    style: { fg: 'white', bg: 'black', border: { fg: 'cyan' }, hover: { bg: 'blue' } },
  });
  b.on('click', onPress);
  return b;
}

function modalBox(screen: Screen, title: string, width: number, height: number): Box {
  // clickable itself, so a tap on its blank part does not fall through to what is behind
  return blessed.box({
    parent: screen,
    top: 'center',
    left: 'center',
    width: Math.min(width, screen.width as number),
    height: Math.min(height, screen.height as number),
    label: ` ${esc(title)} `,
    tags: true,
    border: { type: 'line' },
    mouse: true,
    style: { fg: 'white', bg: 'black', border: { fg: 'yellow' }, label: { fg: 'yellow', bold: true } },
  });
}

/** A list to choose from: tap an option, or arrows and Enter, or its digit; Escape cancels. */
export class Picker implements Modal {
  readonly box: Box;
  private selected = 0;
  private readonly rows: Box[] = [];

  constructor(
    screen: Screen,
    title: string,
    private readonly options: readonly string[],
    private readonly done: (index: number | null) => void,
  ) {
    const screenRows = screen.height as number;
    const rowHeight = options.length * 2 + 2 <= screenRows - 4 ? 2 : 1;
    const width = Math.max(title.length + 6, ...options.map((o) => o.length + 8));
    this.box = modalBox(screen, title, width, options.length * rowHeight + 2);
    options.forEach((label, i) => {
      const row = blessed.box({
        parent: this.box,
        top: i * rowHeight,
        left: 0,
        width: '100%-2',
        height: rowHeight,
        content: esc(` ${i < 9 ? i + 1 : ' '}  ${label}`),
        tags: true,
        mouse: true,
        style: { fg: 'white', bg: 'black' },
      });
      row.on('click', () => this.finish(i));
      this.rows.push(row);
    });
    this.paint();
  }

  private paint(): void {
    this.rows.forEach((r, i) => {
      r.style.bg = i === this.selected ? 'blue' : 'black';
    });
  }

  private finish(index: number | null): void {
    this.box.destroy();
    this.done(index);
  }

  key(ch: string | undefined, key: Key): void {
    const n = this.options.length;
    if (key.name === 'escape' || key.name === 'q') this.finish(null);
    else if (key.name === 'enter' || key.name === 'linefeed') this.finish(this.selected);
    else if (ch !== undefined && /^[1-9]$/.test(ch) && Number(ch) <= n) this.finish(Number(ch) - 1);
    else {
      if (key.name === 'up') this.selected = (this.selected + n - 1) % n;
      else if (key.name === 'down' || key.name === 'tab') this.selected = (this.selected + 1) % n;
      this.paint();
    }
  }
}

/** One line of typed text (an operator's name). */
export class TextEntry implements Modal {
  readonly box: Box;
  private text: string;
  private readonly field: Box;

  constructor(
    screen: Screen,
    title: string,
    initial: string,
    private readonly done: (text: string | null) => void,
  ) {
    this.text = initial;
    this.box = modalBox(screen, title, 50, 6);
    this.field = blessed.box({ parent: this.box, top: 0, left: 1, width: '100%-4', height: 1, tags: true });
    blessed.box({
      parent: this.box,
      top: 2,
      left: 1,
      width: '100%-4',
      height: 1,
      content: 'Enter: done   Esc: cancel',
      style: { fg: 'cyan' },
    });
    this.paint();
  }

  private paint(): void {
    this.field.setContent(`{bold}${esc(this.text)}{/bold}{inverse} {/inverse}`);
  }

  key(ch: string | undefined, key: Key): void {
    if (key.name === 'escape' || key.name === 'enter' || key.name === 'linefeed') {
      this.box.destroy();
      this.done(key.name === 'escape' ? null : this.text.trim());
      return;
    }
    if (key.name === 'backspace') this.text = this.text.slice(0, -1);
    else if (ch !== undefined && ch.length === 1 && ch >= ' ' && !key.ctrl && this.text.length < 64)
      this.text += ch;
    this.paint();
  }
}

export interface LimitsDraft {
  above: number | null;
  below: number | null;
}

const STEPS = [0.1, 1, 10, 100];

function round(v: number): number {
  return Math.round(v * 1e6) / 1e6;
}

/**
 * Above/below limits of one sensor: +/- by a step, or typed. Saving hands the draft to the
 * console, which records it through the recorder and closes the editor only if accepted.
 */
export class ThresholdEditor implements Modal {
  readonly box: Box;
  private field: 'above' | 'below' = 'above';
  private typing: string | null = null;
  private step: number;
  private readonly lines: Record<'above' | 'below', Box>;
  private readonly info: Box;
  private note = '';

  constructor(
    screen: Screen,
    readonly sensor: string,
    private readonly draft: LimitsDraft,
    private readonly current: number | undefined,
    private readonly save: (draft: LimitsDraft) => Promise<boolean>,
    private readonly cancel: () => void,
    /** How the sensor's values are shown (its precision). */
    show: (v: number) => string = String,
  ) {
    const ref = Math.abs(draft.above ?? draft.below ?? current ?? 1);
    this.step = ref >= 1000 ? 100 : ref >= 100 ? 10 : ref >= 5 ? 1 : 0.1;
    const now = current === undefined ? '' : ` (now ${show(current)})`;
    this.box = modalBox(screen, `Limits of ${sensor}${now}`, 52, 14);
    const tall = true;
    this.lines = { above: this.fieldRow(0, 'above', tall), below: this.fieldRow(3, 'below', tall) };
    this.info = blessed.box({ parent: this.box, top: 6, left: 1, width: 40, height: 3, tags: true });
    makeButton(this.box, 'STEP', { top: 6, left: 40, width: 8, tall }, () => this.cycleStep());
    makeButton(this.box, 'SAVE', { top: 9, left: 8, width: 14, tall }, () => void this.trySave());
    makeButton(this.box, 'CANCEL', { top: 9, left: 34, width: 14, tall }, () => this.close(false));
    this.paint();
  }

  private fieldRow(top: number, field: 'above' | 'below', tall: boolean): Box {
    const line = blessed.box({
      parent: this.box,
      top: top + 1,
      left: 1,
      width: 22,
      height: 1,
      tags: true,
      mouse: true,
    });
    line.on('click', () => this.focus(field));
    makeButton(this.box, '-', { top, left: 24, width: 7, tall }, () => this.bump(field, -1));
    makeButton(this.box, '+', { top, left: 32, width: 7, tall }, () => this.bump(field, 1));
    makeButton(this.box, 'none', { top, left: 40, width: 8, tall }, () => this.set(field, null));
    return line;
  }

  private focus(field: 'above' | 'below'): void {
    this.commitTyping();
    this.field = field;
    this.paint();
  }

  private set(field: 'above' | 'below', v: number | null): void {
    this.typing = null;
    this.field = field;
    this.draft[field] = v;
    this.paint();
  }

  private bump(field: 'above' | 'below', dir: 1 | -1): void {
    this.commitTyping();
    // an unset limit starts from the other limit or the current value
    const base =
      this.draft[field] ?? (field === 'above' ? this.draft.below : this.draft.above) ?? this.current ?? 0;
    this.set(field, round((this.draft[field] === null ? Math.round(base) : base) + dir * this.step));
  }

  private cycleStep(): void {
    this.step = STEPS[(STEPS.indexOf(this.step) + 1) % STEPS.length] ?? 1;
    this.paint();
  }

  private commitTyping(): boolean {
    if (this.typing === null) return true;
    const v = Number(this.typing);
    if (this.typing === '' || this.typing === '-' || !Number.isFinite(v)) {
      this.note = `"${this.typing}" is not a number`;
      this.typing = null;
      this.paint();
      return false;
    }
    this.typing = null;
    this.draft[this.field] = v;
    return true;
  }

  private paint(): void {
    for (const f of ['above', 'below'] as const) {
      const value = f === this.field && this.typing !== null ? `${this.typing}_` : (this.draft[f] ?? 'none');
      const text = `${f.padEnd(6)} ${String(value)}`;
      this.lines[f].setContent(f === this.field ? `{inverse}{bold}${esc(text)}{/bold}{/inverse}` : esc(text));
    }
    const hint = `step ${this.step} · Tab: field · Enter: save`;
    this.info.setContent(`{yellow-fg}${esc(this.note)}{/yellow-fg}\n${hint}`);
  }

  private async trySave(): Promise<void> {
    if (!this.commitTyping()) return;
    this.note = '';
    this.paint();
    if (await this.save({ ...this.draft })) this.close(true);
  }

  /** Say why a save was refused, and stay open so it can be fixed. */
  refuse(message: string): void {
    this.note = message;
    this.paint();
  }

  private close(saved: boolean): void {
    this.box.destroy();
    if (!saved) this.cancel();
  }

  key(ch: string | undefined, key: Key): void {
    const k = key.name;
    if (this.typing !== null) {
      if (ch !== undefined && /^[0-9.]$/.test(ch)) this.typing += ch;
      else if (ch === '-')
        this.typing = this.typing.startsWith('-') ? this.typing.slice(1) : `-${this.typing}`;
      else if (k === 'backspace') this.typing = this.typing.slice(0, -1);
      else if (k === 'escape') this.typing = null;
      else if (k === 'tab') {
        if (this.commitTyping()) this.field = this.field === 'above' ? 'below' : 'above';
      } else if (k === 'enter' || k === 'linefeed') {
        // Enter saves, typed value and all: one Enter, as the README says (Tab moves on instead)
        void this.trySave();
        return;
      }
      this.paint();
      return;
    }
    if (ch !== undefined && /^[0-9.]$/.test(ch)) {
      this.note = '';
      this.typing = ch;
      this.paint();
    } else if (k === 'escape' || k === 'q') this.close(false);
    else if (k === 'enter' || k === 'linefeed') void this.trySave();
    else if (ch === '+' || ch === '=' || k === 'right') this.bump(this.field, 1);
    else if (ch === '-' || k === 'left') this.bump(this.field, -1);
    else if (ch === 'x' || k === 'delete') this.set(this.field, null);
    else if (ch === 's') this.cycleStep();
    else if (k === 'tab' || k === 'up' || k === 'down') {
      this.field = this.field === 'above' ? 'below' : 'above';
      this.paint();
    }
  }
}
