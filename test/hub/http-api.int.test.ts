// The hub's HTTP API against a real store on disk and a real server on port 0.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-api-'));
let hub: EventLog;
let devA: EventLog;
let server: Awaited<ReturnType<typeof listenHubApi>>;
let base: string;
const START = Date.parse('2026-11-01T00:00:00.000Z');

async function copy(dev: EventLog, from = 1): Promise<void> {
  const evs: Envelope[] = [];
  for await (const e of dev.events({ fromSeq: from })) evs.push(e);
  for (let i = 0; i < evs.length; i += 1000) await hub.appendSealed(evs.slice(i, i + 1000));
}

async function readLines(res: Response): Promise<string[]> {
  return (await res.text()).trim().split('\n').filter(Boolean);
}

beforeAll(async () => {
  hub = await EventLog.open(join(root, 'hub'), { create: true, fleet: true, sync: false });
  devA = await EventLog.memory({ device: 'pi-a', clock: fakeClock(START, 1000) });
  const devB = await EventLog.memory({ device: 'pi-b', clock: fakeClock(START, 1000) });
  for (let i = 0; i < 50_000; i += 1000) {
    await devA.appendMany(
      Array.from({ length: 1000 }, (_, k) => ({
        type: 'ReadingRecorded',
        data: { source: 'n', sensor: 't', value: i + k },
      })),
    );
  }
  await devB.appendMany([
    { type: 'NoteAdded', data: { text: 'b1' } },
    { type: 'NoteAdded', data: { text: 'b2' } },
  ]);
  await copy(devB);
  await copy(devA);
  await devB.close();
  const handler = createHubApi({
    log: hub,
    devices: () =>
      hub.deviceNames().map((device) => ({
        device,
        fleet: 'north',
        online: true,
        lastSeen: null,
        head: hub.head(device),
        lag: 0,
        rejects: { 'malformed-events': 2 },
        forks: 0,
        duplicates: 0,
      })),
    metrics: () => ({ messages: 7 }),
    heartbeatMs: 60_000,
  });
  server = await listenHubApi(handler, 0);
  base = `http://127.0.0.1:${server.port}`;
}, 120_000);

afterAll(async () => {
  await server.close();
  await hub.close();
  await devA.close();
  rmSync(root, { recursive: true, force: true });
});

