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
}

const HEADER_ROWS = 2;

export function computeLayout(i: LayoutInput): Layout {
  const width = Math.max(40, i.width);
  const height = Math.max(16, i.height);
  const tallButtons = height >= 24;
  const buttonRows = tallButtons ? 3 : 1;
  const status: Rect = { top: height - buttonRows - 1, left: 0, width, height: 1 };
  const bodyTop = HEADER_ROWS;
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

  const buttons: Rect[] = [];
  let left = 0;
  for (const label of i.buttons) {
    const w = label.length + (tallButtons ? 4 : 2);
    buttons.push({ top: height - buttonRows, left, width: w, height: buttonRows });
    left += w + 1;
  }
  return {
    header: { top: 0, left: 0, width, height: HEADER_ROWS },
    sensors,
    events,
    position,
    alarms,
    status,
    buttons,
    tallButtons,
  };
}

/** Where a box's content starts and how much fits, inside its one-cell border. */
export function inner(r: Rect): { width: number; height: number } {
  return { width: Math.max(0, r.width - 2), height: Math.max(0, r.height - 2) };
}
