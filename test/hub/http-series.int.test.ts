// The chart endpoints (/devices/ID/sensors, /series, /track) against a real LevelDB fleet
// store on disk and a real server on port 0; every bucket is checked against the device's
// readings folded here by hand.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-series-'));
const START = Date.parse('2026-11-01T00:00:00.000Z');
const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAYS = 3;
const SPIKE = 9999;
let store: LevelFleetStore;
let dev: EventLog;
let events: Envelope[];
let server: Awaited<ReturnType<typeof listenHubApi>>;
let base: string;
let spikeSeq = 0;

/** A reading every 10 s for three days (one spike), a fix every minute, a note now and then. */
function inputs(): EventInput[] {
  const out: EventInput[] = [];
  const n = (DAYS * 86_400) / 10;
  for (let k = 0; k < n; k++) {
    if (k % 6 === 0)
      out.push({
        type: 'PositionRecorded',
        data: { source: 'gps', fixTime: 'x', lat: k / 1e4, lon: -k / 1e4 },
      });
    const value = k === 12_345 ? SPIKE : Math.round(Math.sin(k / 50) * 1000) / 10;
    out.push({ type: 'ReadingRecorded', data: { source: 'n', sensor: 'temp', value, unit: 'C' } });
    if (k % 1000 === 0) out.push({ type: 'NoteAdded', data: { text: 'x' } });
  }
  return out;
}

