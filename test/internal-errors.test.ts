// Reporting internal errors: one line each, the stack only when asked, counted per place.
import { describe, expect, it } from 'vitest';
import { fail } from '../src/errors.js';
import { debugEnabled, internalErrors } from '../src/internal-errors.js';

const now = () => new Date('2026-12-01T10:00:00.000Z');

describe('internalErrors', () => {
  it('prints one line per error, with its code, and counts it per place', () => {
    const lines: string[] = [];
    const errors = internalErrors({ write: (l) => lines.push(l), debug: false, now });
    errors.report('http', new Error('read failed:\n  EIO'));
    errors.report('ingest', fail('LOG_WRITE_FAILED', 'writing to the log failed: ENOSPC'));
    expect(lines).toEqual([
      '2026-12-01T10:00:00.000Z internal error in http: read failed: EIO',
      '2026-12-01T10:00:00.000Z internal error in ingest: writing to the log failed: ENOSPC [LOG_WRITE_FAILED]',
    ]);
    expect(Object.fromEntries(errors.counts)).toEqual({ http: 1, ingest: 1 });
  });

  it('adds the stack only in debug mode', () => {
    const lines: string[] = [];
    const err = new Error('boom');
    internalErrors({ write: (l) => lines.push(l), debug: true, now }).report('http', err);
    expect(lines[0]).toContain(err.stack);
    expect(debugEnabled({ DEBUG: 'fieldlog' })).toBe(true);
    expect(debugEnabled({ DEBUG: 'fieldlog:*' })).toBe(true);
    expect(debugEnabled({})).toBe(false);
  });

  it('reports one error object once, and a repeat of the last error is counted but not printed', () => {
    const lines: string[] = [];
    const errors = internalErrors({ write: (l) => lines.push(l), debug: false, now });
    const batch = new Error('disk gone');
    errors.report('recorder', batch);
    errors.report('recorder', batch);
    errors.report('recorder', new Error('disk gone'));
    errors.report('recorder', new Error('another'));
    errors.report('recorder', new Error('disk gone'));
    expect(lines.map((l) => l.slice(25))).toEqual([
      'internal error in recorder: disk gone',
      'internal error in recorder: another',
      'internal error in recorder: disk gone',
    ]);
    expect(errors.counts.get('recorder')).toBe(4);
  });

  it('never throws when the line cannot be written', () => {
    const errors = internalErrors({
      write: () => {
        throw new Error('EPIPE');
      },
    });
    expect(() => errors.report('http', new Error('x'))).not.toThrow();
    expect(errors.counts.get('http')).toBe(1);
  });
});
