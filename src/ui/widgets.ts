// The text of each panel, from a view of the state: pure functions returning blessed-tagged
// strings, so what the console says is decided here and tested without a screen.
import type { AlarmState, DeviceState } from '../log/device-state.js';
import { SensorPrecision } from '../log/precision.js';
import { type SparkStyle, sparkline, type Trends } from './sparkline.js';
import { type EventTail, type TailEntry, tailText } from './tail.js';

export interface SyncStatusView {
  connected: boolean;
  acked: number;
  head: number;
  backlog: number;
  lastError?: string;
}

/** Everything one frame shows: the live state, or a past one in HISTORY. */
export interface ConsoleView {
  mode: 'live' | 'history';
  deviceId: string;
  operator: string;
  now: number;
  /** HISTORY: the moment shown; null when LIVE. */
  asOf: number | null;
  /** HISTORY: the past state is still being built. */
  loading: boolean;
  /** HISTORY: the moment shown is the log's first event; there is nothing before it. */
  atStart?: boolean;
  state: Readonly<DeviceState>;
  /** The log's durable head (always live). */
  head: number;
  /** Bytes on disk; null when unknown (a memory log). */
  sizeBytes: number | null;
  /** The disk budget's view (disk-budget.ts): used against the budget, free space, its state. */
  disk?: DiskView | null;
  sync: SyncStatusView | null;
  /** The log's filesystem is full: readings counted and not recorded so far (else absent or null). */
  diskFull?: number | null;
  trends: Trends;
  /** The end of the trend window: now, or the as-of time. */
  trendTime: number;
  tail: EventTail;
  selectedAlarm: string | null;
  sparkStyle: SparkStyle;
  /** A third header line (the demo: where the hub's API is). */
  infoLine?: string;
  /** Decimals per sensor; without it a value shows its own decimals. */
  precision?: SensorPrecision;
}

const OWN_DECIMALS = new SensorPrecision();

/** Text from the log may hold braces; blessed would read them as tags. */
export function esc(s: string): string {
  return s.replace(/[{}]/g, (c) => (c === '{' ? '{open}' : '{close}'));
}

export function clip(s: string, width: number, align: 'left' | 'right' = 'left'): string {
  if (width <= 0) return '';
  if (s.length > width) return width === 1 ? '…' : `${s.slice(0, width - 1)}…`;
  return align === 'left' ? s.padEnd(width) : s.padStart(width);
}

export function clockTime(ms: number): string {
  return `${new Date(ms).toISOString().slice(11, 19)}Z`;
}

export function dateTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;
}

export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const two = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${two(h)}h`;
  if (h > 0) return `${h}h ${two(m)}m`;
  return `${m}m ${two(s % 60)}s`;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} kB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** null: the device has no hub configured, which is not being offline from one. */
function syncText(s: SyncStatusView | null): string {
  if (!s) return 'no hub';
  const acked = s.acked < 0 ? '?' : `#${s.acked}`;
  const state = s.connected ? '{green-fg}connected{/green-fg}' : 'offline';
  const err = s.lastError && !s.connected ? ` (${esc(s.lastError)})` : '';
  return `sync ${state}${err} · backlog ${s.backlog} · acked ${acked}`;
}

export interface DiskView {
  logBytes: number;
  /** 0: no size limit. */
  budgetBytes: number;
  freeBytes: number;
  minFreeBytes: number;
  state: 'within' | 'thinning' | 'stopped';
  /** Readings the budget did not record since the start. */
  notRecorded?: number;
}

/** Past this share of a limit the disk text turns yellow; past the limit, red. */
const NEAR = 0.9;

/** `1.2 MB / 2.0 MB · 3.4 GB free`, yellow near the budget, red over it or when it gave something up. */
export function diskText(d: DiskView): string {
  const used =
    d.budgetBytes > 0 ? `${sizeText(d.logBytes)} / ${sizeText(d.budgetBytes)}` : sizeText(d.logBytes);
  const text = `${used} · ${sizeText(d.freeBytes)} free`;
  const over =
    (d.budgetBytes > 0 && d.logBytes > d.budgetBytes) || (d.minFreeBytes > 0 && d.freeBytes < d.minFreeBytes);
  const near =
    (d.budgetBytes > 0 && d.logBytes > d.budgetBytes * NEAR) ||
    (d.minFreeBytes > 0 && d.freeBytes < d.minFreeBytes / NEAR);
  if (d.state === 'stopped')
    return `{red-fg}{bold}${text} · READINGS NOT RECORDED (${d.notRecorded ?? 0}){/bold}{/red-fg}`;
  if (d.state === 'thinning') return `{red-fg}${text} · THINNING{/red-fg}`;
  if (over) return `{red-fg}${text}{/red-fg}`;
  if (near) return `{yellow-fg}${text}{/yellow-fg}`;
  return text;
}

