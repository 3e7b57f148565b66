import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/cli/hub-export.js';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-export-'));
const dir = join(root, 'hub');
afterAll(() => rmSync(root, { recursive: true, force: true }));

beforeAll(async () => {
  const hub = await EventLog.open(dir, { create: true, fleet: true });
  for (const id of ['pi-a', 'pi-b']) {
    const dev = await EventLog.memory({ device: id });
    await dev.appendMany([
      {
        type: 'ReadingRecorded',
        data: { source: 'n', sensor: 'temp', value: 21.5, unit: 'C' },
        meta: { actor: 'sensor:n' },
      },
      { type: 'NoteAdded', data: { text: 'said "hi", twice\nreally' }, meta: { actor: 'operator:ana' } },
    ]);
    const evs = [];
    for await (const e of dev.events()) evs.push(e);
    await hub.appendSealed(evs);
    await dev.close();
  }
  await hub.close();
});

function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += c;
  }
  return rows;
}

describe('fieldlog hub export', () => {
  it('exports a device as CSV with readings in columns and other payloads as JSON', async () => {
    const r = await runCli(['hub', 'export', '--data', dir, '--device', 'pi-b', '--format', 'csv']);
    expect(r.code, r.stderr).toBe(0);
    const rows = parseCsv(r.stdout);
    expect(rows[0]).toEqual(CSV_COLUMNS.slice(1));
    expect(rows[1]).toEqual([
      'pi-b',
      '1',
      expect.any(String),
      'ReadingRecorded',
      'sensor:n',
      'n',
      'temp',
      '21.5',
      'C',
      '',
    ]);
    expect(JSON.parse(rows[2]![9]!)).toEqual({ text: 'said "hi", twice\nreally' });
  });

  it('exports the fleet in arrival order as NDJSON, to a file', async () => {
    const out = join(root, 'fleet.ndjson');
    const r = await runCli(['hub', 'export', '--data', dir, '--fleet', '--out', out]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a terminal
    const lines = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => `${l.position}:${l.event.device}:${l.event.seq}`)).toEqual([
      '1:pi-a:1',
      '2:pi-a:2',
      '3:pi-b:1',
      '4:pi-b:2',
    ]);
  });

  it('refuses wrong arguments in one line', async () => {
    for (const args of [
      ['hub', 'export', '--data', dir],
      ['hub', 'export', '--data', dir, '--fleet', '--device', 'pi-a'],
      ['hub', 'export', '--data', dir, '--fleet', '--format', 'xml'],
    ]) {
      const r = await runCli(args);
      expect(r.code).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    const unknown = await runCli(['hub', 'export', '--data', dir, '--device', 'nope']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/DEVICE_UNKNOWN/);
  });
});
