import { describe, expect, it } from 'vitest';
import {
  digestOf,
  formatTime,
  hashOf,
  jcs,
  parseEnvelope,
  parseEventInput,
  parseTime,
  ZERO_HASH,
} from '../../src/log/envelope.js';

// Known vectors, computed independently (Python's json with sorted keys and hashlib):
// if these change, every stored log and every hub copy stops verifying.
const first = {
  device: 'pi-01',
  seq: 1,
  type: 'ReadingRecorded',
  time: '2026-11-24T10:00:00.000Z',
  boot: 'b00t',
  mono: 1234.5,
  data: { source: 'node1', sensor: 'temp', value: 21.5, unit: 'C' },
  meta: { actor: 'sensor:node1', source: 'node1' },
  digest: '0652b8bd334dd08137500bc3cd8f27ef58beb145ca50d82302b13c4dac553142',
  prev: ZERO_HASH,
  hash: '64fc5b4ec676aaabd2e3dbf7023e310c589a638046a367545b60061714765057',
};

describe('envelope hashing', () => {
  it('canonicalizes per RFC 8785 (sorted keys, ES number form)', () => {
    expect(jcs({ b: 1, a: [true, null, 1e21, 0.1, -0], c: 'é' })).toBe(
      '{"a":[true,null,1e+21,0.1,0],"b":1,"c":"é"}',
    );
  });

  it('matches the known digest and hash of a fixed event', () => {
    expect(digestOf(first.data)).toBe(first.digest);
    expect(hashOf(first)).toBe(first.hash);
  });

  it('hashes the envelope without its data, so a redacted event keeps its hash', () => {
    expect(hashOf({ ...first, data: null })).toBe(first.hash);
    expect(hashOf({ ...first, data: { other: 1 } })).toBe(first.hash);
  });

  it('chains a second event with unicode data', () => {
    const second = {
      ...first,
      seq: 2,
      type: 'NoteAdded',
      mono: 2000,
      prev: first.hash,
      data: { text: 'Ünïcödé ✓' },
      meta: { actor: 'operator:anna' },
      digest: 'bc44a2a58352d616fbe41718ef5c06e166e7c67c819d873098a751be2e6602fd',
    };
    expect(digestOf(second.data)).toBe(second.digest);
    expect(hashOf(second)).toBe('30408e7643fb990e99b8af5f0e3a7ec3f188184a678f3de61d892634244f643f');
  });

  it('changes the hash when any covered field changes', () => {
    for (const change of [
      { seq: 2 },
      { time: '2026-11-24T10:00:00.001Z' },
      { mono: 1 },
      { meta: undefined },
      { prev: first.hash },
    ]) {
      expect(hashOf({ ...first, ...change })).not.toBe(first.hash);
    }
  });
});

describe('edge validation', () => {
  it('accepts a valid envelope and rejects broken ones with EVENT_INVALID', () => {
    expect(parseEnvelope(first)).toEqual(first);
    for (const bad of [
      { ...first, device: 'no spaces' },
      { ...first, seq: 0 },
      { ...first, time: '2026-11-24T10:00:00Z' },
      { ...first, time: '2026-02-30T10:00:00.000Z' },
      { ...first, hash: 'xyz' },
      { ...first, extra: 1 },
      { ...first, type: 'readingRecorded' },
    ]) {
      expect(() => parseEnvelope(bad)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
    }
  });

  it('validates writer input', () => {
    expect(
      parseEventInput({ type: 'NoteAdded', data: { text: 'x' }, meta: { actor: 'operator:ann' } }),
    ).toMatchObject({
      type: 'NoteAdded',
    });
    for (const bad of [
      { type: 'NoteAdded' },
      { type: 'NoteAdded', data: [] },
      { type: 'X', data: {}, seq: 3 },
    ]) {
      expect(() => parseEventInput(bad)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
    }
  });

  it('round-trips times exactly and refuses clocks out of range', () => {
    expect(formatTime(parseTime('2026-11-24T10:00:00.123Z'))).toBe('2026-11-24T10:00:00.123Z');
    expect(() => formatTime(-1)).toThrow(expect.objectContaining({ code: 'EVENT_INVALID' }) as Error);
  });
});