/** 1000-based, as the budget's settings are written (`2GB`). */
function sizeText(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function sourcesText(state: Readonly<DeviceState>): string {
  return Object.entries(state.sources)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, s]) => (s.connected ? `${name} up` : `{red-fg}${name} down{/red-fg}`))
    .join(' ');
}

function withInfo(v: ConsoleView, lines: string): string {
  return v.infoLine === undefined ? lines : `${lines}\n ${esc(v.infoLine)}`;
}

/** Two lines, three with an info line; the box's colour (LIVE or HISTORY) is the console's. */
export function headerContent(v: ConsoleView): string {
  const uptimeFrom = v.state.startedAt ? Date.parse(v.state.startedAt) : null;
  const at = v.asOf ?? v.now;
  const uptime = uptimeFrom !== null ? ` · up ${duration(at - uptimeFrom)}` : '';
  const size = v.sizeBytes === null ? '' : ` ${bytes(v.sizeBytes)}`;
  if (v.mode === 'history' && v.asOf !== null) {
    const ago = duration(v.now - v.asOf);
    const line1 =
      ` {bold}${esc(v.deviceId)}  HISTORY{/bold} as of {bold}${dateTime(v.asOf)}{/bold} (${ago} ago)` +
      `${uptime} · now ${clockTime(v.now)} · {bold}l{/bold} = LIVE`;
    const what = v.loading
      ? 'building…'
      : v.state.seq === 0
        ? 'nothing was recorded yet at that time'
        : `event #${v.state.seq} of #${v.head}${v.atStart ? ' · START OF THE LOG' : ''}`;
    const line2 = ` ${[what, sourcesText(v.state)].filter(Boolean).join(' · ')}`;
    return withInfo(v, `${line1}\n${line2}`);
  }
  const line1 =
    ` {bold}${esc(v.deviceId)}  LIVE{/bold}  ${dateTime(v.now)}${uptime}` +
    ` · operator {bold}${esc(v.operator)}{/bold}`;
  const full =
    v.diskFull === undefined || v.diskFull === null
      ? ''
      : ` {red-fg}{bold}DISK FULL{/bold}, ${v.diskFull} reading(s) not recorded{/red-fg}`;
  const log = v.disk ? `log #${v.head} ${diskText(v.disk)}${full}` : `log #${v.head}${size}${full}`;
  const line2 = ` ${[log, syncText(v.sync), sourcesText(v.state)].filter(Boolean).join(' · ')}`;
  return withInfo(v, `${line1}\n${line2}`);
}

/** 'active' beats 'acknowledged': one unacknowledged alarm makes the row red. */
export function alarmLevel(state: Readonly<DeviceState>, sensor: string): 'active' | 'acknowledged' | null {
  let level: 'active' | 'acknowledged' | null = null;
  for (const a of Object.values(state.alarms)) {
    if (a.sensor !== sensor) continue;
    if (a.acknowledgedBy === undefined && a.acknowledgedAt === undefined) return 'active';
    level = 'acknowledged';
  }
  return level;
}

const COLS = { name: 10, value: 9, unit: 4, min: 7, max: 7 };

/** Width of the trend column in a sensors panel of this inner width. */
export function trendWidth(innerWidth: number): number {
  return Math.max(0, innerWidth - (COLS.name + COLS.value + COLS.unit + COLS.min + COLS.max + 5));
}

export function sensorsContent(v: ConsoleView, innerWidth: number, rows: number): string {
  const tw = trendWidth(innerWidth);
  const span = Math.round(v.trends.span(tw) / 60_000);
  const head =
    `${clip('sensor', COLS.name)} ${clip('value', COLS.value, 'right')} ${clip('unit', COLS.unit)} ` +
    `${clip('min', COLS.min, 'right')} ${clip('max', COLS.max, 'right')} ${clip(tw > 0 ? `last ${span} min` : '', tw)}`;
  const lines = [`{bold}${clip(head, innerWidth)}{/bold}`];
  const names = Object.keys(v.state.sensors).sort();
  if (names.length === 0) lines.push(v.loading ? 'building…' : 'no readings yet');
  const room = rows - 1;
  const shown = names.length > room ? names.slice(0, Math.max(0, room - 1)) : names;
  const p = v.precision ?? OWN_DECIMALS;
  for (const name of shown) {
    const s = v.state.sensors[name]!;
    const fmt = (x: number) => p.format(name, x);
    const trend = tw > 0 ? sparkline(v.trends.series(name, v.trendTime, tw), v.sparkStyle) : '';
    const row =
      `${clip(name, COLS.name)} ${clip(fmt(s.value), COLS.value, 'right')} ${clip(s.unit ?? '', COLS.unit)} ` +
      `${clip(fmt(s.min), COLS.min, 'right')} ${clip(fmt(s.max), COLS.max, 'right')} ${clip(trend, tw, 'right')}`;
    const level = alarmLevel(v.state, name);
    const text = esc(clip(row, innerWidth));
    if (level === 'active') lines.push(`{red-bg}{white-fg}{bold}${text}{/bold}{/white-fg}{/red-bg}`);
    else if (level === 'acknowledged') lines.push(`{yellow-bg}{black-fg}${text}{/black-fg}{/yellow-bg}`);
    else lines.push(text);
  }
  if (shown.length < names.length) lines.push(`+${names.length - shown.length} more`);
  return lines.join('\n');
}

