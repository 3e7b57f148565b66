import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeRecord,
  EventPutsBuilder,
  encodeRecord,
  encodeSealedRecord,
  eventKey,
  type StoredRecord,
} from '../../src/log/codec.js';
import { EventLog } from '../../src/log/event-log.js';
import { StringTable } from '../../src/log/strings.js';
import { fakeClock } from './helpers.js';

const jsonValue = fc.jsonValue({ maxDepth: 3 }).filter((v) => JSON.stringify(v) !== undefined);
const data = fc.dictionary(fc.string({ maxLength: 12 }), jsonValue, { maxKeys: 6 });
const eventInput = fc.record(
  {
    type: fc.stringMatching(/^[A-Z][A-Za-z0-9]{0,20}$/),
    data,
    meta: fc.record({
      actor: fc.constantFrom('system', 'sensor:n1', 'operator:ann'),
      source: fc.constant('n1'),
    }),
  },
  { requiredKeys: ['type', 'data'] },
);

/** What every stored record has, whichever way it is encoded. */
const recordFields = {
  type: fc.string({ minLength: 1, maxLength: 70 }),
  timeMs: fc.integer({ min: 0, max: 253402300799999 }),
  boot: fc.string({ minLength: 1, maxLength: 40 }),
  mono: fc.double({ noNaN: true, noDefaultInfinity: true }),
  hash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  sig: fc.option(fc.uint8Array({ minLength: 64, maxLength: 64 })),
  metaJcs: fc.option(fc.string()),
};

describe('record codec', () => {
  it('round-trips any record, interned or inline', () => {
    fc.assert(
      fc.property(
        fc.record({
          ...recordFields,
          linkTag: fc.uint8Array({ minLength: 4, maxLength: 4 }),
          data: fc.option(fc.uint8Array({ maxLength: 300 })),
        }),
        fc.boolean(),
        (r, intern) => {
          const strings = new StringTable();
          if (intern) strings.intern(r.type, []);
          const rec: StoredRecord = { ...r, digest: r.data === null ? new Uint8Array(32).fill(7) : null };
          const bytes = encodeRecord(rec, strings);
          const back = decodeRecord(bytes, strings);
          expect(back).toEqual({ ...rec, mono: Object.is(r.mono, -0) ? -0 : r.mono });
          // what folds read of the same bytes is the same, without the hashes
          const empty = new Uint8Array(0);
          expect(decodeRecord(bytes, strings, false)).toEqual({
            ...back,
            linkTag: empty,
            hash: empty,
            digest: null,
            sig: null,
          });
        },
      ),
    );
  });
});

