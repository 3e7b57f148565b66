// The strict JSON parser every external input goes through: I-JSON (RFC 7493) is
// accepted exactly as JSON.parse reads it; anything JSON.parse would silently change
// (duplicate keys, lone surrogates, inexact numbers, "__proto__") is refused by path.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FieldlogError } from '../../src/errors.js';
import { ijsonProblem, numberProblem, parseIJson } from '../../src/log/ijson.js';

function hasProtoKey(v: unknown): boolean {
  if (Array.isArray(v)) return v.some(hasProtoKey);
  if (typeof v !== 'object' || v === null) return false;
  return Object.keys(v).some((k) => k === '__proto__' || hasProtoKey((v as Record<string, unknown>)[k]));
}

/** Any I-JSON value: unicode strings (no lone surrogates), any finite double, no "__proto__". */
const ijsonValue = fc.jsonValue({ stringUnit: 'grapheme', maxDepth: 4 }).filter((v) => !hasProtoKey(v));

function refusal(text: string): FieldlogError {
  try {
    parseIJson(text);
  } catch (err) {
    if (err instanceof FieldlogError) return err;
    throw err;
  }
  throw new Error(`accepted ${text}`);
}

/** Every character of a key as a \u escape: the same key, written differently. */
function escapedKey(k: string): string {
  let out = '';
  for (let i = 0; i < k.length; i++) out += `\\u${k.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return `"${out}"`;
}

describe('I-JSON parser', () => {
  it('accepts what JSON.stringify writes of any I-JSON value, and reads it as JSON.parse does', () => {
    fc.assert(
      fc.property(ijsonValue, fc.boolean(), (v, pretty) => {
        const text = pretty ? JSON.stringify(v, null, 2) : JSON.stringify(v);
        expect(ijsonProblem(text)).toBeUndefined();
        expect(parseIJson(text)).toEqual(JSON.parse(text));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses a duplicate key at any depth, also when written with escapes, naming its path', () => {
    expect(refusal('{"a":1,"a":1}')).toMatchObject({
      code: 'EVENT_INVALID',
      message: expect.stringContaining('at a'),
    });
    expect(refusal('{"events":[{"x":1},{"data":{"temp":1,"temp":2}}]}').message).toContain(
      'events[1].data.temp',
    );
    expect(refusal('{"ab":1,"a\\u0062":2}').message).toContain('duplicate key "ab"');
    // sibling objects may reuse keys: only keys of one object clash
    expect(parseIJson('[{"a":1},{"a":2},{"b":{"a":3},"a":4}]')).toEqual([
      { a: 1 },
      { a: 2 },
      { b: { a: 3 }, a: 4 },
    ]);
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 6 }), ijsonValue, { maxKeys: 40 }),
        fc.string({ unit: 'grapheme', maxLength: 6 }),
        fc.nat(),
        fc.boolean(),
        fc.constantFrom('x', 'deep'),
        (obj, key, at, escaped, where) => {
          fc.pre(key !== '__proto__' && !hasProtoKey(obj));
          const members = Object.entries(obj)
            .filter(([k]) => k !== key)
            .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
          members.splice(at % (members.length + 1), 0, `${JSON.stringify(key)}:1`);
          members.push(`${escaped ? escapedKey(key) : JSON.stringify(key)}:2`);
          const dup = `{${members.join(',')}}`;
          const text = where === 'x' ? dup : `{"list":[true,${dup}]}`;
          const err = refusal(text);
          expect(err.code).toBe('EVENT_INVALID');
          expect(err.message).toContain('duplicate key');
        },
      ),
      { numRuns: 300 },
    );
  });

  it('finds duplicates in objects with many keys', () => {
    const keys = Array.from({ length: 200 }, (_, i) => `"k${i}":${i}`);
    expect(ijsonProblem(`{${keys.join(',')}}`)).toBeUndefined();
    expect(refusal(`{${keys.join(',')},"k7":0}`).message).toContain('duplicate key "k7" at k7');
    expect(refusal(`{${keys.join(',')},${escapedKey('k199')}:0}`).message).toContain('"k199"');
  });

  it('refuses a key named __proto__, however written, naming its path', () => {
    for (const text of [
      '{"__proto__":{"polluted":true}}',
      '{"data":{"a":1,"__proto__":1}}',
      '{"data":{"\\u005f_proto__":1}}',
      '[{"meta":{"__proto__":null}}]',
    ]) {
      const err = refusal(text);
      expect(err.code).toBe('EVENT_INVALID');
      expect(err.message).toMatch(/key "__proto__" at (__proto__|data\.__proto__|\[0\]\.meta\.__proto__)/);
    }
    expect(parseIJson('{"__proto":1,"proto__":2,"x":"__proto__"}')).toEqual({
      __proto: 1,
      proto__: 2,
      x: '__proto__',
    });
  });

  it('refuses lone surrogates, escaped or raw, in values and keys', () => {
    expect(refusal('{"data":{"text":"a\\ud800b"}}').message).toContain('\\ud800 in a string at data.text');
    expect(refusal('["\\udc00"]').message).toContain('[0]');
    expect(refusal('{"k\\udbff":1}').message).toContain('in a key');
    expect(refusal('"\\ud800\\ud800\\udc00"').code).toBe('EVENT_INVALID');
    expect(refusal(`{"t":"x${String.fromCharCode(0xd83d)}"}`).message).toContain('at t');
    // pairs are fine in every spelling: escaped, raw, or half and half
    expect(parseIJson('"\\ud83d\\ude00"')).toBe('😀');
    expect(parseIJson('"😀"')).toBe('😀');
    expect(parseIJson(`"${String.fromCharCode(0xd83d)}\\ude00"`)).toBe('😀');
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme' }),
        fc.string({ unit: 'grapheme' }),
        fc.integer({ min: 0xd800, max: 0xdfff }),
        fc.boolean(),
        (a, b, unit, raw) => {
          const lone = raw ? String.fromCharCode(unit) : `\\u${unit.toString(16)}`;
          const inner = `${JSON.stringify(a).slice(1, -1)}${lone}${JSON.stringify(b).slice(1, -1)}`;
          const err = refusal(`{"data":{"note":"${inner}"}}`);
          expect(err.code).toBe('EVENT_INVALID');
          expect(err.message).toContain('lone surrogate');
          expect(err.message).toContain('data.note');
        },
      ),
    );
  });

  it('accepts numbers a double holds as written, and refuses the rest', () => {
    for (const ok of ['0', '-0', '1.0', '1e2', '1E+2', '0.10', '-12.50', '123456789012345', '0.1', '5e-324'])
      expect(numberProblem(ok), ok).toBeUndefined();
    for (const ok of ['1.7976931348623157e308', '9007199254740992', '1e21', '0.30000000000000004'])
      expect(ijsonProblem(`[${ok}]`), ok).toBeUndefined();
    for (const bad of [
      '1e400',
      '-1e400',
      '1e-400',
      '12345678901234567890',
      '0.1000000000000000000001',
      '9007199254740993',
      '2.4703282292062328e-324',
    ])
      expect(refusal(`{"data":{"x":[1,${bad}]}}`).message, bad).toContain(`number ${bad} `);
    expect(refusal('{"data":{"x":[1,1e400]}}').message).toContain('at data.x[1]');
  });

  it('decides long numbers as their shortest double form says (integers and fractions)', () => {
    const integer = fc
      .tuple(
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 15, maxLength: 19 }),
      )
      .map(([d, ds]) => `${d}${ds.join('')}`);
    const fraction = fc
      .tuple(
        fc.nat({ max: 4 }),
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 13, maxLength: 22 }),
        fc.integer({ min: 1, max: 9 }),
      )
      .map(([zeros, first, ds, last]) => `0.${'0'.repeat(zeros)}${first}${ds.join('')}${last}`);
    fc.assert(
      fc.property(fc.oneof(integer, fraction), fc.boolean(), (lit, negative) => {
        const text = negative ? `-${lit}` : lit;
        // in these ranges String() writes plain decimals, so text equality is value equality
        const holds = String(Number(text)) === text;
        expect(ijsonProblem(`{"v":${text}}`) === undefined).toBe(holds);
      }),
      { numRuns: 1000 },
    );
  });

  it('never throws anything but its own error, whatever the text', () => {
    const jsonish = fc
      .tuple(ijsonValue, fc.nat(), fc.string({ unit: 'binary', maxLength: 4 }))
      .map(([v, at, junk]) => {
        const t = JSON.stringify(v);
        const i = at % (t.length + 1);
        return t.slice(0, i) + junk + t.slice(i);
      });
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary' }), jsonish), (text) => {
        try {
          parseIJson(text, 'CONFIG_INVALID');
        } catch (err) {
          expect(err).toBeInstanceOf(FieldlogError);
          expect((err as FieldlogError).code).toBe('CONFIG_INVALID');
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('ends on any text, JSON or not, without throwing', () => {
    for (const text of ['{"\\{"', '{"\\{":1,"\\{":2}', '{"a', '{"\\u', '["\\ud800', '[1e', '-'])
      expect(() => ijsonProblem(text), text).not.toThrow();
    const pieces = fc.constantFrom(
      '{',
      '}',
      '[',
      ']',
      '"',
      '\\',
      '\\u',
      'd800',
      ':',
      ',',
      '1',
      'e',
      '-',
      ' ',
      'true',
      'a',
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string({ unit: 'binary' }),
          fc.array(pieces).map((p) => p.join('')),
        ),
        (text) => {
          const r = ijsonProblem(text);
          expect(r === undefined || typeof r === 'string').toBe(true);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('reads deep nesting without recursion', () => {
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(ijsonProblem(deep)).toBeUndefined();
    expect(ijsonProblem(`${'{"a":'.repeat(10_000)}{"b":1,"b":2}${'}'.repeat(10_000)}`)).toContain('a.a.a');
  });
});
