// The sensor-node line protocol (docs/protocol.md §7): every frame type, every rejection, the splitter and the
// counter arithmetic, plus properties: random bytes never throw, every valid frame round-trips.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { wrapFrame } from '../../src/device/frame.js';
import {
  counterGap,
  decimalString,
  encodeAnswer,
  encodeCommand,
  encodeFault,
  encodeIdentity,
  encodeNodeFrame,
  encodeReadings,
  LineSplitter,
  MAX_CONTENT_BYTES,
  type NodeFrame,
  type ParsedLine,
  parseCommand,
  parseLine,
  type Reading,
} from '../../src/device/line-protocol.js';
import { isFieldlogError } from '../../src/errors.js';

/** A frame line without its terminator, as the splitter hands it over. */
const line = (body: string): string => wrapFrame(body).slice(0, -2);
const reason = (parsed: ParsedLine): string | undefined =>
  parsed.kind === 'rejected' ? parsed.reason : undefined;
function thrownCode(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isFieldlogError(err)) return err.code;
    throw err;
  }
  return undefined;
}
/** XOR over bytes, written independently of the code under test. */
const byteChecksum = (bytes: Buffer): string =>
  bytes
    .reduce((x, b) => x ^ b, 0)
    .toString(16)
    .toUpperCase()
    .padStart(2, '0');

describe('parseLine: frames', () => {
  it('parses the identity frame', async () => {
    await expect(parseLine(line('FLI,node-7,fieldnode,1.2.0'))).toEqual({
      kind: 'identity',
      nodeId: 'node-7',
      firmware: 'fieldnode',
      version: '1.2.0',
    });
  });

  it('parses the example readings frame of the contract', async () => {
    await expect(parseLine(line('FLR,42,temp:21.50:C,hum:40.1:%'))).toEqual({
      kind: 'readings',
      counter: 42,
      readings: [
        { sensor: 'temp', value: 21.5, unit: 'C' },
        { sensor: 'hum', value: 40.1, unit: '%' },
      ],
    });
  });

  it('parses readings without unit, negative and small values, counter bounds', async () => {
    await expect(parseLine(line('FLR,0,a:-12.5,b.c_1:3,d:0.001:m/s'))).toEqual({
      kind: 'readings',
      counter: 0,
      readings: [
        { sensor: 'a', value: -12.5 },
        { sensor: 'b.c_1', value: 3 },
        { sensor: 'd', value: 0.001, unit: 'm/s' },
      ],
    });
    await expect(parseLine(line('FLR,65535,x:1'))).toMatchObject({ kind: 'readings', counter: 65535 });
    await expect(parseLine(line('FLR,1,x:-0'))).toEqual({
      kind: 'readings',
      counter: 1,
      readings: [{ sensor: 'x', value: 0 }],
    });
  });

  it('takes ° as its UTF-8 bytes, with the checksum over those bytes', async () => {
    const body = Buffer.from('FLR,7,t:21.5:°C', 'utf8');
    const bytes = Buffer.concat([Buffer.from('$'), body, Buffer.from(`*${byteChecksum(body)}`)]);
    const expected = { kind: 'readings', counter: 7, readings: [{ sensor: 't', value: 21.5, unit: '°C' }] };
    await expect(parseLine(bytes)).toEqual(expected);
    await expect(parseLine(bytes.toString('utf8'))).toEqual(expected);
    await expect(encodeReadings(7, [{ sensor: 't', value: 21.5, unit: '°C' }])).toBe(
      `${bytes.toString('utf8')}\r\n`,
    );
    // A latin1 ° (a lone B0 byte) is not the protocol's encoding.
    const latin1 = Buffer.from(`$FLR,7,t:21.5:\xb0C*00`, 'latin1');
    await expect(reason(parseLine(latin1))).toBe('noise');
  });

  it('parses faults, with commas allowed in the text', async () => {
    await expect(parseLine(line('FLE,E42,sensor bus stuck, retrying'))).toEqual({
      kind: 'fault',
      code: 'E42',
      text: 'sensor bus stuck, retrying',
    });
  });

  it('parses answers', async () => {
    await expect(parseLine(line('FLA,RATE,OK'))).toEqual({ kind: 'answer', command: 'RATE', ok: true });
    await expect(parseLine(line('FLA,RATE,ERR,below minimum 100'))).toEqual({
      kind: 'answer',
      command: 'RATE',
      ok: false,
      why: 'below minimum 100',
    });
  });

  it('accepts a lower-case checksum and a Buffer', async () => {
    const lower = line('FLA,ID,OK').replace(/\*(..)$/, (_, cs: string) => `*${cs.toLowerCase()}`);
    await expect(parseLine(Buffer.from(lower))).toEqual({ kind: 'answer', command: 'ID', ok: true });
  });
});

