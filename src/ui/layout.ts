// Where each panel goes, from the screen size alone (pure, so it is tested without a
// terminal). 100×30 is the 7" Pi screen; wider or taller screens give the tables and the
// event tail more room. Buttons are three rows tall so a finger can hit them.

export interface Rect {
  top: number;
  left: number;
  width: number;
  height: number;
}

export interface Layout {
  header: Rect;
  sensors: Rect;
  events: Rect;
  position: Rect | null;
  alarms: Rect;
  status: Rect;
  buttons: Rect[];
  /** Whether buttons have room for a border (three rows) or are flat (one row). */
  tallButtons: boolean;
}

export interface LayoutInput {
  width: number;
  height: number;
  sensors: number;
  hasPosition: boolean;
  /** Button labels, left to right. */
  buttons: readonly string[];
  /** Header lines: 2, or 3 with an info line. Default 2. */
  headerRows?: number;
}

export function computeLayout(i: LayoutInput): Layout {
  const width = Math.max(40, i.width);
  const height = Math.max(16, i.height);
  const tallButtons = height >= 24;
  const buttonRows = tallButtons ? 3 : 1;
  const status: Rect = { top: height - buttonRows - 1, left: 0, width, height: 1 };
  const headerRows = i.headerRows ?? 2;
  const bodyTop = headerRows;
  const bodyHeight = status.top - bodyTop;

  const leftWidth = width >= 100 ? Math.floor(width * 0.62) : Math.max(24, width - 36);
  const rightWidth = width - leftWidth;
  // a row per sensor plus the column header and the border; the event tail keeps 6 rows
  const sensorsHeight = Math.max(5, Math.min(i.sensors + 3, bodyHeight - 6));
  const sensors: Rect = { top: bodyTop, left: 0, width: leftWidth, height: sensorsHeight };
  const events: Rect = {
    top: bodyTop + sensorsHeight,
    left: 0,
    width: leftWidth,
    height: bodyHeight - sensorsHeight,
  };
  const positionHeight = i.hasPosition ? 5 : 0;
  const position: Rect | null = i.hasPosition
    ? { top: bodyTop, left: leftWidth, width: rightWidth, height: positionHeight }
    : null;
  const alarms: Rect = {
    top: bodyTop + positionHeight,
    left: leftWidth,
    width: rightWidth,
    height: bodyHeight - positionHeight,
  };

  const buttons = placeButtons(i.buttons, width, tallButtons, height - buttonRows, buttonRows);
  return {
    header: { top: 0, left: 0, width, height: headerRows },
    sensors,
    events,
    position,
    alarms,
    status,
    buttons,
    tallButtons,
  };
}

/**
 * The button bar: a space inside each side and a gap between them where there is room; at
 * 80 columns the gaps go first, then the inner spaces, so that every button stays whole and
 * within reach of a finger rather than the last ones falling off the edge.
 */
function placeButtons(
  labels: readonly string[],
  width: number,
  tall: boolean,
  top: number,
  rows: number,
): Rect[] {
  const border = tall ? 2 : 0;
  const fits = ([pad, gap]: [number, number]) =>
    labels.reduce((sum, l) => sum + l.length + border + pad, 0) + gap * Math.max(0, labels.length - 1) <=
    width;
  const options: [number, number][] = [
    [2, 1],
    [2, 0],
    [0, 1],
    [0, 0],
  ];
  const [pad, gap] = options.find(fits) ?? [0, 0];
  const out: Rect[] = [];
  let left = 0;
  for (const label of labels) {
    const w = label.length + border + pad;
    out.push({ top, left, width: w, height: rows });
    left += w + gap;
  }
  return out;
}

/** Where a box's content starts and how much fits, inside its one-cell border. */
export function inner(r: Rect): { width: number; height: number } {
  return { width: Math.max(0, r.width - 2), height: Math.max(0, r.height - 2) };
}