async function getJson(path: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

interface Series {
  from: string;
  to: string;
  unit: string | null;
  resolution: string;
  bucketMs: number;
  t: number[];
  min: number[];
  max: number[];
  avg: number[];
  count: number[];
}

/** The answer's buckets against the readings in its range folded by hand. */
function expectFolded(s: Series): void {
  const lo = Date.parse(s.from);
  const hi = Date.parse(s.to);
  const b = s.bucketMs;
  const hand = new Map<number, number[]>();
  for (const e of events) {
    if (e.type !== 'ReadingRecorded' || e.data === null) continue;
    const t = Date.parse(e.time);
    if (t < lo || t > hi) continue;
    const k = Math.floor(t / b) * b;
    hand.set(k, [...(hand.get(k) ?? []), (e.data as { value: number }).value]);
  }
  const keys = [...hand.keys()].sort((x, y) => x - y);
  expect(s.t).toEqual(keys);
  expect(s.count).toEqual(keys.map((k) => hand.get(k)!.length));
  expect(s.min).toEqual(keys.map((k) => Math.min(...hand.get(k)!)));
  expect(s.max).toEqual(keys.map((k) => Math.max(...hand.get(k)!)));
  for (const [i, k] of keys.entries()) {
    const vs = hand.get(k)!;
    expect(s.avg[i]).toBeCloseTo(vs.reduce((a, v) => a + v, 0) / vs.length, 9);
  }
}

beforeAll(async () => {
  dev = await EventLog.memory({ device: 'pi-a', clock: fakeClock(START, 10_000) });
  const all = inputs();
  for (let i = 0; i < all.length; i += 2000) await dev.appendMany(all.slice(i, i + 2000));
  events = [];
  for await (const e of dev.events()) events.push(e);
  spikeSeq = events.find((e) => (e.data as { value?: number } | null)?.value === SPIKE)!.seq;
  store = await openLevelFleetStore(join(root, 'hub'), { create: true, sync: false });
  for (let i = 0; i < events.length; i += 500) {
    const r = await store.append('pi-a', events.slice(i, i + 500));
    if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
    await r.written;
  }
  const api = createHubApi({ store, devices: () => [], metrics: () => ({}) });
  server = await listenHubApi(api, 0);
  base = `http://127.0.0.1:${server.port}`;
}, 120_000);

afterAll(async () => {
  await server.close();
  await store.close();
  await dev.close();
  rmSync(root, { recursive: true, force: true });
});

describe('chart endpoints', () => {
  it('/devices/ID/sensors lists each sensor with its unit, first and last reading and count', async () => {
    const readings = events.filter((e) => e.type === 'ReadingRecorded');
    const { status, body } = await getJson('/devices/pi-a/sensors');
    expect(status).toBe(200);
    expect(body).toEqual({
      device: 'pi-a',
      sensors: [
        {
          sensor: 'temp',
          unit: 'C',
          first: readings[0]!.time,
          last: readings[readings.length - 1]!.time,
          count: readings.length,
        },
      ],
    });
  });

  it('/series defaults to the last day before the last event, in at most 1000 exact buckets', async () => {
    const { status, body } = await getJson('/devices/pi-a/series?sensor=temp');
    expect(status).toBe(200);
    const s = body as unknown as Series;
    expect(s).toMatchObject({
      device: 'pi-a',
      sensor: 'temp',
      unit: 'C',
      resolution: 'minute',
      bucketMs: 2 * MINUTE,
    });
    const last = Date.parse(events[events.length - 1]!.time);
    expect(Date.parse(s.to)).toBeGreaterThanOrEqual(last);
    expect(Date.parse(s.from)).toBeLessThanOrEqual(last - 86_400_000);
    expect(s.t.length).toBeLessThanOrEqual(1000);
    expectFolded(s);
  });

  it('/series over the whole history in 100 points: hour buckets, the spike kept', async () => {
    const from = new Date(START).toISOString();
    const to = new Date(START + DAYS * 86_400_000).toISOString();
    const { body } = await getJson(`/devices/pi-a/series?sensor=temp&from=${from}&to=${to}&points=100`);
    const s = body as unknown as Series;
    expect(s).toMatchObject({ resolution: 'hour', bucketMs: HOUR });
    expect(s.t.length).toBeLessThanOrEqual(100);
    expect(Math.max(...s.max)).toBe(SPIKE);
    expectFolded(s);
    const few = (await getJson(`/devices/pi-a/series?sensor=temp&from=${from}&to=${to}&points=7`))
      .body as unknown as Series;
    expect(few.bucketMs).toBe(12 * HOUR);
    expect(few.t.length).toBeLessThanOrEqual(7);
    expectFolded(few);
  });

  it('/series answers the readings themselves when the range holds no more than points', async () => {
    const from = new Date(START + HOUR).toISOString();
    const to = new Date(START + HOUR + 5 * MINUTE).toISOString();
    const { body } = await getJson(`/devices/pi-a/series?sensor=temp&from=${from}&to=${to}`);
    const s = body as unknown as Series;
    expect(s).toMatchObject({ resolution: 'raw', bucketMs: 1, from, to });
    expect(s.t.length).toBeGreaterThan(10);
    expect(s.count.every((c) => c === 1)).toBe(true);
    expectFolded(s);
  });

  it('/track gives the last fix of each bucket, at most points of them', async () => {
    const from = new Date(START).toISOString();
    const to = new Date(START + DAYS * 86_400_000 - 1).toISOString();
    const { status, body } = await getJson(`/devices/pi-a/track?from=${from}&to=${to}&points=10`);
    expect(status).toBe(200);
    const tr = body as { bucketMs: number; t: number[]; lat: number[]; lon: number[] };
    expect(tr.bucketMs).toBe(8 * HOUR);
    const inRange = (e: Envelope) => Date.parse(e.time) <= Date.parse(to);
    const fixes = events.filter((e) => e.type === 'PositionRecorded' && inRange(e));
    const last = new Map<number, Envelope>();
    for (const f of fixes) last.set(Math.floor(Date.parse(f.time) / tr.bucketMs), f);
    const want = [...last.values()];
    expect(tr.t).toEqual(want.map((f) => Date.parse(f.time)));
    expect(tr.lat).toEqual(want.map((f) => (f.data as { lat: number }).lat));
    expect(tr.lon).toEqual(want.map((f) => (f.data as { lon: number }).lon));
  });

  it('bad parameters get a 400 in plain words; an unknown sensor or device a 404', async () => {
    const bad = [
      '/devices/pi-a/series',
      '/devices/pi-a/series?sensor=temp&points=0',
      '/devices/pi-a/series?sensor=temp&points=10001',
      '/devices/pi-a/series?sensor=temp&points=many',
      '/devices/pi-a/series?sensor=temp&from=2026-11-02&to=2026-11-01',
      '/devices/pi-a/series?sensor=temp&from=yesterday',
      '/devices/pi-a/series?sensor=temp&bucket=5',
      '/devices/pi-a/track?points=0',
      '/devices/pi-a/sensors?x=1',
    ];
    for (const path of bad) {
      const { status, body } = await getJson(path);
      expect(status, path).toBe(400);
      expect((body.error as { code: string }).code).toBe('BAD_PARAMETER');
    }
    const unknown = await getJson('/devices/pi-a/series?sensor=pressure');
    expect(unknown.status).toBe(404);
    expect((unknown.body.error as { code: string }).code).toBe('SENSOR_UNKNOWN');
    expect((await getJson('/devices/pi-z/series?sensor=temp')).status).toBe(404);
  });

  it('a purged reading no longer shows: the spike is gone once its redaction is stored', async () => {
    await dev.redact(spikeSeq, 'sensor fault', 'operator:ana');
    const redaction = await dev.get(dev.head().seq);
    const r = await store.append('pi-a', [redaction!]);
    if (r.kind !== 'stored') throw new Error(JSON.stringify(r));
    await r.written;
    events = [];
    for await (const e of dev.events()) events.push(e);
    const from = new Date(START).toISOString();
    const to = new Date(START + DAYS * 86_400_000).toISOString();
    const s = (await getJson(`/devices/pi-a/series?sensor=temp&from=${from}&to=${to}&points=100`))
      .body as unknown as Series;
    expect(Math.max(...s.max)).toBeLessThan(SPIKE);
    expectFolded(s);
  });
});