describe('parseLine: rejections', () => {
  const cases: [string, string | Buffer, string][] = [
    ['empty', '', 'empty'],
    ['over 255 bytes with the terminator', line(`FLE,1,${'x'.repeat(MAX_CONTENT_BYTES - 9)}`), 'overlong'],
    ['binary bytes', Buffer.from([0x24, 0x46, 0x00, 0xff, 0x13]), 'noise'],
    ['a control character', `${line('FLA,ID,OK')}\r`, 'noise'],
    ['start-up text', 'node booting v1.2', 'noise'],
    ['missing *CS', '$FLR,1,t:2', 'truncated'],
    ['half a checksum', '$FLR,1,t:2*4', 'truncated'],
    ['a wrong checksum', line('FLR,1,t:2').replace(/..$/, '00'), 'checksum'],
    ['a checksum that is not hex', '$FLR,1,t:2*ZZ', 'syntax'],
    ['text after the checksum', `${line('FLR,1,t:2')}0`, 'syntax'],
    ['a lower-case type', line('flr,1,t:2'), 'syntax'],
    ['an identity with a missing field', line('FLI,node,fw'), 'syntax'],
    ['readings without any reading', line('FLR,1'), 'syntax'],
    ['an answer OK with extra fields', line('FLA,ID,OK,extra'), 'syntax'],
    ['a counter over 65535', line('FLR,65536,t:2'), 'field'],
    ['a negative counter', line('FLR,-1,t:2'), 'field'],
    ['an exponent value', line('FLR,1,t:1e5'), 'field'],
    ['NaN', line('FLR,1,t:NaN'), 'field'],
    ['a hex value', line('FLR,1,t:0x10'), 'field'],
    ['a lone sign', line('FLR,1,t:+'), 'field'],
    ['a plus sign', line('FLR,1,t:+3'), 'field'],
    ['an empty value', line('FLR,1,t:'), 'field'],
    ['a trailing point', line('FLR,1,t:3.'), 'field'],
    ['a reading without value', line('FLR,1,t'), 'field'],
    ['an upper-case sensor', line('FLR,1,Temp:3'), 'field'],
    ['a 33-character sensor', line(`FLR,1,${'s'.repeat(33)}:3`), 'field'],
    ['a 9-character unit', line('FLR,1,t:3:abcdefghi'), 'field'],
    ['a unit with a digit', line('FLR,1,t:3:m2'), 'field'],
    ['too many colons', line('FLR,1,t:3:C:x'), 'field'],
    ['a duplicated sensor', line('FLR,1,t:3,h:4,t:5'), 'field'],
    ['an answer neither OK nor ERR', line('FLA,ID,MAYBE'), 'field'],
    ['a bad node id', line('FLI,node 7,fw,1'), 'field'],
    ['an unknown FL type', line('FLX,1'), 'unknown-type'],
    ['a command echoed back', line('FLC,ID'), 'unknown-type'],
    ['an NMEA sentence', line('GPGGA,1'), 'unknown-type'],
    ['an address with punctuation', line('FL-R,1'), 'syntax'],
  ];
  it.each(cases)('rejects %s', async (_name, input, expected) => {
    await expect(reason(parseLine(input))).toBe(expected);
  });

  it('samples the first 16 bytes as hex', async () => {
    const input = Buffer.from('garbage line that is long');
    await expect(parseLine(input)).toEqual({
      kind: 'rejected',
      reason: 'noise',
      sample: input.subarray(0, 16).toString('hex'),
    });
  });

  it('takes 253 bytes of content and refuses 254, whatever the terminator', async () => {
    const fit = line(`FLE,1,${'x'.repeat(MAX_CONTENT_BYTES - 10)}`);
    await expect(Buffer.byteLength(fit)).toBe(MAX_CONTENT_BYTES);
    await expect(parseLine(fit).kind).toBe('fault');
    const over = line(`FLE,1,${'x'.repeat(MAX_CONTENT_BYTES - 9)}`);
    await expect(reason(parseLine(over))).toBe('overlong');
  });
});

