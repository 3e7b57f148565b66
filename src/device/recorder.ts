// The recorder turns what the sources report into events, decides alarms, and is the
// device's command API: operator actions are validated here, then recorded with the
// operator as actor. A refused command leaves no event. It keeps the live device state
// (a projection of the log) for the console.
//
// A full filesystem (the log says LOG_DISK_FULL, full-disk.ts) is not a crash: readings are
// counted (unrecorded.ts) instead of written; the recorder's other events (alarms, sources
// coming and going, rejected frames) are held in memory, up to HELD_MAX, and written first
// when the log takes writes again, followed by the ReadingsNotRecorded; operator commands
// are refused while it lasts (the operator is told, and no event claims what was not kept).
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { fail, isFieldlogError } from '../errors.js';
import { cloneDeviceState, type DeviceState, deviceState, foldDeviceEvent } from '../log/device-state.js';
import type { Envelope, EventInput } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import { systemClock } from '../log/event-log.js';
import type { FramesRejected } from '../log/events.js';
import { Projector } from '../log/projection.js';
import { foldEventOf } from '../log/reader.js';
import { alarmId, decideAlarms, type Limits } from './alarms.js';
import { ClockWatch, type ClockWatchOptions } from './clock-watch.js';
import type { DeviceConfig } from './config.js';
import type { Source, SourceEvent } from './sources/source.js';
import { UnrecordedReadings } from './unrecorded.js';

