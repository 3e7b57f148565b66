// Corrected times (docs/protocol.md §4.1): for the events of a boot recorded before its clock
// was synchronised, the time they really happened, from the ClockSynced that followed and the
// monotonic clock. Pure: the recorded `time` is never touched; callers show the result beside it.
import { type Envelope, formatTime } from './envelope.js';

/** What a correction needs of an event (an envelope, a FoldEvent, a stored row). */
export interface ClockedEvent {
  seq: number;
  type: string;
  time: string;
  boot: string;
  mono: number;
  data: Record<string, unknown> | null;
}

/** The anchor of a boot's correction: the sync's trusted time and its monotonic reading. */
export interface SyncAnchor {
  trustedMs: number;
  mono: number;
}
type Anchor = SyncAnchor;

/** What a ClockSynced anchors (undefined for any other event, or a redacted one). */
export function anchorOf(e: Pick<ClockedEvent, 'type' | 'time' | 'mono' | 'data'>): SyncAnchor | undefined {
  if (e.type !== 'ClockSynced' || e.data === null) return undefined;
  const offset = e.data.offsetMs;
  const t = Date.parse(e.time);
  if (typeof offset !== 'number' || !Number.isFinite(offset) || !Number.isFinite(t)) return undefined;
  return { trustedMs: t + offset, mono: e.mono };
}

/**
 * The corrected time of each event that has one, by seq, as ms since the epoch. `events` are
 * one device's, in any order; events of a boot after its last ClockSynced get none.
 */
export function correctedTimes(events: readonly ClockedEvent[]): Map<number, number> {
  const out = new Map<number, number>();
  // walking back from the newest, the anchor in force for a boot is the first sync after
  const byNewest = [...events].sort((a, b) => b.seq - a.seq);
  const anchors = new Map<string, Anchor>();
  let last = Number.NaN;
  for (const e of byNewest) {
    if (e.seq === last) continue; // given twice (a window and the syncs after it): once is enough
    last = e.seq;
    const a = anchors.get(e.boot);
    if (a) out.set(e.seq, correctedBy(a, e.mono));
    const own = anchorOf(e);
    if (own) anchors.set(e.boot, own);
  }
  return out;
}

/** The corrected time (ms) of an event at `mono` in the boot of `a`. */
export function correctedBy(a: SyncAnchor, mono: number): number {
  return Math.round(a.trustedMs - (a.mono - mono));
}

/**
 * Corrections for a window of events read newest-last, when later events may lie beyond the
 * window: `after` are the ClockSynced events of the same device that follow it (any order).
 */
export function correctedTimesWith(
  window: readonly ClockedEvent[],
  after: readonly ClockedEvent[],
): Map<number, number> {
  const all = correctedTimes([...window, ...after]);
  const wanted = new Set(window.map((e) => e.seq));
  for (const seq of [...all.keys()]) if (!wanted.has(seq)) all.delete(seq);
  return all;
}

/** The corrected time in the format of `time`, or undefined when the event has none (or it is out of range). */
export function correctedTimeText(corrections: Map<number, number>, seq: number): string | undefined {
  const ms = corrections.get(seq);
  if (ms === undefined) return undefined;
  try {
    return formatTime(ms);
  } catch {
    return undefined; // an offset that puts it before 1970 or after 9999: no correction to show
  }
}

/** The envelope with `correctedTime` right after `time`, where a reader looks for it. */
export function withCorrectedTime(e: Envelope, correctedTime: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(e)) {
    out[k] = v;
    if (k === 'time') out.correctedTime = correctedTime;
  }
  return out;
}

/** Envelopes as JSON lines, each with its corrected time when it has one (`syncs`: see correctedTimesWith). */
export function correctedJsonLines(events: readonly Envelope[], syncs: readonly Envelope[]): string {
  const corrections = correctedTimesWith(events, syncs);
  let text = '';
  for (const e of events) {
    const t = correctedTimeText(corrections, e.seq);
    text += `${JSON.stringify(t === undefined ? e : withCorrectedTime(e, t))}\n`;
  }
  return text;
}
