// The rows the PostgreSQL store writes for events, in COPY's text format: a transaction's
// rows as UTF-8 bytes in kept 64 KB chunks, written as its one COPY takes them.
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

/** The bytes of one CopyData message, at most (a row longer than that goes alone). */
export const COPY_CHUNK_BYTES = 64 * 1024;

/** A group's COPY text, made as it is read; `release` once the COPY has ended. */
export interface CopyBody extends Iterable<Buffer> {
  release(): void;
}

/**
 * Buffers the COPY bytes are written into, kept for the next group once PostgreSQL has
 * read them: fresh megabytes for each group cost the kernel a page fault per 4 KB, more
 * than writing the rows.
 */
export class CopyBuffers {
  private readonly free: Buffer[] = [];

  /**
   * A group's COPY text as UTF-8 bytes, in chunks of at most COPY_CHUNK_BYTES, each a
   * CopyData message. The rows are written straight into kept chunk buffers (a string built
   * row after row is a rope that PostgreSQL's client flattens and encodes in one go, which
   * cost the hub 3 to 4 µs an event, twice what writing the rows one by one does), and only
   * as the COPY takes them: PostgreSQL parses the first rows while the hub writes the next
   * (the whole group written first kept it idle for a tenth of its COPY), and it reads a
   * message whole before it parses any of it, so the messages are small.
   */
  body(batches: readonly CopyBatch[]): CopyBody {
    const used: Buffer[] = [];
    const take = (): Buffer => {
      const b = this.free.pop() ?? Buffer.allocUnsafeSlow(COPY_CHUNK_BYTES);
      used.push(b);
      return b;
    };
    function* chunks(): Generator<Buffer> {
      let b = take();
      let at = 0;
      for (const { events, datas, metas, batch } of batches) {
        for (let k = 0; k < events.length; k++) {
          const text = row(events[k]!, datas[k]!, metas[k]!, batch);
          // a UTF-16 code unit is at most 3 bytes of UTF-8
          if (COPY_CHUNK_BYTES - at < text.length * 3) {
            if (at > 0) {
              yield b.subarray(0, at);
              b = take();
              at = 0;
            }
            if (text.length * 3 > COPY_CHUNK_BYTES) {
              yield Buffer.from(text, 'utf8');
              continue;
            }
          }
          at += b.write(text, at, 'utf8');
        }
      }
      if (at > 0) yield b.subarray(0, at);
    }
    return {
      [Symbol.iterator]: chunks,
      release: () => {
        // kept: a few groups' worth (32 MiB at most)
        for (const b of used) if (this.free.length < 512) this.free.push(b);
        used.length = 0;
      },
    };
  }
}
