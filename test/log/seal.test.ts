// seal and check with no database: what a device seals, a hub's check accepts against the
// same head, and any one changed field of it is refused; chains link; redactions purge.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Envelope, type EventInput, jcs, sha256hex, ZERO_HASH } from '../../src/log/envelope.js';
import { check, checkEvent, type SealHead, seal } from '../../src/log/seal.js';

const ZERO = new Uint8Array(32);

const word = fc.string({ minLength: 1, maxLength: 12 });
const finite = fc.double({ noNaN: true, noDefaultInfinity: true });
const meta = fc.option(
  fc.record({ actor: fc.constantFrom('system', 'sensor:node', 'operator:ana') }, { requiredKeys: [] }),
  { nil: undefined },
);
const input: fc.Arbitrary<EventInput> = fc.oneof(
  fc.record({
    type: fc.constant('ReadingRecorded'),
    data: fc.record({ source: word, sensor: word, value: finite, unit: word }),
    meta,
  }),
  fc.record({ type: fc.constant('NoteAdded'), data: fc.record({ text: fc.string() }), meta }),
);
const device = fc.stringMatching(/^[A-Za-z0-9._-]{1,64}$/);
const boot = fc.stringMatching(/^[0-9a-f]{16}$/);
const start = fc.integer({ min: 0, max: 2 ** 40 });

/** A clock that moves forward by steps the test chooses (ms, sometimes the same ms). */
function clockFrom(t0: number) {
  let t = t0;
  let m = 0;
  return { now: () => (t += 1 + (t % 3 === 0 ? 0 : 7)), mono: () => (m += 0.5) };
}

/** Seal inputs one after another from an empty stream; the head moves as a store moves it. */
function sealChain(dev: string, inputs: EventInput[], b: string, t0: number) {
  const head: SealHead = { device: dev, seq: 0, hash: ZERO };
  const clock = clockFrom(t0);
  return inputs.map((i) => {
    const x = seal(i, head, clock, b);
    head.seq = x.env.seq;
    head.hash = x.rec.hash;
    return x;
  });
}

const hexHead = (env: Envelope | undefined) =>
  env ? { seq: env.seq, hash: env.hash } : { seq: 0, hash: ZERO_HASH };

describe('seal', () => {
  it('seals events that check accepts against the same head, one by one and as one batch', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 1, maxLength: 8 }),
        boot,
        start,
        (dev, inputs, b, t0) => {
          const chain = sealChain(dev, inputs, b, t0).map((x) => x.env);
          chain.forEach((env, i) => {
            expect(() => check([env], hexHead(chain[i - 1]))).not.toThrow();
          });
          const all = check(chain, hexHead(undefined));
          expect(all.purges).toEqual([]);
          expect(all.datas).toEqual(chain.map((e) => jcs(e.data)));
        },
      ),
    );
  });

  it('links every event to the one before it, in the envelope and in the stored record', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 1, maxLength: 8 }),
        boot,
        start,
        (dev, inputs, b, t0) => {
          const chain = sealChain(dev, inputs, b, t0);
          chain.forEach(({ env, rec }, i) => {
            expect(env.seq).toBe(i + 1);
            const prev = i === 0 ? ZERO_HASH : chain[i - 1]!.env.hash;
            expect(env.prev).toBe(prev);
            expect(Buffer.from(rec.linkTag).toString('hex')).toBe(prev.slice(0, rec.linkTag.length * 2));
            expect(Buffer.from(rec.hash).toString('hex')).toBe(env.hash);
            expect(env.digest).toBe(sha256hex(jcs(env.data)));
            expect(env.boot).toBe(b);
            expect(rec.timeMs).toBe(Date.parse(env.time));
          });
        },
      ),
    );
  });

  it('leaves the head it is given as it was', () => {
    fc.assert(
      fc.property(device, input, boot, (dev, i, b) => {
        const head: SealHead = { device: dev, seq: 5, hash: new Uint8Array(32).fill(7) };
        seal(i, head, clockFrom(0), b);
        expect(head).toEqual({ device: dev, seq: 5, hash: new Uint8Array(32).fill(7) });
      }),
    );
  });

  it('refuses inputs that are not events, and names the problem', () => {
    const head: SealHead = { device: 'pi', seq: 0, hash: ZERO };
    const bad: unknown[] = [
      null,
      { type: 'lowercase', data: {} },
      { type: 'NoteAdded', data: [] },
      { type: 'NoteAdded', data: { text: 1 } },
      { type: 'NoteAdded', data: { text: 'x' }, meta: { actor: 'nobody' } },
      { type: 'NoteAdded', data: { text: 'x'.repeat(17_000) } },
    ];
    for (const b of bad) {
      expect(() => seal(b as EventInput, head, clockFrom(0), 'b')).toThrow(
        expect.objectContaining({ code: 'EVENT_INVALID' }),
      );
    }
  });
});

