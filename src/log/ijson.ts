// I-JSON (RFC 7493), the one rule for every JSON text that comes from outside (log append,
// MQTT messages, the config file). JSON.parse silently keeps the last of duplicate keys,
// keeps lone surrogates, rounds numbers to a double and makes "__proto__" a key that
// JavaScript code drops on the next copy: what is hashed and kept would then not be what
// was given. Such input is refused, never normalised.
//
// JSON.parse still builds the value (nothing is faster); `ijsonProblem` is a scan over the
// same text that allocates nothing on the common path, so the hub can afford it per batch.
import { type ErrorCode, fail } from '../errors.js';

/** Parse external JSON text; anything that is not I-JSON throws `code` naming the key path. */
export function parseIJson(text: string, code: ErrorCode = 'EVENT_INVALID'): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw fail(code, `not JSON (${(err as Error).message})`);
  }
  const problem = ijsonProblem(text);
  if (problem !== undefined) throw fail(code, problem);
  return value;
}

// The scanner's stacks, kept across calls (a scan is synchronous): per open container its
// kind, its array index or current key, and the key spans of each open object.
const OBJECT = 0;
const ARRAY = 1;
const frameKind: number[] = [];
const frameIndex: number[] = []; // array: index of the current item; object: key slot of the current member
const frameBase: number[] = []; // object: first key slot of this object
const frameSet: (Set<string> | null)[] = [];
const keyStart: number[] = [];
const keyEnd: number[] = [];
const keyEscaped: boolean[] = [];
/** Objects with more keys than this look duplicates up in a Set, not pairwise. */
const PAIRWISE_KEYS = 16;
const SURROGATE_RE = /[\ud800-\udfff]/;

let text = '';
let problem: string | undefined;
let nextBackslash = 0;
let surrogates = false;
let lastEscaped = false;
/** How many containers are open, and whether the string being read is a key. */
let level = 0;
let inKey = false;

/**
 * What makes `json` not I-JSON, as "<what> at <key path>", or undefined when it is. `json`
 * must already be valid JSON (JSON.parse accepted it); for anything else the answer is
 * unspecified, but the scan always ends.
 */
export function ijsonProblem(json: string): string | undefined {
  text = json;
  problem = undefined;
  level = 0;
  inKey = false;
  nextBackslash = json.indexOf('\\');
  if (nextBackslash < 0) nextBackslash = json.length;
  surrogates = SURROGATE_RE.test(json);
  try {
    scan();
    return problem;
  } finally {
    text = '';
    frameKind.length = 0;
    frameIndex.length = 0;
    frameBase.length = 0;
    frameSet.length = 0;
    keyStart.length = 0;
    keyEnd.length = 0;
    keyEscaped.length = 0;
  }
}

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

function scan(): void {
  const n = text.length;
  let i = 0;
  let wantKey = false;
  while (i < n) {
    let c = text.charCodeAt(i);
    while (isSpace(c)) c = text.charCodeAt(++i);
    if (wantKey) {
      // a member: "key" : value
      if (c !== 0x22) return;
      inKey = true;
      const end = stringEnd(i + 1);
      inKey = false;
      if (end < 0) return;
      if (!addKey(level - 1, i + 1, end)) return;
      i = end + 1;
      c = text.charCodeAt(i);
      while (isSpace(c)) c = text.charCodeAt(++i);
      if (c !== 0x3a) return;
      c = text.charCodeAt(++i);
      while (isSpace(c)) c = text.charCodeAt(++i);
      wantKey = false;
    }
    // a value
    if (c === 0x7b || c === 0x5b) {
      const obj = c === 0x7b;
      frameKind[level] = obj ? OBJECT : ARRAY;
      frameIndex[level] = obj ? -1 : 0;
      frameBase[level] = keyStart.length;
      frameSet[level] = null;
      level++;
      c = text.charCodeAt(++i);
      while (isSpace(c)) c = text.charCodeAt(++i);
      if (c === 0x7d || c === 0x5d) {
        close();
        i++;
      } else {
        wantKey = obj;
        continue;
      }
    } else if (c === 0x22) {
      const end = stringEnd(i + 1);
      if (end < 0) return;
      i = end + 1;
    } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      i = number(i);
      if (i < 0) return;
    } else if (c === 0x74 || c === 0x6e) {
      i += 4; // true, null
    } else if (c === 0x66) {
      i += 5; // false
    } else {
      return;
    }
    // after a value: commas and closing brackets until the next value or key
    for (;;) {
      if (level === 0) return;
      c = text.charCodeAt(i);
      while (isSpace(c)) c = text.charCodeAt(++i);
      if (c === 0x2c) {
        i++;
        const d = level - 1;
        if (frameKind[d] === ARRAY) frameIndex[d] = frameIndex[d]! + 1;
        else wantKey = true;
        break;
      }
      if (c !== 0x7d && c !== 0x5d) return;
      close();
      i++;
    }
  }
}

