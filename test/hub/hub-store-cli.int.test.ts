// The hub commands' choice of store (--data DIR or --store URL|DIR), the hub's config file,
// and `fieldlog hub verify`, through the real CLI on real LevelDB folders.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey, metaKey } from '../../src/log/codec.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { type Run, runCli } from '../support/cli.js';
import { startCli } from '../support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-hub-store-'));
const good = join(root, 'good');
const bad = join(root, 'bad');
afterAll(() => rmSync(root, { recursive: true, force: true }));
const START = Date.parse('2026-11-01T00:00:00.000Z');

/** A hub store of two devices (pi-a: 6 readings a second apart, pi-b: 3). */
async function hubStore(dir: string): Promise<void> {
  const hub = await EventLog.open(dir, { create: true, fleet: true });
  for (const [id, n] of [
    ['pi-a', 6],
    ['pi-b', 3],
  ] as const) {
    const dev = await EventLog.memory({ device: id, clock: fakeClock(START, 1000) });
    await dev.appendMany(
      Array.from({ length: n }, (_, k) => ({
        type: 'ReadingRecorded',
        data: { source: 'n', sensor: 't', value: k },
      })),
    );
    const evs: Envelope[] = [];
    for await (const e of dev.events()) evs.push(e);
    await hub.appendSealed(evs);
    await dev.close();
  }
  await hub.close();
}

beforeAll(async () => {
  await hubStore(good);
  await hubStore(bad);
  // pi-a's event 3 replaced by its event 4's record: hash and link no longer fit
  const log = await EventLog.open(bad, { fleet: true });
  const { id } = JSON.parse(Buffer.from((await log.db.get(metaKey('stream:pi-a')))!).toString());
  await log.db.put(eventKey(id, 3), (await log.db.get(eventKey(id, 4)))!);
  await log.close();
});

function oneLine(r: Run, code: number, re: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr).toMatch(/^fieldlog: [^\n]+\n$/);
  expect(r.stderr).toMatch(re);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

describe('fieldlog hub verify', () => {
  it('checks every chain: one line per device, exit 0', async () => {
    const r = await runCli(['hub', 'verify', '--data', good]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^pi-a: ok, 6 events, head 6 [0-9a-f]{64}$/);
    expect(lines[1]).toMatch(/^pi-b: ok, 3 events, head 3 [0-9a-f]{64}$/);
  });

  it('exits 1 naming the seq when a chain fails; --json gives one object per device', async () => {
    const text = await runCli(['hub', 'verify', '--store', bad]);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/^pi-a: FAILED, \d+ problem\(s\) in 6 events\n {2}seq 3: /);
    expect(text.stdout).toMatch(/^pi-b: ok, 3 events/m);
    const json = await runCli(['hub', 'verify', '--data', bad, '--json']);
    expect(json.code).toBe(1);
    const reports = json.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(reports.map((r) => [r.device, r.ok])).toEqual([
      ['pi-a', false],
      ['pi-b', true],
    ]);
    expect(reports[0].errors.map((e: { seq: number }) => e.seq)).toContain(3);
    const one = await runCli(['hub', 'verify', '--data', bad, '--device', 'pi-b', '--json']);
    expect(one.code).toBe(0);
    expect(JSON.parse(one.stdout)).toMatchObject({ device: 'pi-b', ok: true, events: 3 });
  });

  it('refuses an unknown device in one line', async () => {
    oneLine(
      await runCli(['hub', 'verify', '--data', good, '--device', 'pi-x']),
      2,
      /pi-x \[DEVICE_UNKNOWN\]/,
    );
  });
});

describe('--data and --store', () => {
  it('takes exactly one of them, on every hub command', async () => {
    for (const cmd of [['hub'], ['hub', 'export', '--fleet'], ['hub', 'verify']]) {
      const name = cmd
        .slice(0, 2)
        .filter((w) => w !== '--fleet')
        .join(' ');
      oneLine(
        await runCli([...cmd, '--data', good, '--store', good]),
        2,
        new RegExp(`${name}: give --data or --store, not both \\[USAGE\\]`),
      );
      oneLine(await runCli(cmd), 2, new RegExp(`${name}: give --data DIR or --store URL\\|DIR \\[USAGE\\]`));
    }
  });

  it('reads a folder given as --store like --data, time bounds exact', async () => {
    const r = await runCli([
      'hub',
      'export',
      '--store',
      good,
      '--device',
      'pi-a',
      '--since',
      new Date(START + 1000).toISOString(),
      '--until',
      new Date(START + 3000).toISOString(),
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
    ).toEqual([2, 3, 4]);
  });

  it('says in one line when the PostgreSQL store cannot be loaded, without the password', async () => {
    for (const url of ['postgres://hub:s3cret@db.local/fieldlog', 'postgresql://db.local/fieldlog']) {
      const r = await runCli(['hub', 'verify', '--store', url]);
      oneLine(r, 2, /hub verify: --store postgres(ql)?:\/\/.*PostgreSQL store.*\[USAGE\]/);
      expect(r.stderr).not.toContain('s3cret');
    }
    oneLine(
      await runCli(['hub', 'export', '--store', 'mysql://db/x', '--fleet']),
      2,
      /--store must be a postgres:\/\/ URL or a folder/,
    );
  });
});

describe('fieldlog hub --config', () => {
  it('takes the flags from the file; flags win', async () => {
    const file = join(root, 'hub.json');
    const other = join(root, 'other');
    writeFileSync(
      file,
      JSON.stringify({ data: other, brokerPort: 0, 'http-host': '127.0.0.1', http: 0, fleet: 'north' }),
    );
    const proc = startCli(['hub', '--config', file, '--store', good]);
    const line = await proc.waitFor(/^fieldlog hub: store /);
    expect(line).toMatch(
      new RegExp(
        `^fieldlog hub: store ${good}, broker mqtt://0\\.0\\.0\\.0:\\d+, http http://127\\.0\\.0\\.1:\\d+$`,
      ),
    );
    expect(await proc.stop('SIGTERM')).toBe(0);
  });

  it('refuses an unknown key, a bad value or JSON that is not I-JSON in one line', async () => {
    const cases: [string, RegExp][] = [
      ['{"data":"x","colour":"red"}', /unknown key "colour"/],
      ['{"data":"x","config":"y"}', /unknown key "config"/],
      ['{"data":"x","http":true}', /"http" must be a non-empty string/],
      ['{"data":"x","data":"y"}', /duplicate/i],
      ['[]', /must be a JSON object/],
    ];
    for (const [text, re] of cases) {
      const file = join(root, 'bad.json');
      writeFileSync(file, text);
      const r = await runCli(['hub', '--config', file]);
      oneLine(r, 2, re);
      expect(r.stderr).toMatch(/\[CONFIG_INVALID\]\n$/);
    }
    oneLine(await runCli(['hub', '--config', join(root, 'none.json')]), 2, /cannot be read/);
  });
});
