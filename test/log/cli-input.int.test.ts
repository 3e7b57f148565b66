// External JSON given to the CLI is I-JSON or refused: `log append` stops at a line that
// JSON.parse would silently change (or whose known type has a wrong payload), naming the
// line and the key, with nothing from that line on written; a config file likewise.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-cli-input-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

const good = (from: number) =>
  Array.from({ length: 3 }, (_, i) =>
    JSON.stringify({ type: 'ReadingRecorded', data: { source: 'n', sensor: 'temp', value: from + i } }),
  ).join('\n');

describe('log append refuses input it would change', () => {
  it.each([
    [
      'a "__proto__" key in data',
      '{"type":"NoteAdded","data":{"text":"x","__proto__":{"y":1}}}',
      'data.__proto__',
    ],
    [
      'a "__proto__" key in meta',
      '{"type":"NoteAdded","data":{"text":"x"},"meta":{"__proto__":{"actor":"system"}}}',
      'meta.__proto__',
    ],
    [
      'a duplicate key',
      '{"type":"ReadingRecorded","data":{"source":"n","sensor":"temp","value":1,"value":2}}',
      'data.value',
    ],
    [
      'a duplicate key at the top',
      '{"type":"NoteAdded","data":{"text":"a"},"data":{"text":"b"}}',
      'duplicate key "data"',
    ],
    ['a lone surrogate', '{"type":"NoteAdded","data":{"text":"ok \\ud800"}}', 'data.text'],
    [
      'a number a double cannot hold',
      '{"type":"ReadingRecorded","data":{"source":"n","sensor":"temp","value":12345678901234567890}}',
      'data.value',
    ],
    ['a number beyond a double', '{"type":"NoteAdded","data":{"text":"x","n":1e400}}', 'data.n'],
    ['a ReadingRecorded that is not a reading', '{"type":"ReadingRecorded","data":{"foo":1}}', 'data.source'],
    [
      'a ReadingRecorded with a string value',
      '{"type":"ReadingRecorded","data":{"source":"n","sensor":"t","value":"21.5"}}',
      'data.value',
    ],
    [
      'a meta value that is not a string',
      '{"type":"NoteAdded","data":{"text":"x"},"meta":{"n":5}}',
      'meta.n',
    ],
    [
      'a meta value that is an object',
      '{"type":"NoteAdded","data":{"text":"x"},"meta":{"actor":"system","by":{"name":"ann"}}}',
      'meta.by',
    ],
    // a redaction has its own command, with its checks (reason, actor) and its purge
    [
      'an EventRedacted',
      '{"type":"EventRedacted","data":{"seq":1,"reason":"pii"},"meta":{"actor":"operator:ann"}}',
      'fieldlog log redact',
    ],
  ])('%s: EVENT_INVALID naming the line and key, nothing from it on written', async (_, bad, key) => {
    const dir = join(root, `a${n++}`);
    const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], {
      input: `${good(0)}\n${bad}\n${good(10)}\n`,
    });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(/^fieldlog: line 4: .*\[EVENT_INVALID\]$/);
    expect(err[0]).toContain(key);
    const log = await EventLog.open(dir);
    expect(log.head().seq).toBe(3);
    await expect(log.verify()).resolves.toMatchObject({ ok: true });
    await log.close();
  });

  it('refuses a line that is not UTF-8 rather than replacing its bytes', async () => {
    const dir = join(root, `a${n++}`);
    const bad = Buffer.from('{"type":"NoteAdded","data":{"text":"caf\xe9"}}', 'latin1');
    const input = Buffer.concat([Buffer.from(`${good(0)}\r\n`), bad, Buffer.from(`\n${good(10)}\n`)]);
    const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], { input });
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('fieldlog: line 4: not UTF-8 [EVENT_INVALID]');
    const log = await EventLog.open(dir);
    expect(log.head().seq).toBe(3);
    await log.close();
  });

  it('still accepts what it keeps exactly: 1.0, 1e2, escaped pairs, unknown types with any payload', async () => {
    const dir = join(root, `a${n++}`);
    const input = [
      '{"type":"ReadingRecorded","data":{"source":"n","sensor":"t","value":1.0,"unit":"\\u00b0C","quality":"good"}}',
      '{"type":"NoteAdded","data":{"text":"\\ud83d\\ude00 1e2","n":1e2}}',
      '{"type":"PumpStarted","data":{"anything":[1,{"a":1},{"a":2}]}}',
    ].join('\n');
    const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], { input });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const cat = await runCli(['log', 'cat', dir]);
    const data = cat.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).data);
    expect(data).toEqual([
      { source: 'n', sensor: 't', value: 1, unit: '°C', quality: 'good' },
      { text: '😀 1e2', n: 100 },
      { anything: [1, { a: 1 }, { a: 2 }] },
    ]);
  });
});

describe('log append as a writer', () => {
  it('omits an empty meta, so that {} and no meta seal the same event', async () => {
    const dir = join(root, `a${n++}`);
    const input = [
      '{"type":"NoteAdded","data":{"text":"x"},"meta":{}}',
      '{"type":"NoteAdded","data":{"text":"y"}}',
    ].join('\n');
    const r = await runCli(['log', 'append', dir, '--device', 'pi-01'], { input });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const cat = await runCli(['log', 'cat', dir]);
    const [first, second] = cat.stdout.trim().split('\n');
    expect(first).not.toContain('"meta"');
    expect(JSON.parse(first!)).not.toHaveProperty('meta');
    expect(second).not.toContain('"meta"');
    const log = await EventLog.open(dir);
    await expect(log.verify()).resolves.toMatchObject({ ok: true, events: 2 });
    await log.close();
  });
});

describe('a config file', () => {
  it('with a duplicate key is CONFIG_INVALID naming the key, before anything is opened', async () => {
    const config = join(root, 'dup.json');
    writeFileSync(
      config,
      '{"id":"pi-01","sources":[{"name":"node","driver":"line","port":"/dev/null","baud":9600,"baud":-1}]}',
    );
    // the value kept by JSON.parse is refused anyway: without the rule this fails, not hangs
    const dir = join(root, `d${n++}`);
    const r = await runCli(['device', '--config', config, '--data', dir, '--no-ui']);
    expect(r.code).toBe(2);
    const err = r.stderr.trim().split('\n');
    expect(err).toHaveLength(1);
    expect(err[0]).toMatch(
      /^fieldlog: .*dup\.json: duplicate key "baud" at sources\[0\]\.baud.*\[CONFIG_INVALID\]$/,
    );
    expect(existsSync(dir)).toBe(false);
  });

  it('with a "__proto__" key is CONFIG_INVALID too', async () => {
    const config = join(root, 'proto.json');
    writeFileSync(config, '{"id":"pi-01","__proto__":{"fleet":"north"}}');
    const r = await runCli(['device', '--config', config, '--data', join(root, `d${n++}`), '--no-ui']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/key "__proto__" at __proto__.*\[CONFIG_INVALID\]/);
  });
});
