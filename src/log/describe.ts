// One event in words, for people: the console's event tail and the device's headless output.
// Values are shown to their sensor's precision (precision.ts); the event keeps them as measured.
import type { FoldEvent } from './event-log.js';
import { SensorPrecision } from './precision.js';

type Data = Record<string, unknown>;

function num(v: unknown): string {
  return typeof v === 'number' ? String(v) : '?';
}

function who(e: Pick<FoldEvent, 'meta'>): string {
  const a = e.meta?.actor;
  return typeof a === 'string' && a.startsWith('operator:') ? ` by ${a.slice('operator:'.length)}` : '';
}

const UNKNOWN = new SensorPrecision();

/** `precision` should have seen the sensor's readings; without it a value shows its own decimals. */
export function describeEvent(
  e: Pick<FoldEvent, 'type' | 'data' | 'meta'>,
  precision: SensorPrecision = UNKNOWN,
): string {
  const d = e.data as Data | null;
  if (d === null) return `${e.type} (payload purged)`;
  const sensor = String(d.sensor);
  const value = (v: unknown) => (typeof v === 'number' ? precision.format(sensor, v) : '?');
  const limit = (v: unknown) =>
    typeof v === 'number' ? precision.formatLimit(sensor, v) : v === null || v === undefined ? 'none' : '?';
  switch (e.type) {
    case 'DeviceStarted':
      return `device started, version ${d.version}${d.clockSynced === false ? ', clock NOT synchronised' : ''}`;
    case 'DeviceStopped':
      return `device stopped (${d.reason})`;
    case 'SourceConnected':
      return `${d.source} connected on ${d.port}${d.identity ? ` (${d.identity})` : ''}`;
    case 'SourceDisconnected':
      return `${d.source} ${d.unavailable ? 'unavailable' : 'disconnected'}: ${d.reason}${d.detail ? ` (${d.detail})` : ''}`;
    case 'SourceIdentified':
      return `${d.source} is ${d.nodeId}, ${d.firmware} ${d.version}`;
    case 'SourceFaultReported':
      return `${d.source} reports fault ${d.code}: ${d.text}`;
    case 'SourceCommandAnswered':
      return `${d.source} answered ${d.command}: ${d.ok ? 'ok' : `refused (${d.why ?? ''})`}`;
    case 'ReadingRecorded':
      return `${d.sensor} = ${value(d.value)}${d.unit ? ` ${d.unit}` : ''}`;
    case 'PositionRecorded':
      return `position ${Number(d.lat).toFixed(6)}, ${Number(d.lon).toFixed(6)}${d.alt !== undefined ? ` alt ${d.alt} m` : ''}`;
    case 'FramesRejected': {
      const reasons = Object.entries((d.reasons as Record<string, number>) ?? {})
        .map(([r, n]) => `${r} ${n}`)
        .join(', ');
      return `${d.source}: ${num(d.count)} bad frame(s) rejected (${reasons})`;
    }
    case 'FramesLost':
      return `${d.source}: ${num(d.count)} frame(s) lost between counters ${num(d.after)} and ${num(d.next)}`;
    case 'AlarmRaised':
      return `ALARM ${d.sensor} ${d.kind} ${limit(d.limit)}: ${value(d.value)}`;
    case 'AlarmCleared':
      return `alarm ${d.alarm} cleared at ${value(d.value)}`;
    case 'AlarmAcknowledged':
      return `alarm ${d.alarm} acknowledged${who(e)}${d.comment ? `: ${d.comment}` : ''}`;
    case 'ThresholdChanged':
      return `limits of ${d.sensor}: above ${limit(d.above)}, below ${limit(d.below)}${who(e)}`;
    case 'NoteAdded':
      return `note${who(e)}: ${d.text}`;
    case 'EventRedacted':
      return `event ${num(d.seq)} redacted${who(e)}: ${d.reason}`;
    case 'ReadingsPurged':
      return `${num(d.count)} reading payload(s) purged in seqs ${num(d.fromSeq)}..${num(d.toSeq)} (${d.reason})`;
    case 'DeviceKeyAdded':
      return `device key added: ${d.publicKey}`;
    case 'DeviceKeyRotated':
      return `device key rotated to ${d.publicKey}`;
    case 'ClockJumped':
      return `clock jumped ${signedMs(d.deltaMs)}`;
    case 'ClockSynced':
      return `clock synchronised by ${d.source}${d.offsetMs === 0 ? '' : `, correction ${signedMs(d.offsetMs)}`}`;
    case 'ReadingsNotRecorded':
      return `${num(d.count)} reading(s) NOT recorded (${d.reason}) from ${d.since} to ${d.until}`;
    default:
      return e.type;
  }
}

/** A signed duration for people: `+2.500 s`, `-1 h 0 min 2.500 s`, `+400 d 0 h 0 min 5.500 s`. */
function signedMs(v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '?';
  const sign = v >= 0 ? '+' : '-';
  let ms = Math.abs(v);
  const d = Math.floor(ms / 86_400_000);
  ms -= d * 86_400_000;
  const h = Math.floor(ms / 3_600_000);
  ms -= h * 3_600_000;
  const m = Math.floor(ms / 60_000);
  ms -= m * 60_000;
  const parts = [];
  if (d > 0) parts.push(`${d} d`);
  if (d > 0 || h > 0) parts.push(`${h} h`);
  if (d > 0 || h > 0 || m > 0) parts.push(`${m} min`);
  parts.push(`${(ms / 1000).toFixed(3)} s`);
  return `${sign}${parts.join(' ')}`;
}
