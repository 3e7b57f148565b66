// I-JSON (RFC 7493), the one rule for every JSON text that comes from outside (log append,
// MQTT messages, the config file). JSON.parse silently keeps the last of duplicate keys,
// keeps lone surrogates, rounds numbers to a double and makes "__proto__" a key that
// JavaScript code drops on the next copy: what is hashed and kept would then not be what
// was given. Such input is refused, never normalised.
//
// JSON.parse still builds the value (nothing is faster); `ijsonProblem` is a scan over the
// same text that allocates nothing on the common path, so the hub can afford it per batch.
import { type ErrorCode, fail } from '../errors.js';

/**
 * Parse external JSON text; anything that is not I-JSON throws `code` naming the key path
 * (after `what`, e.g. "payload: ").
 */
export function parseIJson(text: string, code: ErrorCode = 'EVENT_INVALID', what = ''): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(code, `${what}not JSON (${(err as Error).message})`);
  }
  const problem = ijsonProblem(text);
  if (problem !== undefined) throw fail(code, `${what}${problem}`);
  return value;
}

// The scanner's stacks, kept across calls (a scan is synchronous) in typed arrays that
// only grow. Per open container, FRAME ints: its kind, its array index or current key
// slot, its first key slot, and a 64-bit mask of its keys' fingerprints (a key whose bit
// is not set cannot be a duplicate: the common case costs no comparison at all). Per key
// of the open objects, KEY ints: its span, whether it holds an escape, its fingerprint.
const OBJECT = 0;
const ARRAY = 1;
const BIG_OBJECT = 2; // an object with many keys: they are also kept in a Set
const FRAME = 5;
const KEY = 4;
/** Objects with more keys than this look duplicates up in a Set. */
const PAIRWISE_KEYS = 16;
let frames = new Int32Array(FRAME * 64);
let keys = new Int32Array(KEY * 256);
const keySets: (Set<string> | null)[] = [];

// what the rare paths need to know of the scan
let text = '';
let problem: string | undefined;
let level = 0;
let keyTop = 0;

/**
 * What makes `json` not I-JSON, as "<what> at <key path>", or undefined when it is. `json`
 * must already be valid JSON (JSON.parse accepted it); for anything else the answer is
 * unspecified, but the scan always ends.
 */
export function ijsonProblem(json: string): string | undefined {
  text = json;
  problem = undefined;
  try {
    return scan(json) ? undefined : problem;
  } finally {
    text = '';
    keySets.length = 0;
  }
}

