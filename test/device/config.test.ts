import { describe, expect, it } from 'vitest';
import { resolveDeviceConfig } from '../../src/device/config.js';

const file = {
  id: 'pi-01',
  fleet: 'north',
  sources: [
    { name: 'node', driver: 'line', port: '/dev/ttyUSB0', baud: 115200, rateMs: 1000 },
    { name: 'gps', driver: 'nmea', port: '/dev/serial0', baud: 9600 },
    {
      name: 'uno',
      driver: 'firmata',
      port: '/dev/ttyACM0',
      pins: [{ sensor: 'light', pin: 'A0', unit: '%', scale: [0, 100] }],
    },
  ],
  alarms: [{ sensor: 'temp', above: 30, below: -5, hysteresis: 0.5 }],
};

function message(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    return (err as Error).message;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('device configuration', () => {
  it('accepts a full file', () => {
    expect(resolveDeviceConfig(file, {})).toEqual(file);
  });

  it("accepts a Firmata pin's display precision", () => {
    const pins = [{ sensor: 'light', pin: 'A0', scale: [0, 100], precision: 1 }];
    const cfg = { ...file, sources: [{ ...file.sources[2], pins }] };
    expect(resolveDeviceConfig(cfg, {}).sources[0]).toMatchObject({ pins });
  });

  it('lets flags win over the file', () => {
    const c = resolveDeviceConfig(file, {
      id: 'pi-02',
      mqtt: 'mqtt://hub:1883',
      driver: 'line',
      port: '/dev/ttyS1',
      source: 'node',
    });
    expect(c.id).toBe('pi-02');
    expect(c.mqtt).toEqual({ url: 'mqtt://hub:1883' });
    expect(c.sources[0]).toEqual({
      name: 'node',
      driver: 'line',
      port: '/dev/ttyS1',
      baud: 115200,
      rateMs: 1000,
    });
    const flagsOnly = resolveDeviceConfig(undefined, {
      id: 'x',
      driver: 'nmea',
      port: '/dev/pts/3',
      baud: 4800,
    });
    expect(flagsOnly.sources).toEqual([{ name: 'nmea', driver: 'nmea', port: '/dev/pts/3', baud: 4800 }]);
  });

  it('names the bad key or value in one line', () => {
    const cases: [unknown, RegExp][] = [
      [{ ...file, colour: 'red' }, /unknown key "colour"/],
      [{ ...file, id: 'has space' }, /id: must match/],
      [{ ...file, sources: [{ ...file.sources[0], driver: 'modbus' }] }, /sources\[0\]\.driver/],
      [{ ...file, sources: [{ ...file.sources[0], parity: 'even' }] }, /unknown key "sources\[0\]\.parity"/],
      [{ ...file, sources: [] }, /sources: at least one source/],
      [{ ...file, sources: [file.sources[0], file.sources[0]] }, /sources\[1\]\.name: duplicate source name/],
      [
        { ...file, sources: [{ name: 'uno', driver: 'firmata', port: '/dev/x' }] },
        /sources\[0\]\.pins: a firmata source needs pins/,
      ],
      [
        { ...file, sources: [{ ...file.sources[2], pins: [{ sensor: 'light', pin: 'A0', precision: 7 }] }] },
        /sources\[0\]\.pins\[0\]\.precision/,
      ],
      [{ ...file, alarms: [{ sensor: 'temp' }] }, /alarms\[0\]: an alarm needs above or below/],
      [{ ...file, alarms: [{ sensor: 'temp', above: 1, below: 2 }] }, /below must be less than above/],
      [{ ...file, mqtt: { url: 'http://x' } }, /mqtt\.url/],
      [[1, 2], /must be a JSON object/],
      [{ ...file, durability: 'sometimes' }, /durability: .*"every-commit"\|"interval"/],
    ];
    for (const [cfg, re] of cases) {
      const m = message(() => resolveDeviceConfig(cfg, {}, 'cfg.json'));
      expect(m, JSON.stringify(cfg)).toMatch(re);
      expect(m).toMatch(/^cfg\.json: /);
      expect(m).not.toContain('\n');
    }
    expect(message(() => resolveDeviceConfig(undefined, { id: 'x', port: '/dev/x' }))).toMatch(
      /--driver is needed/,
    );
    expect(message(() => resolveDeviceConfig(undefined, { id: 'x' }))).toMatch(/sources/);
  });

  it('takes the metrics endpoint from the file, the flags winning', () => {
    expect(resolveDeviceConfig({ ...file, metrics: { port: 9100 } }, {}).metrics).toEqual({ port: 9100 });
    expect(
      resolveDeviceConfig({ ...file, metrics: { port: 9100, host: '0.0.0.0' } }, { metrics: 9200 }).metrics,
    ).toEqual({ port: 9200, host: '0.0.0.0' });
    expect(message(() => resolveDeviceConfig({ ...file, metrics: { port: 70000 } }, {}, 'cfg.json'))).toMatch(
      /^cfg\.json: metrics\.port: /,
    );
    expect(message(() => resolveDeviceConfig(file, { metricsHost: '0.0.0.0' }))).toMatch(
      /--metrics-host needs --metrics PORT/,
    );
  });

  it('takes the durability mode, every commit by default', () => {
    expect(resolveDeviceConfig(file, {}).durability).toBeUndefined();
    expect(resolveDeviceConfig({ ...file, durability: 'interval' }, {}).durability).toBe('interval');
    expect(resolveDeviceConfig({ ...file, durability: 'every-commit' }, {}).durability).toBe('every-commit');
  });
});
