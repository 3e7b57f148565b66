import canonicalize from 'canonicalize';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalHeader,
  digestOf,
  envelopeSchema,
  flatObjectJcs,
  formatTime,
  hashOf,
  instantMs,
  isEnvelopeShape,
  isHex64,
  isoTime,
  jcs,
  MAX_DATA_BYTES,
  metaJcsOf,
  parseEnvelope,
  parseEnvelopeShape,
  parseEventInput,
  parseTime,
  plainHeader,
  ZERO_HASH,
} from '../../src/log/envelope.js';
import { parseIJson } from '../../src/log/ijson.js';

// Known vectors, computed independently (Python's json with sorted keys and hashlib):
// if these change, every stored log and every hub copy stops verifying.
const first = {
  device: 'pi-01',
  seq: 1,
  type: 'ReadingRecorded',
  time: '2026-11-24T10:00:00.000Z',
  boot: 'b00t',
  mono: 1234.5,
  data: { source: 'node1', sensor: 'temp', value: 21.5, unit: 'C' },
  meta: { actor: 'sensor:node1', source: 'node1' },
  digest: '0652b8bd334dd08137500bc3cd8f27ef58beb145ca50d82302b13c4dac553142',
  prev: ZERO_HASH,
  hash: '64fc5b4ec676aaabd2e3dbf7023e310c589a638046a367545b60061714765057',
};

