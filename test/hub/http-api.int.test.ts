// The hub's HTTP API against a real store on disk and a real server on port 0.
import { mkdtempSync, rmSync } from 'node:fs';
import { get, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, type HubApiOptions, listenHubApi } from '../../src/hub/http-api.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import { internalErrors } from '../../src/internal-errors.js';
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

function devices(): ReturnType<HubApiOptions['devices']> {
  return hub.deviceNames().map((device) => ({
    device,
    fleet: 'north',
    online: true,
    lastSeen: null,
    head: hub.head(device),
    lag: 0,
    rejects: { 'malformed-events': 2 },
    forks: 0,
    duplicates: 0,
    rewinds: 0,
  }));
}

/** A second API on the same store, with its own options and server. */
async function otherApi(extra: Partial<HubApiOptions>) {
  const api = createHubApi({
    store: fleetStoreOver(hub),
    devices,
    metrics: () => ({ messages: 7, rejects: 2 }),
    ...extra,
  });
  const srv = await listenHubApi(api, 0);
  return { api, srv, url: `http://127.0.0.1:${srv.port}` };
}

/** A live feed read by hand: ids of complete events, paused and resumed at will. */
async function liveClient(url: string, lastEventId: number) {
  const res = await new Promise<IncomingMessage>((resolve, reject) =>
    get(`${url}/fleet/live`, { headers: { 'last-event-id': String(lastEventId) } }, resolve).on(
      'error',
      reject,
    ),
  );
  res.setEncoding('utf8');
  const ids: number[] = [];
  let buf = '';
  let waiter: { n: number; resolve: () => void } | null = null;
  let ended = false;
  const ends: (() => void)[] = [];
  const finish = () => {
    ended = true;
    waiter?.resolve();
    for (const e of ends.splice(0)) e();
  };
  res.on('data', (chunk: string) => {
    buf += chunk;
    const end = buf.lastIndexOf('\n\n');
    if (end < 0) return;
    for (const m of buf.slice(0, end).matchAll(/^id: (\d+)$/gm)) ids.push(Number(m[1]));
    buf = buf.slice(end + 2);
    if (waiter && ids.length >= waiter.n) waiter.resolve();
  });
  res.on('end', finish);
  res.on('error', finish);
  res.on('close', finish);
  return {
    res,
    ids,
    /** Resolves once `n` events came (or the stream ended). */
    until: (n: number) =>
      new Promise<void>((resolve) => {
        if (ids.length >= n || ended) return resolve();
        waiter = { n, resolve };
      }),
    ended: () => new Promise<void>((resolve) => (ended ? resolve() : ends.push(resolve))),
  };
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
    store: fleetStoreOver(hub),
    devices,
    metrics: () => ({ messages: 7, rejects: 2 }),
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
    const body = (await (await fetch(`${base}/devices`)).json()) as {
      devices: { device: string; head: { seq: number } }[];
    };
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
    const store = hub.disk;
    const write = store.write.bind(store);
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
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe(code);
      expect(JSON.stringify(body)).not.toMatch(/\s+at /);
    }
    expect((await fetch(`${base}/devices`, { method: 'POST' })).status).toBe(405);
  });

  it('answers bad parameters with a 400 in plain words', async () => {
    const head = hub.fleetHead;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['/devices/pi-a/events?from-seq=5&to-seq=2', {}, /to-seq \(2\) is before from-seq \(5\)/],
      [
        '/devices/pi-a/events?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z',
        {},
        /until \(2026-11-01T00:00:00Z\) is before since/,
      ],
      ['/devices/pi-a/events?from-seq=', {}, /from-seq is empty/],
      ['/devices/pi-a/events?since=', {}, /since is empty/],
      ['/devices/pi-a/events?limit=', {}, /limit is empty/],
      ['/devices/pi-a/events?from-seq=x', {}, /from-seq must be a whole number, not "x"/],
      ['/devices/pi-a/events?from-seq=1.5', {}, /from-seq must be a whole number/],
      ['/devices/pi-a/events?to-seq=-1', {}, /to-seq must be at least 0/],
      ['/devices/pi-a/events?limit=99999999999999999999', {}, /limit is too large/],
      ['/devices/pi-a/events?from-seq=1&from-seq=2', {}, /from-seq is given twice/],
      [
        '/devices/pi-a/events?colour=red',
        {},
        /unknown parameter "colour": this endpoint takes from-seq, to-seq/,
      ],
      ['/devices/pi-a/events?since=yesterday', {}, /since must be an RFC 3339 time/],
      // no offset: the hub's zone would decide what it means
      ['/devices/pi-a/events?since=2026-11-01T12:00', {}, /since must be an RFC 3339 time with its offset/],
      ['/devices/pi-a/events?until=2026-11-01T12:00:00', {}, /until must be an RFC 3339 time/],
      ['/devices/pi-a/state?at=2026-02-30T00:00:00Z', {}, /at must be an RFC 3339 time/],
      ['/fleet/events?from=9&to=3', {}, /to \(3\) is before from \(9\)/],
      ['/fleet/events?to=', {}, /to is empty/],
      ['/devices/pi-a/state?at=2026-11-01T00:00:00Z&at-seq=3', {}, /give at or at-seq, not both/],
      ['/devices/pi-a/state?at-seq=999999', {}, /at-seq 999999 is beyond the head of pi-a \(\d+\)/],
      ['/devices/pi-a/state?at-seq=', {}, /at-seq is empty/],
      ['/devices?x=1', {}, /unknown parameter "x": this endpoint takes none/],
      ['/metrics?x=1', {}, /unknown parameter "x"/],
      ['/fleet/live', { 'last-event-id': String(head + 1) }, /Last-Event-ID \d+ is beyond the fleet's head/],
      ['/fleet/live', { 'last-event-id': '-1' }, /Last-Event-ID must be at least 0/],
      ['/fleet/live', { 'last-event-id': 'abc' }, /Last-Event-ID must be a whole number/],
      ['/fleet/live?last-event-id=', {}, /last-event-id is empty/],
      ['/fleet/live?last-event-id=99999999', {}, /beyond the fleet's head/],
      ['/fleet/live?last-event-id=1', { 'last-event-id': '2' }, /disagree/],
      ['/devices/%E0%A4%A/events', {}, /not valid percent-encoding/],
    ];
    for (const [path, headers, message] of cases) {
      const res = await fetch(`${base}${path}`, { headers });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('content-type'), path).toBe('application/json');
      const body = (await res.json()) as { error: { code: string; message: string } };
      expect(body.error.code, path).toBe('BAD_PARAMETER');
      expect(body.error.message, path).toMatch(message);
      // plain words: not the validation library's vocabulary, no stack
      expect(body.error.message, path).not.toMatch(
        /invalid_type|Invalid input|expected \w+, received|\n\s+at /,
      );
    }
    // what is asked right is still answered
    const ok = await fetch(`${base}/devices/pi-a/state?at-seq=${hub.head('pi-a').seq}`);
    expect(ok.status).toBe(200);
  });

  it('turns an unexpected error into a 500 that is logged once and counted, and serves on', async () => {
    const lines: string[] = [];
    const { url, srv } = await otherApi({
      errors: internalErrors({ write: (l) => lines.push(l), debug: false }),
    });
    const read = hub.read;
    // biome-ignore lint/correctness/useYield: a read that fails before its first record
    hub.read = async function* () {
      throw new Error('read failed: EIO');
    };
    try {
      const res = await fetch(`${url}/devices/pi-a/events`);
      expect(res.status).toBe(500);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('INTERNAL');
    } finally {
      hub.read = read;
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/internal error in http: read failed: EIO$/);
    const metrics = await (await fetch(`${url}/metrics`)).text();
    expect(metrics).toMatch(/^fieldlog_hub_internal_errors_total\{where="http"\} 1$/m);
    expect((await fetch(`${url}/devices/pi-a/events?limit=1`)).status).toBe(200);
    await srv.close();
  });

  it('declares each metric once (HELP and TYPE once per name)', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    for (const kind of ['HELP', 'TYPE']) {
      const names = [...text.matchAll(new RegExp(`^# ${kind} (\\S+)`, 'gm'))].map((m) => m[1]);
      expect(names.length).toBeGreaterThan(10);
      expect(names.filter((n, i) => names.indexOf(n) !== i)).toEqual([]);
    }
    // every sample belongs to a declared family
    const declared = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
    for (const m of text.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)) {
      const name = m[1]!.replace(/_(bucket|sum|count)$/, '');
      expect(declared.has(m[1]!) || declared.has(name), m[1]).toBe(true);
    }
    expect(text).toMatch(/^fieldlog_hub_rejects_total\{device="pi-a",reason="malformed-events"\} 2$/m);
  });

  it('drops a live client that falls too far behind, counts it, and the client resumes without gap or duplicate', async () => {
    const { url, srv } = await otherApi({ liveQueueBytes: 64 * 1024, heartbeatMs: 60_000 });
    const from = hub.fleetHead;
    const slow = await liveClient(url, from);
    slow.res.pause(); // reads nothing more: the socket's buffers fill, then the hub's queue
    const dropped = async () =>
      Number(
        /^fieldlog_hub_live_clients_dropped_total (\d+)$/m.exec(
          await (await fetch(`${url}/metrics`)).text(),
        )![1],
      );
    const text = 'x'.repeat(400);
    let rounds = 0;
    while ((await dropped()) === 0) {
      expect(++rounds, 'the client was never dropped').toBeLessThan(1000);
      const before = devA.head().seq;
      await devA.appendMany(Array.from({ length: 100 }, () => ({ type: 'NoteAdded', data: { text } })));
      await copy(devA, before + 1);
    }
    const head = hub.fleetHead;
    // the client reads again: what reached its socket before the drop, then the end
    slow.res.resume();
    await slow.ended();
    const first = slow.ids;
    expect(first.length).toBeGreaterThan(0);
    expect(first).toEqual(Array.from({ length: first.length }, (_, i) => from + 1 + i));
    const last = first.at(-1)!;
    expect(last).toBeLessThan(head);
    // resume from the last id it saw: the rest, each once, in order
    const again = await liveClient(url, last);
    await again.until(head - last);
    again.res.destroy();
    expect(again.ids).toEqual(Array.from({ length: head - last }, (_, i) => last + 1 + i));
    expect(await dropped()).toBe(1);
    await srv.close();
  });
});