function close(): void {
  const d = --level;
  if (frameKind[d] === OBJECT) {
    const base = frameBase[d]!;
    keyStart.length = base;
    keyEnd.length = base;
    keyEscaped.length = base;
    frameSet[d] = null;
  }
}

/**
 * The index of the quote closing a string whose content starts at `i`, or -1 with
 * `problem` set. Sets `lastEscaped` when the string holds an escape.
 */
function stringEnd(i: number): number {
  if (i > nextBackslash) {
    nextBackslash = text.indexOf('\\', i);
    if (nextBackslash < 0) nextBackslash = text.length;
  }
  const q = text.indexOf('"', i);
  if (q < 0) return -1;
  if (q < nextBackslash && !surrogates) {
    lastEscaped = false;
    return q;
  }
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
        if (after < 0) return lone(u);
        i = after;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return lone(u);
      } else {
        i += 6;
      }
      continue;
    }
    if (c >= 0xd800 && c <= 0xdfff) {
      const after = c <= 0xdbff ? lowSurrogateAt(i + 1) : -1;
      if (after < 0) return lone(c);
      i = after;
      continue;
    }
    i++;
  }
  return -1;
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

function lone(u: number): number {
  const what = `lone surrogate \\u${u.toString(16).padStart(4, '0')}`;
  problem = inKey
    ? `${what} in a key of ${shown(pathTo(level - 1))}`
    : `${what} in a string at ${shown(pathTo(level))}`;
  return -1;
}

/** Record a key of the object at frame `d`; false (with `problem`) for a refused key. */
function addKey(d: number, start: number, end: number): boolean {
  const escaped = lastEscaped;
  if (
    end - start === 9
      ? text.startsWith('__proto__', start)
      : escaped && decodeKey(start, end, escaped) === '__proto__'
  ) {
    problem = `key "__proto__" at ${join(pathTo(d), '__proto__')} (JavaScript readers drop it)`;
    return false;
  }
  const base = frameBase[d]!;
  const top = keyStart.length;
  let set = frameSet[d];
  if (set === null && top - base >= PAIRWISE_KEYS) {
    set = new Set<string>();
    for (let k = base; k < top; k++) set.add(decodeKey(keyStart[k]!, keyEnd[k]!, keyEscaped[k]!));
    frameSet[d] = set;
  }
  if (set) {
    const key = decodeKey(start, end, escaped);
    if (set.has(key)) return duplicate(d, key);
    set.add(key);
  } else {
    const len = end - start;
    for (let k = base; k < top; k++) {
      const s = keyStart[k]!;
      if (!escaped && !keyEscaped[k]) {
        if (keyEnd[k]! - s === len && sameSpan(s, start, len)) return duplicate(d, text.slice(start, end));
      } else {
        const key = decodeKey(start, end, escaped);
        if (decodeKey(s, keyEnd[k]!, keyEscaped[k]!) === key) return duplicate(d, key);
      }
    }
  }
  keyStart.push(start);
  keyEnd.push(end);
  keyEscaped.push(escaped);
  frameIndex[d] = top;
  return true;
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
  return escaped ? (JSON.parse(text.slice(start - 1, end + 1)) as string) : text.slice(start, end);
}

/** Scan the number at `i`; its end, or -1 with `problem` set. */
function number(i: number): number {
  const start = i;
  if (text.charCodeAt(i) === 0x2d) i++;
  let digits = 0;
  let c = text.charCodeAt(i);
  while (c >= 0x30 && c <= 0x39) {
    digits++;
    c = text.charCodeAt(++i);
  }
  if (c === 0x2e) {
    c = text.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39) {
      digits++;
      c = text.charCodeAt(++i);
    }
  }
  let exponent = false;
  if (c === 0x65 || c === 0x45) {
    exponent = true;
    c = text.charCodeAt(++i);
    if (c === 0x2b || c === 0x2d) c = text.charCodeAt(++i);
    while (c >= 0x30 && c <= 0x39) c = text.charCodeAt(++i);
  }
  // up to 15 digits without exponent lie within 1e-15..1e15 and every such decimal
  // survives a double (DBL_DIG): only longer ones need the exact comparison
  if (digits <= 15 && !exponent) return i;
  const literal = text.slice(start, i);
  const why = numberProblem(literal);
  if (why === undefined) return i;
  problem = `number ${literal.length > 40 ? `${literal.slice(0, 40)}…` : literal} ${why} at ${shown(pathTo(level))}`;
  return -1;
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
    if (frameKind[d] === ARRAY) {
      path += `[${frameIndex[d]}]`;
      continue;
    }
    const slot = frameIndex[d]!;
    if (slot < 0) break;
    path = join(path, decodeKey(keyStart[slot]!, keyEnd[slot]!, keyEscaped[slot]!));
  }
  return path;
}

function shown(path: string): string {
  return path === '' ? '(top level)' : path;
}