describe('envelope hashing', () => {
  it('canonicalizes per RFC 8785 (sorted keys, ES number form)', () => {
    expect(jcs({ b: 1, a: [true, null, 1e21, 0.1, -0], c: 'é' })).toBe(
      '{"a":[true,null,1e+21,0.1,0],"b":1,"c":"é"}',
    );
  });

  it('matches the known digest and hash of a fixed event', () => {
    expect(digestOf(first.data)).toBe(first.digest);
    expect(hashOf(first)).toBe(first.hash);
  });

  it('hashes the envelope without its data, so a redacted event keeps its hash', () => {
    const withData = (data: Record<string, unknown> | null) => ({ ...first, data });
    expect(hashOf(withData(null))).toBe(first.hash);
    expect(hashOf(withData({ other: 1 }))).toBe(first.hash);
  });

  it('chains a second event with unicode data', () => {
    const second = {
      ...first,
      seq: 2,
      type: 'NoteAdded',
      mono: 2000,
      prev: first.hash,
      data: { text: 'Ünïcödé ✓' },
      meta: { actor: 'operator:anna' },
      digest: 'bc44a2a58352d616fbe41718ef5c06e166e7c67c819d873098a751be2e6602fd',
    };
    expect(digestOf(second.data)).toBe(second.digest);
    expect(hashOf(second)).toBe('30408e7643fb990e99b8af5f0e3a7ec3f188184a678f3de61d892634244f643f');
  });

  it('builds the hashed header exactly as the JCS library does, for any envelope', () => {
    fc.assert(
      fc.property(
        fc.record({
          boot: fc.string({ minLength: 1, maxLength: 40, unit: 'grapheme' }),
          device: fc.string({ minLength: 1, maxLength: 64 }),
          digest: fc.string(),
          mono: fc.double({ noNaN: true, noDefaultInfinity: true }),
          prev: fc.string(),
          seq: fc.integer({ min: 1, max: 2 ** 48 }),
          time: fc.string(),
          type: fc.string({ unit: 'grapheme-ascii' }),
        }),
        fc.option(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 }))),
        (h, meta) => {
          const obj = meta === null ? h : { ...h, meta };
          expect(canonicalHeader(h, meta === null ? undefined : canonicalize(meta))).toBe(canonicalize(obj));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('builds the header of checked fields (hex hashes, instants) exactly as the library does, one after another', () => {
    // several devices, boots, types and metas in turn: what the last header made is reused
    // only for the same values
    const hex = fc.stringMatching(/^[0-9a-f]{64}$/);
    const header = fc.record({
      boot: fc.constantFrom('35a72ceac544a174', 'b"oot', 'b\\oot', 'bøøt', 'x'),
      device: fc.constantFrom('pi-1', 'pi-2', 'a.b_c-d'),
      digest: hex,
      mono: fc.double({ noNaN: true, noDefaultInfinity: true, min: 0 }),
      prev: hex,
      seq: fc.integer({ min: 1, max: 2 ** 48 - 1 }),
      time: fc.integer({ min: 0, max: 253402300799999 }).map((ms) => new Date(ms).toISOString()),
      type: fc.constantFrom('ReadingRecorded', 'NoteAdded', 'AlarmRaised'),
    });
    const meta = fc.option(
      fc.constantFrom({ actor: 'system' }, { actor: 'operator:ana', note: 'ü "q"' }, { source: 'x' }),
      { nil: undefined },
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(header, meta), { minLength: 1, maxLength: 12 }), (headers) => {
        for (const [h, m] of headers) {
          const metaJcs = m === undefined ? undefined : canonicalize(m)!;
          const expected = canonicalize(m === undefined ? h : { ...h, meta: m });
          expect(plainHeader(h, metaJcs)).toBe(expected);
          expect(canonicalHeader(h, metaJcs)).toBe(expected);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('canonicalizes flat objects exactly as the JCS library does', () => {
    const value = fc.oneof(
      fc.string({ unit: 'binary' }),
      fc.string(),
      fc.double(),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.jsonValue({ maxDepth: 1 }),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: fc.constantFrom('a', 'b', '"', '\\', 'é', '\u0001', 'Z') }), value, {
          maxKeys: 8,
        }),
        (o) => {
          const fast = flatObjectJcs(o);
          let lib: string | undefined;
          try {
            lib = canonicalize(o);
          } catch {
            lib = undefined;
          }
          if (fast !== undefined) expect(fast).toBe(lib);
          if (lib === undefined)
            expect(() => jcs(o)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
          else expect(jcs(o)).toBe(lib);
        },
      ),
      { numRuns: 2000 },
    );
    expect(flatObjectJcs({ source: 'n1', value: 21.5, sensor: 'temp', unit: 'C' })).toBe(
      '{"sensor":"temp","source":"n1","unit":"C","value":21.5}',
    );
  });

  it('builds a run of payloads with the same keys as the library does, one after another', () => {
    const keyOrders = [
      ['source', 'sensor', 'value', 'unit'],
      ['unit', 'value', 'source', 'sensor'],
      ['source', 'sensor', 'value'],
      ['a"', 'b'],
    ];
    const text = fc.constantFrom('node-1', 'temp', 'C', 'a"b', 'é', '', 'x\\y');
    const value = fc.oneof(text, fc.double(), fc.constant(null), fc.constant(undefined), fc.constant([1]));
    const payload = fc
      .tuple(fc.constantFrom(...keyOrders), fc.array(value, { minLength: 4, maxLength: 4 }))
      .map(([keys, values]) => Object.fromEntries(keys.map((k, i) => [k, values[i]])));
    fc.assert(
      fc.property(fc.array(payload, { minLength: 1, maxLength: 30 }), (run) => {
        for (const o of run) {
          const fast = flatObjectJcs(o);
          let lib: string | undefined;
          try {
            lib = canonicalize(o);
          } catch {
            lib = undefined;
          }
          if (fast !== undefined) expect(fast).toBe(lib);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('changes the hash when any covered field changes', () => {
    for (const change of [
      { seq: 2 },
      { time: '2026-11-24T10:00:00.001Z' },
      { mono: 1 },
      { meta: undefined },
      { prev: first.hash },
    ]) {
      expect(hashOf({ ...first, ...change })).not.toBe(first.hash);
    }
  });
});

describe('edge validation', () => {
  it('accepts a valid envelope and rejects broken ones with EVENT_INVALID', () => {
    expect(parseEnvelope(first)).toEqual(first);
    for (const bad of [
      { ...first, device: 'no spaces' },
      { ...first, seq: 0 },
      { ...first, time: '2026-11-24T10:00:00Z' },
      { ...first, time: '2026-02-30T10:00:00.000Z' },
      { ...first, hash: 'xyz' },
      { ...first, extra: 1 },
      { ...first, type: 'readingRecorded' },
    ]) {
      expect(() => parseEnvelope(bad)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
    }
  });

  it('checks envelopes by hand exactly as the schema does (the hub fast path)', () => {
    const keys = Object.keys(first).concat(['sig', 'extra', '__proto__']);
    const odd = fc.oneof(
      fc.jsonValue(),
      fc.constantFrom(
        undefined,
        '',
        'x'.repeat(65),
        'pi-02',
        0,
        -1,
        1.5,
        2 ** 48,
        2 ** 53,
        Number.NaN,
        Number.POSITIVE_INFINITY,
        '2026-11-24T10:00:00Z',
        'readingRecorded',
        'f'.repeat(64),
        'F'.repeat(64),
        { actor: 'operator:ann' },
        { actor: 'operator: ann' },
        { actor: 5 },
        { source: '' },
        { schema: 'x'.repeat(65) },
        { other: [1, 2] },
        { other: 'x' },
        { actor: 'system', n: 5 },
        { actor: 'system', note: '' },
        { note: null },
        `${'A'.repeat(86)}==`,
        `${'A'.repeat(85)}B==`,
        `${'A'.repeat(85)}Q==`,
        `${'A'.repeat(85)}Q=`,
        `${'A'.repeat(84)}Q===`,
        `${'A'.repeat(86)}\n==`,
        `${'A'.repeat(85)}-==`,
        '1969-12-31T23:59:59.999Z',
        [],
        null,
        Object.create(null),
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom(...keys), odd, fc.boolean()), { maxLength: 3 }),
        (edits) => {
          const v: Record<string, unknown> = JSON.parse(JSON.stringify(first));
          for (const [k, value, remove] of edits) {
            if (remove) delete v[k];
            else if (k === '__proto__')
              Object.defineProperty(v, k, { value, enumerable: true, configurable: true, writable: true });
            else v[k] = value;
          }
          expect(isEnvelopeShape(v)).toBe(envelopeSchema.safeParse(v).success);
          // the hub's check of what JSON.parse made of I-JSON text (as in a message) agrees too
          let parsed: unknown;
          try {
            parsed = parseIJson(JSON.stringify(v));
          } catch {
            return; // refused before any shape check
          }
          expect(isEnvelopeShape(parsed, true)).toBe(envelopeSchema.safeParse(parsed).success);
        },
      ),
      { numRuns: 3000 },
    );
    expect(isEnvelopeShape(JSON.parse(JSON.stringify(first)))).toBe(true);
  });

  it('validates writer input', () => {
    expect(
      parseEventInput({ type: 'NoteAdded', data: { text: 'x' }, meta: { actor: 'operator:ann' } }),
    ).toMatchObject({
      type: 'NoteAdded',
    });
    for (const bad of [
      { type: 'NoteAdded' },
      { type: 'NoteAdded', data: [] },
      { type: 'X', data: {}, seq: 3 },
    ]) {
      expect(() => parseEventInput(bad)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
    }
  });

  it('round-trips times exactly and refuses clocks out of range', () => {
    expect(formatTime(parseTime('2026-11-24T10:00:00.123Z'))).toBe('2026-11-24T10:00:00.123Z');
    expect(() => formatTime(-1)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
  });
});

const isInvalid = expect.objectContaining({ code: 'EVENT_INVALID' }) as Error;

describe('what storage holds exactly', () => {
  const at = (time: string) => {
    const e = { ...first, time };
    return { ...e, hash: hashOf(e) };
  };

  it('refuses a time before 1970 as an invalid event, and takes the first and last instant held', () => {
    expect(() => parseTime('1969-12-31T23:59:59.999Z')).toThrow(isInvalid);
    expect(() => parseEnvelope(at('1969-07-20T20:17:40.000Z'))).toThrow(isInvalid);
    expect(() => parseEnvelope(at('0000-01-01T00:00:00.000Z'))).toThrow(isInvalid);
    expect(parseTime('1970-01-01T00:00:00.000Z')).toBe(0);
    expect(parseTime('9999-12-31T23:59:59.999Z')).toBe(253402300799999);
    expect(parseEnvelope(at('1970-01-01T00:00:00.000Z')).time).toBe('1970-01-01T00:00:00.000Z');
    // the hub's message check takes the shape; storing it is refused, naming the seq
    expect(parseEnvelopeShape(at('1969-07-20T20:17:40.000Z')).seq).toBe(1);
  });

  it('formats every instant it can store as toISOString does, whatever came before', () => {
    const day = 86_400_000;
    const ms = fc.oneof(
      fc.integer({ min: 0, max: 253402300799999 }),
      fc.integer({ min: 0, max: 2_930_000 }).map((d) => d * day + day - 1 - (d % 7)),
      fc.integer({ min: 0, max: 2_930_000 }).map((d) => d * day),
    );
    fc.assert(
      fc.property(fc.array(ms, { minLength: 1, maxLength: 20 }), (times) => {
        for (const t of times) expect(isoTime(t)).toBe(new Date(t).toISOString());
      }),
    );
    // within one day, forward and back
    for (const t of [1_000, 86_399_999, 5_000, 86_400_000, 86_399_999])
      expect(isoTime(t)).toBe(new Date(t).toISOString());
  });

  it('canonicalizes a meta as jcs does, whatever the metas before it were', () => {
    const key = fc.constantFrom('actor', 'source', 'schema', 'site', 'a', 'é');
    const value = fc.constantFrom('sensor:n1', 'system', 'x', 'y', '');
    const meta = fc.dictionary(key, value, { maxKeys: 4 });
    fc.assert(
      fc.property(fc.array(meta, { minLength: 1, maxLength: 12 }), (metas) => {
        for (const m of metas) {
          expect(metaJcsOf(m)).toBe(jcs(m));
          // the same keys and values in another order, and one value changed
          const reversed = Object.fromEntries(Object.entries(m).reverse());
          expect(metaJcsOf(reversed)).toBe(jcs(reversed));
          const first = Object.keys(m)[0];
          if (first !== undefined) {
            const changed = { ...m, [first]: `${m[first]}!` };
            expect(metaJcsOf(changed)).toBe(jcs(changed));
          }
        }
      }),
    );
    // one key fewer, one more, an inherited one
    expect(metaJcsOf({ actor: 'system', site: 'n' })).toBe('{"actor":"system","site":"n"}');
    expect(metaJcsOf({ actor: 'system' })).toBe('{"actor":"system"}');
    expect(metaJcsOf({ actor: 'system', site: 'n', x: 'y' })).toBe('{"actor":"system","site":"n","x":"y"}');
    const inherits = Object.create({ actor: 'system' }) as Record<string, unknown>;
    metaJcsOf({ actor: 'system' });
    expect(metaJcsOf(inherits)).toBe(jcs(inherits));
  });

  it('never formats a clock it could not store', () => {
    expect(formatTime(0)).toBe('1970-01-01T00:00:00.000Z');
    expect(formatTime(253402300799999)).toBe('9999-12-31T23:59:59.999Z');
    for (const ms of [-1, -86_400_000, 253402300800000, 0.5]) expect(() => formatTime(ms)).toThrow(isInvalid);
  });

  it('refuses a meta value that is not a string, naming the key', () => {
    for (const meta of [{ n: 5 }, { actor: 'system', tags: ['a'] }, { flag: true }, { x: null }, { o: {} }]) {
      const e = { ...first, meta } as unknown as typeof first;
      expect(() => parseEnvelope({ ...e, hash: hashOf(e) })).toThrow(isInvalid);
      const key = Object.keys(meta).at(-1)!;
      expect(() => parseEventInput({ type: 'NoteAdded', data: { text: 'x' }, meta })).toThrow(
        expect.objectContaining({ code: 'EVENT_INVALID', message: expect.stringContaining(`meta.${key}`) }),
      );
    }
    const e = { ...first, meta: { actor: 'system', site: 'north', empty: '' } };
    expect(parseEnvelope({ ...e, hash: hashOf(e) }).meta).toEqual(e.meta);
  });

  it('takes a sig only as 64 bytes of standard padded base64, which reads back as it came', () => {
    const sig = Buffer.alloc(64, 0xa7).toString('base64');
    expect(sig).toHaveLength(88);
    expect(parseEnvelope({ ...first, sig }).sig).toBe(sig);
    for (let b = 0; b < 256; b++) {
      const s = Buffer.alloc(64, b).toString('base64');
      expect(parseEnvelope({ ...first, sig: s }).sig).toBe(s);
    }
    for (const bad of [
      sig.slice(0, -2), // unpadded
      `${sig.slice(0, 85)}B==`, // same bytes as A==, but not their encoding
      sig.replace(/\+|\//g, '-').replace(/^./, '-'), // base64url
      Buffer.alloc(63, 1).toString('base64'),
      Buffer.alloc(65, 1).toString('base64'),
      ` ${sig.slice(1)}`,
      'x'.repeat(88),
      '',
    ]) {
      expect(() => parseEnvelope({ ...first, sig: bad })).toThrow(isInvalid);
    }
  });

  it('counts the payload limit in bytes of canonical JSON, as the log does', () => {
    // 9000 "é": 9,000 characters but 18,000 bytes
    expect(() => parseEventInput({ type: 'NoteAdded', data: { text: 'é'.repeat(9000) } })).toThrow(isInvalid);
    const fits = { text: 'x'.repeat(MAX_DATA_BYTES - '{"text":""}'.length) };
    expect(Buffer.byteLength(jcs(fits))).toBe(MAX_DATA_BYTES);
    expect(parseEventInput({ type: 'NoteAdded', data: fits }).data).toEqual(fits);
    expect(() =>
      parseEventInput({ type: 'NoteAdded', data: { text: `${fits.text.slice(2)}é` } }),
    ).not.toThrow();
    expect(() => parseEventInput({ type: 'NoteAdded', data: { text: `${fits.text.slice(1)}é` } })).toThrow(
      isInvalid,
    );
  });
});

describe('the fast checks the hub runs per event', () => {
  // what the time check was before it was read by arithmetic: Date.parse and the round trip
  const roundTrip = (t: string): number | undefined => {
    const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(t) ? Date.parse(t) : Number.NaN;
    return Number.isFinite(ms) && new Date(ms).toISOString() === t ? ms : undefined;
  };
  const pad = (n: number, w: number) => String(n).padStart(w, '0');

  it('reads a time exactly as Date.parse and the round trip do, for every instant of years 0000-9999', () => {
    fc.assert(
      fc.property(fc.integer({ min: -62167219200000, max: 253402300799999 }), (ms) => {
        const t = new Date(ms).toISOString();
        expect(instantMs(t)).toBe(ms);
      }),
      { numRuns: 5000 },
    );
    expect(instantMs('0000-01-01T00:00:00.000Z')).toBe(roundTrip('0000-01-01T00:00:00.000Z'));
    expect(instantMs('0000-02-29T23:59:59.999Z')).toBe(roundTrip('0000-02-29T23:59:59.999Z'));
  });

  it('refuses exactly what the round trip refuses: days a month lacks, leap days, 24:00, leap seconds, stray characters', () => {
    const fields = fc.tuple(
      fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1900, 1970, 2000, 2024, 2100, 9999)),
      fc.integer({ min: 0, max: 19 }),
      fc.integer({ min: 0, max: 39 }),
      fc.integer({ min: 0, max: 29 }),
      fc.integer({ min: 0, max: 69 }),
      fc.integer({ min: 0, max: 69 }),
      fc.integer({ min: 0, max: 999 }),
    );
    fc.assert(
      fc.property(fields, ([y, mo, d, h, mi, s, ms]) => {
        const t = `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(s, 2)}.${pad(ms, 3)}Z`;
        expect(instantMs(t)).toBe(roundTrip(t));
      }),
      { numRuns: 20000 },
    );
    // one character anywhere replaced by anything
    fc.assert(
      fc.property(
        fc.integer({ min: Date.UTC(1970, 0, 1), max: 253402300799999 }),
        fc.nat(23),
        fc.string({ minLength: 0, maxLength: 2, unit: 'binary' }),
        (ms, at, c) => {
          const good = new Date(ms).toISOString();
          const t = good.slice(0, at) + c + good.slice(at + 1);
          expect(instantMs(t)).toBe(roundTrip(t));
        },
      ),
      { numRuns: 20000 },
    );
    for (const t of [
      '2023-02-29T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z',
      '2100-02-29T00:00:00.000Z',
      '2026-04-31T00:00:00.000Z',
      '2026-11-24T24:00:00.000Z',
      '2016-12-31T23:59:60.000Z',
      '2026-11-24T10:00:00.000+00:00',
      '2026-11-24T10:00:00Z',
      '+02026-11-24T10:00:00.000Z',
      '２026-11-24T10:00:00.000Z',
    ])
      expect(instantMs(t)).toBeUndefined();
    expect(instantMs('2000-02-29T00:00:00.000Z')).toBe(Date.UTC(2000, 1, 29));
  });

  it('takes a hash as 64 lower-case hex digits, as the pattern does', () => {
    // a hash with one character replaced by any character of the first 65,536, or cut or grown
    const near = fc.tuple(fc.nat(63), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 62, max: 66 }));
    fc.assert(
      fc.property(near, ([at, code, len]) => {
        const s = `${first.hash}${first.digest}`.slice(0, len);
        const t = s.slice(0, at) + String.fromCharCode(code) + s.slice(at + 1);
        expect(isHex64(t)).toBe(/^[0-9a-f]{64}$/.test(t));
      }),
      { numRuns: 20000 },
    );
    for (let code = 0; code < 0x10000; code++) {
      const t = String.fromCharCode(code) + first.hash.slice(1);
      if (isHex64(t) !== /^[0-9a-f]{64}$/.test(t)) expect.fail(`character ${code}`);
    }
    expect(isHex64(ZERO_HASH)).toBe(true);
    expect(isHex64(first.hash)).toBe(true);
    expect(isHex64(first.hash.toUpperCase())).toBe(false);
  });
});
