// Display precision: how many decimals a sensor's values are shown with (never what is recorded).
import { describe, expect, it } from 'vitest';
import { configuredPrecision } from '../../src/device/display-precision.js';
import { describeEvent } from '../../src/log/describe.js';
import { decimalsOf, formatFixed, SensorPrecision, stepDecimals } from '../../src/log/precision.js';

describe('decimals', () => {
  it('counts the decimals of the shortest text that reads back as the value', () => {
    expect(decimalsOf(21)).toBe(0);
    expect(decimalsOf(21.5)).toBe(1);
    expect(decimalsOf(-0.001)).toBe(3);
    expect(decimalsOf(1.5e-7)).toBe(8);
    expect(decimalsOf(1e21)).toBe(0);
    expect(decimalsOf(41.348973607038126)).toBe(15);
  });

  it('finds the decimals that tell two ADC steps apart', () => {
    expect(stepDecimals(100 / 1023)).toBe(2);
    expect(stepDecimals(5 / 1023)).toBe(3);
    expect(stepDecimals(1)).toBe(0);
    expect(stepDecimals(0.1)).toBe(1);
    expect(stepDecimals(1000 / 1023)).toBe(1);
    expect(stepDecimals(0)).toBe(0);
  });

  it('formats with exactly that many decimals, and never "-0.00"', () => {
    expect(formatFixed(21.5, 2)).toBe('21.50');
    expect(formatFixed(-0.001, 2)).toBe('0.00');
    expect(formatFixed(1013.25, 0)).toBe('1013');
  });
});

describe('SensorPrecision', () => {
  it('shows a sensor with the most decimals it has sent, capped, and a configured one as configured', () => {
    const p = new SensorPrecision({ light: 2 });
    p.see('temp', 21.5);
    expect(p.format('temp', 21.5)).toBe('21.5');
    p.see('temp', 21.47);
    expect(p.format('temp', 21.5)).toBe('21.50');
    expect(p.format('temp', 22)).toBe('22.00');
    p.see('light', 41.348973607038126);
    expect(p.format('light', 41.348973607038126)).toBe('41.35');
    // a computed value with no configuration behind it: capped, not fifteen digits
    expect(p.format('other', 41.348973607038126)).toBe('41.348974');
    // a limit shows at least the decimals it was set with
    expect(p.formatLimit('temp', 30)).toBe('30.00');
    expect(p.formatLimit('temp', 30.125)).toBe('30.125');
  });

  it('takes a Firmata pin precision from its scale over the 10-bit ADC, or as configured', () => {
    const sources = [
      {
        name: 'uno',
        driver: 'firmata' as const,
        port: '/dev/ttyACM0',
        pins: [
          { sensor: 'light', pin: 'A0', scale: [0, 100] as [number, number] },
          { sensor: 'soil', pin: 'A1', scale: [0, 5] as [number, number], precision: 1 },
          { sensor: 'raw', pin: 'A2' },
        ],
      },
      { name: 'node', driver: 'line' as const, port: '/dev/ttyUSB0' },
    ];
    expect(configuredPrecision({ sources })).toEqual({ light: 2, soil: 1, raw: 0 });
  });
});

describe('describeEvent to the sensor precision', () => {
  it('words readings, alarms and limits with the sensor decimals; the data is untouched', () => {
    const p = new SensorPrecision({ light: 2 });
    const reading = {
      type: 'ReadingRecorded',
      data: { source: 'uno', sensor: 'light', value: 14.173998044965787 },
    };
    expect(describeEvent(reading, p)).toBe('light = 14.17');
    expect(reading.data.value).toBe(14.173998044965787);
    expect(
      describeEvent(
        {
          type: 'AlarmRaised',
          data: {
            alarm: 'light-below',
            sensor: 'light',
            kind: 'below',
            limit: 15,
            value: 14.173998044965787,
          },
        },
        p,
      ),
    ).toBe('ALARM light below 15.00: 14.17');
    expect(
      describeEvent(
        { type: 'AlarmCleared', data: { alarm: 'light-below', sensor: 'light', value: 41.348973607038126 } },
        p,
      ),
    ).toBe('alarm light-below cleared at 41.35');
    expect(
      describeEvent(
        {
          type: 'ThresholdChanged',
          data: { sensor: 'light', above: null, below: 12.5 },
          meta: { actor: 'operator:ana' },
        },
        p,
      ),
    ).toBe('limits of light: above none, below 12.50 by ana');
    // without a precision, a value shows its own decimals, capped
    expect(
      describeEvent({ type: 'AlarmCleared', data: { alarm: 'x', sensor: 'x', value: 41.348973607038126 } }),
    ).toBe('alarm x cleared at 41.348974');
  });
});
