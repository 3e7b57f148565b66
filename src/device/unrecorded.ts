// Readings the device could not record, counted so that nothing is lost silently: a full
// filesystem (`disk-full`, see full-disk.ts) or a disk budget's `stop` policy (`disk-budget`)
// counts each reading here instead of writing it; `record()` writes what was counted as one
// `ReadingsNotRecorded {count, reason, since, until, sensors}` per reason once writing works
// again, and starts over. One warning line says when counting starts (then the event, and
// the metric `fieldlog_device_readings_not_recorded_total{reason}`, say the rest).
import type { Envelope, EventInput } from '../log/envelope.js';
import type { ReadingsNotRecorded } from '../log/events.js';

export type NotRecordedReason = 'disk-full' | 'disk-budget';

export const NOT_RECORDED_REASONS: readonly NotRecordedReason[] = ['disk-full', 'disk-budget'];

/** What one warning line says, per reason. */
const WHY: Record<NotRecordedReason, string> = {
  'disk-full': "the log's filesystem is full",
  'disk-budget': 'the log is at its disk budget (policy "stop")',
};

export interface UnrecordedOptions {
  /** Where the one line is said when counting starts (stderr in the device). */
  warn: (line: string) => void;
  now?: () => number;
}

interface Tally {
  count: number;
  since: number;
  until: number;
  sensors: Map<string, number>;
  /** Other events not recorded (beyond what the recorder holds for later), per type. */
  events: Map<string, number>;
}

/** The log's side `record` needs: one atomic append of several events. */
export interface RecordsTo {
  appendMany(inputs: EventInput[]): Promise<Envelope[]>;
}

export class UnrecordedReadings {
  /** Counted and not yet recorded, per reason. */
  private readonly open = new Map<NotRecordedReason, Tally>();
  /** Counted since the process started, per reason (the metric). */
  private readonly totals = new Map<NotRecordedReason, number>();
  /** Reasons whose count is being written: counting meanwhile starts no new warning. */
  private readonly recording = new Set<NotRecordedReason>();
  private readonly now: () => number;

  constructor(private readonly opts: UnrecordedOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** Say one line where this counter's warnings go. */
  warn(line: string): void {
    this.opts.warn(line);
  }

  /** Readings of `sensors` (one entry per reading) were not recorded, for `reason`. */
  count(reason: NotRecordedReason, sensors: readonly string[], at = this.now()): void {
    if (sensors.length === 0) return;
    const t = this.tally(reason, at);
    t.count += sensors.length;
    for (const s of sensors) t.sensors.set(s, (t.sensors.get(s) ?? 0) + 1);
    this.totals.set(reason, this.total(reason) + sensors.length);
  }

  /** An event other than a reading of type `type` was not recorded either (not in the metric). */
  countEvent(reason: NotRecordedReason, type: string, at = this.now()): void {
    const t = this.tally(reason, at);
    t.events.set(type, (t.events.get(type) ?? 0) + 1);
  }

  private tally(reason: NotRecordedReason, at: number): Tally {
    let t = this.open.get(reason);
    if (t === undefined) {
      t = { count: 0, since: at, until: at, sensors: new Map(), events: new Map() };
      this.open.set(reason, t);
      if (!this.recording.has(reason))
        this.opts.warn(
          `${new Date(at).toISOString()} warning: readings are NOT being recorded: ${WHY[reason]}; they are counted, and the count is recorded (ReadingsNotRecorded) when writing works again`,
        );
    }
    t.since = Math.min(t.since, at);
    t.until = Math.max(t.until, at);
    return t;
  }

  /** Readings counted for `reason` since the process started. */
  total(reason: NotRecordedReason): number {
    return this.totals.get(reason) ?? 0;
  }

  /** Whether readings are being counted for `reason` now (not yet recorded). */
  counting(reason?: NotRecordedReason): boolean {
    return reason === undefined ? this.open.size > 0 : this.open.has(reason);
  }

  /** What `record` would write now, per reason. */
  pending(reason?: NotRecordedReason): ReadingsNotRecorded[] {
    const out: ReadingsNotRecorded[] = [];
    for (const r of NOT_RECORDED_REASONS) {
      const t = this.open.get(r);
      if (t !== undefined && (reason === undefined || reason === r)) out.push(payload(r, t));
    }
    return out;
  }

  /**
   * Write what was counted (of `reason`, or of every reason) as ReadingsNotRecorded events in
   * one atomic append, and start over. When the append fails, the counts are kept (with what
   * was counted meanwhile) and the promise rejects with the log's error.
   */
  async record(log: RecordsTo, reason?: NotRecordedReason): Promise<Envelope[]> {
    const taken = new Map<NotRecordedReason, Tally>();
    for (const [r, t] of this.open) {
      if (reason !== undefined && r !== reason) continue;
      taken.set(r, t);
      this.open.delete(r);
    }
    if (taken.size === 0) return [];
    const inputs: EventInput[] = [];
    for (const r of NOT_RECORDED_REASONS) {
      const t = taken.get(r);
      if (t !== undefined)
        inputs.push({ type: 'ReadingsNotRecorded', data: { ...payload(r, t) }, meta: { actor: 'system' } });
    }
    for (const r of taken.keys()) this.recording.add(r);
    try {
      return await log.appendMany(inputs);
    } catch (err) {
      // put back: what was counted while the append was tried joins it (no second warning)
      for (const [r, t] of taken) {
        const now = this.open.get(r);
        if (now !== undefined) {
          t.count += now.count;
          t.since = Math.min(t.since, now.since);
          t.until = Math.max(t.until, now.until);
          for (const [s, n] of now.sensors) t.sensors.set(s, (t.sensors.get(s) ?? 0) + n);
          for (const [s, n] of now.events) t.events.set(s, (t.events.get(s) ?? 0) + n);
        }
        this.open.set(r, t);
      }
      throw err;
    } finally {
      for (const r of taken.keys()) this.recording.delete(r);
    }
  }
}

function payload(reason: NotRecordedReason, t: Tally): ReadingsNotRecorded {
  const p: ReadingsNotRecorded = {
    count: t.count,
    reason,
    since: new Date(t.since).toISOString(),
    until: new Date(t.until).toISOString(),
    sensors: sorted(t.sensors),
  };
  if (t.events.size > 0) p.events = sorted(t.events);
  return p;
}

function sorted(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [s, n] of [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) out[s] = n;
  return out;
}
