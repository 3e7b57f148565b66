// The tail of the event log in words. Readings arrive hundreds a second and would bury
// everything else, so a run of them collapses into one line that counts them. A line of a
// boot whose clock was synchronised after it carries its corrected time (docs/protocol.md §4.1).
import { anchorOf, correctedBy } from '../log/clock-correction.js';
import { describeEvent } from '../log/describe.js';
import type { FoldEvent } from '../log/event-log.js';
import { SensorPrecision } from '../log/precision.js';

export interface TailEntry {
  /** The last seq the line covers. */
  seq: number;
  time: string;
  /** The process start that wrote it, and its monotonic time (of the last reading of a run). */
  boot: string;
  mono: number;
  /** Its corrected time (ms), when a ClockSynced of its boot came after it. */
  corrected?: number;
  text: string;
  /** What colour the line wants. */
  tone: 'alarm' | 'operator' | 'fault' | 'plain' | 'readings';
  readings?: { count: number; sensors: Set<string> };
}

type TailEvent = Pick<FoldEvent, 'seq' | 'type' | 'data' | 'meta' | 'time' | 'boot' | 'mono'>;

const FAULTS = new Set([
  'SourceDisconnected',
  'FramesRejected',
  'FramesLost',
  'SourceFaultReported',
  'DeviceStopped',
]);

function toneOf(e: TailEvent): TailEntry['tone'] {
  if (e.type === 'AlarmRaised') return 'alarm';
  if (e.meta?.actor?.startsWith('operator:')) return 'operator';
  if (FAULTS.has(e.type)) return 'fault';
  return 'plain';
}

export class EventTail {
  private entries: TailEntry[] = [];
  constructor(
    readonly capacity = 200,
    /** Shared with the console, which feeds it every reading. */
    private readonly precision = new SensorPrecision(),
  ) {}

  add(e: TailEvent): void {
    this.push1(e);
    this.sync(e);
  }

  /**
   * A ClockSynced (seen live, or read after a HISTORY window) corrects the lines of its boot
   * before it that no earlier sync corrected: the first sync after an event is the one in force.
   */
  sync(e: Pick<FoldEvent, 'seq' | 'type' | 'time' | 'boot' | 'mono' | 'data'>): void {
    const a = anchorOf(e);
    if (!a) return;
    for (const entry of this.entries)
      if (entry.boot === e.boot && entry.seq < e.seq && entry.corrected === undefined)
        entry.corrected = correctedBy(a, entry.mono);
  }

  private push1(e: TailEvent): void {
    if (e.type === 'ReadingRecorded' && e.data !== null) {
      const last = this.entries.at(-1);
      const sensor = typeof e.data.sensor === 'string' ? e.data.sensor : '?';
      if (last?.readings && last.boot === e.boot) {
        last.readings.count++;
        last.readings.sensors.add(sensor);
        last.seq = e.seq;
        last.time = e.time;
        last.mono = e.mono;
        return;
      }
      this.push({
        seq: e.seq,
        time: e.time,
        boot: e.boot,
        mono: e.mono,
        text: '',
        tone: 'readings',
        readings: { count: 1, sensors: new Set([sensor]) },
      });
      return;
    }
    this.push({
      seq: e.seq,
      time: e.time,
      boot: e.boot,
      mono: e.mono,
      text: describeEvent(e, this.precision),
      tone: toneOf(e),
    });
  }

  private push(entry: TailEntry): void {
    this.entries.push(entry);
    // trim in steps so a busy log does not shift the array on every event
    if (this.entries.length > this.capacity * 1.5) this.entries = this.entries.slice(-this.capacity);
  }

  /** The newest `n` lines, oldest first. */
  last(n: number): TailEntry[] {
    return n <= 0 ? [] : this.entries.slice(-n);
  }

  clear(): void {
    this.entries = [];
  }
}

/** The words of a line; a run of readings is summarised when it is drawn, not per reading. */
export function tailText(entry: TailEntry): string {
  if (!entry.readings) return entry.text;
  const names = [...entry.readings.sensors].sort();
  const shown = names.length > 4 ? `${names.slice(0, 3).join(', ')}, +${names.length - 3}` : names.join(', ');
  const n = entry.readings.count;
  return `${n} reading${n === 1 ? '' : 's'} (${shown})`;
}