/** One pass over valid JSON text; false (with `problem` set) at the first refused thing. */
function scan(t: string): boolean {
  const n = t.length;
  let fr = frames;
  let ks = keys;
  let i = 0;
  let depth = 0;
  let top = 0;
  let wantKey = false;
  let c = 0;
  // strings are found with indexOf; only those holding an escape or a surrogate are read
  // character by character (batches have none)
  let backslash = nextBackslash(t, 0);
  const surrogates = SURROGATE_RE.test(t);
  while (i < n) {
    c = t.charCodeAt(i);
    while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++i);
    if (wantKey) {
      // a member: "key" : value
      if (c !== 0x22) return true;
      const start = i + 1;
      let end = t.indexOf('"', start);
      if (end < 0) return true;
      let escaped = false;
      if (end > backslash) backslash = nextBackslash(t, start);
      if (end > backslash || surrogates) {
        level = depth;
        end = stringEnd(start, true);
        if (end < 0) return false;
        if (end >= n) return true;
        escaped = lastEscaped;
      }
      if (end >= n) return true;
      const len = end - start;
      const key = escaped ? decodeKey(start, end, true) : '';
      if (escaped ? key === '__proto__' : len === 9 && t.startsWith('__proto__', start)) {
        level = depth;
        problem = `key "__proto__" at ${join(pathTo(depth - 1), '__proto__')} (JavaScript readers drop it)`;
        return false;
      }
      const print = escaped
        ? fingerprint(key, 0, key.length)
        : len === 0
          ? 0
          : (len << 16) ^
            (t.charCodeAt(start) << 8) ^
            t.charCodeAt(end - 1) ^
            (t.charCodeAt(start + (len >> 1)) << 4);
      const f = FRAME * (depth - 1);
      const base = fr[f + 2]!;
      if (top - base >= PAIRWISE_KEYS || fr[f] === BIG_OBJECT) {
        level = depth;
        keyTop = top;
        if (!setHasNoDuplicate(depth - 1, start, end, escaped)) return false;
      } else {
        const bit = Math.imul(print, 0x9e3779b1) >>> 26;
        const word = f + 3 + (bit >> 5);
        const mask = 1 << (bit & 31);
        if ((fr[word]! & mask) !== 0) {
          level = depth;
          keyTop = top;
          if (!pairsHaveNoDuplicate(depth - 1, start, end, escaped, print)) return false;
        }
        fr[word] = fr[word]! | mask;
      }
      if (KEY * (top + 1) > ks.length) ks = keys = grown(ks);
      const o = KEY * top;
      ks[o] = start;
      ks[o + 1] = end;
      ks[o + 2] = escaped ? 1 : 0;
      ks[o + 3] = print;
      fr[f + 1] = top++;
      i = end + 1;
      c = t.charCodeAt(i);
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++i);
      if (c !== 0x3a) return true;
      c = t.charCodeAt(++i);
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++i);
      wantKey = false;
    }
    // a value
    if (c === 0x22) {
      let end = t.indexOf('"', i + 1);
      if (end < 0) return true;
      if (end > backslash) backslash = nextBackslash(t, i + 1);
      if (end > backslash || surrogates) {
        level = depth;
        end = stringEnd(i + 1, false);
        if (end < 0) return false;
      }
      i = end + 1;
    } else if (c === 0x7b || c === 0x5b) {
      if (FRAME * (depth + 1) > fr.length) fr = frames = grown(fr);
      const f = FRAME * depth++;
      const obj = c === 0x7b;
      fr[f] = obj ? OBJECT : ARRAY;
      fr[f + 1] = obj ? -1 : 0;
      fr[f + 2] = top;
      fr[f + 3] = 0;
      fr[f + 4] = 0;
      c = t.charCodeAt(++i);
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++i);
      if (c !== 0x7d && c !== 0x5d) {
        wantKey = obj;
        continue;
      }
      // an empty container: closed below
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      const start = i;
      if (c === 0x2d) c = t.charCodeAt(++i);
      let digits = 0;
      while (c >= 0x30 && c <= 0x39) {
        digits++;
        c = t.charCodeAt(++i);
      }
      if (c === 0x2e) {
        c = t.charCodeAt(++i);
        while (c >= 0x30 && c <= 0x39) {
          digits++;
          c = t.charCodeAt(++i);
        }
      }
      let exponent = false;
      if (c === 0x65 || c === 0x45) {
        exponent = true;
        c = t.charCodeAt(++i);
        if (c === 0x2b || c === 0x2d) c = t.charCodeAt(++i);
        while (c >= 0x30 && c <= 0x39) c = t.charCodeAt(++i);
      }
      // up to 15 digits without exponent lie within 1e-15..1e15 and every such decimal
      // survives a double (DBL_DIG): only longer ones need the exact comparison
      if ((digits > 15 || exponent) && !numberHolds(start, i, depth)) return false;
    } else if (c === 0x74 || c === 0x6e) {
      i += 4; // true, null
    } else if (c === 0x66) {
      i += 5; // false
    } else {
      return true;
    }
    // after a value (or an empty container's opening): commas and closings up to the next
    // value or key
    for (;;) {
      if (depth === 0) return true;
      c = t.charCodeAt(i);
      while (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) c = t.charCodeAt(++i);
      const f = FRAME * (depth - 1);
      if (c === 0x2c) {
        i++;
        if (fr[f] === ARRAY) fr[f + 1]!++;
        else wantKey = true;
        break;
      }
      if (c !== 0x7d && c !== 0x5d) return true;
      i++;
      depth--;
      if (fr[f] !== ARRAY) {
        top = fr[f + 2]!;
        if (fr[f] === BIG_OBJECT) keySets[depth] = null;
      }
    }
  }
  return true;
}

