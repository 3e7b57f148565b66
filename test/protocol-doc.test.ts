// docs/protocol.md's worked examples, recomputed independently: plain node:crypto and a
// canonicaliser written here from RFC 8785 (not the project's envelope code), so the
// document a stranger implements from cannot drift from what fieldlog hashes.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { ChainVerifier } from '../src/log/verify.js';
import { parseEvents } from '../src/sync/messages.js';

const DOC = readFileSync(new URL('../docs/protocol.md', import.meta.url), 'utf8');
const ZEROS = '0'.repeat(64);
const HEX64 = /^[0-9a-f]{64}$/;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** RFC 8785 for the values JSON.parse gives: sorted keys, minimal escapes, ES number form. */
function jcs(v: Json): string {
  if (v === null || typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`${v} has no canonical form`);
    return Object.is(v, -0) ? '0' : String(v);
  }
  if (typeof v === 'string') return jcsString(v);
  if (Array.isArray(v)) return `[${v.map(jcs).join(',')}]`;
  // the default sort compares UTF-16 code units, which is RFC 8785's order
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${jcsString(k)}:${jcs(v[k]!)}`).join(',')}}`;
}

const SHORT: Record<number, string> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

function jcsString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (!pair) throw new Error('lone surrogate');
      out += s[i]! + s[i + 1]!;
      i++;
    } else if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) out += SHORT[c] ?? `\\u${c.toString(16).padStart(4, '0')}`;
    else out += s[i];
  }
  return `${out}"`;
}

function sha256(text: string): string {
  return createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
}

/** The fenced block right after `<!-- example:NAME -->`. */
function block(doc: string, name: string): string {
  const at = doc.indexOf(`<!-- example:${name} -->`);
  if (at < 0) throw new Error(`no example "${name}" in docs/protocol.md`);
  const m = /^<!-- [^\n]*-->\n```[a-z]*\n([\s\S]*?)\n```/.exec(doc.slice(at));
  if (!m) throw new Error(`example "${name}" is not followed by a fenced block`);
  return m[1]!;
}

type Env = Record<string, Json> & { seq: number; data: Json; digest: string; prev: string; hash: string };

function lines(text: string): Env[] {
  return text.split('\n').map((l) => JSON.parse(l) as Env);
}

function header(e: Env): Json {
  const { data: _d, hash: _h, sig: _s, ...rest } = e;
  return rest;
}

/** Every problem with the worked example of `doc`, found without fieldlog's code. */
function checkDoc(doc: string): string[] {
  const problems: string[] = [];
  const check = (ok: boolean, what: string) => {
    if (!ok) problems.push(what);
  };
  const written = lines(block(doc, 'chain-written'));
  const redacted = lines(block(doc, 'chain-redacted'));
  for (const [name, chain] of [
    ['chain-written', written],
    ['chain-redacted', redacted],
  ] as const) {
    let prev = ZEROS;
    chain.forEach((e, i) => {
      const at = `${name} seq ${e.seq}`;
      check(e.seq === i + 1, `${at}: seqs must run 1, 2, 3…`);
      for (const k of ['digest', 'prev', 'hash'] as const)
        check(HEX64.test(e[k]), `${at}: ${k} is not lower hex`);
      check(e.prev === prev, `${at}: prev does not link`);
      const head = jcs(header(e));
      check(head === block(doc, `header seq=${e.seq}`), `${at}: the header block is not its canonical form`);
      check(sha256(head) === e.hash, `${at}: hash is not SHA-256 of the canonical header`);
      if (e.data !== null) {
        const data = jcs(e.data);
        check(data === block(doc, `data seq=${e.seq}`), `${at}: the data block is not its canonical form`);
        check(sha256(data) === e.digest, `${at}: digest is not SHA-256 of the canonical data`);
      }
      prev = e.hash;
    });
  }
  // the short batch (10.7): put back by the document's rules, the redacted chain's 2..4
  const short = JSON.parse(block(doc, 'short-batch')) as { device: string; events: Record<string, Json>[] };
  short.events.forEach((e, i) => {
    const whole: Record<string, Json> = { ...e };
    whole.device ??= short.device;
    if (i > 0) whole.prev ??= short.events[i - 1]!.hash!;
    if (e.data !== null) whole.digest ??= sha256(jcs(e.data!));
    check(
      jcs(whole) === jcs(redacted[i + 1]!),
      `short-batch events[${i}] is not, put back, seq ${redacted[i + 1]?.seq} of chain-redacted`,
    );
  });
  // the redaction: same chain, the target purged but keeping its digest and hash
  check(redacted.length === written.length + 1, 'the redaction appends one event');
  written.forEach((w, i) => {
    const r = redacted[i]!;
    const target = i === written.length - 1;
    check(
      JSON.stringify({ ...w, data: target ? null : w.data }) === JSON.stringify(r),
      `seq ${w.seq} changed by the redaction`,
    );
  });
  const last = redacted[redacted.length - 1]!;
  const data = last.data as { seq?: Json; reason?: Json } | null;
  check(last.type === 'EventRedacted', 'the last event is the EventRedacted');
  check(data?.seq === written.length && typeof data.reason === 'string', 'EventRedacted names its target');
  check(
    /^operator:/.test(String((last.meta as { actor?: string } | undefined)?.actor)),
    'the actor is in meta',
  );
  // the digest of the purged payload still covers what was written
  check(
    sha256(block(doc, `data seq=${written.length}`)) === redacted[written.length - 1]!.digest,
    'kept digest',
  );
  // the shell recipe: each printf text is one of the canonical texts, each comment its SHA-256
  const recipe = block(doc, 'sha256sum').split('\n');
  const texts = new Set(
    redacted.flatMap((e) => [block(doc, `header seq=${e.seq}`), block(doc, `data seq=${e.seq}`)]),
  );
  let pairs = 0;
  for (let i = 0; i < recipe.length; i += 2) {
    const cmd = /^printf '%s' '(.*)' \| sha256sum$/.exec(recipe[i]!);
    const sum = /^# ([0-9a-f]{64}) {2}-$/.exec(recipe[i + 1] ?? '');
    check(cmd !== null && sum !== null, `recipe line ${i + 1} is not printf … | sha256sum and its result`);
    if (!cmd || !sum) continue;
    check(texts.has(cmd[1]!), `recipe line ${i + 1} hashes a text that is not in the example`);
    check(sha256(cmd[1]!) === sum[1], `recipe line ${i + 2} is not the SHA-256 of line ${i + 1}`);
    pairs++;
  }
  check(pairs >= 2, 'the recipe shows a digest and a hash');
  // the envelope shown in section 2 is event 2 of the chain
  check(jcs(JSON.parse(block(doc, 'envelope'))) === jcs(written[1]!), 'the section 2 envelope is seq 2');
  return problems;
}

