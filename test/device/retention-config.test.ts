// The device's retention settings (src/device/config.ts, src/device/retention.ts): the keys a
// config file may give, their values refused in one line, and the durations they take.
import { describe, expect, it } from 'vitest';
import { resolveDeviceConfig } from '../../src/device/config.js';
import { parseDuration } from '../../src/device/retention.js';

const file = { id: 'pi-01', sources: [{ name: 'node', driver: 'line', port: '/dev/ttyUSB0' }] };

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    return (err as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('retention settings', () => {
  it('takes keep and afterAck; none means nothing is pruned', () => {
    expect(resolveDeviceConfig(file, {}).retention).toBeUndefined();
    expect(
      resolveDeviceConfig({ ...file, retention: { keep: '30d', afterAck: true } }, {}).retention,
    ).toEqual({
      keep: '30d',
      afterAck: true,
    });
    expect(resolveDeviceConfig({ ...file, retention: {} }, {}).retention).toEqual({});
  });

  it('refuses a bad duration, a bad afterAck and an unknown key in one line', () => {
    expect(
      message(() => resolveDeviceConfig({ ...file, retention: { keep: '30 days' } }, {}, 'f.json')),
    ).toBe('f.json: retention.keep: must be a duration like 30d, 12h, 90m or 45s');
    expect(
      message(() => resolveDeviceConfig({ ...file, retention: { afterAck: 'yes' } }, {}, 'f.json')),
    ).toMatch(/^f\.json: retention\.afterAck: /);
    expect(message(() => resolveDeviceConfig({ ...file, retention: { kept: '1d' } }, {}, 'f.json'))).toBe(
      'f.json: unknown key "retention.kept"',
    );
  });

  it('reads durations in seconds, minutes, hours and days', () => {
    expect(parseDuration('45s')).toBe(45_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('30d')).toBe(30 * 86_400_000);
    expect(() => parseDuration('30')).toThrow(/must be a duration/);
  });
});
