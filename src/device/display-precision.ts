// The decimals a device's configuration implies for its sensors' values, for the console and
// the headless event lines (display only; the log keeps what was measured). A Firmata pin
// reads a 10-bit ADC: over `scale: [lo, hi]` one step is (hi − lo) / 1023, and showing more
// decimals than tell two steps apart would only show arithmetic. Line and NMEA sensors are
// not listed: they show the decimals the node sent (SensorPrecision learns them).
import { stepDecimals } from '../log/precision.js';
import type { DeviceConfig } from './config.js';

/** StandardFirmata's analogRead range on an Uno: 0–1023. */
const ADC_STEPS = 1023;

export function configuredPrecision(config: Pick<DeviceConfig, 'sources'>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const source of config.sources) {
    for (const pin of source.pins ?? []) {
      if (pin.precision !== undefined) out[pin.sensor] = pin.precision;
      else if (pin.scale !== undefined)
        out[pin.sensor] = stepDecimals(Math.abs(pin.scale[1] - pin.scale[0]) / ADC_STEPS);
      else out[pin.sensor] = 0; // raw ADC counts
    }
  }
  return out;
}
