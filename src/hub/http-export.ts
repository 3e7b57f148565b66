// `GET /devices/ID/export?format=csv|ndjson[&since=T][&until=T]`: a device's history as a
// download, the same bytes as `fieldlog hub export --device ID` (both write exportText),
// streamed at the client's pace.
import type { ServerResponse } from 'node:http';
import { exportText } from './export-text.js';
import type { FleetStore } from './fleet-store.js';
import { badParameter, Params } from './http-params.js';
import { write } from './live-feed.js';

const CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', ndjson: 'application/x-ndjson' } as const;

/** Serve the export of `device`, a device the store holds (the caller checked). */
export async function serveExport(
  store: FleetStore,
  device: string,
  url: URL,
  res: ServerResponse,
): Promise<void> {
  const q = new Params(url, ['format', 'since', 'until']);
  const format = q.text('format') ?? 'ndjson';
  if (format !== 'csv' && format !== 'ndjson')
    throw badParameter(`format must be csv or ndjson, not "${format.slice(0, 40)}"`);
  const since = q.time('since');
  const until = q.time('until');
  if (since !== undefined && until !== undefined && until < since)
    throw badParameter(
      `until (${q.text('until')}) is before since (${q.text('since')}): the range would be empty`,
    );
  const chunks = exportText(store, { device, format, since, until });
  try {
    // 200 only once the first read succeeded: a store failing at once gets a 500 with a body
    const first = await chunks.next();
    res.writeHead(200, {
      'content-type': CONTENT_TYPES[format],
      // the id is [A-Za-z0-9._-]: nothing to quote or escape in the name
      'content-disposition': `attachment; filename="${device}.${format}"`,
      'cache-control': 'no-store',
    });
    if (!first.done && (await write(res, first.value.text))) {
      for await (const { text } of chunks) if (!(await write(res, text))) break;
    }
    res.end();
  } finally {
    await chunks.return(undefined);
  }
}
