// The one shape of a read of a log, and the one time filter: a device's events by seq or
// the fleet's in arrival order, bounded by seq/position, by recorded time (both ends
// inclusive) and by a count. The same shape as the hub's FleetStore EventQuery, so a store
// adapter passes its queries through; times may also be given as text here (the CLI's).
import { fail } from '../errors.js';
import type { Envelope } from './envelope.js';

export interface DeviceRead {
  /** The device; the log's own device when left out. */
  device?: string;
  fromSeq?: number;
  toSeq?: number;
  /** Recorded-time bounds, both inclusive: ms since the epoch, or a time as text. */
  since?: string | number;
  until?: string | number;
  /** At most this many events. */
  limit?: number;
  /** Only events of these types (none when empty). */
  types?: readonly string[];
  /** Newest first: from `toSeq` (or the head) down to `fromSeq`; `limit` counts from the top. */
  reverse?: boolean;
}

export interface FleetRead {
  fleet: true;
  /** Fleet positions, both inclusive. */
  from?: number;
  to?: number;
  since?: string | number;
  until?: string | number;
  limit?: number;
}

export type LogQuery = DeviceRead | FleetRead;

/** One event a read yields; `position` is its fleet position in a fleet read. */
export interface ReadItem {
  event: Envelope;
  position?: number;
}

export const LAST_MS = 2 ** 48 - 2;

export function toMs(t: string | number | undefined, dflt: number): number {
  if (t === undefined) return dflt;
  if (typeof t === 'number') return Math.max(0, Math.min(t, LAST_MS));
  const ms = Date.parse(t);
  if (!Number.isFinite(ms)) throw fail('EVENT_INVALID', `"${t}" is not a time`);
  return Math.max(0, ms);
}

/** A query's time window in ms, and whether it has one at all. */
export interface TimeWindow {
  since: number;
  until: number;
  bounded: boolean;
}

export function timeWindow(q: { since?: string | number; until?: string | number }): TimeWindow {
  return {
    since: toMs(q.since, 0),
    until: toMs(q.until, LAST_MS),
    bounded: q.since !== undefined || q.until !== undefined,
  };
}

/** The exact filter at a window's ends: the time index only narrows the seqs to read. */
export function inWindow(w: TimeWindow, env: Envelope): boolean {
  if (!w.bounded) return true;
  const t = Date.parse(env.time);
  return t >= w.since && t <= w.until;
}

export function readLimit(limit: number | undefined): number {
  if (limit === undefined) return Number.POSITIVE_INFINITY;
  if (!Number.isInteger(limit) || limit < 0) throw fail('EVENT_INVALID', `limit ${limit} is not a count`);
  return limit;
}

export function isFleetRead(q: LogQuery): q is FleetRead {
  return (q as FleetRead).fleet === true;
}
