// The lines of NDJSON input, cut from bytes and decoded only when they are UTF-8: readline
// would turn bad bytes into U+FFFD silently, and input is recorded as it was or refused.
import { isUtf8 } from 'node:buffer';
import { fail } from '../errors.js';

/** Each line (without its `\n` or `\r\n`); a line that is not UTF-8 throws EVENT_INVALID naming it. */
export async function* utf8Lines(input: NodeJS.ReadableStream, signal: AbortSignal): AsyncGenerator<string> {
  const chunks = (input as AsyncIterable<Buffer | string>)[Symbol.asyncIterator]();
  // an abort ends the input where it is, as closing readline did
  const aborted = new Promise<IteratorResult<Buffer | string>>((resolve) => {
    if (signal.aborted) resolve({ done: true, value: undefined });
    signal.addEventListener('abort', () => resolve({ done: true, value: undefined }), { once: true });
  });
  let lineNo = 0;
  let rest: Buffer[] = [];
  try {
    for (;;) {
      const r = await Promise.race([chunks.next(), aborted]);
      if (r.done) break;
      const buf = typeof r.value === 'string' ? Buffer.from(r.value) : r.value;
      let from = 0;
      for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, from)) {
        const part = buf.subarray(from, nl);
        const line = rest.length > 0 ? Buffer.concat([...rest, part]) : part;
        rest = [];
        from = nl + 1;
        yield decode(line, ++lineNo);
        if (signal.aborted) return;
      }
      if (from < buf.length) rest.push(buf.subarray(from));
    }
    if (rest.length > 0 && !signal.aborted) yield decode(Buffer.concat(rest), ++lineNo);
  } finally {
    void chunks.return?.();
  }
}

function decode(line: Buffer, lineNo: number): string {
  const end = line.length > 0 && line[line.length - 1] === 0x0d ? line.length - 1 : line.length;
  const bytes = line.subarray(0, end);
  if (!isUtf8(bytes)) throw fail('EVENT_INVALID', `line ${lineNo}: not UTF-8`);
  return bytes.toString();
}