/** Every problem with the line-protocol checksum example: XOR of the body's bytes. */
function checkChecksums(doc: string): string[] {
  const problems: string[] = [];
  let acc: number | undefined;
  let frames = 0;
  for (const line of block(doc, 'checksum').split('\n')) {
    const step = /^(.) 0x([0-9A-F]{2})(?: +0x([0-9A-F]{2}) \^ 0x([0-9A-F]{2}) = 0x([0-9A-F]{2}))?$/.exec(
      line,
    );
    const frame = /^frame \$([^*]*)\*([0-9A-F]{2})$/.exec(line);
    if (step) {
      const [, ch = '', hex = '', a, b, r] = step;
      if (ch.charCodeAt(0) !== Number.parseInt(hex, 16)) problems.push(`${line}: wrong byte`);
      if (a === undefined) acc = Number.parseInt(hex, 16);
      else {
        if (Number.parseInt(a, 16) !== acc || b !== hex) problems.push(`${line}: not the running XOR`);
        acc = Number.parseInt(a, 16) ^ Number.parseInt(hex, 16);
        if (Number.parseInt(r ?? '', 16) !== acc) problems.push(`${line}: wrong XOR`);
      }
    } else if (frame) {
      let x = 0;
      for (const byte of Buffer.from(frame[1]!, 'utf8')) x ^= byte;
      if (x.toString(16).toUpperCase().padStart(2, '0') !== frame[2])
        problems.push(`${line}: wrong checksum`);
      frames++;
    } else problems.push(`${line}: not a step or a frame`);
  }
  if (frames === 0) problems.push('no frame in the checksum example');
  return problems;
}

describe('docs/protocol.md worked examples', () => {
  it('the canonicaliser written here is RFC 8785 (same as the canonicalize package)', () => {
    const v = { b: [1e21, 1e-7, 0.1, -0, 21.5], a: 'é\u0001"\\/\n', é: true, Z: null, '\u{1f600}': {} };
    expect(jcs(v as Json)).toBe(canonicalize(v));
    expect(jcs(v as Json)).toBe(
      '{"Z":null,"a":"é\\u0001\\"\\\\/\\n","b":[1e+21,1e-7,0.1,0,21.5],"é":true,"😀":{}}',
    );
  });

  it('every digest, hash and prev of the example chain recomputes, and the chain links', () => {
    expect(checkDoc(DOC)).toEqual([]);
  });

  it('finds a wrong value in the example (the check above can fail)', () => {
    const hash = '30da5604bd81e5348827c814a62f12b22ef420524664c8e922cf164e33e10124';
    expect(DOC).toContain(hash);
    const tampered = DOC.replace(hash, `${hash.slice(0, -1)}5`);
    expect(checkDoc(tampered).length).toBeGreaterThan(0);
    expect(checkDoc(DOC.replace('"value":21.5}', '"value":21.6}')).length).toBeGreaterThan(0);
  });

  it('finds a short batch that does not put back to the chain', () => {
    const payload = '"reason":"personal data","seq":3},"meta":{"actor":"operator:ana"},"hash"';
    expect(DOC.split(payload)).toHaveLength(2); // in the short batch only
    expect(checkDoc(DOC.replace(payload, payload.replace('personal', 'private')))).toEqual([
      'short-batch events[2] is not, put back, seq 4 of chain-redacted',
    ]);
  });

  it("fieldlog's hub puts the short batch back as the document says", () => {
    const { events } = parseEvents(block(DOC, 'short-batch'), 'pi-01');
    const redacted = lines(block(DOC, 'chain-redacted'));
    expect(events.map((e) => canonicalize(e))).toEqual(redacted.slice(1).map((e) => canonicalize(e)));
  });

  it('the line-protocol checksum example is the XOR of the body bytes', () => {
    expect(checkChecksums(DOC)).toEqual([]);
    expect(checkChecksums(DOC.replace('$FLC,ID*68', '$FLC,ID*69'))).not.toEqual([]);
  });

  it("fieldlog's own verifier agrees with the example and with the verify --json shown", () => {
    const v = new ChainVerifier();
    const events = lines(block(DOC, 'chain-redacted'));
    for (const e of events) v.push(e as never);
    const errors = v.finish();
    const shown = JSON.parse(block(DOC, 'verify-json'));
    const last = events[events.length - 1]!;
    expect({
      ok: errors.length === 0,
      events: v.events,
      head: { seq: last.seq, hash: last.hash },
      errors,
    }).toEqual({
      ok: shown.ok,
      events: shown.events,
      head: shown.head,
      errors: shown.errors,
    });
    expect(shown.ok).toBe(true);
  });
});
