// What the web page's trust panel shows of one device (`GET /devices/ID/trust`): the last
// verification of its stored chain, the events quarantined as forks, the redactions with
// their reason and actor, and the ingest's fork and rewind counts; and the verification run
// on request (`POST /devices/ID/verify`), which reads the chain and changes nothing. The last
// result per device is kept in this hub process only (a restart forgets it; another hub on
// the same PostgreSQL store keeps its own); runs for one device at a time are shared.
import type { Counter } from 'prom-client';
import type { Problem } from '../log/verify.js';
import type { DeviceInfo } from '../sync/ingest.js';
import type { DeviceStates } from './device-cache.js';
import type { DeviceKeyDetail, DeviceKeys } from './device-keys.js';
import type { FleetStore, Head } from './fleet-store.js';

export interface Verification {
  at: string;
  ok: boolean;
  events: number;
  problems: Problem[];
}

export interface Trust {
  device: string;
  verification: Verification | null;
  quarantined: { seq: number; hash: string; reason: 'fork'; at: string | null }[];
  redactions: {
    seq: number;
    target: number | null;
    reason: string | null;
    by: string | null;
    time: string;
  }[];
  forks: number;
  rewinds: number;
  /** The device's key: fingerprint, enrolment, signed head, last signature (device-keys.ts). */
  key: DeviceKeyDetail;
}

export class Verifications {
  private readonly last = new Map<string, Verification>();
  private readonly running = new Map<string, Promise<Verification>>();

  constructor(
    private readonly store: FleetStore,
    /** Counts runs by result (`ok`, `failed`). */
    private readonly counter: Counter<'result'>,
    private readonly now: () => number = Date.now,
  ) {}

  /** The last result for a device, if this hub verified it. */
  lastOf(device: string): Verification | null {
    return this.last.get(device) ?? null;
  }

  /** Verify the device's stored chain now; a run already under way for it is shared. */
  run(device: string): Promise<Verification> {
    let p = this.running.get(device);
    if (!p) {
      p = this.verify(device).finally(() => this.running.delete(device));
      this.running.set(device, p);
    }
    return p;
  }

  private async verify(device: string): Promise<Verification> {
    const at = new Date(this.now()).toISOString();
    const [report] = await this.store.verify(device);
    const v: Verification = report
      ? { at, ok: report.ok, events: report.events, problems: report.errors }
      : { at, ok: true, events: 0, problems: [] };
    this.last.set(device, v);
    this.counter.inc({ result: v.ok ? 'ok' : 'failed' });
    return v;
  }
}

/** The trust view of a device the store holds (`head` its head seq). */
export async function trustOf(
  o: { store: FleetStore; states: DeviceStates; verifications: Verifications; keys: DeviceKeys },
  device: string,
  head: Head,
  info: DeviceInfo | undefined,
): Promise<Trust> {
  const quarantined: Trust['quarantined'] = [];
  for await (const q of o.store.quarantined(device))
    quarantined.push({ seq: q.seq, hash: q.hash, reason: 'fork', at: q.at ?? null });
  const redactions: Trust['redactions'] = [];
  // the state counts the device's redactions: without any, its history is not read at all
  // (the stores keep no index by type, so the filter reads the device's events)
  if ((await o.states.get(device, head.seq)).redactions > 0) {
    for await (const chunk of o.store.events({ device, types: ['EventRedacted'] })) {
      for (const { event: e } of chunk) {
        const d = e.data;
        redactions.push({
          seq: e.seq,
          target: typeof d?.seq === 'number' ? d.seq : null,
          reason: typeof d?.reason === 'string' ? d.reason : null,
          by: e.meta?.actor ?? null,
          time: e.time,
        });
      }
    }
  }
  return {
    device,
    verification: o.verifications.lastOf(device),
    quarantined,
    redactions,
    forks: info?.forks ?? 0,
    rewinds: info?.rewinds ?? 0,
    key: await o.keys.detail(device, head),
  };
}
