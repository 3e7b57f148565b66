// The rows the PostgreSQL store writes for events, in COPY's text format (the text one
// COPY streams, batch by batch, as PostgreSQL reads it).
import type { Envelope } from '../../log/envelope.js';
import { jsonbText } from './check.js';

export const COPY_EVENTS =
  'COPY events (device, seq, type, time, boot, mono, data, data_text, meta, meta_text, digest, prev, hash, sig, batch) FROM STDIN';

const COPY_SPECIAL = /[\\\t\n\r]/;

/** A field in COPY's text format: \N for NULL, backslash, tab, newline and CR escaped. */
export function copyText(v: string | null): string {
  if (v === null) return '\\N';
  if (!COPY_SPECIAL.test(v)) return v;
  return v.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * Canonical JSON in COPY's text format. JSON text holds no raw tab, newline or CR (they are
 * escaped inside strings), so only a backslash needs a look, and most payloads have none.
 */
function copyJson(v: string | null): string {
  if (v === null) return '\\N';
  return v.indexOf('\\') < 0 ? v : copyText(v);
}

/**
 * The COPY text of a batch's events; `datas`/`metas` are the canonical texts to store. The
 * events passed checkEvent and linkProblem (check.ts): digest, prev and hash are 64 hex
 * digits and sig is base64, none of which COPY treats specially, so they go as they are
 * (a regular-expression test per field per row cost the hub a tenth of its COPY text).
 */
export function batchRows(
  events: Envelope[],
  datas: (string | null)[],
  metas: (string | null)[],
  batch: string,
): string {
  let text = '';
  for (let k = 0; k < events.length; k++) {
    const e = events[k]!;
    const data = datas[k]!;
    const meta = metas[k]!;
    const dataText = copyJson(data);
    const metaText = copyJson(meta);
    // jsonb cannot hold every payload (jsonbText): the exact text is kept either way
    const dataJson = jsonbText(data) === data ? dataText : '\\N';
    const metaJson = jsonbText(meta) === meta ? metaText : '\\N';
    text += `${copyText(e.device)}\t${e.seq}\t${copyText(e.type)}\t${copyText(e.time)}\t${copyText(e.boot)}\t${e.mono}\t${dataJson}\t${dataText}\t${metaJson}\t${metaText}\t${e.digest}\t${e.prev}\t${e.hash}\t${e.sig ?? '\\N'}\t${batch}\n`;
  }
  return text;
}