/** One field of an envelope changed to another value of the kind that field holds. */
const mutations: Record<string, (e: Envelope, pick: number) => Envelope> = {
  device: (e) => ({
    ...e,
    device: `${e.device}x`.slice(-64) === e.device ? `y${e.device}`.slice(0, 64) : `${e.device}x`.slice(-64),
  }),
  seq: (e, k) => ({ ...e, seq: e.seq + 1 + (k % 3) }),
  type: (e) => ({ ...e, type: e.type === 'NoteAdded' ? 'ReadingRecorded' : 'NoteAdded' }),
  time: (e, k) => ({ ...e, time: new Date(Date.parse(e.time) + 1 + (k % 1000)).toISOString() }),
  boot: (e) => ({ ...e, boot: `${e.boot}0` }),
  mono: (e, k) => ({ ...e, mono: e.mono + 0.25 + (k % 5) }),
  data: (e) => ({ ...e, data: { ...e.data, extra: 'x' } }),
  meta: (e) => (e.meta ? (({ meta: _m, ...rest }) => rest)(e) : { ...e, meta: { actor: 'system' } }),
  digest: (e) => ({ ...e, digest: sha256hex(e.digest) }),
  prev: (e) => ({ ...e, prev: sha256hex(e.prev) }),
  hash: (e) => ({ ...e, hash: sha256hex(e.hash) }),
};

