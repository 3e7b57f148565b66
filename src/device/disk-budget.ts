// The disk budget (`retention.maxBytes`, `retention.minFreeBytes`, `retention.policy`): keeps
// the log's folder under its size and the filesystem above its free space, and never gives
// anything up silently. When the log would pass the budget it first prunes what the hub has
// acknowledged (oldest first, even younger than `retention.keep`: the hub holds it), then
// applies the policy: `thin` purges the payloads of the oldest unacknowledged readings (one
// ReadingsPurged records each purge, in the same atomic write), `stop` stops recording
// readings and counts them (one ReadingsNotRecorded when the log is back under the budget).
// Each change of state is also one line for people (`warn`).
//
// Appends are not slowed: the folder is measured on a timer, and between two measurements
// the size is estimated from the events appended (a count per batch), which only brings the
// next measurement forward when the estimate passes the budget.
import { EventEmitter } from 'node:events';
import { statfs } from 'node:fs/promises';
import { sizeOnDisk } from '../log/size-on-disk.js';
import type { RecordsTo, UnrecordedReadings } from './unrecorded.js';

export type BudgetPolicy = 'thin' | 'stop';

export interface BudgetSettings {
  /** The log's folder may not grow past this; 0: no limit. */
  maxBytes: number;
  /** The filesystem keeps at least this much free; 0: no limit. */
  minFreeBytes: number;
  policy: BudgetPolicy;
}

export interface DiskMeasure {
  logBytes: number;
  freeBytes: number;
}

/** `within`: under the budget; `thinning`: payloads were purged and more may be; `stopped`: readings are not recorded. */
export type BudgetState = 'within' | 'thinning' | 'stopped';

export interface BudgetStatus extends DiskMeasure {
  /** 0 when there is no size limit. */
  budgetBytes: number;
  minFreeBytes: number;
  policy: BudgetPolicy;
  state: BudgetState;
  /** Payloads purged, events pruned and readings not recorded by the budget since the start. */
  purged: number;
  pruned: number;
  notRecorded: number;
}

/** What the budget works on: the log and what the hub acknowledged (ports, so tests can fake them). */
export interface BudgetLog extends RecordsTo {
  head(): { seq: number };
  on(event: 'append', listener: (events: unknown, position: unknown, count: number) => void): unknown;
  off(event: 'append', listener: (events: unknown, position: unknown, count: number) => void): unknown;
  thinReadings(req: {
    afterSeq: number;
    max: number;
    reason: string;
  }): Promise<{ fromSeq: number; toSeq: number; count: number } | null>;
}

export interface BudgetPruner {
  /** Seq of the last pruned event (0: none pruned). */
  anchorSeq(): number;
  /** Prune events ≤ throughSeq (EventLog.prune); how many were pruned. */
  prune(throughSeq: number): Promise<number>;
}

