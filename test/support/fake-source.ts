// A source the test drives by hand: what it emits goes straight to the recorder's sink.
import type { Source, SourceEvent } from '../../src/device/sources/source.js';

export class FakeSource implements Source {
  sink: ((ev: SourceEvent) => void) | null = null;
  stopped = false;
  readonly port = '/dev/fake';
  constructor(
    readonly name: string,
    readonly driver: 'line' | 'nmea' | 'firmata' = 'line',
  ) {}
  start(sink: (ev: SourceEvent) => void): void {
    this.sink = sink;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  emit(ev: SourceEvent): void {
    this.sink!(ev);
  }
  reading(sensor: string, value: number, unit?: string): void {
    this.emit({
      kind: 'readings',
      readings: [unit === undefined ? { sensor, value } : { sensor, value, unit }],
    });
  }
}
