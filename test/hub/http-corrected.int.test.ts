// `/devices/ID/events?corrected=1` on a real store on disk and a real server on port 0: a device
// whose clock started in 2000 until a hub told it the time.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-api-corrected-'));
const TRUE = Date.parse('2026-05-01T12:00:00.000Z');
let hub: EventLog;
let server: Awaited<ReturnType<typeof listenHubApi>>;
let base: string;

beforeAll(async () => {
  let wall = Date.parse('2000-01-01T00:00:00.000Z');
  let mono = 100;
  const dev = await EventLog.memory({
    device: 'pi-01',
    boot: 'b1',
    clock: { now: () => wall, mono: () => mono },
  });
  const note = (text: string) => dev.append({ type: 'NoteAdded', data: { text } });
  await note('one');
  mono += 1500;
  wall += 1500;
  await note('two');
  mono += 500;
  wall += 500;
  await dev.append({ type: 'ClockSynced', data: { offsetMs: TRUE - wall, source: 'hub' } });
  mono += 1000;
  wall += 1000;
  await note('three');
  hub = await EventLog.open(join(root, 'hub'), { create: true, fleet: true });
  const evs: Envelope[] = [];
  for await (const e of dev.events()) evs.push(e);
  await hub.appendSealed(evs);
  await dev.close();
  const api = createHubApi({ store: fleetStoreOver(hub), devices: () => [], metrics: () => ({}) });
  server = await listenHubApi(api, 0);
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server?.close();
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
});

async function lines(path: string): Promise<Record<string, unknown>[]> {
  const res = await fetch(`${base}${path}`);
  expect(res.status).toBe(200);
  return (await res.text())
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

const view = (e: Record<string, unknown>) => [e.seq, e.correctedTime];

describe('GET /devices/ID/events?corrected=1', () => {
  it('adds correctedTime beside time to the events before the sync, and keeps time as recorded', async () => {
    const all = await lines('/devices/pi-01/events?corrected=1');
    expect(all.map(view)).toEqual([
      [1, '2026-05-01T11:59:58.000Z'],
      [2, '2026-05-01T11:59:59.500Z'],
      [3, undefined],
      [4, undefined],
    ]);
    expect(all[0]!.time).toBe('2000-01-01T00:00:00.000Z');
    expect(Object.keys(all[0]!).indexOf('correctedTime')).toBe(Object.keys(all[0]!).indexOf('time') + 1);
  });

  it('corrects a window that leaves the sync out (a type filter, newest first)', async () => {
    const notes = await lines('/devices/pi-01/events?corrected=1&type=NoteAdded&order=desc&limit=2');
    expect(notes.map(view)).toEqual([
      [4, undefined],
      [2, '2026-05-01T11:59:59.500Z'],
    ]);
  });

  it('adds nothing without it, and refuses a value it does not know', async () => {
    const plain = await fetch(`${base}/devices/pi-01/events`);
    expect(await plain.text()).not.toContain('correctedTime');
    const bad = await fetch(`${base}/devices/pi-01/events?corrected=yes`);
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBeTypeOf('string');
  });
});
