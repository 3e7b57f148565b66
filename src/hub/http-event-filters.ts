// The filters `/devices/ID/events` takes beside its ranges: `type=A,B` (only these event
// types, each one the log knows) and `order=asc|desc` (desc: newest first, so `to-seq` and
// `limit` page backwards), and `corrected=1`. Checked at the edge like every parameter (http-params.ts).
import { payloadSchemas } from '../log/events.js';
import { badParameter, type Params } from './http-params.js';

const KNOWN_TYPES: readonly string[] = Object.keys(payloadSchemas).sort();

export interface EventFilters {
  types?: string[];
  reverse: boolean;
}

/** `corrected=1`: add `correctedTime` to events recorded before a ClockSynced of their boot (protocol §4.1). */
export function wantsCorrected(q: Params): boolean {
  const v = q.text('corrected');
  if (v === undefined || v === '0') return false;
  if (v === '1') return true;
  throw badParameter(
    `corrected must be 1 (add correctedTime where an event has one) or 0, not "${v.slice(0, 40)}"`,
  );
}

export function eventFilters(q: Params): EventFilters {
  const out: EventFilters = { reverse: false };
  const type = q.text('type');
  if (type !== undefined) {
    const types = type.split(',');
    for (const t of types) {
      if (!KNOWN_TYPES.includes(t))
        throw badParameter(
          `type "${t.length > 40 ? `${t.slice(0, 40)}…` : t}" is not an event type: give one or more of ${KNOWN_TYPES.join(', ')}, separated by commas`,
        );
    }
    out.types = [...new Set(types)];
  }
  const order = q.text('order');
  if (order !== undefined && order !== 'asc' && order !== 'desc')
    throw badParameter(
      `order must be asc (oldest first, the default) or desc (newest first), not "${order}"`,
    );
  out.reverse = order === 'desc';
  return out;
}