const SURROGATE_RE = /[\ud800-\udfff]/;

function nextBackslash(t: string, from: number): number {
  const b = t.indexOf('\\', from);
  return b < 0 ? t.length : b;
}

function grown(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

let lastEscaped = false;

/**
 * The rest of a string from `i`, where an escape or a surrogate stands: the index of its
 * closing quote, or -1 with `problem` set for a lone surrogate (`inKey`: the string is a
 * key of the innermost object). Sets `lastEscaped` when the string holds an escape.
 */
function stringEnd(i: number, inKey: boolean): number {
  lastEscaped = false;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22) return i;
    if (c === 0x5c) {
      lastEscaped = true;
      if (text.charCodeAt(i + 1) !== 0x75) {
        i += 2;
        continue;
      }
      const u = hex4(i + 2);
      if (u >= 0xd800 && u <= 0xdbff) {
        const after = lowSurrogateAt(i + 6);
        if (after < 0) return lone(u, inKey);
        i = after;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return lone(u, inKey);
      } else {
        i += 6;
      }
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const after = c <= 0xdbff ? lowSurrogateAt(i + 1) : -1;
      if (after < 0) return lone(c, inKey);
      i = after;
      continue;
    }
    i++;
  }
  return n;
}

/** Where the string goes on after a low surrogate at `i` (raw or escaped), else -1. */
function lowSurrogateAt(i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xdc00 && c <= 0xdfff) return i + 1;
  if (c === 0x5c && text.charCodeAt(i + 1) === 0x75) {
    const u = hex4(i + 2);
    if (u >= 0xdc00 && u <= 0xdfff) return i + 6;
  }
  return -1;
}

function hex4(i: number): number {
  let v = 0;
  for (let k = i; k < i + 4; k++) {
    const c = text.charCodeAt(k) | 0x20; // lower case for letters
    v = v * 16 + (c <= 0x39 ? c - 0x30 : c - 0x57);
  }
  return v;
}

function lone(u: number, inKey: boolean): number {
  const what = `lone surrogate \\u${u.toString(16).padStart(4, '0')}`;
  problem = inKey
    ? `${what} in a key of ${shown(pathTo(level - 1))}`
    : `${what} in a string at ${shown(pathTo(level))}`;
  return -1;
}

/** Length and three characters of a key: distinct keys nearly always differ there. */
function fingerprint(s: string, start: number, end: number): number {
  const len = end - start;
  if (len === 0) return 0;
  return (
    (len << 16) ^ (s.charCodeAt(start) << 8) ^ s.charCodeAt(end - 1) ^ (s.charCodeAt(start + (len >> 1)) << 4)
  );
}

/** The new key against the keys of the object at depth `d` with the same fingerprint. */
function pairsHaveNoDuplicate(
  d: number,
  start: number,
  end: number,
  escaped: boolean,
  print: number,
): boolean {
  const len = end - start;
  for (let k = frames[FRAME * d + 2]!; k < keyTop; k++) {
    const o = KEY * k;
    if (keys[o + 3] !== print) continue;
    if (!escaped && keys[o + 2] === 0) {
      if (keys[o + 1]! - keys[o]! === len && sameSpan(keys[o]!, start, len))
        return duplicate(d, text.slice(start, end));
    } else if (keyAt(k) === decodeKey(start, end, escaped)) {
      return duplicate(d, keyAt(k));
    }
  }
  return true;
}

