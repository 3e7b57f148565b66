// Builds the configured sources: the one place that knows every driver.
import type { DeviceConfig, SourceConfig } from './config.js';
import { FirmataSource } from './sources/firmata-source.js';
import { LineSource } from './sources/line-source.js';
import { NmeaSource } from './sources/nmea-source.js';
import type { Source, SourceDeps } from './sources/source.js';

export function createSource(s: SourceConfig, deps: SourceDeps = {}): Source {
  const common = { name: s.name, port: s.port, ...(s.baud !== undefined ? { baud: s.baud } : {}) };
  switch (s.driver) {
    case 'line':
      return new LineSource(
        {
          ...common,
          ...(s.rateMs !== undefined ? { rateMs: s.rateMs } : {}),
          identify: s.identify ?? true,
        },
        deps,
      );
    case 'nmea':
      return new NmeaSource(common, deps);
    case 'firmata':
      return new FirmataSource(
        { ...common, pins: s.pins ?? [], ...(s.sampleMs !== undefined ? { sampleMs: s.sampleMs } : {}) },
        deps,
      );
  }
}

export function createSources(config: DeviceConfig, deps: SourceDeps = {}): Source[] {
  return config.sources.map((s) => createSource(s, deps));
}
