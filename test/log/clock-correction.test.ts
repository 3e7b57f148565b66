// Corrected times against a simulation: devices whose wall clocks start wrong and are stepped,
// synchronised now and then, over several boots; the correction must give back the true times.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ClockedEvent, correctedTimes, correctedTimeText } from '../../src/log/clock-correction.js';

const T0 = Date.parse('2026-03-01T00:00:00.000Z');

type Step =
  | { kind: 'event'; dt: number }
  | { kind: 'jump'; delta: number }
  | { kind: 'sync'; dt: number; tellsTruth: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant('event' as const),
      dt: fc.integer({ min: 0, max: 60_000_000 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('jump' as const),
      delta: fc.integer({ min: -400_000_000, max: 400_000_000 }).filter((d) => d !== 0),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('sync' as const),
      dt: fc.integer({ min: 0, max: 60_000_000 }),
      tellsTruth: fc.constant(true),
    }),
  },
);

const boot = fc.record({
  /** The device clock's error at the start (device − true, ms): a Pi without RTC is far behind. */
  error: fc.integer({ min: -1_000_000_000_000, max: 1_000_000 }),
  /** Where this process's monotonic clock starts. */
  monoStart: fc.integer({ min: 0, max: 1_000_000 }),
  steps: fc.array(step, { maxLength: 40 }),
});

interface Simulated extends ClockedEvent {
  trueMs: number;
}

/**
 * Boots one after another in true time; `mono` in thousandths of a ms (as the log seals it),
 * `time` the truncated device clock (as the log seals it), offsets rounded (as the device records them).
 */
function simulate(boots: { error: number; monoStart: number; steps: Step[] }[]): Simulated[] {
  const out: Simulated[] = [];
  let trueNow = T0;
  for (const [b, spec] of boots.entries()) {
    let error = spec.error;
    let mono = spec.monoStart;
    const monoOrigin = trueNow - mono;
    const add = (type: string, data: Record<string, unknown>) => {
      const trueMs = monoOrigin + mono;
      out.push({
        seq: out.length + 1,
        type,
        time: new Date(Math.trunc(trueMs + error)).toISOString(),
        boot: `boot-${b}`,
        mono: mono,
        data,
        trueMs,
      });
    };
    for (const s of spec.steps) {
      if (s.kind === 'jump') {
        error += s.delta;
        add('ClockJumped', { deltaMs: s.delta });
        continue;
      }
      mono = Math.round((mono + s.dt / 1000) * 1000) / 1000;
      if (s.kind === 'event') add('ReadingRecorded', { source: 'n', sensor: 't', value: 1 });
      else add('ClockSynced', { offsetMs: -error || 0, source: 'hub' });
    }
    trueNow = monoOrigin + mono + 1000;
  }
  return out;
}

const fleetOfBoots = fc.array(boot, { minLength: 1, maxLength: 3 }).map(simulate);

/** The seqs that have a ClockSynced after them in their own boot. */
function beforeASync(events: Simulated[]): Set<number> {
  const out = new Set<number>();
  for (const e of events)
    if (events.some((s) => s.type === 'ClockSynced' && s.boot === e.boot && s.seq > e.seq)) out.add(e.seq);
  return out;
}

describe('correctedTimes', () => {
  it('gives back the true time (within 1.5 ms) of every event before a sync in its boot, and nothing else', () => {
    fc.assert(
      fc.property(fleetOfBoots, (events) => {
        const c = correctedTimes(events);
        expect(new Set(c.keys())).toEqual(beforeASync(events));
        for (const e of events) {
          const ms = c.get(e.seq);
          if (ms !== undefined) expect(Math.abs(ms - e.trueMs)).toBeLessThan(1.5); // the sync time truncated, the result rounded
        }
      }),
    );
  });

  it('is monotone in mono within a boot', () => {
    fc.assert(
      fc.property(fleetOfBoots, (events) => {
        const c = correctedTimes(events);
        /** The sync whose anchor corrects an event: the first after it in its boot. */
        const anchor = (e: Simulated) =>
          events.find((s) => s.type === 'ClockSynced' && s.boot === e.boot && s.seq > e.seq)?.seq;
        const corrected = events.filter((e) => c.has(e.seq));
        for (let i = 1; i < corrected.length; i++) {
          const [a, b] = [corrected[i - 1]!, corrected[i]!];
          if (a.boot !== b.boot) continue;
          const step = c.get(b.seq)! - c.get(a.seq)!;
          // exactly monotone under one anchor; two anchors may disagree by their truncations
          expect(step).toBeGreaterThanOrEqual(anchor(a) === anchor(b) ? 0 : -3);
        }
      }),
    );
  });

  it('does not depend on the order or repetition of the events it is given, and changes none of them', () => {
    fc.assert(
      fc.property(
        fleetOfBoots.chain((events) =>
          fc.tuple(fc.constant(events), fc.shuffledSubarray(events, { minLength: events.length })),
        ),
        ([events, shuffled]) => {
          const before = structuredClone(shuffled);
          expect(correctedTimes(shuffled)).toEqual(correctedTimes(events));
          // the syncs given again (as `log cat` does beside a window) change nothing
          const again = events.filter((e) => e.type === 'ClockSynced');
          expect(correctedTimes([...shuffled, ...again])).toEqual(correctedTimes(events));
          expect(shuffled).toEqual(before);
        },
      ),
    );
  });

  it('follows the definition on a worked example', () => {
    const ev = (
      seq: number,
      type: string,
      time: string,
      mono: number,
      data: Record<string, unknown> = {},
    ) => ({
      seq,
      type,
      time,
      boot: 'b',
      mono,
      data,
    });
    // a Pi starting in 2000; the hub says it is 26 years and a bit behind
    const events = [
      ev(1, 'DeviceStarted', '2000-01-01T00:00:05.000Z', 5000),
      ev(2, 'ReadingRecorded', '2000-01-01T00:00:06.500Z', 6500.25),
      ev(3, 'ClockSynced', '2000-01-01T00:00:10.000Z', 10_000, { offsetMs: 825_552_000_000, source: 'hub' }),
      ev(4, 'ReadingRecorded', '2000-01-01T00:00:11.000Z', 11_000),
      { ...ev(5, 'ReadingRecorded', '2026-03-01T00:00:00.000Z', 1), boot: 'other' },
    ];
    const c = correctedTimes(events);
    expect([1, 2, 3, 4, 5].map((s) => correctedTimeText(c, s))).toEqual([
      '2026-02-28T00:00:05.000Z',
      '2026-02-28T00:00:06.500Z',
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('ignores a redacted ClockSynced', () => {
    const events = [
      { seq: 1, type: 'NoteAdded', time: '2000-01-01T00:00:00.000Z', boot: 'b', mono: 0, data: {} },
      { seq: 2, type: 'ClockSynced', time: '2000-01-01T00:00:01.000Z', boot: 'b', mono: 1000, data: null },
    ];
    expect(correctedTimes(events).size).toBe(0);
  });
});