describe('check', () => {
  it('refuses a sealed envelope with any one field changed', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 1, maxLength: 4 }),
        boot,
        start,
        fc.constantFrom(...Object.keys(mutations)),
        fc.nat(),
        (dev, inputs, b, t0, field, k) => {
          const chain = sealChain(dev, inputs, b, t0).map((x) => x.env);
          const at = k % chain.length;
          const changed = mutations[field]!(chain[at]!, k);
          expect(changed).not.toEqual(chain[at]);
          const batch = chain.slice(0, at + 1);
          batch[at] = changed;
          expect(() => check(batch, hexHead(undefined))).toThrow(
            expect.objectContaining({ code: expect.stringMatching(/^(EVENT_INVALID|CHAIN_BROKEN)$/) }),
          );
        },
      ),
    );
  });

  it('refuses a batch that does not start at the head, or skips, or mixes devices', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 3, maxLength: 6 }),
        boot,
        start,
        (dev, inputs, b, t0) => {
          const chain = sealChain(dev, inputs, b, t0).map((x) => x.env);
          expect(() => check(chain.slice(1), hexHead(undefined))).toThrow(
            expect.objectContaining({ code: 'CHAIN_BROKEN' }),
          );
          expect(() => check([chain[0]!, chain[2]!], hexHead(undefined))).toThrow(
            expect.objectContaining({ code: 'CHAIN_BROKEN' }),
          );
          expect(() => check(chain.slice(1), { seq: 1, hash: sha256hex('other') })).toThrow(
            expect.objectContaining({ code: 'CHAIN_BROKEN' }),
          );
          const other = sealChain(
            `${dev.slice(0, 63)}z` === dev ? `${dev.slice(0, 63)}q` : `${dev.slice(0, 63)}z`,
            inputs,
            b,
            t0,
          );
          expect(() => check([chain[0]!, other[1]!.env], hexHead(undefined))).toThrow(
            expect.objectContaining({ code: 'EVENT_INVALID' }),
          );
          expect(() => check([], hexHead(undefined))).toThrow(
            expect.objectContaining({ code: 'EVENT_INVALID' }),
          );
        },
      ),
    );
  });

  it('accepts an envelope whose payload was purged (data null, digest kept), refuses one without a digest', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 1, maxLength: 4 }),
        boot,
        start,
        (dev, inputs, b, t0) => {
          const chain = sealChain(dev, inputs, b, t0).map((x) => x.env);
          const purged = chain.map((e) => ({ ...e, data: null }));
          expect(check(purged, hexHead(undefined)).datas.every((d) => d === null)).toBe(true);
          expect(() => check([{ ...purged[0]!, digest: 'nope' }], hexHead(undefined))).toThrow(
            expect.objectContaining({ code: 'EVENT_INVALID' }),
          );
        },
      ),
    );
  });

  it('purges a redaction target within the batch, and lists one before it', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 2, maxLength: 6 }),
        boot,
        start,
        fc.nat(),
        (dev, inputs, b, t0, k) => {
          const target = 1 + (k % inputs.length);
          const redaction: EventInput = {
            type: 'EventRedacted',
            data: { seq: target, reason: 'test' },
            meta: { actor: 'operator:ana' },
          };
          const chain = sealChain(dev, [...inputs, redaction], b, t0).map((x) => x.env);
          const whole = check(chain, hexHead(undefined));
          expect(whole.datas[target - 1]).toBeNull();
          expect(whole.purges).toEqual([]);
          expect(whole.datas.filter((d) => d === null)).toHaveLength(1);
          const last = chain[chain.length - 1]!;
          const tail = check([last], hexHead(chain[chain.length - 2]));
          expect(tail.purges).toEqual([target]);
          expect(tail.datas[0]).toBe(jcs(last.data));
        },
      ),
    );
  });

  it('refuses a prev or digest that needs escaping, though the hash covers it written unescaped', () => {
    const [x] = sealChain('pi-1', [{ type: 'NoteAdded', data: { text: 'hi' } }], 'b00t', 1000);
    const env = x!.env;
    // the header as a careless builder would make it, the text put between quotes as it is
    const naive = (e: Envelope) =>
      `{"boot":"${e.boot}","device":"${e.device}","digest":"${e.digest}","mono":${e.mono},"prev":"${e.prev}","seq":${e.seq},"time":"${e.time}","type":"${e.type}"}`;
    const forged = { ...env, prev: `${env.prev.slice(1)}"` };
    forged.hash = sha256hex(naive(forged));
    expect(() => checkEvent(forged, 'pi-1')).toThrow(/hash mismatch/);
    const redacted = { ...env, data: null, digest: `${env.digest.slice(1)}\\` };
    redacted.hash = sha256hex(naive(redacted));
    expect(() => checkEvent(redacted, 'pi-1')).toThrow(/digest is not 64 hex digits/);
    // a prev that is no text at all is refused as the event's problem, not a crash
    const noPrev = { ...env, prev: undefined } as unknown as Envelope;
    expect(() => checkEvent(noPrev, 'pi-1')).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }));
    const noDigest = { ...env, data: null, digest: undefined } as unknown as Envelope;
    expect(() => checkEvent(noDigest, 'pi-1')).toThrow(/digest is not 64 hex digits/);
    // and the same envelope, honestly hashed, checks
    expect(checkEvent(env, 'pi-1').timeMs).toBe(Date.parse(env.time));
  });

  it('checks chains of several devices in turn, each against its own head', () => {
    fc.assert(
      fc.property(
        fc.array(input, { minLength: 2, maxLength: 6 }),
        fc.array(input, { minLength: 2, maxLength: 6 }),
        boot,
        start,
        (inputs1, inputs2, b, t0) => {
          const one = sealChain('pi-1', inputs1, b, t0).map((x) => x.env);
          const two = sealChain('pi-2', inputs2, `${b}2`, t0 + 5).map((x) => x.env);
          const n = Math.min(one.length, two.length);
          for (let i = 0; i < n; i++) {
            expect(() => check([one[i]!], hexHead(one[i - 1]))).not.toThrow();
            expect(() => check([two[i]!], hexHead(two[i - 1]))).not.toThrow();
          }
          // a prev that is the hash checked last, but not this device's head, still breaks the chain
          expect(() => check([{ ...two[1]!, prev: one[n - 1]!.hash }], hexHead(two[0]))).toThrow(
            expect.objectContaining({ code: 'CHAIN_BROKEN' }),
          );
        },
      ),
    );
  });

  it('survives the wire: a sealed envelope sent as JSON still checks', () => {
    fc.assert(
      fc.property(
        device,
        fc.array(input, { minLength: 1, maxLength: 4 }),
        boot,
        start,
        (dev, inputs, b, t0) => {
          const chain = sealChain(dev, inputs, b, t0).map(
            (x) => JSON.parse(JSON.stringify(x.env)) as Envelope,
          );
          expect(() => check(chain, hexHead(undefined))).not.toThrow();
        },
      ),
    );
  });
});
