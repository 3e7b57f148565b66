// The hub API's device views for the web page, end to end on a real LevelDB store, a real
// aedes broker and the real ingest: events filtered by type and read newest first, the
// fleet live feed of one device, the device list with alarms and position (and its live
// feed), and the trust view with its verification.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker } from '../../src/hub/broker.js';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import { eventKey, metaKey } from '../../src/log/codec.js';
import { digestOf, type Envelope, type EventInput, hashOf } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Ingest } from '../../src/sync/ingest.js';
import { deviceTopic } from '../../src/sync/messages.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-http-devices-'));
const START = Date.parse('2026-11-01T00:00:00.000Z');
const cleanups: (() => Promise<unknown>)[] = [];
let store: LevelFleetStore;
let ingest: Ingest;
let raw: mqtt.MqttClient;
let base: string;
const logs = new Map<string, EventLog>();
const acked = new Map<string, number>();

/** A device's own log (in memory, on a fake clock). */
async function deviceLog(device: string): Promise<EventLog> {
  let log = logs.get(device);
  if (!log) {
    log = await EventLog.memory({ device, clock: fakeClock(START, 1000) });
    logs.set(device, log);
    cleanups.push(() => log!.close());
  }
  return log;
}

/** Record events on a device and replicate them over MQTT; resolves once the hub acked them. */
async function record(device: string, inputs: EventInput[]): Promise<Envelope[]> {
  const log = await deviceLog(device);
  const from = (acked.get(device) ?? 0) + 1;
  if (inputs.length > 0) await log.appendMany(inputs);
  const events: Envelope[] = [];
  for await (const e of log.events({ fromSeq: from })) events.push(e);
  for (let i = 0; i < events.length; i += 1000) {
    const batch = events.slice(i, i + 1000);
    await raw.publishAsync(
      deviceTopic('fieldlog', 'north', device, 'events'),
      JSON.stringify({ device, events: batch }),
      { qos: 1 },
    );
  }
  const head = log.head().seq;
  await new Promise<void>((resolve) => {
    const check = () => {
      if ((acked.get(device) ?? 0) < head) return;
      raw.off('message', check);
      resolve();
    };
    raw.on('message', check);
    check();
  });
  return events;
}

function status(device: string, online: boolean): Promise<unknown> {
  return raw.publishAsync(
    deviceTopic('fieldlog', 'north', device, 'status'),
    JSON.stringify({ online, boot: 'b1', time: new Date(START).toISOString() }),
    { qos: 1, retain: true },
  );
}

interface SseMessage {
  id?: string;
  event: string;
  data: string;
}

/** A server-sent event stream read as it comes: its messages and comments so far. */
async function sse(path: string, headers: Record<string, string> = {}) {
  const ctl = new AbortController();
  const res = await fetch(`${base}${path}`, { headers, signal: ctl.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  let ended = false;
  const wakes: (() => void)[] = [];
  void (async () => {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body!) {
        buf += decoder.decode(chunk as Uint8Array, { stream: true });
        for (let end = buf.indexOf('\n\n'); end >= 0; end = buf.indexOf('\n\n')) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const m: SseMessage = { event: 'message', data: '' };
          let any = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else {
              const colon = line.indexOf(': ');
              const k = line.slice(0, colon);
              const v = line.slice(colon + 2);
              any = true;
              if (k === 'id') m.id = v;
              else if (k === 'event') m.event = v;
              else if (k === 'data') m.data = v;
            }
          }
          if (any) messages.push(m);
          for (const w of wakes.splice(0)) w();
        }
      }
    } catch {
      // aborted
    }
    ended = true;
    for (const w of wakes.splice(0)) w();
  })();
  return {
    res,
    messages,
    comments,
    /** Resolves once `ok` holds of what came so far (false once the stream ended without it). */
    async until(ok: () => boolean): Promise<boolean> {
      while (!ok()) {
        if (ended) return false;
        await new Promise<void>((r) => wakes.push(r));
      }
      return true;
    },
    close: () => ctl.abort(),
  };
}

