// The export download on the PostgreSQL store: a real `fieldlog hub --store postgres://…`
// serves /devices/ID/export while it runs, and `fieldlog hub export` on the same database
// at the same time writes the same bytes.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { runCli } from '../support/cli.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';
import { type Proc, startCli } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-pg-export-'));
let cluster: TestPostgres;
let hub: Proc;
let base: string;

beforeAll(async () => {
  cluster = await startPostgres();
  const store = await openPgFleetStore(cluster.url, { create: true });
  try {
    const log = await EventLog.memory({ device: 'pi-a', clock: fakeClock() });
    await log.appendMany(
      Array.from({ length: 1500 }, (_, k) =>
        k % 100 === 3
          ? { type: 'NoteAdded', data: { text: `a "quoted", note\n${k}` }, meta: { actor: 'operator:ana' } }
          : { type: 'ReadingRecorded', data: { source: 'n', sensor: 'temp', value: k / 8, unit: '°C' } },
      ),
    );
    const envs: Envelope[] = [];
    for await (const e of log.events()) envs.push(e);
    await log.close();
    const o = await store.append('pi-a', envs);
    if (o.kind !== 'stored') throw new Error(o.kind);
    await o.written;
  } finally {
    await store.close();
  }
  hub = startCli(['hub', '--store', cluster.url, '--broker-port', '0', '--http', '0']);
  base = /http:\/\/[^\s,]+/.exec(await hub.waitFor(/ http http:\/\//))![0];
});

afterAll(async () => {
  await hub?.stop('SIGKILL');
  await cluster?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('GET /devices/ID/export on PostgreSQL', () => {
  it('equals `fieldlog hub export` run on the same database while the hub runs', async () => {
    const ranges: Record<string, string>[] = [
      {},
      { since: '2026-11-24T10:00:03Z', until: '2026-11-24T10:00:09.995Z' },
    ];
    let n = 0;
    for (const format of ['csv', 'ndjson'])
      for (const r of ranges) {
        const res = await fetch(`${base}/devices/pi-a/export?${new URLSearchParams({ format, ...r })}`);
        expect(res.status).toBe(200);
        const body = Buffer.from(await res.arrayBuffer());
        const out = join(root, `${n++}.${format}`);
        const args = [
          'hub',
          'export',
          '--store',
          cluster.url,
          '--device',
          'pi-a',
          '--format',
          format,
          '--out',
          out,
        ];
        for (const [k, v] of Object.entries(r)) args.push(`--${k}`, v);
        const cli = await runCli(args);
        expect(cli.stderr).toBe('');
        expect(cli.code).toBe(0);
        const file = readFileSync(out);
        expect(
          body.equals(file),
          `${format} ${JSON.stringify(r)}: ${body.length} bytes, the CLI ${file.length}`,
        ).toBe(true);
        expect(body.length).toBeGreaterThan(format === 'csv' ? 60 : 0);
      }
  });
});
