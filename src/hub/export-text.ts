// An export's text: a device's history, or the fleet's in arrival order, as NDJSON or CSV.
// One code path for `fieldlog hub export` and the HTTP API's download
// (`/devices/ID/export`), so that the two give the same bytes for the same store and range.
import type { Envelope } from '../log/envelope.js';
import type { FleetStore } from './fleet-store.js';

export type ExportFormat = 'csv' | 'ndjson';

export interface ExportQuery {
  /** One device's events; without it, the fleet's in arrival order. */
  device?: string;
  format: ExportFormat;
  /** Recorded time, ms since the epoch, inclusive. */
  since?: number;
  until?: number;
}

export const CSV_COLUMNS = [
  'position',
  'device',
  'seq',
  'time',
  'type',
  'actor',
  'source',
  'sensor',
  'value',
  'unit',
  'data',
];

function csvField(v: unknown): string {
  if (v === undefined || v === null) return '';
  const s = typeof v === 'string' ? v : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** One CSV row: readings spread into columns, any other payload as JSON in `data`. */
export function csvRow(e: Envelope, position?: number): string {
  const d = e.data;
  const reading = e.type === 'ReadingRecorded' && d !== null;
  return [
    position,
    e.device,
    e.seq,
    e.time,
    e.type,
    e.meta?.actor,
    d?.source,
    reading ? d.sensor : undefined,
    reading ? d.value : undefined,
    reading ? d.unit : undefined,
    reading || d === null ? undefined : JSON.stringify(d),
  ]
    .map(csvField)
    .join(',');
}

/**
 * The export as chunks of whole lines (each ending in a newline), one per read of the
 * store, with how many events each holds. The first chunk comes only once the store's
 * first read succeeded (a CSV's header rides on it), so an HTTP answer can still say 500
 * when the store fails at once; a caller that stops early closes the store's read.
 */
export async function* exportText(
  store: FleetStore,
  q: ExportQuery,
): AsyncGenerator<{ text: string; events: number }> {
  const { device, since, until } = q;
  const csv = q.format === 'csv';
  let header = csv ? `${(device !== undefined ? CSV_COLUMNS.slice(1) : CSV_COLUMNS).join(',')}\n` : '';
  // the store reads only what the times can hold (its time index) and filters them exactly
  const events = store.events(
    device !== undefined ? { device, since, until } : { fleet: true, since, until },
  );
  for await (const chunk of events) {
    let text = header;
    header = '';
    for (const { position, event } of chunk) {
      if (device !== undefined) text += csv ? csvRow(event).slice(1) : JSON.stringify(event);
      else text += csv ? csvRow(event, position) : JSON.stringify({ position, event });
      text += '\n';
    }
    yield { text, events: chunk.length };
  }
  if (header !== '') yield { text: header, events: 0 };
}