describe('hub HTTP API', () => {
  it('lists devices with their heads', async () => {
    const body = await (await fetch(`${base}/devices`)).json();
    expect(
      body.devices.map((d: { device: string; head: { seq: number } }) => [d.device, d.head.seq]),
    ).toEqual([
      ['pi-a', 50_000],
      ['pi-b', 2],
    ]);
  });

  it('streams a device history as NDJSON by seq range and by time range', async () => {
    const some = await readLines(await fetch(`${base}/devices/pi-a/events?from-seq=10&to-seq=12`));
    expect(some.map((l) => JSON.parse(l).seq)).toEqual([10, 11, 12]);
    const t = JSON.parse(some[1]!).time;
    const byTime = await readLines(await fetch(`${base}/devices/pi-a/events?since=${t}&until=${t}`));
    expect(byTime.map((l) => JSON.parse(l).seq)).toEqual([11]);
    const limited = await readLines(await fetch(`${base}/devices/pi-a/events?limit=3`));
    expect(limited).toHaveLength(3);
  });

  it('streams all 50,000 events once each, in order', async () => {
    const res = await fetch(`${base}/devices/pi-a/events`);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson');
    let expected = 1;
    let buf = '';
    const decoder = new TextDecoder();
    for await (const chunk of res.body!) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      for (const l of lines) expect(JSON.parse(l).seq).toBe(expected++);
    }
    expect(expected - 1).toBe(50_000);
  });

  it('survives a client that goes away mid-stream', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/devices/pi-a/events`, { signal: ctl.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ctl.abort();
    const again = await fetch(`${base}/devices`);
    expect(again.status).toBe(200);
  });

  it('streams the fleet in arrival order', async () => {
    const lines = (await readLines(await fetch(`${base}/fleet/events?from=1&to=4`))).map((l) =>
      JSON.parse(l),
    );
    expect(lines.map((x) => `${x.position}:${x.event.device}:${x.event.seq}`)).toEqual([
      '1:pi-b:1',
      '2:pi-b:2',
      '3:pi-a:1',
      '4:pi-a:2',
    ]);
  });

  it('resumes the live feed from Last-Event-ID without gaps or duplicates', async () => {
    const ctl = new AbortController();
    const res = await fetch(`${base}/fleet/live`, {
      headers: { 'last-event-id': String(50_000) },
      signal: ctl.signal,
    });
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    const ids: number[] = [];
    let buf = '';
    const seen = async (n: number) => {
      while (ids.length < n) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        for (const m of buf.matchAll(/^id: (\d+)$/gm)) ids.push(Number(m[1]));
        buf = buf.slice(buf.lastIndexOf('\n\n') + 2);
      }
    };
    await seen(2); // positions 50,001 and 50,002 were stored before we asked
    const before = devA.head().seq;
    await devA.appendMany([
      { type: 'NoteAdded', data: { text: 'live 1' } },
      { type: 'NoteAdded', data: { text: 'live 2' } },
    ]);
    await copy(devA, before + 1);
    await seen(4);
    ctl.abort();
    expect(ids).toEqual([50_001, 50_002, 50_003, 50_004]);
  });

  it('delivers live what the store took before the client came but wrote after (read back)', async () => {
    const store = hub as unknown as { write(ops: unknown[]): Promise<void> };
    const write = store.write.bind(hub);
    let open!: () => void;
    const gate = new Promise<void>((r) => {
      open = r;
    });
    store.write = async (ops) => {
      await gate;
      return write(ops);
    };
    try {
      await expect.poll(() => hub.listenerCount('append')).toBe(0);
      const from = hub.fleetHead;
      const before = devA.head().seq;
      await devA.appendMany([
        { type: 'NoteAdded', data: { text: 'late 1' } },
        { type: 'NoteAdded', data: { text: 'late 2' } },
      ]);
      const evs: Envelope[] = [];
      for await (const e of devA.events({ fromSeq: before + 1 })) evs.push(e);
      // staged with nobody listening: the store keeps no copy of these envelopes
      const written = hub.appendSealed(evs);
      const ctl = new AbortController();
      const res = await fetch(`${base}/fleet/live`, {
        headers: { 'last-event-id': String(from) },
        signal: ctl.signal,
      });
      const reader = res.body!.getReader();
      const decoder = new TextDecoder();
      let text = '';
      while (!text.includes('fieldlog live')) text += decoder.decode((await reader.read()).value);
      open();
      await written;
      while ((text.match(/^id: /gm) ?? []).length < 2) text += decoder.decode((await reader.read()).value);
      ctl.abort();
      expect([...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]))).toEqual([from + 1, from + 2]);
      expect(text).toContain('late 2');
    } finally {
      open();
      store.write = write;
    }
  });

  it('answers state as of a time', async () => {
    const at = new Date(START + 99_000).toISOString();
    const body = await (await fetch(`${base}/devices/pi-a/state?at=${at}`)).json();
    expect(body).toMatchObject({ device: 'pi-a', asOfSeq: 100, state: { sensors: { t: { value: 99 } } } });
  });

  it('serves Prometheus metrics', async () => {
    const res = await fetch(`${base}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toMatch(/^# TYPE fieldlog_hub_device_head_seq gauge$/m);
    expect(text).toMatch(/^fieldlog_hub_device_head_seq\{device="pi-a"\} 50\d{3}$/m);
    expect(text).toMatch(/^fieldlog_hub_rejects_total\{device="pi-a",reason="malformed-events"\} 2$/m);
  });

  it('names bad requests without a stack trace', async () => {
    for (const [path, status, code] of [
      ['/devices/nope/events', 404, 'DEVICE_UNKNOWN'],
      ['/devices/pi-a/events?from-seq=x', 400, 'BAD_PARAMETER'],
      ['/devices/pi-a/events?colour=red', 400, 'BAD_PARAMETER'],
      ['/devices/pi-a/state?at=yesterday', 400, 'BAD_PARAMETER'],
      ['/devices/bad%20id/events', 400, 'BAD_PARAMETER'],
      ['/nowhere', 404, 'NOT_FOUND'],
    ] as const) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(status);
      const body = await res.json();
      expect(body.error.code, path).toBe(code);
      expect(JSON.stringify(body)).not.toMatch(/\s+at /);
    }
    expect((await fetch(`${base}/devices`, { method: 'POST' })).status).toBe(405);
  });
});
