// The real `fieldlog` CLI on the PostgreSQL store: `hub verify --store postgres://…` on a
// cluster holding chains, after a tampered row, and on a database without a store.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { runCli } from '../support/cli.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
  const store = await openPgFleetStore(cluster.url, { create: true });
  try {
    for (const id of ['pi-a', 'pi-b']) {
      const log = await EventLog.memory({ device: id, clock: fakeClock() });
      await log.appendMany(
        Array.from({ length: 7 }, (_, k) => ({ type: 'NoteAdded', data: { text: `n${k}` } })),
      );
      const envs: Envelope[] = [];
      for await (const e of log.events()) envs.push(e);
      await log.close();
      const o = await store.append(id, envs);
      if (o.kind !== 'stored') throw new Error(o.kind);
      await o.written;
    }
  } finally {
    await store.close();
  }
});
afterAll(async () => {
  await cluster?.stop();
});

describe('fieldlog hub verify --store postgres://…', () => {
  it('verifies every stored chain, exit 0', async () => {
    const r = await runCli(['hub', 'verify', '--store', cluster.url, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { device: string; ok: boolean; events: number });
    expect(lines.map((l) => [l.device, l.ok, l.events])).toEqual([
      ['pi-a', true, 7],
      ['pi-b', true, 7],
    ]);
  });

  it('names the seq of a row changed behind the store, exit 1', async () => {
    const c = new pg.Client({ connectionString: cluster.url });
    await c.connect();
    try {
      await c.query(`UPDATE events SET data_text = '{"text":"forged"}' WHERE device = 'pi-b' AND seq = 3`);
    } finally {
      await c.end();
    }
    const r = await runCli(['hub', 'verify', '--store', cluster.url, '--device', 'pi-b', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toMatchObject({
      device: 'pi-b',
      ok: false,
      errors: [{ seq: 3, reason: 'digest-mismatch' }],
    });
  });

  it('refuses a database without a store in one line, creating nothing', async () => {
    const url = await cluster.database('empty');
    const r = await runCli(['hub', 'verify', '--store', url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^fieldlog: .*holds no fieldlog store \[LOG_NOT_FOUND\]\n$/);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      expect((await c.query("SELECT to_regclass('events') AS t")).rows[0].t).toBeNull();
    } finally {
      await c.end();
    }
  });
});