export function positionContent(v: ConsoleView, innerWidth: number): string {
  const p = v.state.position;
  if (!p) return '';
  const extra = [
    p.alt !== undefined ? `alt ${p.alt} m` : null,
    p.sats !== undefined ? `${p.sats} sats` : null,
    p.hdop !== undefined ? `hdop ${p.hdop}` : null,
    // m/s converted from knots: float noise past the receiver's own resolution
    p.speed !== undefined ? `${p.speed.toFixed(1)} m/s` : null,
  ].filter((x) => x !== null);
  const fixed = Date.parse(p.time);
  return [
    clip(`${p.lat.toFixed(6)}, ${p.lon.toFixed(6)}`, innerWidth),
    clip(extra.join(' · '), innerWidth),
    clip(`fix ${clockTime(fixed)} (${duration(v.trendTime - fixed)} ago)`, innerWidth),
  ].join('\n');
}

/** Active alarms, oldest first: the order the alarms panel lists them in. */
export function alarmOrder(state: Readonly<DeviceState>): AlarmState[] {
  return Object.values(state.alarms).sort((a, b) => a.seq - b.seq);
}

/** Two lines per alarm; line i shows alarm `Math.floor(i / 2)` of `alarmOrder`. */
export function alarmsContent(v: ConsoleView, innerWidth: number): string {
  const alarms = alarmOrder(v.state);
  if (alarms.length === 0) return '{green-fg}no active alarms{/green-fg}';
  const p = v.precision ?? OWN_DECIMALS;
  const lines: string[] = [];
  for (const a of alarms) {
    const selected = a.alarm === v.selectedAlarm;
    const acked = a.acknowledgedAt !== undefined;
    const mark = selected ? '>' : ' ';
    const l1 = clip(
      `${mark} ${a.sensor} ${a.kind} ${p.formatLimit(a.sensor, a.limit)} (${p.format(a.sensor, a.value)})`,
      innerWidth,
    );
    const raised = clockTime(Date.parse(a.raisedAt));
    const by = a.acknowledgedBy?.replace(/^operator:/, '') ?? '?';
    const l2 = clip(
      acked
        ? `  ${raised} ack ${by} ${clockTime(Date.parse(a.acknowledgedAt!))}`
        : `  ${raised} NOT ACKNOWLEDGED`,
      innerWidth,
    );
    const colour = acked ? 'yellow-fg' : 'red-fg';
    const inv = selected ? '{inverse}' : '';
    const invEnd = selected ? '{/inverse}' : '';
    lines.push(
      `${inv}{${colour}}{bold}${esc(l1)}{/bold}{/${colour}}${invEnd}`,
      `{${colour}}${esc(l2)}{/${colour}}`,
    );
  }
  return lines.join('\n');
}

const TONES: Record<TailEntry['tone'], string | null> = {
  alarm: 'red-fg',
  operator: 'cyan-fg',
  fault: 'yellow-fg',
  readings: null,
  plain: null,
};

/** Marks a corrected time (docs/protocol.md §4.1); the legend under the lines says so. */
export const CORRECTED_MARK = '≈';
const CORRECTED_LEGEND = `${CORRECTED_MARK} corrected time: the clock was set right later`;

export function eventsContent(v: ConsoleView, innerWidth: number, rows: number): string {
  let entries = v.tail.last(rows);
  if (entries.length === 0) return v.loading ? 'building…' : 'no events yet';
  const corrected = (e: TailEntry) => e.corrected !== undefined;
  let legend = entries.some(corrected);
  if (legend && entries.length >= rows) {
    // the legend takes the oldest line's row
    entries = entries.slice(1);
    legend = entries.some(corrected);
  }
  const lines = entries.map((e) => {
    // the corrected time where there is one, marked; the recorded time stays in the log
    const at = corrected(e)
      ? `${CORRECTED_MARK}${clockTime(e.corrected!)}`
      : `${legend ? ' ' : ''}${clockTime(Date.parse(e.time))}`;
    const line = esc(clip(`${at} #${e.seq} ${tailText(e)}`, innerWidth));
    const tone = TONES[e.tone];
    return tone ? `{${tone}}${line}{/${tone}}` : line;
  });
  if (legend) lines.push(`{gray-fg}${esc(clip(CORRECTED_LEGEND, innerWidth))}{/gray-fg}`);
  return lines.join('\n');
}