async function lines(path: string): Promise<Envelope[]> {
  const res = await fetch(`${base}${path}`);
  expect(res.status).toBe(200);
  return (await res.text())
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Envelope);
}

async function errorOf(path: string, init?: RequestInit): Promise<{ status: number; code: string }> {
  const res = await fetch(`${base}${path}`, init);
  const body = (await res.json()) as { error: { code: string } };
  return { status: res.status, code: body.error.code };
}

const position = (lat: number, lon: number): EventInput => ({
  type: 'PositionRecorded',
  data: { source: 'gps', fixTime: '12:00:00.000Z', lat, lon },
  meta: { actor: 'sensor:gps' },
});

const raise = (alarm: string, sensor: string, kind: 'above' | 'below'): EventInput => ({
  type: 'AlarmRaised',
  data: { alarm, sensor, kind, limit: 20, value: kind === 'above' ? 25 : 15 },
  meta: { actor: 'system' },
});

/** Send what a device's log got since the hub's ack (events made by other means than record). */
async function replicate(device: string): Promise<void> {
  await record(device, []);
}

interface Summary {
  device: string;
  online: boolean;
  head: { seq: number };
  alarms: {
    alarm: string;
    sensor: string;
    kind: string;
    since: string;
    acknowledged: boolean;
    by: string | null;
  }[];
  position: { lat: number; lon: number; time: string } | null;
}

async function summary(device: string): Promise<Summary | undefined> {
  const body = (await (await fetch(`${base}/devices`)).json()) as { devices: Summary[] };
  return body.devices.find((d) => d.device === device);
}

const reading = (value: number): EventInput => ({
  type: 'ReadingRecorded',
  data: { source: 'node', sensor: 't', value, unit: 'C' },
  meta: { actor: 'sensor:node' },
});