describe('encoders', () => {
  it('encodes the two commands', async () => {
    await expect(encodeCommand({ kind: 'rate', ms: 1000 })).toBe(wrapFrame('FLC,RATE,1000'));
    await expect(encodeCommand({ kind: 'identify' })).toBe(
      `$FLC,ID*${byteChecksum(Buffer.from('FLC,ID'))}\r\n`,
    );
    await expect(parseCommand(encodeCommand({ kind: 'rate', ms: 250 }).trimEnd())).toEqual({
      kind: 'rate',
      ms: 250,
    });
    await expect(parseCommand(encodeCommand({ kind: 'identify' }).trimEnd())).toEqual({ kind: 'identify' });
    await expect(parseCommand(line('FLC,RATE,0'))).toMatchObject({ kind: 'rejected', reason: 'field' });
    await expect(parseCommand(line('FLR,1,t:2'))).toMatchObject({ kind: 'rejected', reason: 'unknown-type' });
  });

  it('refuses a rate that is not a whole number of ms in range', async () => {
    for (const ms of [0, -5, 1.5, Number.NaN, 3_600_001]) {
      await expect(thrownCode(() => encodeCommand({ kind: 'rate', ms }))).toBe('COMMAND_REJECTED');
    }
  });

  it('encodes node frames that parse back', async () => {
    await expect(encodeReadings(42, [{ sensor: 'temp', value: 21.5, unit: 'C' }])).toBe(
      wrapFrame('FLR,42,temp:21.5:C'),
    );
    await expect(encodeIdentity({ nodeId: 'n1', firmware: 'fieldnode', version: '1.0' })).toBe(
      wrapFrame('FLI,n1,fieldnode,1.0'),
    );
    await expect(encodeFault('E1', 'low battery')).toBe(wrapFrame('FLE,E1,low battery'));
    await expect(encodeAnswer('RATE', true)).toBe(wrapFrame('FLA,RATE,OK'));
    await expect(encodeAnswer('RATE', false, 'too fast')).toBe(wrapFrame('FLA,RATE,ERR,too fast'));
  });

  it('refuses what would not parse back', async () => {
    const bad: (() => string)[] = [
      () => encodeReadings(70000, [{ sensor: 't', value: 1 }]),
      () => encodeReadings(1, []),
      () => encodeReadings(1, [{ sensor: 'T', value: 1 }]),
      () => encodeReadings(1, [{ sensor: 't', value: Number.POSITIVE_INFINITY }]),
      () => encodeReadings(1, [{ sensor: 't', value: 1, unit: 'm2' }]),
      () =>
        encodeReadings(1, [
          { sensor: 't', value: 1 },
          { sensor: 't', value: 2 },
        ]),
      () => encodeReadings(1, [{ sensor: 't', value: 1e-300 }]), // 300 digits: over 255 bytes
      () => encodeIdentity({ nodeId: 'n 1', firmware: 'f', version: 'v' }),
      () => encodeFault('E1', 'a*b'),
      () => encodeAnswer('rate', true),
    ];
    for (const encode of bad) await expect(thrownCode(encode)).toBe('EVENT_INVALID');
  });

  it('writes numbers as plain decimals, never with an exponent', async () => {
    await expect(decimalString(1e21)).toBe('1000000000000000000000');
    await expect(decimalString(1.5e-7)).toBe('0.00000015');
    await expect(decimalString(-2.5e-8)).toBe('-0.000000025');
    await expect(decimalString(-0)).toBe('0');
    await expect(decimalString(123.456)).toBe('123.456');
  });
});

describe('counterGap', () => {
  it('counts lost frames with 16-bit wrap', async () => {
    await expect(counterGap(41, 42)).toBe(0);
    await expect(counterGap(10, 20)).toBe(9);
    await expect(counterGap(65535, 0)).toBe(0);
    await expect(counterGap(65534, 1)).toBe(2);
    await expect(counterGap(42, 41)).toBe(65534);
  });

  it('treats a repeated counter as a duplicate, not a loss', async () => {
    await expect(counterGap(42, 42)).toBe(0);
  });
});

