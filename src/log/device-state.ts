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
    { connected: boolean; since: string; driver?: string; port?: string; reason?: string }
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

function actorName(e: FoldEvent): string | undefined {
  return e.meta?.actor;
}

/** Apply one event. Events whose payload was redacted still count, but carry nothing. */
export function applyDeviceEvent(s: DeviceState, e: FoldEvent): DeviceState {
  const next: DeviceState = { ...s, seq: e.seq, events: s.events + 1 };
  if (e.type !== 'ReadingRecorded') next.time = e.time;
  const d = e.data;
  if (d === null) return next;
  switch (e.type) {
    case 'ReadingRecorded': {
      const r = d as unknown as ReadingRecorded;
      if (typeof r.value !== 'number' || typeof r.sensor !== 'string') return next;
      const time = e.time;
      next.time = time;
      const old = s.sensors[r.sensor];
      const sensor: SensorState = {
        source: r.source,
        value: r.value,
        time,
        seq: e.seq,
        min: old ? Math.min(old.min, r.value) : r.value,
        max: old ? Math.max(old.max, r.value) : r.value,
        count: (old?.count ?? 0) + 1,
      };
      if (r.unit !== undefined) sensor.unit = r.unit;
      next.sensors = { ...s.sensors, [r.sensor]: sensor };
      return next;
    }
    case 'DeviceStarted': {
      const x = d as unknown as DeviceStarted;
      next.boot = e.boot;
      next.boots = s.boots + 1;
      next.version = x.version ?? null;
      next.startedAt = e.time;
      next.clockSynced = x.clockSynced ?? null;
      // a new process has not opened its sources yet
      const sources: DeviceState['sources'] = {};
      for (const [name, src] of Object.entries(s.sources))
        sources[name] = { ...src, connected: false, since: e.time };
      next.sources = sources;
      return next;
    }
    case 'SourceConnected': {
      const x = d as unknown as SourceConnected;
      next.sources = {
        ...s.sources,
        [x.source]: { connected: true, since: e.time, driver: x.driver, port: x.port },
      };
      return next;
    }
    case 'SourceDisconnected': {
      const x = d as unknown as SourceDisconnected;
      next.sources = {
        ...s.sources,
        [x.source]: { ...s.sources[x.source], connected: false, since: e.time, reason: x.reason },
      };
      return next;
    }
    case 'PositionRecorded':
      next.position = { ...(d as unknown as PositionRecorded), time: e.time, seq: e.seq };
      return next;
    case 'FramesRejected':
      next.frames = {
        ...s.frames,
        rejected: s.frames.rejected + ((d as unknown as FramesRejected).count ?? 0),
      };
      return next;
    case 'FramesLost':
      next.frames = { ...s.frames, lost: s.frames.lost + ((d as unknown as FramesLost).count ?? 0) };
      return next;
    case 'AlarmRaised': {
      const x = d as unknown as AlarmRaised;
      next.alarms = {
        ...s.alarms,
        [x.alarm]: {
          alarm: x.alarm,
          sensor: x.sensor,
          kind: x.kind,
          limit: x.limit,
          value: x.value,
          raisedAt: e.time,
          seq: e.seq,
        },
      };
      return next;
    }
    case 'AlarmCleared': {
      const { [String(d.alarm)]: _gone, ...rest } = s.alarms;
      next.alarms = rest;
      return next;
    }
    case 'AlarmAcknowledged': {
      const a = s.alarms[String(d.alarm)];
      if (!a) return next;
      const acked: AlarmState = { ...a, acknowledgedAt: e.time };
      const by = actorName(e);
      if (by !== undefined) acked.acknowledgedBy = by;
      next.alarms = { ...s.alarms, [a.alarm]: acked };
      return next;
    }
    case 'ThresholdChanged': {
      const x = d as unknown as ThresholdChanged;
      const t: DeviceState['thresholds'][string] = {
        above: x.above ?? null,
        below: x.below ?? null,
        time: e.time,
      };
      if (x.hysteresis !== undefined) t.hysteresis = x.hysteresis;
      const by = actorName(e);
      if (by !== undefined) t.by = by;
      next.thresholds = { ...s.thresholds, [x.sensor]: t };
      return next;
    }
    case 'NoteAdded': {
      const note: DeviceState['notes'][number] = { seq: e.seq, time: e.time, text: String(d.text) };
      const by = actorName(e);
      if (by !== undefined) note.by = by;
      next.notes = [...s.notes, note].slice(-MAX_NOTES);
      return next;
    }
    case 'EventRedacted': {
      next.redactions = s.redactions + 1;
      const target = Number(d.seq);
      if (s.notes.some((n) => n.seq === target)) next.notes = s.notes.filter((n) => n.seq !== target);
      return next;
    }
    default:
      return next;
  }
}

export const deviceState: Projection<DeviceState> = {
  name: 'device-state',
  version: 1,
  initial: emptyDeviceState,
  apply: applyDeviceEvent,
};
