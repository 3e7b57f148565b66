// The token compare (constant time, over digests) and what counts as loopback, alone.
import * as crypto from 'node:crypto';
import { describe, expect, it, vi } from 'vitest';
import { isLoopback } from '../../src/cli/hub-access.js';
import { isValidToken, tokenMatches } from '../../src/hub/http-auth.js';

// the real functions, watched: the compare must go through timingSafeEqual
vi.mock('node:crypto', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:crypto')>();
  return { ...real, timingSafeEqual: vi.fn(real.timingSafeEqual) };
});

const digest = (t: string) => crypto.createHash('sha256').update(t).digest();

describe('tokenMatches', () => {
  it('accepts the token and refuses any other, whatever its length', () => {
    const expected = digest('s3cret-token');
    expect(tokenMatches('s3cret-token', expected)).toBe(true);
    for (const other of [
      '',
      's',
      's3cret-toke',
      's3cret-tokem',
      's3cret-token ',
      'S3CRET-TOKEN',
      'x'.repeat(10_000),
    ])
      expect(tokenMatches(other, expected), other.slice(0, 20)).toBe(false);
  });

  it('compares with timingSafeEqual over two SHA-256 digests, so lengths never differ', () => {
    const spy = vi.mocked(crypto.timingSafeEqual);
    spy.mockClear();
    const expected = digest('a-rather-long-token-of-the-hub');
    expect(tokenMatches('short', expected)).toBe(false);
    expect(tokenMatches('a-rather-long-token-of-the-hub', expected)).toBe(true);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const [a, b] of spy.mock.calls) {
      expect((a as Buffer).length).toBe(32);
      expect((b as Buffer).length).toBe(32);
    }
    expect(spy.mock.calls[0]![0]).toEqual(digest('short'));
    expect(spy.mock.calls[0]![1]).toEqual(expected);
  });
});

describe('isValidToken', () => {
  it('takes printable ASCII without spaces', () => {
    expect(isValidToken('0123456789abcdef-_.~!$')).toBe(true);
    for (const bad of ['', 'a b', 'tab\there', 'line\n', 'é-accent', '\u0000'])
      expect(isValidToken(bad), JSON.stringify(bad)).toBe(false);
  });
});

describe('isLoopback', () => {
  it('knows 127.0.0.0/8, ::1 and localhost', () => {
    for (const h of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      '::ffff:127.0.0.1',
      'localhost',
      'LOCALHOST',
    ])
      expect(isLoopback(h), h).toBe(true);
  });

  it('takes every other address for one others can reach', () => {
    for (const h of [
      '0.0.0.0',
      '::',
      '192.168.1.10',
      '10.0.0.1',
      '128.0.0.1',
      '::2',
      '1::1',
      '::ffff:10.0.0.1',
      'fieldhub',
      'localhost.example.com',
    ])
      expect(isLoopback(h), h).toBe(false);
  });
});
