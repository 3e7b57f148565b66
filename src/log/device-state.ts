// The device's state as a projection of its events: what the console shows, what the
// hub answers for "state as of", and what `fieldlog log state` prints. Pure reducer:
// each event yields a new state object and leaves the previous one untouched.
import type { FoldEvent } from './event-log.js';
import type {
  AlarmRaised,
  DeviceStarted,
  FramesLost,
  FramesRejected,
  PositionRecorded,
  ReadingRecorded,
  SourceConnected,
  SourceDisconnected,
  SourceIdentified,
  ThresholdChanged,
} from './events.js';
import type { Projection } from './projection.js';

export interface SensorState {
  source: string;
  value: number;
  unit?: string;
  time: string;
  seq: number;
  min: number;
  max: number;
  count: number;
}

export interface AlarmState {
  alarm: string;
  sensor: string;
  kind: 'above' | 'below';
  limit: number;
  value: number;
  raisedAt: string;
  seq: number;
  acknowledgedBy?: string;
  acknowledgedAt?: string;
}

export interface DeviceState {
  seq: number;
  time: string | null;
  boot: string | null;
  boots: number;
  version: string | null;
  startedAt: string | null;
  clockSynced: boolean | null;
  sources: Record<
    string,
    { connected: boolean; since: string; driver?: string; port?: string; reason?: string; identity?: string }
  >;
  sensors: Record<string, SensorState>;
  position: (PositionRecorded & { time: string; seq: number }) | null;
  alarms: Record<string, AlarmState>;
  thresholds: Record<
    string,
    { above: number | null; below: number | null; hysteresis?: number; by?: string; time: string }
  >;
  notes: { seq: number; time: string; text: string; by?: string }[];
  frames: { rejected: number; lost: number };
  redactions: number;
  events: number;
}

const MAX_NOTES = 20;

export function emptyDeviceState(): DeviceState {
  return {
    seq: 0,
    time: null,
    boot: null,
    boots: 0,
    version: null,
    startedAt: null,
    clockSynced: null,
    sources: {},
    sensors: {},
    position: null,
    alarms: {},
    thresholds: {},
    notes: [],
    frames: { rejected: 0, lost: 0 },
    redactions: 0,
    events: 0,
  };
}

/**
 * A boot is a start of the device's process, which records one `DeviceStarted`. Other
 * processes that write to the log (`log append`, `log redact`) have their own boot ids
 * but are not boots of the device; a redacted DeviceStarted still was one.
 */
export function isBoot(e: { type: string }): boolean {
  return e.type === 'DeviceStarted';
}

function actorName(e: FoldEvent): string | undefined {
  return e.meta?.actor;
}

/**
 * Fold one event into a state the caller owns, in place. Folds over history own their
 * state (a fresh initial state or a parsed snapshot), so mutating it is safe and keeps
 * replay fast; `applyDeviceEvent` is the pure form for everyone else.
 * Events whose payload was redacted still count, but carry nothing.
 */
