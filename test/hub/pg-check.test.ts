// The PostgreSQL store's checks against the LevelDB hub's appendSealed: for the same bad
// batch, the same refusal in the same words; and the jsonb guard for U+0000.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkEvent, jsonbText, linkProblem } from '../../src/hub/pg/check.js';
import { digestOf, type Envelope, hashOf, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';

async function chain(n: number): Promise<Envelope[]> {
  const log = await EventLog.memory({ device: 'pi-1', clock: fakeClock() });
  await log.appendMany(
    Array.from({ length: n }, (_, k) => ({
      type: 'ReadingRecorded',
      data: { source: 'node', sensor: 't', value: k },
      meta: { actor: 'sensor:node' },
    })),
  );
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  await log.close();
  return out;
}

/** What appendSealed of a fresh hub log says about `events` (undefined: it stores them). */
async function levelSays(events: Envelope[]): Promise<string | undefined> {
  const hub = await EventLog.memory({ fleet: true });
  try {
    await hub.appendSealed(events);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await hub.close();
  }
}

function pgSays(events: Envelope[]): string | undefined {
  const checked = events.map((e) => checkEvent(e, 'pi-1'));
  return linkProblem('pi-1', { seq: 0, hash: ZERO_HASH }, events, checked);
}

const resealed = (e: Envelope, over: Partial<Envelope>): Envelope => {
  const out = { ...e, ...over };
  return { ...out, hash: hashOf(out) };
};

describe('PostgreSQL store checks', () => {
  it('refuse what appendSealed refuses, in the same words', async () => {
    const good = await chain(4);
    const cases: [string, Envelope[]][] = [
      ['valid', good],
      ['hash', good.map((e, i) => (i === 2 ? { ...e, hash: 'f'.repeat(64) } : e))],
      ['digest', good.map((e, i) => (i === 1 ? { ...e, data: { ...e.data, value: 99 } } : e))],
      ['link', good.map((e, i) => (i === 2 ? resealed(e, { prev: 'a'.repeat(64) }) : e))],
      ['seq', [good[0]!, good[2]!]],
      [
        'payload',
        good.map((e, i) => {
          if (i !== 3) return e;
          const data = { source: 'node', sensor: 't', value: 'hot' };
          return resealed(e, { data, digest: digestOf(data) });
        }),
      ],
      ['meta', good.map((e, i) => (i === 0 ? resealed(e, { meta: { actor: 7 } as never }) : e))],
      ['time', good.map((e, i) => (i === 1 ? resealed(e, { time: '1969-12-31T23:59:59.999Z' }) : e))],
      ['sig', good.map((e, i) => (i === 1 ? { ...e, sig: 'not base64' } : e))],
      ['device', good.map((e, i) => (i === 1 ? resealed(e, { device: 'pi-2' }) : e))],
    ];
    for (const [what, events] of cases) {
      const level = await levelSays(events);
      expect({ what, says: pgSays(events) }).toEqual({ what, says: level });
      if (what !== 'valid') expect(level, what).toBeDefined();
    }
  });

  it('leave the jsonb column empty only for a payload holding U+0000', () => {
    expect(jsonbText('{"text":"a\\u0000b"}')).toBeNull();
    expect(jsonbText('{"text":"\\u0000"}')).toBeNull();
    // an escaped backslash followed by the letters u0000 is no U+0000
    expect(jsonbText('{"text":"a\\\\u0000"}')).toBe('{"text":"a\\\\u0000"}');
    expect(jsonbText('{"text":"a\\\\\\u0000"}')).toBeNull();
    expect(jsonbText('{"text":"\\u0001"}')).toBe('{"text":"\\u0001"}');
    expect(jsonbText(null)).toBeNull();
  });

  it('leave the jsonb column empty exactly when the payload holds U+0000 (any escapes around it)', () => {
    // the oracle is the string itself, not the scan: canonical JSON writes U+0000 as \u0000
    const unit = fc.constantFrom('\u0000', '\\', 'u', '0', '"', 'a', '\u0001');
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 12 }), (text) => {
        const canonical = JSON.stringify({ text });
        expect(jsonbText(canonical)).toBe(text.includes('\u0000') ? null : canonical);
      }),
      { numRuns: 2000 },
    );
  });
});