describe('sealed record encoding (the hub path)', () => {
  it('writes the same bytes as encodeRecord from hex hashes and canonical text', () => {
    const hexOf = (b: Uint8Array) => Buffer.from(b).toString('hex');
    fc.assert(
      fc.property(
        fc.record({
          ...recordFields,
          prev: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          digest: fc.uint8Array({ minLength: 32, maxLength: 32 }),
          dataJcs: fc.option(fc.string({ unit: 'binary', maxLength: 300 })),
        }),
        fc.boolean(),
        (r, intern) => {
          const strings = new StringTable();
          if (intern) strings.intern(r.boot, []);
          const sealed = encodeSealedRecord(
            {
              type: r.type,
              boot: r.boot,
              mono: r.mono,
              prev: hexOf(r.prev),
              hash: hexOf(r.hash),
              digest: hexOf(r.digest),
              sig: r.sig === null ? undefined : Buffer.from(r.sig).toString('base64'),
            },
            r.timeMs,
            r.metaJcs,
            r.dataJcs,
            strings,
          );
          const classic = encodeRecord(
            {
              type: r.type,
              timeMs: r.timeMs,
              boot: r.boot,
              mono: r.mono,
              linkTag: r.prev.subarray(0, 4),
              hash: r.hash,
              digest: r.dataJcs === null ? r.digest : null,
              sig: r.sig,
              metaJcs: r.metaJcs,
              data: r.dataJcs === null ? null : new TextEncoder().encode(r.dataJcs),
            },
            strings,
          );
          expect(Buffer.from(sealed).equals(Buffer.from(classic))).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("a message's puts (what a hub stages per message)", () => {
  it('hold the keys and records eventKey and encodeSealedRecord make, and keep them once later ones are made', () => {
    const hex = (n: number) =>
      fc.uint8Array({ minLength: n, maxLength: n }).map((b) => Buffer.from(b).toString('hex'));
    const sealedFields = fc.record({
      type: fc.stringMatching(/^[A-Z][A-Za-z]{0,20}$/),
      boot: fc.stringMatching(/^[0-9a-f]{16}$/),
      mono: fc.double({ noNaN: true, noDefaultInfinity: true }),
      prev: hex(32),
      hash: hex(32),
      digest: hex(32),
      timeMs: fc.integer({ min: 0, max: 2 ** 48 - 1 }),
      metaJcs: fc.option(fc.constantFrom('{"actor":"sensor:n1"}', '{"actor":"op:ann","source":"n1"}')),
      // records over an eighth of a slab (8 KiB) in all get a buffer of their own
      dataJcs: fc.option(
        fc.oneof(fc.string({ maxLength: 200 }), fc.string({ minLength: 3000, maxLength: 4000 })),
      ),
    });
    const message = fc.record({
      stream: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      first: fc.integer({ min: 1, max: 2 ** 40 }),
      events: fc.array(sealedFields, { minLength: 1, maxLength: 60 }),
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 8 }), (messages) => {
        const strings = new StringTable();
        const runs = messages.map(({ stream, first, events }) => {
          const b = new EventPutsBuilder(stream, first);
          for (const r of events) b.add(r, r.timeMs, r.metaJcs, r.dataJcs, strings);
          return b.done();
        });
        messages.forEach(({ stream, first, events }, m) => {
          const puts = runs[m]!;
          expect(puts.type).toBe('puts');
          expect(puts.count).toBe(events.length);
          events.forEach((r, i) => {
            expect(Buffer.from(puts.key(i)).equals(Buffer.from(eventKey(stream, first + i)))).toBe(true);
            const record = Buffer.from(encodeSealedRecord(r, r.timeMs, r.metaJcs, r.dataJcs, strings));
            expect(Buffer.from(puts.value(i)).equals(record)).toBe(true);
            expect(Buffer.from(puts.valueOf(stream, first + i)!).equals(record)).toBe(true);
          });
          expect(puts.valueOf(stream, first - 1)).toBeUndefined();
          expect(puts.valueOf(stream, first + events.length)).toBeUndefined();
          expect(puts.valueOf(stream + 1, first)).toBeUndefined();
        });
      }),
      { numRuns: 100 },
    );
  });
});

describe('log properties', () => {
  it('reads back any valid events exactly as appended, and they verify', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(eventInput, { minLength: 1, maxLength: 20 }), async (inputs) => {
        const log = await EventLog.memory({ device: 'p', clock: fakeClock() });
        const written = await Promise.all(inputs.map((i) => log.append(i)));
        const read = [];
        for await (const e of log.events()) read.push(e);
        // stored data is canonical JSON: the same values, but JSON has no -0
        const asJson = (x: unknown) => JSON.parse(JSON.stringify(x));
        expect(read).toEqual(asJson(written));
        expect(read.map((e) => e.data)).toEqual(asJson(inputs.map((i) => i.data)));
        await expect(log.verify()).resolves.toMatchObject({ ok: true, events: inputs.length });
        await log.close();
      }),
      { numRuns: 60 },
    );
  });

  it('catches any single-byte change to a stored record', async () => {
    const log = await EventLog.memory({ device: 'p', clock: fakeClock() });
    await log.append({ type: 'DeviceStarted', data: { version: '1', sources: [], clockSynced: true } });
    for (let i = 0; i < 8; i++) {
      await log.append({
        type: 'ReadingRecorded',
        data: { source: 'n', sensor: 't', value: i + 0.5, unit: 'C' },
        meta: { actor: 'sensor:n' },
      });
    }
    await log.append({ type: 'NoteAdded', data: { text: 'gate ✓' }, meta: { actor: 'operator:ann' } });
    await log.redact(3, 'test', 'operator:ann');
    const records = (await log.db.iterator().all()).filter(([k]) => k[0] === 0x10);
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: records.length - 1 }),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        async (which, at, xor) => {
          const [key, value] = records[which]!;
          const changed = new Uint8Array(value); // a copy: Buffer#slice would be a view
          const i = at % changed.length;
          changed[i] = changed[i]! ^ xor;
          await log.db.put(key, changed);
          try {
            const report = await log.verify();
            expect(report.ok).toBe(false);
            const seq = Number(Buffer.from(key.subarray(5)).readUIntBE(0, 6));
            expect(
              report.errors.map((e) => e.seq),
              JSON.stringify({ seq, i, xor, errors: report.errors }),
            ).toContain(seq);
          } finally {
            await log.db.put(key, value);
          }
        },
      ),
      { numRuns: 400 },
    );
    await expect(log.verify()).resolves.toMatchObject({ ok: true });
    await log.close();
  });

  it('reports a missing event as a gap, and a replaced event as a broken link', async () => {
    const log = await EventLog.memory({ device: 'p', clock: fakeClock() });
    for (let i = 0; i < 6; i++) await log.append({ type: 'NoteAdded', data: { text: `n${i}` } });
    const records = (await log.db.iterator().all()).filter(([k]) => k[0] === 0x10);
    await log.db.del(records[2]![0]);
    const gap = await log.verify();
    expect(gap.ok).toBe(false);
    expect(gap.errors).toEqual([{ seq: 4, reason: 'gap', detail: 'seqs 3..3 are missing' }]);
    await log.db.put(records[2]![0], records[2]![1]);
    // a record sealed for another history: valid in itself, but not linked to seq 2
    const other = await EventLog.memory({ device: 'p', clock: fakeClock(0) });
    for (let i = 0; i < 3; i++) await other.append({ type: 'NoteAdded', data: { text: `other${i}` } });
    const foreign = (await other.db.iterator().all()).filter(([k]) => k[0] === 0x10)[2]!;
    await log.db.put(records[2]![0], foreign[1]);
    const broken = await log.verify();
    expect(broken.errors.map((e) => `${e.seq}:${e.reason}`)).toEqual(['3:broken-link', '4:broken-link']);
    await log.close();
    await other.close();
  });
});

describe('string table', () => {
  it('forgets what a failed batch interned, however recently it was looked up', () => {
    const strings = new StringTable();
    const ops: unknown[] = [];
    strings.intern('Kept', ops as never);
    strings.commit();
    for (const s of ['A', 'B', 'Kept']) strings.intern(s, ops as never);
    expect([strings.idOf('A'), strings.idOf('B'), strings.idOf('Kept')]).toEqual([1, 2, 0]);
    expect(ops).toHaveLength(3);
    strings.rollback();
    expect([strings.idOf('A'), strings.idOf('B'), strings.idOf('Kept')]).toEqual([undefined, undefined, 0]);
    // interned again after the rollback: new entries, written again
    strings.intern('B', ops as never);
    expect(strings.idOf('B')).toBe(1);
    expect(ops).toHaveLength(4);
  });
});
