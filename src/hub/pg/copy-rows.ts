// The rows the PostgreSQL store writes for events, in COPY's text format: one body of UTF-8
// bytes per transaction, sent to one COPY at once.
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
 * One event's row (with its newline); `data`/`meta` are the canonical texts to store. The
 * events passed checkEvent and linkProblem (check.ts): digest, prev and hash are 64 hex
 * digits and sig is base64, none of which COPY treats specially, so they go as they are
 * (a regular-expression test per field per row cost the hub a tenth of its COPY text).
 */
function row(e: Envelope, data: string | null, meta: string | null, batch: string): string {
  const dataText = copyJson(data);
  const metaText = copyJson(meta);
  // jsonb cannot hold every payload (jsonbText): the exact text is kept either way
  const dataJson = jsonbText(data) === data ? dataText : '\\N';
  const metaJson = jsonbText(meta) === meta ? metaText : '\\N';
  return `${copyText(e.device)}\t${e.seq}\t${copyText(e.type)}\t${copyText(e.time)}\t${copyText(e.boot)}\t${e.mono}\t${dataJson}\t${dataText}\t${metaJson}\t${metaText}\t${e.digest}\t${e.prev}\t${e.hash}\t${e.sig ?? '\\N'}\t${batch}\n`;
}

/** What one COPY carries for one batch. */
export interface CopyBatch {
  events: Envelope[];
  datas: (string | null)[];
  metas: (string | null)[];
  batch: string;
}

/**
 * Buffers the COPY bytes are written into, kept for the next group once PostgreSQL has
 * read them: fresh megabytes for each group cost the kernel a page fault per 4 KB, more
 * than writing the rows.
 */
export class CopyBuffers {
  private readonly free: Buffer[] = [];

  /**
   * A group's COPY text as UTF-8 bytes, each row written straight into them: a string built
   * row after row is a rope that PostgreSQL's client flattens and encodes in one go, which
   * cost the hub 3 to 4 µs an event, twice what writing the rows one by one does. The bytes
   * are a view of a kept buffer: hand them back with `release` once the COPY has ended.
   */
  body(batches: readonly CopyBatch[]): Buffer {
    let b = this.free.pop() ?? Buffer.allocUnsafeSlow(1 << 20);
    let at = 0;
    for (const { events, datas, metas, batch } of batches) {
      for (let k = 0; k < events.length; k++) {
        const text = row(events[k]!, datas[k]!, metas[k]!, batch);
        // a UTF-16 code unit is at most 3 bytes of UTF-8
        if (b.length - at < text.length * 3) {
          const grown = Buffer.allocUnsafeSlow(Math.max(b.length * 2, at + text.length * 3));
          b.copy(grown, 0, 0, at);
          b = grown;
        }
        at += b.write(text, at, 'utf8');
      }
    }
    return b.subarray(0, at);
  }

  /** A body's buffer may be written again. */
  release(body: Buffer): void {
    // at most a few kept: one per transaction in flight (a body is the start of its buffer)
    if (this.free.length < 4) this.free.push(Buffer.from(body.buffer));
  }
}
