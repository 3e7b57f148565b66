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

/** The COPY text of a batch's events; `datas`/`metas` are the canonical texts to store. */
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
    text += `${copyText(e.device)}\t${e.seq}\t${copyText(e.type)}\t${copyText(e.time)}\t${copyText(e.boot)}\t${e.mono}\t${copyText(jsonbText(data))}\t${copyText(data)}\t${copyText(jsonbText(meta))}\t${copyText(meta)}\t${copyText(e.digest)}\t${copyText(e.prev)}\t${copyText(e.hash)}\t${copyText(e.sig ?? null)}\t${batch}\n`;
  }
  return text;
}