describe('LineSplitter', () => {
  const text = (lines: Buffer[]): string[] => lines.map((l) => l.toString('latin1'));

  it('splits on \\r\\n and bare \\n, across chunks', async () => {
    const s = new LineSplitter();
    await expect(text(s.push(Buffer.from('$A*00\r\n$B')))).toEqual(['$A*00']);
    await expect(text(s.push(Buffer.from('*00\r')))).toEqual([]);
    await expect(text(s.push(Buffer.from('\n\n$C*00\n')))).toEqual(['$B*00', '', '$C*00']);
    await expect(s.end()).toBeUndefined();
  });

  it('hands over the unterminated tail at the end', async () => {
    const s = new LineSplitter();
    s.push(Buffer.from('$A*00\n$B*0'));
    await expect(s.end()?.toString()).toBe('$B*0');
    await expect(s.end()).toBeUndefined();
  });

  it('cuts a line that grows past the limit and skips the rest of it', async () => {
    const s = new LineSplitter();
    const out = [...s.push(Buffer.alloc(200, 0x41)), ...s.push(Buffer.alloc(100_000, 0x42))];
    await expect(out).toHaveLength(1);
    await expect(out[0]!.length).toBe(MAX_CONTENT_BYTES + 1);
    await expect(reason(parseLine(out[0]!))).toBe('overlong');
    // Nothing of the cut line is kept: the next terminator ends it, and the next line is whole.
    await expect(text(s.push(Buffer.from(`BBB\n${line('FLA,ID,OK')}\r\n`)))).toEqual([line('FLA,ID,OK')]);
    await expect(s.end()).toBeUndefined();
  });

  it('keeps a 253-byte line whose \\r\\n arrives later, and cuts at 254', async () => {
    const fit = line(`FLE,1,${'x'.repeat(MAX_CONTENT_BYTES - 10)}`);
    const s = new LineSplitter();
    await expect(s.push(Buffer.from(`${fit}\r`))).toEqual([]);
    await expect(text(s.push(Buffer.from('\n')))).toEqual([fit]);
    const over = Buffer.alloc(MAX_CONTENT_BYTES + 1, 0x41);
    await expect(s.push(over)).toEqual([]);
    const [cut] = s.push(Buffer.from('A\n'));
    await expect(cut?.length).toBe(MAX_CONTENT_BYTES + 1);
  });
});

// ---- properties ----

const sensorArb = fc.stringMatching(/^[a-z0-9_.]{1,12}$/);
const unitArb = fc.stringMatching(/^[A-Za-z%/°]{1,8}$/);
const valueArb = fc
  .oneof(
    fc.integer({ min: -1_000_000, max: 1_000_000 }),
    fc.integer({ min: -10_000_000, max: 10_000_000 }).map((n) => n / 1000),
    fc.double({ min: -1e6, max: 1e6, noNaN: true }).filter((v) => v === 0 || Math.abs(v) > 1e-9),
  )
  .map((v) => (v === 0 ? 0 : v)); // the protocol has no negative zero
const readingArb: fc.Arbitrary<Reading> = fc
  .record({ sensor: sensorArb, value: valueArb, unit: fc.option(unitArb, { nil: undefined }) })
  .map(({ sensor, value, unit }) => (unit === undefined ? { sensor, value } : { sensor, value, unit }));
const tokenArb = fc.stringMatching(/^[!-~]{1,20}$/).filter((s) => !/[$*,]/.test(s));
const textArb = fc.stringMatching(/^[ -~]{0,40}$/).filter((s) => !/[$*]/.test(s));
const frameArb: fc.Arbitrary<NodeFrame> = fc.oneof(
  fc.record({
    kind: fc.constant('readings' as const),
    counter: fc.integer({ min: 0, max: 65535 }),
    readings: fc.uniqueArray(readingArb, { selector: (r) => r.sensor, minLength: 1, maxLength: 3 }),
  }),
  fc.record({
    kind: fc.constant('identity' as const),
    nodeId: fc.stringMatching(/^[A-Za-z0-9._-]{1,24}$/),
    firmware: tokenArb,
    version: tokenArb,
  }),
  fc.record({ kind: fc.constant('fault' as const), code: tokenArb, text: textArb }),
  fc.record({
    kind: fc.constant('answer' as const),
    command: fc.stringMatching(/^[A-Z]{1,8}$/),
    ok: fc.constant(true),
  }),
  fc.record({
    kind: fc.constant('answer' as const),
    command: fc.stringMatching(/^[A-Z]{1,8}$/),
    ok: fc.constant(false),
    why: textArb,
  }),
);

/** `$body*CS` for any body, the checksum over its UTF-8 bytes. */
const encodeWithAnyBody = (body: string): string => `$${body}*${byteChecksum(Buffer.from(body, 'utf8'))}`;