beforeAll(async () => {
  const broker = await startBroker({ port: 0 });
  cleanups.push(() => broker.close());
  store = await openLevelFleetStore(join(root, 'hub'), { create: true, sync: false });
  cleanups.push(() => store.close());
  ingest = new Ingest(store);
  const client = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => client.endAsync(true));
  await ingest.attach(client);
  const api = createHubApi({
    store,
    devices: () => ingest.devices(),
    metrics: () => ({ ...ingest.totals }),
    heartbeatMs: 60_000,
  });
  const srv = await listenHubApi(api, 0);
  cleanups.push(() => srv.close());
  base = `http://127.0.0.1:${srv.port}`;
  raw = await mqtt.connectAsync(broker.url, { protocolVersion: 4 });
  cleanups.push(() => raw.endAsync(true));
  raw.on('message', (topic, payload) => {
    const device = topic.split('/')[2]!;
    acked.set(device, (JSON.parse(payload.toString()) as { upTo: number }).upTo);
  });
  await raw.subscribeAsync('fieldlog/+/+/ack', { qos: 1 });
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

describe('GET /devices/ID/events: type and order', () => {
  beforeAll(async () => {
    await record('pi-ev', [
      ...Array.from({ length: 5 }, (_, k) => reading(k)),
      { type: 'NoteAdded', data: { text: 'first' }, meta: { actor: 'operator:ann' } },
      ...Array.from({ length: 1500 }, (_, k) => reading(k)),
      { type: 'ThresholdChanged', data: { sensor: 't', above: 30, below: null } },
      { type: 'NoteAdded', data: { text: 'second' } },
      reading(1),
    ]);
  });

  it('keeps only the types asked for', async () => {
    expect((await lines('/devices/pi-ev/events?type=NoteAdded')).map((e) => e.seq)).toEqual([6, 1508]);
    expect(
      (await lines('/devices/pi-ev/events?type=NoteAdded,ThresholdChanged&from-seq=7')).map((e) => [
        e.seq,
        e.type,
      ]),
    ).toEqual([
      [1507, 'ThresholdChanged'],
      [1508, 'NoteAdded'],
    ]);
  });

  it('reads newest first, and pages backwards with to-seq and limit', async () => {
    const top = await lines('/devices/pi-ev/events?order=desc&limit=3');
    expect(top.map((e) => e.seq)).toEqual([1509, 1508, 1507]);
    const next = await lines(`/devices/pi-ev/events?order=desc&limit=3&to-seq=${top[2]!.seq - 1}`);
    expect(next.map((e) => e.seq)).toEqual([1506, 1505, 1504]);
    expect(top[2]!.prev).toBe(next[0]!.hash);
    expect(
      (await lines('/devices/pi-ev/events?order=desc&type=NoteAdded&limit=1')).map((e) => e.seq),
    ).toEqual([1508]);
    expect((await lines('/devices/pi-ev/events?order=asc&limit=2')).map((e) => e.seq)).toEqual([1, 2]);
  });

  it('refuses an unknown type or order in one plain 400', async () => {
    for (const q of ['type=Nope', 'type=NoteAdded,', 'type=NoteAdded,noteadded', 'order=up', 'order=DESC'])
      expect(await errorOf(`/devices/pi-ev/events?${q}`)).toEqual({ status: 400, code: 'BAD_PARAMETER' });
  });
});

describe('GET /fleet/live?device=ID', () => {
  it("sends only that device's events, with their fleet positions as ids", async () => {
    await record('pi-l1', [reading(1)]);
    const head = await store.fleetHead();
    const live = await sse(`/fleet/live?device=pi-l1&last-event-id=${head}`);
    expect(live.res.status).toBe(200);
    await record('pi-l2', [reading(2), reading(3)]);
    await record('pi-l1', [reading(4), reading(5)]);
    await record('pi-l2', [reading(6)]);
    await record('pi-l1', [reading(7)]);
    expect(await live.until(() => live.messages.length >= 3)).toBe(true);
    live.close();
    const fleet = (await lines(`/fleet/events?from=${head + 1}`)) as unknown as {
      position: number;
      event: Envelope;
    }[];
    const mine = fleet.filter((x) => x.event.device === 'pi-l1');
    expect(live.messages.map((m) => [Number(m.id), (JSON.parse(m.data) as Envelope).seq])).toEqual(
      mine.map((x) => [x.position, x.event.seq]),
    );
    expect(mine.map((x) => x.event.seq)).toEqual([2, 3, 4]);
    // history too: from the start, only that device
    const again = await sse('/fleet/live?device=pi-l1&last-event-id=0');
    expect(await again.until(() => again.messages.length >= 4)).toBe(true);
    again.close();
    expect(again.messages.map((m) => (JSON.parse(m.data) as Envelope).seq)).toEqual([1, 2, 3, 4]);
  });

  it('refuses a bad device id', async () => {
    expect(await errorOf('/fleet/live?device=no%20such')).toEqual({ status: 400, code: 'BAD_PARAMETER' });
  });
});

describe('GET /devices: alarms and position', () => {
  it('gives each device its active alarms (who acknowledged) and its last fix, and follows new events', async () => {
    const evs = await record('pi-al', [
      reading(1),
      raise('t-high', 't', 'above'),
      position(48.1, 11.5),
      raise('h-low', 'h', 'below'),
      { type: 'AlarmAcknowledged', data: { alarm: 't-high' }, meta: { actor: 'operator:ann' } },
    ]);
    let d = (await summary('pi-al'))!;
    expect(d).toMatchObject({ device: 'pi-al', head: { seq: 5 } });
    expect(d.alarms).toEqual([
      {
        alarm: 't-high',
        sensor: 't',
        kind: 'above',
        since: evs[1]!.time,
        acknowledged: true,
        by: 'operator:ann',
      },
      { alarm: 'h-low', sensor: 'h', kind: 'below', since: evs[3]!.time, acknowledged: false, by: null },
    ]);
    expect(d.position).toEqual({ lat: 48.1, lon: 11.5, time: evs[2]!.time });

    // what comes later is folded on: the cache catches up from the store by head
    const more = await record('pi-al', [
      { type: 'AlarmCleared', data: { alarm: 't-high', sensor: 't', value: 19 }, meta: { actor: 'system' } },
      position(48.2, 11.6),
    ]);
    d = (await summary('pi-al'))!;
    expect(d.alarms.map((a) => a.alarm)).toEqual(['h-low']);
    expect(d.position).toEqual({ lat: 48.2, lon: 11.6, time: more[1]!.time });
    // the same as the state the projection gives from the whole history
    const state = (await (await fetch(`${base}/devices/pi-al/state`)).json()) as {
      state: { position: { lat: number } };
    };
    expect(state.state.position.lat).toBe(48.2);

    // a redacted fix is gone from the list too (the cache loads the device again)
    const log = await deviceLog('pi-al');
    await log.redact(more[1]!.seq, 'privacy', 'operator:bo');
    await replicate('pi-al');
    d = (await summary('pi-al'))!;
    expect(d.position).toEqual({ lat: 48.1, lon: 11.5, time: evs[2]!.time });
  });

  it('gives a device without alarms or fixes empty ones', async () => {
    await record('pi-plain', [reading(3)]);
    expect(await summary('pi-plain')).toMatchObject({ alarms: [], position: null });
  });
});

describe('GET /devices/live', () => {
  it('sends every device at connect, then a device when it changes: stored events, online and offline', async () => {
    await record('pi-live', [reading(1)]);
    await status('pi-live', true);
    const live = await sse('/devices/live');
    expect(live.res.headers.get('content-type')).toBe('text/event-stream');
    const entries = () =>
      live.messages.filter((m) => m.event === 'device').map((m) => JSON.parse(m.data) as Summary);
    const latest = (device: string) =>
      entries()
        .filter((d) => d.device === device)
        .pop();
    const known = ((await (await fetch(`${base}/devices`)).json()) as { devices: Summary[] }).devices;
    expect(await live.until(() => entries().length >= known.length)).toBe(true);
    expect(new Set(entries().map((d) => d.device))).toEqual(new Set(known.map((d) => d.device)));

    const raised = await record('pi-live', [raise('t-high', 't', 'above'), position(1.5, 2.5)]);
    expect(await live.until(() => entries().some((d) => d.device === 'pi-live' && d.head.seq === 3))).toBe(
      true,
    );
    const last = latest('pi-live')!;
    expect(last.alarms).toEqual([
      { alarm: 't-high', sensor: 't', kind: 'above', since: raised[0]!.time, acknowledged: false, by: null },
    ]);
    expect(last.position).toEqual({ lat: 1.5, lon: 2.5, time: raised[1]!.time });

    await status('pi-live', false);
    expect(await live.until(() => latest('pi-live')?.online === false)).toBe(true);
    await status('pi-live', true);
    expect(await live.until(() => latest('pi-live')?.online === true)).toBe(true);
    live.close();
  });

  it('takes no parameters and only GET', async () => {
    expect(await errorOf('/devices/live?x=1')).toEqual({ status: 400, code: 'BAD_PARAMETER' });
    expect(await errorOf('/devices/live', { method: 'POST' })).toEqual({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    });
  });
});

describe('GET /devices/ID/trust and POST /devices/ID/verify', () => {
  it('shows quarantined forks, redactions with reason and actor, and the last verification', async () => {
    const evs = await record('pi-tr', [
      reading(1),
      reading(2),
      { type: 'NoteAdded', data: { text: 'home address' }, meta: { actor: 'operator:ann' } },
      reading(3),
    ]);
    const log = await deviceLog('pi-tr');
    const redaction = await log.redact(3, 'privacy', 'operator:bo');
    await replicate('pi-tr');
    // another writer with the same id sends a different seq 2: quarantined
    const other: Envelope = { ...evs[1]!, data: { source: 'node', sensor: 't', value: 99, unit: 'C' } };
    other.digest = digestOf(other.data!);
    other.hash = hashOf(other);
    await raw.publishAsync(
      deviceTopic('fieldlog', 'north', 'pi-tr', 'events'),
      JSON.stringify({ device: 'pi-tr', events: [other] }),
      { qos: 1 },
    );
    await expect.poll(async () => (await ingest.devices()).find((d) => d.device === 'pi-tr')?.forks).toBe(1);

    const trust = async () => {
      const res = await fetch(`${base}/devices/pi-tr/trust`);
      expect(res.status).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };
    const before = await trust();
    expect(before).toMatchObject({
      device: 'pi-tr',
      verification: null,
      quarantined: [{ seq: 2, hash: other.hash, reason: 'fork' }],
      redactions: [{ seq: 5, target: 3, reason: 'privacy', by: 'operator:bo', time: redaction.time }],
      forks: 1,
      rewinds: 0,
    });
    expect(Object.keys(before)).toEqual([
      'device',
      'verification',
      'quarantined',
      'redactions',
      'forks',
      'rewinds',
      'key',
    ]);
    expect(typeof (before.quarantined as { at: string }[])[0]!.at).toBe('string');

    const head = await store.head('pi-tr');
    const res = await fetch(`${base}/devices/pi-tr/verify`, { method: 'POST' });
    expect(res.status).toBe(200);
    const v = (await res.json()) as { at: string; ok: boolean; events: number; problems: unknown[] };
    expect(v).toMatchObject({ ok: true, events: 5, problems: [] });
    expect(Number.isNaN(Date.parse(v.at))).toBe(false);
    expect((await trust()).verification).toEqual(v);
    expect(await store.head('pi-tr')).toEqual(head);
  });

  it('reports a chain that does not verify, and counts verifications by result', async () => {
    await record('pi-bad', [reading(1), reading(2), reading(3), reading(4)]);
    const metric = async (result: string) =>
      Number(
        new RegExp(`^fieldlog_hub_verifications_total\\{result="${result}"\\} (\\d+)$`, 'm').exec(
          await (await fetch(`${base}/metrics`)).text(),
        )?.[1] ?? 0,
      );
    const ok = await metric('ok');
    const failed = await metric('failed');
    // seq 2's record replaced by seq 3's behind the store's back
    const db = store.log.db;
    const { id } = JSON.parse(Buffer.from((await db.get(metaKey('stream:pi-bad')))!).toString()) as {
      id: number;
    };
    await db.put(eventKey(id, 2), (await db.get(eventKey(id, 3)))!);
    const v = (await (await fetch(`${base}/devices/pi-bad/verify`, { method: 'POST' })).json()) as {
      ok: boolean;
      problems: { seq: number; reason: string }[];
    };
    expect(v.ok).toBe(false);
    expect(v.problems.map((p) => p.seq)).toContain(2);
    await fetch(`${base}/devices/pi-ev/verify`, { method: 'POST' });
    expect(await metric('failed')).toBe(failed + 1);
    expect(await metric('ok')).toBe(ok + 1);
  });

  it('answers 405 to other methods, 404 for an unknown device', async () => {
    expect(await errorOf('/devices/pi-ev/verify')).toEqual({ status: 405, code: 'METHOD_NOT_ALLOWED' });
    expect(await errorOf('/devices/pi-ev/trust', { method: 'POST' })).toEqual({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    });
    expect(await errorOf('/devices', { method: 'DELETE' })).toEqual({
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    });
    expect(await errorOf('/devices/nope/verify', { method: 'POST' })).toEqual({
      status: 404,
      code: 'DEVICE_UNKNOWN',
    });
    expect(await errorOf('/devices/nope/trust')).toEqual({ status: 404, code: 'DEVICE_UNKNOWN' });
    expect(await errorOf('/devices/pi-ev/trust?x=1')).toEqual({ status: 400, code: 'BAD_PARAMETER' });
  });
});
