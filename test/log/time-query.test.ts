// Times given to select events: RFC 3339 with an offset, or a date; nothing read in a local zone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseTimeQuery } from '../../src/log/time-query.js';

describe('parseTimeQuery', () => {
  it('reads RFC 3339 times with their offset, and a date as midnight UTC', () => {
    expect(parseTimeQuery('2026-11-24T12:00:00Z')).toBe(Date.UTC(2026, 10, 24, 12));
    expect(parseTimeQuery('2026-11-24t12:00:00z')).toBe(Date.UTC(2026, 10, 24, 12));
    expect(parseTimeQuery('2026-11-24 12:00:00Z')).toBe(Date.UTC(2026, 10, 24, 12));
    expect(parseTimeQuery('2026-11-24T12:00:00+01:00')).toBe(Date.UTC(2026, 10, 24, 11));
    expect(parseTimeQuery('2026-11-24T12:00:00.250-02:30')).toBe(Date.UTC(2026, 10, 24, 14, 30, 0, 250));
    expect(parseTimeQuery('2026-11-24')).toBe(Date.UTC(2026, 10, 24));
    expect(parseTimeQuery('2024-02-29')).toBe(Date.UTC(2024, 1, 29));
  });

  it('refuses a time without an offset, a day or hour that does not exist, and anything else', () => {
    for (const bad of [
      '2026-11-24T12:00',
      '2026-11-24T12:00:00',
      '2026-02-30T00:00:00Z',
      '2023-02-29',
      '2026-11-24T24:00:00Z',
      '2026-11-24T12:60:00Z',
      '2026-11-24T12:00:00+24:00',
      '2026-11-24T12:00:00.Z',
      'yesterday',
      '1795521600000',
      '',
    ])
      expect(parseTimeQuery(bad), bad).toBeUndefined();
  });

  it('reads back every time toISOString writes', () => {
    fc.assert(
      fc.property(
        fc.date({ min: new Date(0), max: new Date('9999-12-31T23:59:59.999Z'), noInvalidDate: true }),
        (d) => {
          expect(parseTimeQuery(d.toISOString())).toBe(d.getTime());
        },
      ),
    );
  });
});
