// One suite for every store the log runs on (memory-level, classic-level), as MQTT.js
// runs one suite over its stores: the behaviour must not depend on the backend.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf, hashOf, ZERO_HASH } from '../../src/log/envelope.js';
import { type EventLog, type LogOptions, RUN_SPAN_MS } from '../../src/log/event-log.js';
import { fakeClock, reading } from './helpers.js';

export type LogFactory = (opts: LogOptions) => Promise<EventLog>;

export function logContract(name: string, open: LogFactory): void {
  describe(`log contract: ${name}`, () => {
    const opened: EventLog[] = [];
    const make = async (opts: LogOptions = {}) => {
      const log = await open({ device: 'dev-1', create: true, clock: fakeClock(), boot: 'boot-a', ...opts });
      opened.push(log);
      return log;
    };
    afterEach(async () => {
      for (const log of opened.splice(0)) await log.close();
    });

    it('starts empty with a zero head', async () => {
      const log = await make();
      expect(log.head()).toEqual({ seq: 0, hash: ZERO_HASH });
      expect(log.count()).toBe(0);
    });

    it('assigns seq, prev, digest and hash, and chains events', async () => {
      const log = await make();
      const a = await log.append(reading('temp', 21.5));
      const b = await log.append(reading('temp', 21.6));
      expect(a.seq).toBe(1);
      expect(a.prev).toBe(ZERO_HASH);
      expect(b.seq).toBe(2);
      expect(b.prev).toBe(a.hash);
      expect(a.digest).toBe(digestOf(a.data!));
      expect(b.hash).toBe(hashOf(b));
      expect(a.device).toBe('dev-1');
      expect(a.boot).toBe('boot-a');
      expect(a.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      expect(log.head()).toEqual({ seq: 2, hash: b.hash });
    });

    it('reads back exactly what was appended', async () => {
      const log = await make();
      const written = [];
      for (let i = 0; i < 25; i++) {
        written.push(
          await log.append({ ...reading(`s${i % 3}`, i), meta: { actor: 'sensor:node', source: 'node' } }),
        );
      }
      const read = [];
      for await (const e of log.events()) read.push(e);
      expect(read).toEqual(written);
      const some = [];
      for await (const e of log.events({ fromSeq: 10, toSeq: 12 })) some.push(e.seq);
      expect(some).toEqual([10, 11, 12]);
      await expect(log.get(7)).resolves.toEqual(written[6]);
      await expect(log.get(99)).resolves.toBeUndefined();
    });

    it('gives the same envelopes as JSON text without parsing payloads', async () => {
      const log = await make();
      await log.append({
        type: 'NoteAdded',
        data: { text: 'é "quoted" \\ ✓', n: [1, { b: null }] },
        meta: { actor: 'operator:ana' },
      });
      for (let i = 0; i < 5; i++) await log.append(reading('t', i / 3));
      await log.redact(3, 'test', 'operator:ana');
      const parsed = [];
      for await (const chunk of log.eventsJson({ fromSeq: 2 }))
        for (const x of chunk) parsed.push(JSON.parse(x.json));
      const envelopes = [];
      for await (const e of log.events({ fromSeq: 2 })) envelopes.push(e);
      expect(parsed).toEqual(envelopes);
    });

    it('keeps seq and chain correct under many concurrent appends, in one batch per turn', async () => {
      const log = await make();
      const batches: number[] = [];
      log.on('append', (evs: unknown[]) => batches.push(evs.length));
      const all = await Promise.all(Array.from({ length: 500 }, (_, i) => log.append(reading('x', i))));
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(batches).toEqual([500]);
      const report = await log.verify();
      expect(report).toMatchObject({ ok: true, events: 500, head: { seq: 500, hash: all[499]!.hash } });
    });

    it('appends several events as one unit, or none of them', async () => {
      const log = await make();
      await expect(log.appendMany([reading('a', 1), { type: 'bad type', data: {} }])).rejects.toMatchObject({
        code: 'EVENT_INVALID',
      });
      expect(log.count()).toBe(0);
      const evs = await log.appendMany([reading('a', 1), reading('b', 2), reading('c', 3)]);
      expect(evs.map((e) => e.seq)).toEqual([1, 2, 3]);
      expect(evs[1]!.prev).toBe(evs[0]!.hash);
      const next = await log.append(reading('d', 4));
      expect(next.prev).toBe(evs[2]!.hash);
      await expect(log.verify()).resolves.toMatchObject({ ok: true, events: 4 });
    });

    it('indexes events by time and answers time ranges and as-of lookups', async () => {
      const clock = fakeClock(Date.parse('2026-01-01T00:00:00.000Z'), 1000);
      const log = await make({ clock });
      for (let i = 0; i < 10; i++) await log.append(reading('t', i));
      const times = [];
      for await (const e of log.eventsByTime({
        since: '2026-01-01T00:00:03.000Z',
        until: '2026-01-01T00:00:05.000Z',
      })) {
        times.push(e.seq);
      }
      expect(times).toEqual([4, 5, 6]);
      await expect(log.seqAtTime('2026-01-01T00:00:04.500Z')).resolves.toBe(5);
      await expect(log.seqAtTime('2025-12-31T00:00:00.000Z')).resolves.toBe(0);
    });

    it('answers time ranges and as-of lookups exactly, whatever the clock does (index runs)', async () => {
      const T0 = Date.parse('2026-01-01T00:00:00.000Z');
      // steps between appends: ticks, equal times, jumps back (a clock set right), and gaps
      // longer than a run may span; appends come singly and in batches
      const step = fc.oneof(
        fc.integer({ min: 0, max: 2000 }),
        fc.integer({ min: -3 * RUN_SPAN_MS, max: -1 }),
        fc.integer({ min: RUN_SPAN_MS - 5, max: 3 * RUN_SPAN_MS }),
      );
      const plan = fc.array(fc.array(step, { minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 12 });
      let n = 0;
      await fc.assert(
        fc.asyncProperty(
          plan,
          fc.array(fc.integer({ min: -RUN_SPAN_MS, max: 40 * RUN_SPAN_MS }), { minLength: 4, maxLength: 4 }),
          async (batches, probes) => {
            let t = T0;
            const clock = { now: () => t, mono: () => 0 };
            const log = await open({ device: `t-${n++}`, create: true, clock, boot: 'b' });
            try {
              const times: number[] = [];
              for (const batch of batches) {
                const inputs = [];
                for (const d of batch) {
                  t = Math.max(0, t + d);
                  times.push(t);
                  inputs.push(reading('x', times.length));
                }
                // the clock is read as each event is sealed: step it per event
                let i = times.length - batch.length;
                clock.now = () => times[i++]!;
                await log.appendMany(inputs);
              }
              const [a, b, c, d] = probes.map((p) => T0 + p) as [number, number, number, number];
              const [since, until] = a <= b ? [a, b] : [b, a];
              const want = times.flatMap((tm, i) => (tm >= since && tm <= until ? [i + 1] : []));
              const got = [];
              for await (const e of log.eventsByTime({ since, until })) got.push(e.seq);
              expect(got).toEqual(want);
              for (const at of [c, d, since, until]) {
                let best = 0;
                times.forEach((tm, i) => {
                  if (tm <= at && (best === 0 || tm >= times[best - 1]!)) best = i + 1;
                });
                expect(await log.seqAtTime(at)).toBe(best);
              }
            } finally {
              await log.close();
            }
          },
        ),
        { numRuns: 40 },
      );
    });

    it('keeps the fleet order as runs and replays it from any position', async () => {
      const a = await make({ device: 'a' });
      const b = await make({ device: 'b' });
      const ea = [];
      const eb = [];
      for (let i = 0; i < 6; i++) ea.push(await a.append(reading('a', i)));
      for (let i = 0; i < 4; i++) eb.push(await b.append(reading('b', i)));
      const hub = await make({ device: 'hub-own', fleet: true });
      // one batch holding runs of both devices, interleaved; then single events
      const w1 = hub.appendSealed(ea.slice(0, 3));
      const w2 = hub.appendSealed(eb.slice(0, 2));
      await Promise.all([w1, w2]);
      await Promise.all([hub.appendSealed(ea.slice(3, 5)), hub.appendSealed(eb.slice(2))]);
      await hub.appendSealed([ea[5]!]);
      const order = ['a:1', 'a:2', 'a:3', 'b:1', 'b:2', 'a:4', 'a:5', 'b:3', 'b:4', 'a:6'];
      const all = [];
      for await (const f of hub.fleetEvents()) all.push(`${f.position}:${f.event.device}:${f.event.seq}`);
      expect(all).toEqual(order.map((x, i) => `${i + 1}:${x}`));
      for (const [from, to] of [
        [2, 2],
        [3, 7],
        [5, 100],
        [10, 10],
        [11, 20],
      ] as const) {
        const part = [];
        for await (const f of hub.fleetEvents(from, to))
          part.push(`${f.position}:${f.event.device}:${f.event.seq}`);
        expect(part).toEqual(all.slice(from - 1, to));
      }
      expect(hub.fleetHead).toBe(10);
    });

    it('refuses bad input without writing anything', async () => {
      const log = await make();
      await expect(log.append({ type: 'not pascal', data: {} })).rejects.toMatchObject({
        code: 'EVENT_INVALID',
      });
      await expect(log.append({ type: 'X', data: null as never })).rejects.toMatchObject({
        code: 'EVENT_INVALID',
      });
      await expect(log.append({ type: 'X', data: { v: Number.NaN } })).rejects.toMatchObject({
        code: 'EVENT_INVALID',
      });
      await expect(log.append({ type: 'X', data: {}, meta: { actor: 'nobody' } })).rejects.toMatchObject({
        code: 'EVENT_INVALID',
      });
      expect(log.count()).toBe(0);
    });

    it('redacts a payload with a recorded reason, and the chain still verifies', async () => {
      const log = await make();
      await log.append({
        type: 'NoteAdded',
        data: { text: 'call Alice on 555-0100' },
        meta: { actor: 'operator:bob' },
      });
      const before = await log.get(1);
      await log.append(reading('t', 1));
      await expect(log.redact(1, '', 'operator:carol')).rejects.toMatchObject({ code: 'REDACTION_INVALID' });
      await expect(log.redact(1, 'privacy', 'nobody')).rejects.toMatchObject({ code: 'REDACTION_INVALID' });
      await expect(log.redact(9, 'privacy', 'operator:carol')).rejects.toMatchObject({
        code: 'REDACTION_INVALID',
      });
      const red = await log.redact(1, 'personal data', 'operator:carol');
      expect(red).toMatchObject({ seq: 3, type: 'EventRedacted', data: { seq: 1, reason: 'personal data' } });
      expect(red.meta).toEqual({ actor: 'operator:carol' });
      const after = await log.get(1);
      expect(after?.data).toBeNull();
      expect(after?.digest).toBe(before?.digest);
      expect(after?.hash).toBe(before?.hash);
      await expect(log.redact(1, 'again', 'operator:carol')).rejects.toMatchObject({
        code: 'REDACTION_INVALID',
      });
      await expect(log.redact(3, 'meta', 'operator:carol')).rejects.toMatchObject({
        code: 'REDACTION_INVALID',
      });
      await expect(log.verify()).resolves.toMatchObject({ ok: true, events: 3 });
    });

    it('keeps several device streams apart and copies sealed envelopes exactly', async () => {
      const src = await make({ device: 'src' });
      const evs = [];
      for (let i = 0; i < 5; i++) evs.push(await src.append(reading('a', i)));
      const dst = await make({ device: 'other', fleet: true });
      await dst.append(reading('b', 1));
      await dst.appendSealed(evs.slice(0, 3));
      await dst.appendSealed(evs.slice(3));
      expect(dst.deviceNames()).toEqual(['other', 'src']);
      expect(dst.head('src')).toEqual(src.head());
      const copy = [];
      for await (const e of dst.events({ device: 'src' })) copy.push(e);
      expect(copy).toEqual(evs);
      const fleet = [];
      for await (const f of dst.fleetEvents()) fleet.push(`${f.position}:${f.event.device}:${f.event.seq}`);
      expect(fleet).toEqual(['1:other:1', '2:src:1', '3:src:2', '4:src:3', '5:src:4', '6:src:5']);
      await expect(dst.appendSealed([evs[4]!])).rejects.toMatchObject({ code: 'CHAIN_BROKEN' });
      const forged = { ...evs[4]!, seq: 6, prev: evs[4]!.hash, data: { forged: true } };
      await expect(dst.appendSealed([forged])).rejects.toMatchObject({ code: 'EVENT_INVALID' });
      // a purged payload whose digest is not a digest, hashed consistently: refused whole
      const next = await src.append(reading('a', 5));
      const odd = { ...next, data: null, digest: 'z'.repeat(64) };
      const purged = { ...odd, hash: hashOf(odd) };
      await expect(dst.appendSealed([purged])).rejects.toMatchObject({ code: 'EVENT_INVALID' });
      expect(dst.head('src').seq).toBe(5);
      await dst.appendSealed([next]);
      expect(dst.head('src')).toEqual(src.head());
    });
  });
}
