// Every SQL example of the README's "Hub on PostgreSQL" section, run against a real cluster
// holding real chains (written by devices' own logs, stored through the PostgreSQL store),
// with its answer checked against what the devices recorded.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import { type Envelope, type EventInput, hashOf } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const section = readme.slice(
  readme.indexOf('## Hub on PostgreSQL'),
  readme.indexOf('## Command-line reference'),
);
/** The README's SQL examples by the name on their first line (`-- example: NAME`). */
const examples = new Map(
  [...section.matchAll(/```sql\n-- example: ([\w-]+)\n([\s\S]*?)```/g)].map((m) => [m[1]!, m[2]!]),
);

let cluster: TestPostgres;
let store: FleetStore;
let client: pg.Client;
const recorded = new Map<string, Envelope[]>();

/** One device's log: a reading every minute for three hours, a GPS fix every ten minutes. */
async function device(id: string, lat0: number): Promise<void> {
  const log = await EventLog.memory({
    device: id,
    clock: fakeClock(Date.parse('2026-11-24T10:00:00.000Z'), 60_000),
  });
  const inputs: EventInput[] = [];
  for (let i = 0; i < 180; i++) {
    if (i % 10 === 0)
      inputs.push({
        type: 'PositionRecorded',
        data: { source: 'gps', fixTime: '10:00:00.000Z', lat: lat0 + i / 1000, lon: 8.5 - i / 1000 },
      });
    else
      inputs.push({
        type: 'ReadingRecorded',
        data: { source: 'node', sensor: 'temp', value: 20 + (i % 7), unit: 'C' },
      });
  }
  await log.appendMany(inputs);
  const envs: Envelope[] = [];
  for await (const e of log.events()) envs.push(e);
  await log.close();
  recorded.set(id, envs);
  for (let i = 0; i < envs.length; i += 50) {
    const o = await store.append(id, envs.slice(i, i + 50));
    if (o.kind !== 'stored') throw new Error(JSON.stringify(o));
    await o.written;
  }
}

beforeAll(async () => {
  cluster = await startPostgres();
  store = await openPgFleetStore(cluster.url, { create: true });
  await device('pi-01', 47.1);
  await device('pi-02', 46.2);
  client = new pg.Client({ connectionString: cluster.url });
  await client.connect();
});
afterAll(async () => {
  await client?.end();
  await store?.close();
  await cluster?.stop();
});

describe('README: Hub on PostgreSQL, SQL examples', () => {
  it('has the examples this test checks, and no other', () => {
    expect([...examples.keys()].sort()).toEqual([
      'fleet-order',
      'hourly-averages',
      'last-positions',
      'quarantine',
    ]);
  });

  it("hourly-averages: a sensor's hourly averages for one device", async () => {
    const { rows } = await client.query<{ hour: Date; avg_value: number; readings: string }>(
      examples.get('hourly-averages')!,
    );
    const byHour = new Map<string, number[]>();
    for (const e of recorded.get('pi-01')!) {
      if (e.type !== 'ReadingRecorded') continue;
      const hour = `${e.time.slice(0, 13)}:00:00.000Z`;
      byHour.set(hour, [...(byHour.get(hour) ?? []), (e.data as { value: number }).value]);
    }
    expect(rows.map((r) => [r.hour.toISOString(), Number(r.readings)])).toEqual(
      [...byHour].map(([h, v]) => [h, v.length]),
    );
    for (const r of rows) {
      const v = byHour.get(r.hour.toISOString())!;
      expect(r.avg_value).toBeCloseTo(v.reduce((a, b) => a + b, 0) / v.length, 9);
    }
  });

  it('last-positions: the last GPS fix of every device', async () => {
    const { rows } = await client.query<{ device: string; time: Date; lat: number; lon: number }>(
      examples.get('last-positions')!,
    );
    const expected = ['pi-01', 'pi-02'].map((d) => {
      const last = recorded
        .get(d)!
        .filter((e) => e.type === 'PositionRecorded')
        .at(-1)!;
      const { lat, lon } = last.data as { lat: number; lon: number };
      return { device: d, time: last.time, lat, lon };
    });
    expect(rows.map((r) => ({ ...r, time: r.time.toISOString() }))).toEqual(expected);
  });

  it('fleet-order: events after a position, in fleet order', async () => {
    const { rows } = await client.query<{ position: string; device: string; seq: string }>(
      examples.get('fleet-order')!,
    );
    const fleet: [number, string, number][] = [];
    for await (const chunk of store.events({ fleet: true, from: 101, to: 150 }))
      for (const s of chunk) fleet.push([s.position!, s.event.device, s.event.seq]);
    expect(fleet).toHaveLength(50);
    expect(rows.map((r) => [Number(r.position), r.device, Number(r.seq)])).toEqual(fleet);
  });

  it('quarantine: the forks a device sent', async () => {
    const [first] = recorded.get('pi-02')!;
    const fork = { ...first!, boot: 'another-boot' };
    fork.hash = hashOf(fork);
    expect((await store.append('pi-02', [fork])).kind).toBe('fork');
    const { rows } = await client.query<{ device: string; seq: string; hash: string }>(
      examples.get('quarantine')!,
    );
    expect(rows.map((r) => [r.device, Number(r.seq), r.hash])).toEqual([['pi-02', 1, fork.hash]]);
  });
});
