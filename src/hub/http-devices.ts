// The device list the hub's web page shows (`/devices`, and `/devices/live` through
// device-feed.ts): what the ingest knows of each device (online, last seen, head, lag,
// rejects, forks) with its active alarms and last position from its state projection,
// read from the hub's state cache (device-cache.ts), never by folding its history per request,
// and its key (fingerprint, enrolment, signed head: device-keys.ts).
import type { DeviceState } from '../log/device-state.js';
import type { DeviceInfo } from '../sync/ingest.js';
import type { DeviceStates } from './device-cache.js';
import type { DeviceKey, DeviceKeys } from './device-keys.js';

export interface ActiveAlarm {
  alarm: string;
  sensor: string;
  kind: 'above' | 'below';
  since: string;
  acknowledged: boolean;
  by: string | null;
}

export type DeviceSummary = DeviceInfo & {
  alarms: ActiveAlarm[];
  position: { lat: number; lon: number; time: string } | null;
  key: DeviceKey;
};

/** One device's entry: its ingest info and what its state says (none for a device without events). */
export function summarize(
  info: DeviceInfo,
  state: DeviceState | null,
  key: DeviceKey = NO_KEY,
): DeviceSummary {
  const alarms = state
    ? Object.values(state.alarms)
        .sort((a, b) => a.seq - b.seq)
        .map((a) => ({
          alarm: a.alarm,
          sensor: a.sensor,
          kind: a.kind,
          since: a.raisedAt,
          acknowledged: a.acknowledgedAt !== undefined,
          by: a.acknowledgedBy ?? null,
        }))
    : [];
  const p = state?.position;
  return {
    ...info,
    alarms,
    position:
      p && typeof p.lat === 'number' && typeof p.lon === 'number'
        ? { lat: p.lat, lon: p.lon, time: p.time }
        : null,
    key,
  };
}

const NO_KEY: DeviceKey = { fingerprint: null, enrolled: null, signed: false };

/** Devices whose state is loaded at once on a first request (each may fold a history). */
const LOADS_AT_ONCE = 4;

/** Every device's summary, in the order `devices` gives them. */
export async function deviceSummaries(
  devices: () => DeviceInfo[] | Promise<DeviceInfo[]>,
  states: DeviceStates,
  keys?: DeviceKeys,
): Promise<DeviceSummary[]> {
  const infos = await devices();
  const out: DeviceSummary[] = new Array(infos.length);
  let next = 0;
  const worker = async () => {
    while (next < infos.length) {
      const i = next++;
      const info = infos[i]!;
      out[i] = summarize(
        info,
        info.head.seq > 0 ? await states.get(info.device, info.head.seq) : null,
        keys ? await keys.of(info.device, info.head) : NO_KEY,
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(LOADS_AT_ONCE, infos.length) }, worker));
  return out;
}
