// The config file is outside input: UTF-8 I-JSON or CONFIG_INVALID naming the key.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfigFile } from '../../src/device/config.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function file(name: string, content: string | Buffer): string {
  const p = join(root, name);
  writeFileSync(p, content);
  return p;
}

describe('reading a config file', () => {
  it('reads I-JSON as JSON.parse does', () => {
    const text = '{"id":"pi-01","alarms":[{"sensor":"temp","above":30.0,"hysteresis":0.50}]}';
    expect(readConfigFile(file('ok.json', text))).toEqual(JSON.parse(text));
  });

  it.each([
    [
      'dup.json',
      '{"id":"pi-01","mqtt":{"url":"mqtt://a","url":"mqtt://b"}}',
      'duplicate key "url" at mqtt.url',
    ],
    [
      'proto.json',
      '{"id":"pi-01","mqtt":{"__proto__":{"url":"mqtt://a"}}}',
      'key "__proto__" at mqtt.__proto__',
    ],
    ['lone.json', '{"id":"pi-01","fleet":"n\\udc00"}', 'lone surrogate \\udc00 in a string at fleet'],
    [
      'long.json',
      '{"alarms":[{"sensor":"t","above":30.000000000000000001}]}',
      'number 30.000000000000000001 has more digits than a double holds (it would read as 30) at alarms[0].above',
    ],
  ])('refuses %s naming the key', (name, text, what) => {
    const p = file(name, text);
    expect(() => readConfigFile(p)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: expect.stringContaining(`${p}: ${what}`) }),
    );
  });

  it('refuses bytes that are not UTF-8', () => {
    const p = file('latin1.json', Buffer.from('{"id":"pi-01","fleet":"caf\xe9"}', 'latin1'));
    expect(() => readConfigFile(p)).toThrow(
      expect.objectContaining({ code: 'CONFIG_INVALID', message: `${p}: not UTF-8` }),
    );
  });
});