export interface BudgetTimers {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: BudgetTimers = {
  now: () => Date.now(),
  setTimeout: (cb, ms) => {
    const t = setTimeout(cb, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface DiskBudgetOptions {
  settings: BudgetSettings;
  log: BudgetLog;
  measure: () => Promise<DiskMeasure>;
  /** Highest seq the hub holds (Retention.acknowledged()); −1 when unknown. */
  acknowledged: () => number;
  /** Pruning of acknowledged events (retention's EventLog.prune); null: none. */
  pruner?: BudgetPruner | null;
  /** The counter of readings not recorded (the `stop` policy counts there, reason "disk-budget"). */
  unrecorded: UnrecordedReadings;
  warn: (line: string) => void;
  timers?: BudgetTimers;
  /** How often the folder is measured (default 10 s). */
  checkEveryMs?: number;
}

/** Work stops this far under a limit, so that the budget does not act at every append. */
export const MARGIN = 0.1;
/** A guess of the bytes one purge gives back, to size the first purges (measured after). */
const PURGED_BYTES_GUESS = 40;
const MAX_THIN = 20_000;
const FIRST_THIN = 1000;
const MAX_ROUNDS = 200;

/** Retention's pruning of the log (EventLog.prune / anchor) as the budget uses it. */
export function logPruner(log: {
  anchor(): { seq: number } | null;
  prune(throughSeq: number): Promise<{ pruned: number }>;
}): BudgetPruner {
  return {
    anchorSeq: () => log.anchor()?.seq ?? 0,
    prune: async (through) => (await log.prune(through)).pruned,
  };
}

/** The folder and the free space, measured. */
export function measureFolder(dir: string): () => Promise<DiskMeasure> {
  return async () => {
    const [logBytes, fs] = await Promise.all([sizeOnDisk(dir), statfs(dir)]);
    return { logBytes, freeBytes: fs.bavail * fs.bsize };
  };
}

/** Bytes to give back for `m` to be within the budget with its margin; 0 when it is. */
export function bytesOver(s: BudgetSettings, m: DiskMeasure, margin = MARGIN): number {
  let need = 0;
  if (s.maxBytes > 0) need = Math.max(need, m.logBytes - s.maxBytes * (1 - margin));
  if (s.minFreeBytes > 0) need = Math.max(need, s.minFreeBytes * (1 + margin) - m.freeBytes);
  return Math.ceil(need);
}

/** Whether `m` passes a limit (no margin: this is what starts the work). */
export function isOver(s: BudgetSettings, m: DiskMeasure): boolean {
  return (s.maxBytes > 0 && m.logBytes > s.maxBytes) || (s.minFreeBytes > 0 && m.freeBytes < s.minFreeBytes);
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[u]}`;
}

export class DiskBudget extends EventEmitter {
  private readonly s: BudgetSettings;
  private readonly timers: BudgetTimers;
  private readonly everyMs: number;
  private measured: DiskMeasure = { logBytes: 0, freeBytes: 0 };
  /** Bytes appended since the last measurement (an estimate). */
  private appended = 0;
  private bytesPerEvent = 200;
  private state: BudgetState = 'within';
  private timer: unknown = null;
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** The last check failed: the next is the timer's, not one per append. */
  private failing = false;
  private stopped = false;
  private readonly totals = { purged: 0, pruned: 0 };
  private readonly onAppend = (_e: unknown, _p: unknown, count: number) => {
    this.appended += count * this.bytesPerEvent;
    if (this.state !== 'stopped' && !this.failing && this.running === null && isOver(this.s, this.estimate()))
      this.checkSoon();
  };

  constructor(private readonly o: DiskBudgetOptions) {
    super();
    this.s = o.settings;
    this.timers = o.timers ?? systemTimers;
    this.everyMs = o.checkEveryMs ?? 10_000;
  }

  /** Whether the budget limits anything at all (else it only measures). */
  get limited(): boolean {
    return this.s.maxBytes > 0 || this.s.minFreeBytes > 0;
  }

  /** Measure now, act if needed, then every `checkEveryMs`. */
  async start(): Promise<void> {
    this.o.log.on('append', this.onAppend);
    await this.check();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.o.log.off('append', this.onAppend);
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    await this.running;
    await this.queued;
  }

  /** The size as last measured plus what was appended since. */
  estimate(): DiskMeasure {
    return {
      logBytes: this.measured.logBytes + this.appended,
      freeBytes: Math.max(0, this.measured.freeBytes - this.appended),
    };
  }

  status(): BudgetStatus {
    return {
      ...this.estimate(),
      budgetBytes: this.s.maxBytes,
      minFreeBytes: this.s.minFreeBytes,
      policy: this.s.policy,
      state: this.state,
      ...this.totals,
      notRecorded: this.o.unrecorded.total('disk-budget'),
    };
  }

  /** Whether a reading may be recorded now (the `stop` policy says no while over the budget). */
  admits(): boolean {
    return this.state !== 'stopped';
  }

  /** Readings (one sensor name each) that were not recorded: counted, recorded as one ReadingsNotRecorded later. */
  refused(sensors: readonly string[]): void {
    this.o.unrecorded.count('disk-budget', sensors, this.timers.now());
  }

  /** At a stop: the readings counted and not recorded yet are recorded now (nothing is left untold). */
  async settle(): Promise<void> {
    await this.stop();
    if (this.o.unrecorded.counting('disk-budget')) await this.recordNotRecorded();
  }

  /** Measure and act now (also what the timer does); one check at a time, a call during one runs another after it. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.queued ??= this.running.then(() => {
        this.queued = null;
        return this.check();
      });
      return this.queued;
    }
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    const running = this.run()
      .then(
        () => {
          this.failing = false;
        },
        (err: unknown) => {
          this.failing = true;
          this.emit('error', err);
        },
      )
      .finally(() => {
        this.running = null;
        if (!this.stopped && this.queued === null)
          this.timer = this.timers.setTimeout(() => void this.check(), this.everyMs);
      });
    this.running = running;
    return running;
  }

  private checkSoon(): void {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = this.timers.setTimeout(() => void this.check(), 0);
  }

  private async measure(): Promise<DiskMeasure> {
    const m = await this.o.measure();
    const seq = this.o.log.head().seq;
    const events = seq - (this.o.pruner?.anchorSeq() ?? 0);
    // the estimate between two measurements: the average event, as the folder holds them
    if (events > 0 && m.logBytes > 0) this.bytesPerEvent = Math.min(4000, Math.max(30, m.logBytes / events));
    this.measured = m;
    this.appended = 0;
    return m;
  }

  private async run(): Promise<void> {
    let m = await this.measure();
    if (!this.limited) return;
    if (this.state === 'stopped') {
      // the hub may have caught up meanwhile: what it holds goes first
      if (bytesOver(this.s, m) > 0) m = await this.pruneAcknowledged(m);
      if (bytesOver(this.s, m) > 0) return; // still over: go on counting
      await this.recordNotRecorded();
      this.setState('within', `back under the budget (${this.describe(m)}): recording readings again`);
      return;
    }
    if (!isOver(this.s, m)) {
      if (this.state === 'thinning' && bytesOver(this.s, m) === 0)
        this.setState('within', `back under the budget (${this.describe(m)})`);
      return;
    }
    this.o.warn(`disk budget: ${this.describe(m)}: over the budget, giving space back`);
    m = await this.pruneAcknowledged(m);
    if (bytesOver(this.s, m) === 0) return;
    // a thinning state lasts until a measurement finds the log within the budget unaided
    let why = 'policy "stop"';
    if (this.s.policy === 'thin') ({ m, why } = await this.thin(m));
    if (bytesOver(this.s, m) === 0) return;
    if (isOver(this.s, m) || this.s.policy === 'stop') {
      this.setState(
        'stopped',
        `${this.describe(m)}: readings are NOT recorded from now on (${why}); they are counted and the count is recorded when there is space again`,
      );
    }
  }

  /** Prune what the hub holds, oldest first, until within the budget or nothing is left. */
  private async pruneAcknowledged(m: DiskMeasure): Promise<DiskMeasure> {
    const pruner = this.o.pruner;
    if (!pruner) return m;
    for (let round = 0; round < MAX_ROUNDS && !this.stopped; round++) {
      const need = bytesOver(this.s, m);
      if (need === 0) return m;
      const anchor = pruner.anchorSeq();
      // the head itself is never pruned: the chain goes on from a stored event
      const limit = Math.min(this.o.acknowledged(), this.o.log.head().seq - 1);
      if (limit <= anchor) return m;
      const through = Math.min(limit, anchor + Math.ceil(need / this.bytesPerEvent));
      const n = await pruner.prune(through);
      if (n <= 0) return m;
      this.totals.pruned += n;
      this.emit('pruned', n);
      this.o.warn(`disk budget: pruned ${n} event(s) the hub holds, through seq ${through}`);
      m = await this.measure();
    }
    return m;
  }

  /**
   * Purge the payloads of the oldest unacknowledged readings until within the budget; says
   * why it stopped short. A purge keeps each envelope's 32-byte digest, so it gives space back
   * only where payloads take more than that on disk (compressed): a purge that gave nothing
   * back ends the thinning rather than purging on for nothing.
   */
  private async thin(m: DiskMeasure): Promise<{ m: DiskMeasure; why: string }> {
    let perPurge = PURGED_BYTES_GUESS;
    for (let round = 0; round < MAX_ROUNDS && !this.stopped; round++) {
      const need = bytesOver(this.s, m);
      if (need === 0) break;
      const afterSeq = Math.max(this.o.acknowledged(), this.o.pruner?.anchorSeq() ?? 0, 0);
      // the first purge is a small probe: what one purge gives back is measured, not assumed
      const cap = round === 0 ? FIRST_THIN : MAX_THIN;
      const max = Math.min(cap, Math.max(100, Math.ceil(need / perPurge)));
      const before = m.logBytes;
      const done = await this.o.log.thinReadings({ afterSeq, max, reason: 'disk-budget' });
      if (!done) return { m, why: 'nothing left to thin: every unacknowledged reading is purged already' };
      this.totals.purged += done.count;
      this.emit('purged', done.count);
      if (this.state !== 'thinning')
        this.setState('thinning', 'thinning: purging the payloads of readings the hub does not hold yet');
      this.o.warn(
        `disk budget: purged the payloads of ${done.count} reading(s), seqs ${done.fromSeq}..${done.toSeq} (recorded as ReadingsPurged)`,
      );
      m = await this.measure();
      const gained = (before - m.logBytes) / done.count;
      if (gained <= 0)
        return {
          m,
          why: `thinning gives no space back here: these readings' payloads take less on disk than the digests a purge keeps (${formatBytes(before)} before the purge, ${formatBytes(m.logBytes)} after)`,
        };
      perPurge = gained;
    }
    return { m, why: 'thinning did not bring the log under the budget' };
  }

  private async recordNotRecorded(): Promise<void> {
    await this.o.unrecorded.record(this.o.log, 'disk-budget');
  }

  private setState(next: BudgetState, words: string): void {
    if (next === this.state) return;
    this.state = next;
    this.emit('state', next);
    this.o.warn(`disk budget: ${words}`);
  }

  private describe(m: DiskMeasure): string {
    const parts = [`log ${formatBytes(m.logBytes)}`];
    if (this.s.maxBytes > 0) parts[0] += ` of ${formatBytes(this.s.maxBytes)}`;
    parts.push(`${formatBytes(m.freeBytes)} free`);
    if (this.s.minFreeBytes > 0) parts[1] += ` (keeping ${formatBytes(this.s.minFreeBytes)})`;
    return parts.join(', ');
  }
}
