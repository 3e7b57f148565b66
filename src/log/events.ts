// The event vocabulary, version 1 (SPEC §2): the payload of each event type. Types
// are extended freely and never repurposed; readers ignore fields they do not know.

export interface DeviceStarted {
  version: string;
  sources: { name: string; driver: string; port: string }[];
  /** Whether the wall clock looked synchronised when the process started. */
  clockSynced: boolean;
  /** What the clock judgement rests on: 'timesyncd', 'plausible', 'before-last-event', 'too-early'. */
  clockCheck?: string;
  node?: string;
  pid?: number;
}
export interface SourceConnected {
  source: string;
  driver: string;
  port: string;
  /** Identity the source announced (line node FLI, Firmata firmware), when known. */
  identity?: string;
}
export interface SourceDisconnected {
  source: string;
  reason: string;
  /** Set when the port could not be opened at all (missing at start, retrying). */
  unavailable?: boolean;
  /** The transport's own words, for people. */
  detail?: string;
}
export interface ReadingRecorded {
  source: string;
  sensor: string;
  value: number;
  unit?: string;
}
export interface PositionRecorded {
  source: string;
  /** `YYYY-MM-DDThh:mm:ss.sssZ` when the epoch's RMC gave a date, else `hh:mm:ss.sssZ`. */
  fixTime: string;
  /** Decimal degrees, south and west negative. */
  lat: number;
  lon: number;
  /** Metres above mean sea level. */
  alt?: number;
  /** Metres per second over ground. */
  speed?: number;
  /** Degrees from true north. */
  course?: number;
  sats?: number;
  hdop?: number;
}
export interface FramesRejected {
  source: string;
  count: number;
  reasons: Record<string, number>;
  sample: string;
}
export interface FramesLost {
  source: string;
  count: number;
  after: number;
  next: number;
}
export interface AlarmRaised {
  alarm: string;
  sensor: string;
  kind: 'above' | 'below';
  limit: number;
  value: number;
}
export interface AlarmCleared {
  alarm: string;
  sensor: string;
  value: number;
}
export interface AlarmAcknowledged {
  alarm: string;
  comment?: string;
}
export interface ThresholdChanged {
  sensor: string;
  above: number | null;
  below: number | null;
  hysteresis?: number;
}
export interface NoteAdded {
  text: string;
}
export interface DeviceStopped {
  /** Why the process stopped: a signal, an operator, a fatal error. */
  reason: string;
}
export interface SourceIdentified {
  source: string;
  nodeId: string;
  firmware: string;
  version: string;
}
export interface SourceFaultReported {
  source: string;
  code: string;
  text: string;
}
export interface SourceCommandAnswered {
  source: string;
  command: string;
  ok: boolean;
  why?: string;
}
export interface EventRedacted {
  seq: number;
  reason: string;
}

export interface EventTypes {
  DeviceStarted: DeviceStarted;
  SourceConnected: SourceConnected;
  SourceDisconnected: SourceDisconnected;
  ReadingRecorded: ReadingRecorded;
  PositionRecorded: PositionRecorded;
  FramesRejected: FramesRejected;
  FramesLost: FramesLost;
  AlarmRaised: AlarmRaised;
  AlarmCleared: AlarmCleared;
  AlarmAcknowledged: AlarmAcknowledged;
  ThresholdChanged: ThresholdChanged;
  NoteAdded: NoteAdded;
  EventRedacted: EventRedacted;
  DeviceStopped: DeviceStopped;
  SourceIdentified: SourceIdentified;
  SourceFaultReported: SourceFaultReported;
  SourceCommandAnswered: SourceCommandAnswered;
}

export type EventType = keyof EventTypes;