export function foldDeviceEvent(s: DeviceState, e: FoldEvent): void {
  s.seq = e.seq;
  s.events++;
  // boots: one per DeviceStarted, redacted or not (the definition `log stats` shares)
  if (isBoot(e)) s.boots++;
  const d = e.data;
  if (d === null) {
    s.time = e.time;
    return;
  }
  switch (e.type) {
    case 'ReadingRecorded': {
      const r = d as unknown as ReadingRecorded;
      if (typeof r.value !== 'number' || typeof r.sensor !== 'string') return;
      const time = e.time;
      s.time = time;
      const old = s.sensors[r.sensor];
      if (old) {
        old.source = r.source;
        old.value = r.value;
        old.time = time;
        old.seq = e.seq;
        if (r.value < old.min) old.min = r.value;
        if (r.value > old.max) old.max = r.value;
        old.count++;
        if (r.unit !== undefined) old.unit = r.unit;
        else delete old.unit;
      } else {
        const sensor: SensorState = {
          source: r.source,
          value: r.value,
          time,
          seq: e.seq,
          min: r.value,
          max: r.value,
          count: 1,
        };
        if (r.unit !== undefined) sensor.unit = r.unit;
        s.sensors[r.sensor] = sensor;
      }
      return;
    }
    case 'DeviceStarted': {
      const x = d as unknown as DeviceStarted;
      s.time = e.time;
      s.boot = e.boot;
      s.version = x.version ?? null;
      s.startedAt = e.time;
      s.clockSynced = x.clockSynced ?? null;
      // a new process has not opened its sources yet
      for (const src of Object.values(s.sources)) {
        src.connected = false;
        src.since = e.time;
      }
      return;
    }
    case 'SourceConnected': {
      const x = d as unknown as SourceConnected;
      s.time = e.time;
      s.sources[x.source] = { connected: true, since: e.time, driver: x.driver, port: x.port };
      return;
    }
    case 'SourceDisconnected': {
      const x = d as unknown as SourceDisconnected;
      s.time = e.time;
      s.sources[x.source] = { ...s.sources[x.source], connected: false, since: e.time, reason: x.reason };
      return;
    }
    case 'SourceIdentified': {
      const x = d as unknown as SourceIdentified;
      s.time = e.time;
      const src = s.sources[x.source];
      if (src) src.identity = `${x.nodeId} ${x.firmware} ${x.version}`;
      return;
    }
    case 'DeviceStopped':
      s.time = e.time;
      for (const src of Object.values(s.sources)) {
        src.connected = false;
        src.since = e.time;
      }
      return;
    case 'PositionRecorded':
      s.time = e.time;
      s.position = { ...(d as unknown as PositionRecorded), time: e.time, seq: e.seq };
      return;
    case 'FramesRejected':
      s.time = e.time;
      s.frames.rejected += (d as unknown as FramesRejected).count ?? 0;
      return;
    case 'FramesLost':
      s.time = e.time;
      s.frames.lost += (d as unknown as FramesLost).count ?? 0;
      return;
    case 'AlarmRaised': {
      const x = d as unknown as AlarmRaised;
      s.time = e.time;
      s.alarms[x.alarm] = {
        alarm: x.alarm,
        sensor: x.sensor,
        kind: x.kind,
        limit: x.limit,
        value: x.value,
        raisedAt: e.time,
        seq: e.seq,
      };
      return;
    }
    case 'AlarmCleared':
      s.time = e.time;
      delete s.alarms[String(d.alarm)];
      return;
    case 'AlarmAcknowledged': {
      s.time = e.time;
      const a = s.alarms[String(d.alarm)];
      if (!a) return;
      a.acknowledgedAt = e.time;
      const by = actorName(e);
      if (by !== undefined) a.acknowledgedBy = by;
      return;
    }
    case 'ThresholdChanged': {
      const x = d as unknown as ThresholdChanged;
      s.time = e.time;
      const t: DeviceState['thresholds'][string] = {
        above: x.above ?? null,
        below: x.below ?? null,
        time: e.time,
      };
      if (x.hysteresis !== undefined) t.hysteresis = x.hysteresis;
      const by = actorName(e);
      if (by !== undefined) t.by = by;
      s.thresholds[x.sensor] = t;
      return;
    }
    case 'NoteAdded': {
      s.time = e.time;
      const note: DeviceState['notes'][number] = { seq: e.seq, time: e.time, text: String(d.text) };
      const by = actorName(e);
      if (by !== undefined) note.by = by;
      s.notes.push(note);
      if (s.notes.length > MAX_NOTES) s.notes.shift();
      return;
    }
    case 'ClockSynced':
      // the clock is trustworthy from here on in this boot (the console stops warning)
      s.time = e.time;
      s.clockSynced = true;
      return;
    case 'EventRedacted': {
      s.time = e.time;
      s.redactions++;
      const target = Number(d.seq);
      s.notes = s.notes.filter((n) => n.seq !== target);
      return;
    }
    default:
      s.time = e.time;
  }
}

export function cloneDeviceState(s: DeviceState): DeviceState {
  return JSON.parse(JSON.stringify(s)) as DeviceState;
}

/** Pure: the state after `e`, leaving `s` untouched. */
export function applyDeviceEvent(s: DeviceState, e: FoldEvent): DeviceState {
  const next = cloneDeviceState(s);
  foldDeviceEvent(next, e);
  return next;
}

export const deviceState: Projection<DeviceState> = {
  name: 'device-state',
  // 2: boots count redacted DeviceStarted events too; snapshots of version 1 are not used
  version: 2,
  initial: emptyDeviceState,
  apply: applyDeviceEvent,
  foldInto: foldDeviceEvent,
};