/** What a valid readings line looks like, written apart from the parser. */
function isValidReadingsLine(bytes: Buffer): boolean {
  const m =
    /^\$(FLR,(\d{1,5})((?:,[a-z0-9_.]{1,32}:-?\d+(?:\.\d+)?(?::[A-Za-z%/°]{1,8})?)+))\*([0-9A-Fa-f]{2})$/u.exec(
      bytes.toString('utf8'),
    );
  if (m === null || bytes.length > MAX_CONTENT_BYTES || !bytes.equals(Buffer.from(bytes.toString('utf8'))))
    return false;
  const [, body = '', counter = '', items = '', cs = ''] = m;
  const sensors = items
    .slice(1)
    .split(',')
    .map((item) => item.split(':')[0]);
  return (
    Number(counter) <= 65535 &&
    new Set(sensors).size === sensors.length &&
    byteChecksum(Buffer.from(body, 'utf8')) === cs.toUpperCase()
  );
}

describe('properties', () => {
  it('random bytes never throw and never become readings unless they are a valid frame', async () => {
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      fc.string({ unit: 'binary-ascii', maxLength: 80 }).map((s) => Buffer.from(`$FLR,${s}`, 'latin1')),
      fc.string({ maxLength: 80 }).map((s) => Buffer.from(line(`FLR,${s}`), 'utf8')),
      // Near misses: readings-shaped bodies (repeated sensors, counters past 65535) with a
      // correct checksum, and valid frames with a random one.
      fc
        .stringMatching(/^\d{1,6}(,[a-c]:-?\d{1,3}(\.\d)?(:[C%°])?){1,3}$/)
        .map((s) => Buffer.from(encodeWithAnyBody(`FLR,${s}`), 'utf8')),
      fc
        .tuple(frameArb, fc.stringMatching(/^[0-9A-F]{2}$/))
        .map(([f, cs]) => Buffer.from(encodeNodeFrame(f).slice(0, -4) + cs, 'utf8')),
    );
    fc.assert(
      fc.property(bytesArb, (bytes) => {
        const parsed = parseLine(bytes);
        return parsed.kind !== 'readings' || isValidReadingsLine(bytes);
      }),
      { numRuns: 2000 },
    );
    await expect(parseLine(Buffer.from([0xff, 0xfe])).kind).toBe('rejected');
  });

  it('a valid frame with one body byte changed is always rejected', async () => {
    fc.assert(
      fc.property(frameArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (frame, at, flip) => {
        const bytes = Buffer.from(encodeNodeFrame(frame).slice(0, -2), 'utf8');
        const star = bytes.lastIndexOf(0x2a);
        const i = 1 + (at % (star - 1));
        bytes[i] = bytes[i]! ^ flip;
        return parseLine(bytes).kind === 'rejected';
      }),
      { numRuns: 2000 },
    );
  });

  it('every valid frame round-trips through encode and parse', async () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const encoded = encodeNodeFrame(frame);
        expect(Buffer.byteLength(encoded)).toBeLessThanOrEqual(255);
        expect(encoded.endsWith('\r\n')).toBe(true);
        expect(parseLine(encoded.slice(0, -2))).toEqual(frame);
        expect(parseLine(Buffer.from(encoded.slice(0, -2), 'utf8'))).toEqual(frame);
      }),
      { numRuns: 1000 },
    );
  });

  it('the splitter yields the same lines however the stream is fragmented', async () => {
    const lineArb = fc.oneof(
      frameArb.map((f) => encodeNodeFrame(f).slice(0, -2)),
      fc.string({ unit: 'binary-ascii', maxLength: 400 }).map((s) => s.replace(/\n/g, '')),
    );
    const streamArb = fc
      .array(fc.tuple(lineArb, fc.constantFrom('\r\n', '\n')), { maxLength: 12 })
      .map((parts) => Buffer.from(parts.map(([l, t]) => l + t).join(''), 'utf8'));
    fc.assert(
      fc.property(streamArb, fc.array(fc.nat(), { maxLength: 20 }), (stream, cutsRaw) => {
        const whole = new LineSplitter().push(stream);
        const cuts = [...new Set(cutsRaw.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const s = new LineSplitter();
        const pieces: Buffer[] = [];
        let from = 0;
        for (const cut of [...cuts, stream.length]) {
          pieces.push(...s.push(stream.subarray(from, cut)));
          from = cut;
        }
        expect(pieces.map((p) => p.toString('hex'))).toEqual(whole.map((p) => p.toString('hex')));
        expect(whole.every((p) => p.length <= MAX_CONTENT_BYTES + 1)).toBe(true);
        expect(s.end()).toBeUndefined();
      }),
      { numRuns: 1000 },
    );
  });
});
