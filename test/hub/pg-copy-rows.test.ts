// The PostgreSQL store's COPY text (src/hub/pg/copy-rows.ts) skips the escape test for the
// fields the checks already proved plain (hex digests, base64 signatures) and looks at JSON
// text only for a backslash: its rows must equal every field escaped one by one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonbText } from '../../src/hub/pg/check.js';
import { COPY_CHUNK_BYTES, CopyBuffers, copyText } from '../../src/hub/pg/copy-rows.js';
import type { Envelope } from '../../src/log/envelope.js';

/** Every field through copyText, as the rows were made before. */
function reference(
  events: Envelope[],
  datas: (string | null)[],
  metas: (string | null)[],
  batch: string,
): string {
  return events
    .map((e, k) => {
      const fields = [
        e.device,
        String(e.seq),
        e.type,
        e.time,
        e.boot,
        String(e.mono),
        jsonbText(datas[k]!),
        datas[k]!,
        jsonbText(metas[k]!),
        metas[k]!,
        e.digest,
        e.prev,
        e.hash,
        e.sig ?? null,
        batch,
      ];
      return `${fields.map(copyText).join('\t')}\n`;
    })
    .join('');
}

const HEX = 'ab'.repeat(32);
const SIG = `${'A'.repeat(86)}==`;
// canonical JSON of strings holding what COPY and jsonb treat specially
const jsonArb = fc.oneof(
  fc.constant(null),
  fc
    .array(fc.constantFrom('a', '\\', '\t', '\n', '\r', '\u0000', 'é', '"', 'N', ' '), { maxLength: 12 })
    .map((cs) => JSON.stringify({ text: cs.join('') })),
  fc.constantFrom('{"a":"\\\\u0000"}', '{"a":"\\u0000"}', '{"a":"x\\\\"}', '{"v":1.5}'),
);

describe('COPY text of a batch', () => {
  it('equals every field escaped one by one', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ data: jsonArb, meta: jsonArb, sig: fc.boolean(), mono: fc.double({ noNaN: true }) }),
          {
            minLength: 1,
            maxLength: 8,
          },
        ),
        (rows) => {
          const events = rows.map(
            (r, k): Envelope => ({
              device: 'dev-1',
              seq: k + 1,
              type: 'NoteAdded',
              time: '2026-12-04T18:00:00.000Z',
              boot: 'boot-1',
              mono: r.mono,
              data: null,
              digest: HEX,
              prev: HEX,
              hash: HEX,
              ...(r.sig ? { sig: SIG } : {}),
            }),
          );
          const datas = rows.map((r) => r.data);
          const metas = rows.map((r) => r.meta);
          const body = Buffer.concat([...new CopyBuffers().body([{ events, datas, metas, batch: '42' }])]);
          expect(body.toString('utf8')).toBe(reference(events, datas, metas, '42'));
        },
      ),
    );
  });

  it('as bytes: a group of batches is its rows in UTF-8, in chunks of kept buffers', () => {
    const buffers = new CopyBuffers();
    const event = (device: string, seq: number): Envelope => ({
      device,
      seq,
      type: 'ReadingRecorded',
      time: '2026-12-04T18:00:00.000Z',
      boot: 'boot-1',
      mono: seq / 3,
      data: null,
      digest: HEX,
      prev: HEX,
      hash: HEX,
    });
    fc.assert(
      fc.property(
        // sizes past many chunks, payloads with multi-byte characters
        fc.array(fc.tuple(fc.integer({ min: 1, max: 3000 }), jsonArb), { minLength: 1, maxLength: 4 }),
        (groups) => {
          const batches = groups.map(([n, data], b) => {
            const events = Array.from({ length: n }, (_, k) => event(`dev-${b}`, k + 1));
            return {
              events,
              datas: events.map(() => data),
              metas: events.map(() => null),
              batch: String(b + 7),
            };
          });
          const body = buffers.body(batches);
          const chunks = [...body].map((c) => Buffer.from(c)); // copied: the buffers are reused
          body.release();
          const expected = batches.map((x) => reference(x.events, x.datas, x.metas, x.batch)).join('');
          const bytes = Buffer.concat(chunks);
          expect(bytes.toString('utf8')).toBe(expected);
          expect(bytes.length).toBe(Buffer.byteLength(expected));
          // each chunk a CopyData message of at most 64 KB, none empty
          for (const c of chunks) expect(c.length).toBeGreaterThan(0);
          for (const c of chunks) expect(c.length).toBeLessThanOrEqual(COPY_CHUNK_BYTES);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('as bytes: a row longer than a chunk goes as a message of its own, between the others', () => {
    const buffers = new CopyBuffers();
    const events = [1, 2, 3].map(
      (seq): Envelope => ({
        device: 'big',
        seq,
        type: 'NoteAdded',
        time: '2026-12-04T18:00:00.000Z',
        boot: 'boot-1',
        mono: seq,
        data: null,
        digest: HEX,
        prev: HEX,
        hash: HEX,
      }),
    );
    const datas = ['{"a":1}', JSON.stringify({ text: 'é'.repeat(40_000) }), '{"a":3}'];
    const metas = [null, null, null];
    const body = buffers.body([{ events, datas, metas, batch: '9' }]);
    const chunks = [...body].map((c) => Buffer.from(c));
    body.release();
    expect(Buffer.concat(chunks).toString('utf8')).toBe(reference(events, datas, metas, '9'));
    expect(chunks.map((c) => c.toString('utf8').split('\n').length - 1)).toEqual([1, 1, 1]);
    expect(chunks[1]!.length).toBeGreaterThan(COPY_CHUNK_BYTES);
  });
});
