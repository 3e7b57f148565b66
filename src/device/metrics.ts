// The device's Prometheus metrics (`fieldlog device --metrics PORT`), through prom-client
// with a registry of its own: what the recorder wrote since the process started, the
// sources' connections, the log's head and size on disk, what was pruned, and replication's progress.
// Everything is read from the parts at scrape time or counted from the events they write.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { InternalErrors } from '../internal-errors.js';
import type { Envelope } from '../log/envelope.js';
import type { EventLog } from '../log/event-log.js';
import { sizeOnDisk } from '../log/size-on-disk.js';
import { internalErrorsCounter, mirrorCounter, mirrorGauge, newRegistry } from '../metrics.js';
import type { SyncStatus } from '../sync/replicator.js';
import type { BudgetStatus } from './disk-budget.js';
import type { Recorder } from './recorder.js';
import { NOT_RECORDED_REASONS, type UnrecordedReadings } from './unrecorded.js';

export interface DeviceMetricsSources {
  log: EventLog;
  /** The log's folder, for its size on disk (none for a log in memory). */
  dir?: string;
  recorder: Recorder;
  sync: { status(): SyncStatus } | null;
  errors: InternalErrors;
  /** Readings counted instead of recorded (a full disk, a budget's `stop`). */
  unrecorded?: UnrecordedReadings;
  /** The disk budget (disk-budget.ts): the log's size, the budget, the free space, purges. */
  budget?: { status(): BudgetStatus };
}

export function createDeviceMetrics(src: DeviceMetricsSources): Registry {
  const registry = newRegistry();
  const readings = new Counter({
    name: 'fieldlog_device_readings_total',
    help: 'Readings and positions recorded since the process started, per source.',
    labelNames: ['source'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: 'fieldlog_device_frames_rejected_total',
    help: 'Frames rejected (noise, bad checksum, bad field) since the process started, per source.',
    labelNames: ['source'],
    registers: [registry],
  });
  const lost = new Counter({
    name: 'fieldlog_device_frames_lost_total',
    help: "Frames lost by the node's frame counter since the process started, per source.",
    labelNames: ['source'],
    registers: [registry],
  });
  const sources = src.recorder.config.sources.map((s) => s.name);
  for (const source of sources) {
    readings.inc({ source }, 0);
    rejected.inc({ source }, 0);
    lost.inc({ source }, 0);
  }
  src.recorder.on('events', (events: Envelope[]) => {
    for (const e of events) {
      const data = e.data as { source?: unknown; count?: unknown } | null;
      const source = typeof data?.source === 'string' ? data.source : undefined;
      if (source === undefined) continue;
      if (e.type === 'ReadingRecorded' || e.type === 'PositionRecorded') readings.inc({ source });
      else if (e.type === 'FramesRejected' && typeof data?.count === 'number')
        rejected.inc({ source }, data.count);
      else if (e.type === 'FramesLost' && typeof data?.count === 'number') lost.inc({ source }, data.count);
    }
  });
  mirrorGauge(
    registry,
    'fieldlog_device_source_connected',
    'Whether the source is connected (1) or not (0).',
    ['source'],
    () => {
      const state = src.recorder.liveState.sources;
      return sources.map((source) => [{ source }, state[source]?.connected ? 1 : 0]);
    },
  );
  const pruned = new Counter({
    name: 'fieldlog_device_events_pruned_total',
    help: 'Events pruned from the log since the process started (retention, disk budget).',
    registers: [registry],
  });
  src.log.on('pruned', (r: { pruned: number }) => pruned.inc(r.pruned));
  mirrorGauge(registry, 'fieldlog_device_log_head_seq', 'Seq of the last event in the log.', [], () => [
    [{}, src.log.head().seq],
  ]);
  if (src.dir !== undefined) {
    const dir = src.dir;
    // read without blocking: a scrape must not stall the recording
    new Gauge({
      name: 'fieldlog_device_log_size_bytes',
      help: "Size of the log's folder on disk.",
      registers: [registry],
      async collect() {
        this.set(await sizeOnDisk(dir).catch(() => 0));
      },
    });
  }
  const budget = src.budget;
  if (budget) {
    // the budget's own measurement (plus what was appended since): no second walk of the folder
    mirrorGauge(
      registry,
      'fieldlog_device_log_bytes',
      "Size of the log's folder on disk, as the disk budget measures it.",
      [],
      () => [[{}, budget.status().logBytes]],
    );
    mirrorGauge(
      registry,
      'fieldlog_device_log_budget_bytes',
      'The size the log may not pass (retention.maxBytes); 0 when there is no budget.',
      [],
      () => [[{}, budget.status().budgetBytes]],
    );
    mirrorGauge(
      registry,
      'fieldlog_device_fs_free_bytes',
      "Free space on the log's filesystem (for this user).",
      [],
      () => [[{}, budget.status().freeBytes]],
    );
    mirrorCounter(
      registry,
      'fieldlog_device_readings_purged_total',
      'Reading payloads purged by the disk budget since the process started (recorded as ReadingsPurged).',
      [],
      () => [[{}, budget.status().purged]],
    );
  }
  const unrecorded = src.unrecorded;
  if (unrecorded) {
    mirrorCounter(
      registry,
      'fieldlog_device_readings_not_recorded_total',
      'Readings not recorded since the process started (counted, recorded as ReadingsNotRecorded), per reason.',
      ['reason'],
      () => NOT_RECORDED_REASONS.map((reason) => [{ reason }, unrecorded.total(reason)]),
    );
  }
  const sync = src.sync;
  if (sync) {
    mirrorGauge(
      registry,
      'fieldlog_device_replication_connected',
      'Whether the device is connected to the broker (1) or not (0).',
      [],
      () => [[{}, sync.status().connected ? 1 : 0]],
    );
    mirrorGauge(
      registry,
      'fieldlog_device_replication_acked_seq',
      'Highest seq the hub has acknowledged holding (-1 until it answers).',
      [],
      () => [[{}, sync.status().acked]],
    );
    mirrorGauge(
      registry,
      'fieldlog_device_replication_backlog',
      'Events the hub has not acknowledged yet.',
      [],
      () => [[{}, sync.status().backlog]],
    );
  }
  internalErrorsCounter(registry, 'fieldlog_device', src.errors, ['recorder', 'replicator', 'retention']);
  return registry;
}
