// The rollups' bucket arithmetic (src/hub/rollup.ts), by property: however readings are split
// into batches, ordered or merged into wider buckets, the result is the fold of all of them
// at once, and a wide bucket made of minute or hour ones equals the readings folded into it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type FixBucket,
  HOUR,
  MINUTE,
  mergeFixes,
  mergeReadings,
  type Reading,
  type ReadingBucket,
  RollupFold,
  seriesOf,
  seriesOfReadings,
  trackOf,
  trackOfFixes,
} from '../../src/hub/rollup.js';

const START = Date.parse('2026-11-01T00:00:00.000Z');

const readingArb = fc.record({
  time: fc.integer({ min: START, max: START + 3 * 86_400_000 }),
  value: fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ min: -1e6, max: 1e6, noNaN: true })),
  unit: fc.constantFrom('C', 'F', null),
});

/** Readings with distinct seqs in arrival order (times in any order). */
const readingsArb = fc
  .array(readingArb, { minLength: 1, maxLength: 300 })
  .map((rs) => rs.map((r, i): Reading => ({ ...r, seq: i + 1, sensor: 't' })));

function envelope(r: Reading) {
  return {
    type: 'ReadingRecorded',
    seq: r.seq,
    time: new Date(r.time).toISOString(),
    data: { source: 'n', sensor: r.sensor, value: r.value, ...(r.unit === null ? {} : { unit: r.unit }) },
  };
}

function foldAll(rs: Reading[]): Map<string, ReadingBucket> {
  const f = new RollupFold();
  for (const r of rs) f.add('pi', envelope(r));
  return new Map([...f.readings].map(([k, v]) => [k, v.b]));
}

function same(a: Map<string, ReadingBucket>, b: Map<string, ReadingBucket>): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, x] of a) {
    const y = b.get(k)!;
    expect({ ...x, sum: 0 }).toEqual({ ...y, sum: 0 });
    expect(x.sum).toBeCloseTo(y.sum, 3);
  }
}

describe('rollup arithmetic', () => {
  it('batches merged in any order equal the fold of every reading at once', () => {
    fc.assert(
      fc.property(readingsArb, fc.array(fc.nat(), { maxLength: 10 }), fc.boolean(), (rs, cuts, reverse) => {
        const points = [...new Set(cuts.map((c) => c % rs.length))].sort((a, b) => a - b);
        const parts: Reading[][] = [];
        let at = 0;
        for (const p of [...points, rs.length]) {
          parts.push(rs.slice(at, p));
          at = p;
        }
        if (reverse) parts.reverse();
        const merged = new Map<string, ReadingBucket>();
        for (const part of parts)
          for (const [k, b] of foldAll(part)) {
            const had = merged.get(k);
            merged.set(k, had ? mergeReadings(had, b) : b);
          }
        same(merged, foldAll(rs));
      }),
    );
  });

  it('wide buckets made of minute or hour ones equal the readings folded into them', () => {
    const spans = [MINUTE, 5 * MINUTE, HOUR, 6 * HOUR, 86_400_000];
    fc.assert(
      fc.property(readingsArb, fc.constantFrom(...spans), (rs, b) => {
        const all = new RollupFold();
        for (const r of rs) all.add('pi', envelope(r));
        const res = b % HOUR === 0 ? 'hour' : 'minute';
        const rows = [...all.readings.values()].filter((x) => x.key.res === res).map((x) => x.b);
        const got = seriesOf(rows, b);
        const want = seriesOfReadings(rs, b);
        expect({ ...got, sum: [] }).toEqual({ ...want, sum: [] });
        for (const [i, s] of got.sum.entries()) expect(s).toBeCloseTo(want.sum[i]!, 3);
        // by hand: the highest reading is some bucket's max
        expect(Math.max(...got.max)).toBe(Math.max(...rs.map((r) => r.value)));
        expect(got.count.reduce((a, c) => a + c, 0)).toBe(rs.length);
      }),
    );
  });

  it('a track keeps the last fix of each bucket, ties going to the higher seq', () => {
    fc.assert(
      fc.property(readingsArb, fc.constantFrom(MINUTE, HOUR, 3 * HOUR), (rs, b) => {
        const fixes = rs.map((r) => ({ seq: r.seq, time: r.time, lat: r.value, lon: -r.seq }));
        const f = new RollupFold();
        for (const x of fixes)
          f.add('pi', {
            type: 'PositionRecorded',
            seq: x.seq,
            time: new Date(x.time).toISOString(),
            data: { source: 'g', fixTime: 'x', lat: x.lat, lon: x.lon },
          });
        const res = b % HOUR === 0 ? 'hour' : 'minute';
        const got = trackOf(
          [...f.fixes.values()].filter((x) => x.key.res === res).map((x) => x.b),
          b,
        );
        expect(got).toEqual(trackOfFixes(fixes, b));
        const last = new Map<number, (typeof fixes)[number]>();
        for (const x of fixes) {
          const k = Math.floor(x.time / b);
          const had = last.get(k);
          if (!had || x.time > had.time || (x.time === had.time && x.seq > had.seq)) last.set(k, x);
        }
        const want = [...last.entries()].sort((a, c) => a[0] - c[0]).map(([, x]) => x);
        expect(got.t).toEqual(want.map((x) => x.time));
        expect(got.lon).toEqual(want.map((x) => x.lon));
      }),
    );
  });

  it('devices, sensors and fixes interleaved fold as each event folded alone and merged', () => {
    // the fold remembers the buckets the last device's sensors went in: events of several
    // devices and sensors, fixes among them, in any order across bucket edges, must land
    // exactly where a fold that remembers nothing puts them
    const eventArb = fc.record({
      device: fc.constantFrom('a', 'b'),
      sensor: fc.constantFrom('t', 'h', '', null),
      time: fc.integer({ min: START, max: START + 3 * MINUTE }),
      value: fc.integer({ min: -50, max: 50 }),
    });
    fc.assert(
      fc.property(fc.array(eventArb, { minLength: 1, maxLength: 200 }), (es) => {
        const all = new RollupFold();
        const readings = new Map<string, ReadingBucket>();
        const fixes = new Map<string, FixBucket>();
        for (const [i, x] of es.entries()) {
          const time = new Date(x.time).toISOString();
          const e =
            x.sensor === null
              ? {
                  type: 'PositionRecorded',
                  seq: i + 1,
                  time,
                  data: { source: 'g', fixTime: 'x', lat: x.value, lon: i },
                }
              : {
                  type: 'ReadingRecorded',
                  seq: i + 1,
                  time,
                  data: { source: 'n', sensor: x.sensor, value: x.value },
                };
          all.add(x.device, e);
          const one = new RollupFold();
          one.add(x.device, e);
          for (const [k, { b }] of one.readings) {
            const had = readings.get(k);
            readings.set(k, had ? mergeReadings(had, b) : b);
          }
          for (const [k, { b }] of one.fixes) {
            const had = fixes.get(k);
            fixes.set(k, had ? mergeFixes(had, b) : b);
          }
        }
        same(new Map([...all.readings].map(([k, v]) => [k, v.b])), readings);
        expect(new Map([...all.fixes].map(([k, v]) => [k, v.b]))).toEqual(fixes);
      }),
    );
  });
});
