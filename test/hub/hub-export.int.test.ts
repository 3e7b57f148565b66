import { spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_COLUMNS } from '../../src/cli/hub-export.js';
import { EventLog } from '../../src/log/event-log.js';
import { CLI, type Run, runCli } from '../support/cli.js';

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
  // a bigger store, whose export takes many writes
  const big = await EventLog.open(join(root, 'big'), { create: true, fleet: true });
  const dev = await EventLog.memory({ device: 'pi-big' });
  await dev.appendMany(
    Array.from({ length: 3000 }, (_, i) => ({
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 'temp', value: i / 10, unit: 'C' },
      meta: { actor: 'sensor:n' },
    })),
  );
  const evs = [];
  for await (const e of dev.events()) evs.push(e);
  await big.appendSealed(evs);
  await dev.close();
  await big.close();
  // reopened once, LevelDB has moved its write-ahead log into tables: a later open writes
  // only a few bytes, so a file-size limit below falls on the export alone
  await (await EventLog.open(join(root, 'big'))).close();
  const device = await EventLog.open(join(root, 'device-log'), { create: true, device: 'pi-d' });
  await device.append({ type: 'NoteAdded', data: { text: 'hello' }, meta: { actor: 'operator:ana' } });
  await device.close();
});

/** The CLI with the shell's file-size limit (KiB): writes beyond it fail with EFBIG, as on a full disk. */
function runWithFileLimit(kib: number, args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `ulimit -f ${kib}; exec "$0" "$@"`, process.execPath, CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Exit code 1, one line naming the file and OUTPUT_FAILED, nothing on stdout. */
function expectFailedOutput(r: Run, words: RegExp): void {
  expect(r.code, r.stderr).toBe(1);
  expect(r.stderr).toMatch(/^fieldlog: hub export: cannot write [^\n]+ \[OUTPUT_FAILED\]\n$/);
  expect(r.stderr).toMatch(words);
  expect(r.stdout).toBe('');
}

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

  it('refuses --fleet on a device log, saying what it is', async () => {
    const r = await runCli(['hub', 'export', '--data', join(root, 'device-log'), '--fleet']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^fieldlog: [^\n]*is a device log \(of pi-d\), not a hub store[^\n]*\[USAGE\]\n$/,
    );
    expect(r.stdout).toBe('');
  });

  it('refuses since after until in one line', async () => {
    const r = await runCli([
      'hub',
      'export',
      '--data',
      dir,
      '--fleet',
      '--since',
      '2026-11-25T00:00:00Z',
      '--until',
      '2026-11-24T00:00:00Z',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--since 2026-11-25T00:00:00Z is after --until[^\n]*\[USAGE\]\n$/);
  });
});

describe('fieldlog hub export --out where it cannot write', () => {
  it('fails in one line for a missing folder, writing nothing', async () => {
    const out = join(root, 'no-such-folder', 'x.ndjson');
    expectFailedOutput(
      await runCli(['hub', 'export', '--data', dir, '--fleet', '--out', out]),
      /the folder \S*no-such-folder does not exist/,
    );
    expect(existsSync(join(root, 'no-such-folder'))).toBe(false);
  });

  it('fails in one line for a folder, leaving it as it was', async () => {
    const folder = join(root, 'a-folder');
    mkdirSync(folder);
    expectFailedOutput(
      await runCli(['hub', 'export', '--data', dir, '--fleet', '--out', folder]),
      /it is a folder/,
    );
    expect(readdirSync(folder)).toEqual([]);
  });

  it('fails in one line where no file can be created', async () => {
    // As root, permissions stop nothing; procfs refuses new files to everyone.
    expectFailedOutput(
      await runCli(['hub', 'export', '--data', dir, '--fleet', '--out', '/proc/fieldlog-export.ndjson']),
      /\/proc\/fieldlog-export\.ndjson/,
    );
  });

  it('fails in one line on a full device (/dev/full: ENOSPC on write)', async () => {
    expectFailedOutput(
      await runCli(['hub', 'export', '--data', dir, '--fleet', '--out', '/dev/full']),
      /no space left on the device \(ENOSPC\)/,
    );
  });

  it('fails when the file cannot grow mid-way, leaving no file and an older one untouched', async () => {
    const out = join(root, 'limited', 'big.ndjson');
    mkdirSync(join(root, 'limited'));
    writeFileSync(out, 'the previous export\n');
    const r = await runWithFileLimit(64, [
      'hub',
      'export',
      '--data',
      join(root, 'big'),
      '--fleet',
      '--format',
      'csv',
      '--out',
      out,
    ]);
    expectFailedOutput(r, /\(EFBIG\)/);
    expect(readdirSync(join(root, 'limited'))).toEqual(['big.ndjson']);
    expect(readFileSync(out, 'utf8')).toBe('the previous export\n');
    // with room, the same export is written whole, over the old file
    const ok = await runCli([
      'hub',
      'export',
      '--data',
      join(root, 'big'),
      '--fleet',
      '--format',
      'csv',
      '--out',
      out,
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toHaveLength(3001);
    expect(readdirSync(join(root, 'limited'))).toEqual(['big.ndjson']);
  });

  it('fails when stdout cannot be written (a full disk behind >)', async () => {
    const r = await new Promise<Run>((resolve, reject) => {
      const child = spawn(
        'sh',
        [
          '-c',
          'exec "$0" "$@" > /dev/full',
          process.execPath,
          CLI,
          'hub',
          'export',
          '--data',
          dir,
          '--fleet',
        ],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout: '', stderr }));
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /^fieldlog: cannot write to stdout: no space left on the device \(ENOSPC\) \[OUTPUT_FAILED\]\n$/,
    );
  });
});