export interface RecorderClock {
  now(): number;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

const systemTimers: RecorderClock = {
  now: () => Date.now(),
  setTimeout: (cb, ms) => setTimeout(cb, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface RecorderOptions {
  version: string;
  clock?: RecorderClock;
  /** FramesRejected is written at most once per source per this window. */
  rejectWindowMs?: number;
  /** Override the clock-synchronisation check (tests). */
  clockCheck?: () => { synced: boolean; basis: string };
  /**
   * Watch the wall clock for jumps and synchronisation while running (docs/protocol.md §4.1);
   * `true` for the system's clocks. Off by default: tests that drive the recorder's clock by
   * hand would see jumps against the real monotonic clock.
   */
  clockWatch?: true | Omit<ClockWatchOptions, 'record'>;
  /** Whether readings are recorded now (the disk budget's `stop` policy); alarms always are. */
  readingGate?: ReadingGate;
  /** The counter of readings not recorded (shared with /metrics); one of its own by default. */
  unrecorded?: UnrecordedReadings;
}

/** Says whether a reading may be recorded, and counts those that may not (disk-budget.ts). */
export interface ReadingGate {
  admits(): boolean;
  refused(sensors: readonly string[]): void;
  /** At a stop, once the sources are stopped and before DeviceStopped: record what was refused. */
  settle?(): Promise<void>;
}

/**
 * Events held while the disk is full. Beyond this many (a long outage with sources coming
 * and going) later ones are counted by type instead, in the ReadingsNotRecorded.
 */
export const HELD_MAX = 1000;

const OPERATOR_RE = /^[A-Za-z0-9][A-Za-z0-9._ -]{0,63}$/;
const SENSOR_RE = /^[a-z0-9_.]{1,32}$/;
const MAX_NOTE = 500;
const BUILD_EPOCH = Date.parse('2026-01-01T00:00:00.000Z');

interface RejectWindow {
  count: number;
  reasons: Record<string, number>;
  sample: string;
  timer: unknown;
}

/** Whether the wall clock looks right: systemd-timesyncd's word, else plausibility. */
export function checkClock(now: number, lastEventMs: number | null): { synced: boolean; basis: string } {
  if (now < BUILD_EPOCH) return { synced: false, basis: 'too-early' };
  if (lastEventMs !== null && now < lastEventMs) return { synced: false, basis: 'before-last-event' };
  if (existsSync('/run/systemd/timesync/synchronized')) return { synced: true, basis: 'timesyncd' };
  return { synced: true, basis: 'plausible' };
}

/** What a source reports of itself, as the event that records it. */
const REPORTED = { lost: 'FramesLost', identity: 'SourceIdentified', fault: 'SourceFaultReported' } as const;

export class Recorder extends EventEmitter {
  private live: DeviceState = deviceState.initial();
  private readonly active = new Set<string>();
  /** Kept in step with decisions, ahead of the durable state the console reads. */
  private readonly acked = new Set<string>();
  private readonly thresholds = new Map<string, Limits>();
  /** The latest value of each sensor, as decided (ahead of the durable state). */
  private readonly latest = new Map<string, number>();
  private readonly rejects = new Map<string, RejectWindow>();
  private readonly sensorMeta = new Map<string, { actor: string }>();
  private readonly clock: RecorderClock;
  private readonly windowMs: number;
  private watch: ClockWatch | null = null;
  private started = false;
  private stopping = false;
  private stopped = false;
  /** Counts what a full disk (or a budget's `stop`) kept from being recorded. */
  readonly unrecorded: UnrecordedReadings;
  /** Readings are counted under this reason instead of written (stopReadings), or null. */
  private readingsStopped: 'disk-budget' | null = null;
  /** The recorder's own events not written while the disk is full, in order. */
  private held: EventInput[] = [];
  private readonly onWritable = () => this.resume();
  private readonly onAppend = (events: Envelope[]) => {
    for (const e of events) foldDeviceEvent(this.live, foldEventOf(e));
    this.emit('events', events);
  };

  constructor(
    readonly log: EventLog,
    readonly config: DeviceConfig,
    readonly sources: Source[],
    private readonly opts: RecorderOptions,
  ) {
    super();
    this.clock = opts.clock ?? systemTimers;
    this.windowMs = opts.rejectWindowMs ?? 5000;
    this.unrecorded =
      opts.unrecorded ??
      new UnrecordedReadings({
        warn: (line) => void process.stderr.write(`${line}\n`),
        now: () => this.clock.now(),
      });
  }

  /** A copy of the live state, safe to keep. */
  state(): DeviceState {
    return cloneDeviceState(this.live);
  }

  /** The live state itself, for readers that only look (the console). */
  get liveState(): Readonly<DeviceState> {
    return this.live;
  }

  /** Rebuild state from the log, record DeviceStarted, then start every source. */
  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const { state } = await new Projector(this.log, deviceState).stateAt();
    this.live = state;
    for (const a of Object.values(state.alarms)) {
      this.active.add(a.alarm);
      if (a.acknowledgedBy !== undefined) this.acked.add(a.alarm);
    }
    for (const a of this.config.alarms ?? []) {
      const t: Limits = { above: a.above ?? null, below: a.below ?? null };
      if (a.hysteresis !== undefined) t.hysteresis = a.hysteresis;
      this.thresholds.set(a.sensor, t);
    }
    // operator changes recorded in the log outlive restarts; the file gives the defaults
    for (const [sensor, t] of Object.entries(state.thresholds)) {
      const limits: Limits = { above: t.above, below: t.below };
      if (t.hysteresis !== undefined) limits.hysteresis = t.hysteresis;
      this.thresholds.set(sensor, limits);
    }
    this.log.on('append', this.onAppend);
    this.log.on('writable', this.onWritable);
    const lastMs = state.time ? Date.parse(state.time) : null;
    const clock = this.opts.clockCheck?.() ?? checkClock(this.clock.now(), lastMs);
    await this.log.append({
      type: 'DeviceStarted',
      data: {
        version: this.opts.version,
        sources: this.config.sources.map((s) => ({ name: s.name, driver: s.driver, port: s.port })),
        clockSynced: clock.synced,
        clockCheck: clock.basis,
        node: process.version,
        pid: process.pid,
      },
      meta: { actor: 'system' },
    });
    const w = this.opts.clockWatch;
    if (w) {
      const record = (input: EventInput) => void this.append(input);
      const clock = { ...systemTimers, mono: systemClock.mono };
      this.watch = new ClockWatch(w === true ? { clock, record } : { ...w, record });
      this.watch.start();
    }
    for (const source of this.sources) source.start((ev) => this.onSource(source, ev));
  }

  /** A hub's time as its ack carried it (ms since the epoch): may record ClockSynced. */
  hubTime(ms: number): void {
    if (!this.stopping) this.watch?.hubTime(ms);
  }

  /**
   * Stop the sources, write what is pending and DeviceStopped. The caller closes the log.
   * `operator` is who asked for the stop at the console (recorded as the actor), else system.
   */
  async stop(reason = 'stopped', operator?: string): Promise<void> {
    if (this.stopping || !this.started) return;
    // commands are refused from now on, but what the sources report while they stop (the
    // open GPS epoch, the firmata values of the unfinished period) is still recorded
    this.stopping = true;
    this.watch?.stop();
    await Promise.allSettled(this.sources.map((s) => s.stop()));
    this.stopped = true;
    for (const name of [...this.rejects.keys()]) this.flushRejects(name);
    // one last look for space: what is held and counted goes before DeviceStopped
    if (this.log.diskFull) await this.log.probeSpace();
    await this.opts.readingGate?.settle?.().catch((err: unknown) => this.emit('error', err));
    const actor = operator !== undefined && OPERATOR_RE.test(operator) ? `operator:${operator}` : 'system';
    await this.append({ type: 'DeviceStopped', data: { reason }, meta: { actor } });
    await this.log.flushed();
    this.log.off('append', this.onAppend);
    this.log.off('writable', this.onWritable);
    if (this.log.diskFull) this.sayUnwritten();
  }

  /** The disk is still full at the stop: say what could not be written, as it is lost. */
  private sayUnwritten(): void {
    const counted = this.unrecorded.pending('disk-full')[0];
    const held = this.held.length;
    if (counted === undefined && held === 0) return;
    this.unrecorded.warn(
      `${new Date(this.clock.now()).toISOString()} warning: the disk is still full at the stop: ${counted?.count ?? 0} reading(s) counted (${counted ? `${counted.since} to ${counted.until}` : 'none'}) and ${held} other event(s) held could not be written`,
    );
  }

  private append(input: EventInput): Promise<Envelope | undefined> {
    if (this.log.diskFull) {
      this.hold(input);
      return Promise.resolve(undefined);
    }
    return this.log.append(input).catch((err: unknown) => {
      if (isFieldlogError(err, 'LOG_DISK_FULL')) {
        this.hold(input);
        return undefined;
      }
      // the log refuses only on a failed disk write or when closed: say so loudly, never crash
      this.emit('error', err);
      return undefined;
    });
  }

  /**
   * Stop writing readings (and positions), counting them under `reason` instead, or (null)
   * write them again, recording what was counted first: a disk budget's `stop` policy. Alarms
   * the readings decide, operator actions and faults are still recorded meanwhile.
   */
  async stopReadings(reason: 'disk-budget' | null): Promise<void> {
    const was = this.readingsStopped;
    this.readingsStopped = reason;
    if (reason === null && was !== null) await this.unrecorded.record(this.log, was);
  }

  /** Without the readings `stopReadings` counts instead: what of a frame's events is written. */
  private countReadings(batch: EventInput[], at: number): EventInput[] {
    const reason = this.readingsStopped;
    if (reason === null) return batch;
    const sensors: string[] = [];
    const rest: EventInput[] = [];
    for (const e of batch) {
      if (e.type === 'ReadingRecorded') sensors.push(String((e.data as { sensor: unknown }).sensor));
      else rest.push(e);
    }
    this.unrecorded.count(reason, sensors, at);
    return rest;
  }

  /** Keep an event the full disk refused, for when it takes writes again (a reading is counted). */
  private hold(input: EventInput, at = this.clock.now()): void {
    if (input.type === 'ReadingRecorded' || input.type === 'PositionRecorded') {
      const d = input.data as { sensor?: unknown; source?: unknown };
      const name = typeof d.sensor === 'string' ? d.sensor : String(d.source);
      this.unrecorded.count('disk-full', [name], at);
    } else if (this.held.length < HELD_MAX) this.held.push(input);
    else this.unrecorded.countEvent('disk-full', input.type, at);
  }

  /** The log takes writes again: what was held first, then the count of what was not recorded. */
  private resume(): void {
    const held = this.held;
    this.held = [];
    // staged in this order, before any later reading, in one batch
    if (held.length > 0)
      void this.log.appendMany(held).catch((err: unknown) => {
        if (isFieldlogError(err, 'LOG_DISK_FULL')) {
          this.held = [...held, ...this.held].slice(0, HELD_MAX);
        } else this.emit('error', err);
      });
    void this.unrecorded.record(this.log, 'disk-full').catch((err: unknown) => {
      if (!isFieldlogError(err, 'LOG_DISK_FULL')) this.emit('error', err);
    });
  }

  private metaFor(source: string): { actor: string } {
    let m = this.sensorMeta.get(source);
    if (!m) {
      m = { actor: `sensor:${source}` };
      this.sensorMeta.set(source, m);
    }
    return m;
  }

  private onSource(source: Source, ev: SourceEvent): void {
    if (this.stopped) return;
    const name = source.name;
    const system = { actor: 'system', source: name };
    switch (ev.kind) {
      case 'connected': {
        const data: Record<string, unknown> = { source: name, driver: source.driver, port: ev.port };
        if (ev.identity !== undefined) data.identity = ev.identity;
        void this.append({ type: 'SourceConnected', data, meta: system });
        return;
      }
      case 'disconnected':
        this.flushRejects(name);
        {
          const data: Record<string, unknown> = { source: name, reason: ev.reason };
          if (ev.unavailable) data.unavailable = true;
          if (ev.detail !== undefined) data.detail = ev.detail;
          void this.append({ type: 'SourceDisconnected', data, meta: system });
        }
        return;
      case 'readings': {
        // one frame, one unit: its readings and the alarms they decide are written together
        const at = this.clock.now();
        const batch: EventInput[] = [];
        const gate = this.opts.readingGate;
        const admitted = gate === undefined || gate.admits();
        for (const r of ev.readings) {
          const data: Record<string, unknown> = { source: name, sensor: r.sensor, value: r.value };
          if (r.unit !== undefined) data.unit = r.unit;
          if (admitted) batch.push({ type: 'ReadingRecorded', data, meta: this.metaFor(name) });
          this.latest.set(r.sensor, r.value);
          batch.push(...this.alarmEvents(r.sensor, r.value));
        }
        if (!admitted) gate.refused(ev.readings.map((r) => r.sensor));
        if (batch.length === 0) return;
        if (this.log.diskFull) {
          for (const e of batch) this.hold(e, at);
          return;
        }
        const written = this.countReadings(batch, at);
        if (written.length === 0) return;
        void this.log.appendMany(written).catch((err: unknown) => {
          if (isFieldlogError(err, 'LOG_DISK_FULL')) for (const e of written) this.hold(e, at);
          else this.emit('error', err);
        });
        return;
      }
      case 'position':
        if (this.readingsStopped !== null) {
          this.unrecorded.count(this.readingsStopped, [name], this.clock.now());
          return;
        }
        void this.append({
          type: 'PositionRecorded',
          data: { source: name, ...ev.position },
          meta: this.metaFor(name),
        });
        return;
      case 'rejected':
        this.noteReject(name, ev.reason, ev.sample);
        return;
      case 'lost':
      case 'identity':
      case 'fault': {
        // the source's report as it came, under the source's name
        const { kind, ...fields } = ev;
        void this.append({ type: REPORTED[kind], data: { source: name, ...fields }, meta: system });
        return;
      }
      case 'answer': {
        const data: Record<string, unknown> = { source: name, command: ev.command, ok: ev.ok };
        if (ev.why !== undefined) data.why = ev.why;
        void this.append({ type: 'SourceCommandAnswered', data, meta: system });
        return;
      }
    }
  }

  /** Decide the alarm events for a value, updating what is active now. */
  private alarmEvents(sensor: string, value: number): EventInput[] {
    const out: EventInput[] = [];
    for (const a of decideAlarms(sensor, value, this.thresholds.get(sensor), (id) => this.active.has(id))) {
      if (a.type === 'AlarmRaised') this.active.add(a.data.alarm);
      else this.active.delete(a.data.alarm);
      this.acked.delete(a.data.alarm);
      out.push({ type: a.type, data: { ...a.data }, meta: { actor: 'system' } });
    }
    return out;
  }

  private checkAlarms(sensor: string, value: number): void {
    for (const e of this.alarmEvents(sensor, value)) void this.append(e);
  }

  private noteReject(source: string, reason: string, sample: string): void {
    let w = this.rejects.get(source);
    if (!w) {
      w = { count: 0, reasons: {}, sample, timer: null };
      w.timer = this.clock.setTimeout(() => this.flushRejects(source), this.windowMs);
      this.rejects.set(source, w);
    }
    w.count++;
    w.reasons[reason] = (w.reasons[reason] ?? 0) + 1;
  }

  private flushRejects(source: string): void {
    const w = this.rejects.get(source);
    if (!w) return;
    this.rejects.delete(source);
    this.clock.clearTimeout(w.timer);
    const data: FramesRejected = { source, count: w.count, reasons: w.reasons, sample: w.sample };
    void this.append({ type: 'FramesRejected', data: { ...data }, meta: { actor: 'system', source } });
  }

  // ------------------------------------------------------------ operator commands

  private actor(operator: string): string {
    if (typeof operator !== 'string' || !OPERATOR_RE.test(operator)) {
      throw fail(
        'COMMAND_REJECTED',
        'the operator needs a name (letters, digits, . _ - and spaces, up to 64)',
      );
    }
    return `operator:${operator}`;
  }

  private checkRunning(): void {
    if (!this.started || this.stopping) throw fail('COMMAND_REJECTED', 'the device is not running');
    if (this.log.diskFull)
      throw fail(
        'COMMAND_REJECTED',
        "nothing can be recorded now: the log's filesystem is full (readings are counted until space returns)",
      );
  }

  /** Acknowledge an active alarm. */
  async acknowledgeAlarm(alarm: string, operator: string, comment?: string): Promise<Envelope> {
    this.checkRunning();
    const actor = this.actor(operator);
    if (!this.active.has(alarm)) throw fail('COMMAND_REJECTED', `alarm ${alarm} is not active`);
    if (this.acked.has(alarm)) throw fail('COMMAND_REJECTED', `alarm ${alarm} was already acknowledged`);
    if (comment !== undefined && (typeof comment !== 'string' || comment.length > MAX_NOTE)) {
      throw fail('COMMAND_REJECTED', `a comment is text of at most ${MAX_NOTE} characters`);
    }
    this.acked.add(alarm);
    return this.log
      .append({ type: 'AlarmAcknowledged', data: comment ? { alarm, comment } : { alarm }, meta: { actor } })
      .catch((err: unknown) => {
        // not recorded (the disk filled meanwhile): it may be acknowledged again
        this.acked.delete(alarm);
        throw err;
      });
  }

  /** Add a note to the log. */
  async addNote(text: string, operator: string): Promise<Envelope> {
    this.checkRunning();
    const actor = this.actor(operator);
    if (typeof text !== 'string' || text.trim() === '') throw fail('COMMAND_REJECTED', 'a note needs text');
    if (text.length > MAX_NOTE) throw fail('COMMAND_REJECTED', `a note is at most ${MAX_NOTE} characters`);
    return this.log.append({ type: 'NoteAdded', data: { text: text.trim() }, meta: { actor } });
  }

  /** The limits in force for a sensor. */
  limits(sensor: string): Limits | undefined {
    const l = this.thresholds.get(sensor);
    return l ? { ...l } : undefined;
  }

  /**
   * Change a sensor's limits (null removes one). The current value is checked against the
   * new limits at once, so an alarm the change implies is raised without waiting.
   */
  async changeThreshold(
    sensor: string,
    change: { above: number | null; below: number | null; hysteresis?: number },
    operator: string,
  ): Promise<Envelope> {
    this.checkRunning();
    const actor = this.actor(operator);
    if (typeof sensor !== 'string' || !SENSOR_RE.test(sensor))
      throw fail('COMMAND_REJECTED', `"${sensor}" is not a sensor name`);
    for (const k of ['above', 'below'] as const) {
      const v = change[k];
      if (v !== null && (typeof v !== 'number' || !Number.isFinite(v))) {
        throw fail('COMMAND_REJECTED', `${k} must be a number or none`);
      }
    }
    if (change.above !== null && change.below !== null && change.below >= change.above) {
      throw fail('COMMAND_REJECTED', 'below must be less than above');
    }
    if (change.hysteresis !== undefined && (!Number.isFinite(change.hysteresis) || change.hysteresis < 0)) {
      throw fail('COMMAND_REJECTED', 'hysteresis must be a number of at least 0');
    }
    const now = this.thresholds.get(sensor);
    if (
      now &&
      now.above === change.above &&
      now.below === change.below &&
      (change.hysteresis === undefined || change.hysteresis === now.hysteresis)
    ) {
      throw fail('COMMAND_REJECTED', `the limits of ${sensor} are already those`);
    }
    const limits: Limits = { above: change.above, below: change.below };
    const hysteresis = change.hysteresis ?? now?.hysteresis;
    if (hysteresis !== undefined) limits.hysteresis = hysteresis;
    this.thresholds.set(sensor, limits);
    const data: Record<string, unknown> = { sensor, above: change.above, below: change.below };
    if (hysteresis !== undefined) data.hysteresis = hysteresis;
    const env = this.log.append({ type: 'ThresholdChanged', data, meta: { actor } });
    const last = this.latest.get(sensor) ?? this.live.sensors[sensor]?.value;
    if (last !== undefined) this.checkAlarms(sensor, last);
    return env;
  }

  /** Purge an event's payload, recorded with the operator and a reason. */
  async redact(seq: number, reason: string, operator: string): Promise<Envelope> {
    this.checkRunning();
    return this.log.redact(seq, reason, this.actor(operator));
  }

  /** Alarm ids that are active now. */
  activeAlarms(): string[] {
    return [...this.active].sort();
  }
}

export { alarmId };