/** The new key against the keys of a big object at depth `d`, through its Set. */
function setHasNoDuplicate(d: number, start: number, end: number, escaped: boolean): boolean {
  const f = FRAME * d;
  let set = keySets[d];
  if (frames[f] !== BIG_OBJECT || !set) {
    set = new Set<string>();
    for (let k = frames[f + 2]!; k < keyTop; k++) set.add(keyAt(k));
    keySets[d] = set;
    frames[f] = BIG_OBJECT;
  }
  const key = decodeKey(start, end, escaped);
  if (set.has(key)) return duplicate(d, key);
  set.add(key);
  return true;
}

function keyAt(k: number): string {
  const o = KEY * k;
  return decodeKey(keys[o]!, keys[o + 1]!, keys[o + 2] === 1);
}

function sameSpan(a: number, b: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (text.charCodeAt(a + k) !== text.charCodeAt(b + k)) return false;
  return true;
}

function duplicate(d: number, key: string): false {
  problem = `duplicate key ${JSON.stringify(key)} at ${join(pathTo(d), key)}`;
  return false;
}

function decodeKey(start: number, end: number, escaped: boolean): string {
  if (!escaped) return text.slice(start, end);
  try {
    return JSON.parse(text.slice(start - 1, end + 1)) as string;
  } catch {
    return text.slice(start, end); // only in text that is not JSON, where any answer will do
  }
}

/** Whether the number literal in [start, end) holds in a double; if not, `problem` says why. */
function numberHolds(start: number, end: number, depth: number): boolean {
  const literal = text.slice(start, end);
  const why = numberProblem(literal);
  if (why === undefined) return true;
  problem = `number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} ${why} at ${shown(pathTo(depth))}`;
  return false;
}

/**
 * Why a JSON number literal does not hold in a double exactly as written, or undefined.
 * It holds when the double's shortest round-trip form has the same decimal value:
 * `1.0`, `1e2`, `0.10` do; `1e400`, `1e-400`, `12345678901234567890` do not.
 */
export function numberProblem(literal: string): string | undefined {
  const d = Number(literal);
  if (!Number.isFinite(d)) return 'is beyond the range of a double';
  if (decimalValue(literal) === decimalValue(String(d))) return undefined;
  if (d === 0) return 'is too small for a double (it would read as 0)';
  return `has more digits than a double holds (it would read as ${String(d)})`;
}

/** A decimal literal as `[-]DIGITSeEXP` with no leading or trailing zeros; `0` for zero. */
function decimalValue(s: string): string {
  let i = 0;
  const negative = s.charCodeAt(0) === 0x2d;
  if (negative) i++;
  let digits = '';
  let exp = 0;
  let fraction = false;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x2e) {
      fraction = true;
      continue;
    }
    if (c === 0x65 || c === 0x45) {
      exp += Number(s.slice(i + 1));
      break;
    }
    if (fraction) exp--;
    if (digits === '' && c === 0x30) continue;
    digits += s[i];
  }
  let k = digits.length;
  while (k > 0 && digits.charCodeAt(k - 1) === 0x30) {
    k--;
    exp++;
  }
  if (k === 0) return '0';
  return `${negative ? '-' : ''}${digits.slice(0, k)}e${exp}`;
}

const IDENT_RE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

function join(path: string, key: string): string {
  if (IDENT_RE.test(key)) return path === '' ? key : `${path}.${key}`;
  return `${path}[${JSON.stringify(key)}]`;
}

/** The key path through the `levels` outermost open containers: `events[3].data.x`. */
function pathTo(levels: number): string {
  let path = '';
  for (let d = 0; d < levels; d++) {
    const f = FRAME * d;
    if (frames[f] === ARRAY) {
      path += `[${frames[f + 1]}]`;
      continue;
    }
    const slot = frames[f + 1]!;
    if (slot < 0) break;
    path = join(path, keyAt(slot));
  }
  return path;
}

function shown(path: string): string {
  return path === '' ? '(top level)' : path;
}
