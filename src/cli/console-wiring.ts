// Puts the operator console on the device when there is a terminal to show it on.
import { userInfo } from 'node:os';
import type { Recorder } from '../device/recorder.js';
import type { EventLog } from '../log/event-log.js';
import type { Replicator } from '../sync/replicator.js';
import { OperatorConsole } from '../ui/console.js';
import type { Calibration } from '../ui/touch.js';
import type { DiskView } from '../ui/widgets.js';

/**
 * Why the device stopped, as DeviceStopped records it: `operator-quit` (q or Ctrl-C at the
 * console, the operator as actor), the signal's name (`SIGINT`, `SIGTERM`), `error: <message>`
 * (a failure stopped it), or `stopped` (none of these: a caller stopping it). The first
 * cause wins: an operator's quit while a signal is being handled is the signal's stop.
 */
export function stopCause(o: { failure: unknown; quitBy: string | null; signal: AbortSignal }): {
  reason: string;
  operator?: string;
} {
  if (o.failure) return { reason: `error: ${(o.failure as Error).message}` };
  if (o.signal.aborted) return { reason: (o.signal.reason as string | undefined) ?? 'stopped' };
  if (o.quitBy !== null) return { reason: 'operator-quit', operator: o.quitBy };
  return { reason: 'stopped' };
}

export interface ConsoleSettings {
  operator?: string;
  operators?: string[];
  touch?: Calibration & { device: string };
  sparkStyle?: 'blocks' | 'ascii';
}

/** The console, or null without a terminal or with --no-ui (the README's `fieldlog device`). */
export function maybeConsole(opts: {
  noUi: boolean;
  recorder: Recorder;
  log: EventLog;
  deviceId: string;
  replicator: Replicator | null;
  settings?: ConsoleSettings;
  /** A line under the header (the demo: where its hub's API is). */
  infoLine?: string;
  /** Decimals per sensor from the configuration (configuredPrecision). */
  precision?: Record<string, number>;
  /** The disk budget, for the header's disk use. */
  disk?: { status(): DiskView };
}): OperatorConsole | null {
  if (opts.noUi || !process.stdout.isTTY || !process.stdin.isTTY) return null;
  const s = opts.settings ?? {};
  let fallback = 'operator';
  try {
    fallback = userInfo().username || fallback;
  } catch {
    // no passwd entry (containers): keep the neutral name
  }
  const operator = s.operator ?? process.env.FIELDLOG_OPERATOR ?? fallback;
  const rep = opts.replicator;
  const ui = new OperatorConsole({
    recorder: opts.recorder,
    log: opts.log,
    deviceId: opts.deviceId,
    operator,
    ...(s.operators ? { operators: s.operators } : {}),
    ...(rep ? { sync: { status: () => rep.status() } } : {}),
    ...(s.touch ? { touch: { input: s.touch.device, calibration: s.touch } } : {}),
    ...(s.sparkStyle ? { sparkStyle: s.sparkStyle } : {}),
    ...(opts.infoLine === undefined ? {} : { infoLine: opts.infoLine }),
    ...(opts.precision === undefined ? {} : { precision: opts.precision }),
    ...(opts.disk === undefined ? {} : { disk: opts.disk }),
  });
  return ui;
}
