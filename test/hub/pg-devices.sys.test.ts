// Two hubs on one PostgreSQL store: the device list of one shows the alarms and position of
// events the other stored (its state cache catches up from the store by head), in /devices
// and live in /devices/live, and the trust view reads its redactions with the type filter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import type { DeviceInfo } from '../../src/sync/ingest.js';
import { fakeClock } from '../log/helpers.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

let cluster: TestPostgres;
let writer: FleetStore;
let reader: FleetStore;
let base: string;
let close: () => Promise<void>;
const START = Date.parse('2026-11-01T00:00:00.000Z');

/** The device list as a hub that ingested nothing itself knows it: heads from the store. */
async function infos(store: FleetStore): Promise<DeviceInfo[]> {
  return (await store.heads()).map(({ device, head }) => ({
    device,
    fleet: null,
    online: false,
    lastSeen: null,
    head,
    lag: 0,
    rejects: {},
    forks: 0,
    duplicates: 0,
    rewinds: 0,
  }));
}

beforeAll(async () => {
  cluster = await startPostgres();
  const url = await cluster.database('devices');
  writer = await openPgFleetStore(url, { create: true, gapWaitMs: 20 });
  reader = await openPgFleetStore(url, { gapWaitMs: 20 });
  const srv = await listenHubApi(
    createHubApi({ store: reader, devices: () => infos(reader), metrics: () => ({}), heartbeatMs: 60_000 }),
    0,
  );
  base = `http://127.0.0.1:${srv.port}`;
  close = () => srv.close();
});
afterAll(async () => {
  await close?.();
  await reader?.close();
  await writer?.close();
  await cluster?.stop();
});

describe('hubs sharing a PostgreSQL store', () => {
  it("one hub's device list follows what another hub stored", async () => {
    const log = await EventLog.memory({ device: 'pi-pg', clock: fakeClock(START, 1000) });
    let sent = 0;
    /** Record on the device and store through the *other* hub's store handle. */
    const store = async (inputs: EventInput[]) => {
      await log.appendMany(inputs);
      const evs: Envelope[] = [];
      for await (const e of log.events({ fromSeq: sent + 1 })) evs.push(e);
      const r = await writer.append('pi-pg', evs);
      if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
      await r.written;
      sent = evs[evs.length - 1]!.seq;
      return evs;
    };
    type Entry = { device: string; alarms: { alarm: string; by: string | null }[]; position: unknown };
    const entry = async () =>
      ((await (await fetch(`${base}/devices`)).json()) as { devices: Entry[] }).devices.find(
        (d) => d.device === 'pi-pg',
      );
    await store([
      { type: 'ReadingRecorded', data: { source: 'n', sensor: 't', value: 30 } },
      { type: 'AlarmRaised', data: { alarm: 't-high', sensor: 't', kind: 'above', limit: 25, value: 30 } },
    ]);
    expect(await entry()).toMatchObject({ alarms: [{ alarm: 't-high', by: null }], position: null });

    // live: the other hub's append reaches this one as a fleet head (no batch), and the cache reads it
    const ctl = new AbortController();
    const res = await fetch(`${base}/devices/live`, { signal: ctl.signal });
    const reader2 = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const until = async (ok: () => boolean) => {
      while (!ok()) {
        const { value, done } = await reader2.read();
        if (done) return false;
        text += decoder.decode(value, { stream: true });
      }
      return true;
    };
    expect(await until(() => text.includes('"t-high"'))).toBe(true);
    const fix = await store([
      { type: 'AlarmAcknowledged', data: { alarm: 't-high' }, meta: { actor: 'operator:ann' } },
      { type: 'PositionRecorded', data: { source: 'gps', fixTime: '12:00:00.000Z', lat: -33.9, lon: 18.4 } },
    ]);
    expect(await until(() => text.includes('"lat":-33.9'))).toBe(true);
    ctl.abort();
    expect(await entry()).toMatchObject({
      alarms: [{ alarm: 't-high', by: 'operator:ann' }],
      position: { lat: -33.9, lon: 18.4, time: fix[1]!.time },
    });

    // redactions are read with the type filter, from the store
    await log.redact(4, 'privacy', 'operator:bo');
    await store([]);
    const trust = (await (await fetch(`${base}/devices/pi-pg/trust`)).json()) as Record<string, unknown>;
    expect(trust).toMatchObject({
      redactions: [{ seq: 5, target: 4, reason: 'privacy', by: 'operator:bo' }],
    });
    expect(await entry()).toMatchObject({ position: null });
    await log.close();
  });
});
