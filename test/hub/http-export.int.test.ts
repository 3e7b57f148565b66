// GET /devices/ID/export: a download whose bytes are those of `fieldlog hub export --device
// ID` (the real CLI) on the same store and range.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { fleetStoreOver } from '../../src/hub/leveldb-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-http-export-'));
const dir = join(root, 'hub');
const START = Date.parse('2026-11-24T10:00:00.000Z');
const at = (s: number) => new Date(START + s * 1000).toISOString();

/** Ranges asked of both: none, from a time, a window, and one that holds nothing. */
const RANGES: { since?: string; until?: string }[] = [
  {},
  { since: at(1500) },
  { since: at(700), until: '2026-11-24T10:30:00.5+00:00' },
  { since: '2030-01-01' },
];
const cliBytes = new Map<string, Buffer>();
const key = (format: string, r: { since?: string; until?: string }) => `${format} ${r.since} ${r.until}`;

let hub: EventLog;
let srv: Awaited<ReturnType<typeof listenHubApi>>;
let base: string;

beforeAll(async () => {
  // a store as the hub keeps it: two devices, readings and notes that CSV must quote
  const store = await EventLog.open(dir, { create: true, fleet: true, sync: false });
  for (const id of ['pi-a', 'pi-b']) {
    const dev = await EventLog.memory({ device: id, clock: fakeClock(START, 1000) });
    await dev.appendMany(
      Array.from({ length: 3000 }, (_, i) =>
        i % 500 === 7
          ? {
              type: 'NoteAdded',
              data: { text: `said "hi", at ${i}\nthen left` },
              meta: { actor: 'operator:ana' },
            }
          : {
              type: 'ReadingRecorded',
              data: {
                source: 'node',
                sensor: i % 2 ? 'temp' : 'hum',
                value: i / 10,
                unit: i % 2 ? '°C' : '%',
              },
              meta: { actor: 'sensor:node' },
            },
      ),
    );
    const evs: Envelope[] = [];
    for await (const e of dev.events()) evs.push(e);
    for (let i = 0; i < evs.length; i += 700) await store.appendSealed(evs.slice(i, i + 700));
    await dev.close();
  }
  await store.close();
  // the CLI first: a LevelDB store is one process's at a time
  for (const format of ['csv', 'ndjson'])
    for (const r of RANGES) {
      const out = join(root, `${cliBytes.size}.out`);
      const args = ['hub', 'export', '--data', dir, '--device', 'pi-a', '--format', format, '--out', out];
      if (r.since) args.push('--since', r.since);
      if (r.until) args.push('--until', r.until);
      const run = await runCli(args);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      cliBytes.set(key(format, r), readFileSync(out));
    }
  hub = await EventLog.open(dir, { sync: false });
  const api = createHubApi({ store: fleetStoreOver(hub), devices: () => [], metrics: () => ({}) });
  srv = await listenHubApi(api, 0);
  base = `http://127.0.0.1:${srv.port}`;
}, 120_000);

afterAll(async () => {
  await srv?.close();
  await hub?.close();
  rmSync(root, { recursive: true, force: true });
});

describe('GET /devices/ID/export', () => {
  it('downloads the bytes `fieldlog hub export` writes, for every format and range', async () => {
    for (const format of ['csv', 'ndjson'])
      for (const r of RANGES) {
        const q = new URLSearchParams({ format, ...r });
        const res = await fetch(`${base}/devices/pi-a/export?${q}`);
        expect(res.status, q.toString()).toBe(200);
        expect(res.headers.get('content-type')).toBe(
          format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson',
        );
        expect(res.headers.get('content-disposition')).toBe(`attachment; filename="pi-a.${format}"`);
        const bytes = Buffer.from(await res.arrayBuffer());
        const expected = cliBytes.get(key(format, r))!;
        expect(bytes.equals(expected), `${q}: ${bytes.length} bytes, the CLI ${expected.length}`).toBe(true);
      }
    // the comparison can fail: the ranges give different exports, and a big one
    expect(cliBytes.get(key('csv', {}))!.length).toBeGreaterThan(100_000);
    expect(cliBytes.get(key('csv', RANGES[1]!))!.length).toBeLessThan(cliBytes.get(key('csv', {}))!.length);
    expect(cliBytes.get(key('ndjson', RANGES[3]!))!.length).toBe(0);
    expect(cliBytes.get(key('csv', RANGES[3]!))!.toString()).toBe(
      'device,seq,time,type,actor,source,sensor,value,unit,data\n',
    );
  });

  it('is NDJSON when no format is given, as the CLI', async () => {
    const res = await fetch(`${base}/devices/pi-b/export`);
    expect(res.headers.get('content-disposition')).toBe('attachment; filename="pi-b.ndjson"');
    const lines = (await res.text()).trim().split('\n');
    expect(lines).toHaveLength(3000);
    expect((JSON.parse(lines[0]!) as Envelope).device).toBe('pi-b');
  });

  it('refuses what it cannot export in one plain error', async () => {
    const cases: [string, number, string][] = [
      ['/devices/pi-z/export?format=csv', 404, 'DEVICE_UNKNOWN'],
      ['/devices/pi-a/export?format=xml', 400, 'BAD_PARAMETER'],
      ['/devices/pi-a/export?format=csv&format=ndjson', 400, 'BAD_PARAMETER'],
      ['/devices/pi-a/export?since=yesterday', 400, 'BAD_PARAMETER'],
      [`/devices/pi-a/export?since=${at(100)}&until=${at(50)}`, 400, 'BAD_PARAMETER'],
      ['/devices/pi-a/export?from-seq=3', 400, 'BAD_PARAMETER'],
    ];
    for (const [path, status, code] of cases) {
      const res = await fetch(`${base}${path}`);
      expect(res.status, path).toBe(status);
      expect(res.headers.get('content-disposition'), path).toBeNull();
      expect(((await res.json()) as { error: { code: string } }).error.code, path).toBe(code);
    }
  });
});
