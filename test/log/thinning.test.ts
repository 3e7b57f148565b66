// Thinning in the log (a memory log) and the verification rule of ReadingsPurged: the oldest
// readings' payloads are purged with their ReadingsPurged in one write; a verifier (of the
// store, and of envelopes as the hub and NDJSON get them) accepts the purged readings it
// covers, and still reports a purge no record covers, a non-reading in the range, and a
// ReadingsPurged that names no earlier range.
import { describe, expect, it } from 'vitest';
import type { Envelope, EventInput } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { ChainVerifier } from '../../src/log/verify.js';
import { fakeClock, reading } from './helpers.js';

async function all(log: EventLog): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events()) out.push(e);
  return out;
}

/** The envelope verifier's problems (what the hub's ingest and NDJSON checks use). */
function verifyEnvelopes(events: Envelope[]) {
  const v = new ChainVerifier();
  for (const e of events) v.push(e);
  return v.finish();
}

const note: EventInput = { type: 'NoteAdded', data: { text: 'n' }, meta: { actor: 'operator:ana' } };

async function sample(): Promise<EventLog> {
  const log = await EventLog.memory({ device: 'pi-1', clock: fakeClock() });
  for (let i = 0; i < 3; i++) await log.append(reading('t', i)); // 1..3
  await log.append(note); // 4
  for (let i = 0; i < 4; i++) await log.append(reading('t', 10 + i)); // 5..8
  return log;
}

describe('thinReadings', () => {
  it('purges the oldest readings after a seq, keeps the envelopes, records ReadingsPurged; the chain verifies', async () => {
    const log = await sample();
    const done = await log.thinReadings({ afterSeq: 1, max: 4, reason: 'disk-budget' });
    expect(done).toMatchObject({ fromSeq: 2, toSeq: 6, count: 4 });
    expect(done!.event).toMatchObject({
      seq: 9,
      type: 'ReadingsPurged',
      data: { fromSeq: 2, toSeq: 6, count: 4, reason: 'disk-budget' },
      meta: { actor: 'system' },
    });
    const events = await all(log);
    expect(events.map((e) => e.data === null)).toEqual([
      false,
      true,
      true,
      false,
      true,
      true,
      false,
      false,
      false,
    ]);
    expect((await log.verify()).errors).toEqual([]);
    expect(verifyEnvelopes(events)).toEqual([]);
    // the next purge starts where this one stopped; none left after that
    expect(await log.thinReadings({ afterSeq: 1, max: 100, reason: 'disk-budget' })).toMatchObject({
      fromSeq: 7,
      toSeq: 8,
      count: 2,
    });
    expect(await log.thinReadings({ afterSeq: 1, max: 100, reason: 'disk-budget' })).toBeNull();
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it('accepts a payload still there under a ReadingsPurged (a copy taken before the purge)', async () => {
    const log = await sample();
    const before = await all(log);
    await log.thinReadings({ afterSeq: 0, max: 2, reason: 'disk-budget' });
    const after = await all(log);
    // the hub got 1..8 with their payloads, then the ReadingsPurged
    expect(verifyEnvelopes([...before, after.at(-1)!])).toEqual([]);
    await log.close();
  });
});

describe('ChainVerifier and ReadingsPurged', () => {
  it('still reports a purged reading no ReadingsPurged covers, and a purged non-reading in the range', async () => {
    const log = await sample();
    await log.thinReadings({ afterSeq: 0, max: 3, reason: 'disk-budget' }); // 1..3, seq 9
    const events = await all(log);
    // a copy that lost seq 5's and seq 4's payloads without any record of it
    const forged = events.map((e) => (e.seq === 5 || e.seq === 4 ? { ...e, data: null } : e));
    expect(verifyEnvelopes(forged).map((p) => [p.seq, p.reason])).toEqual([
      [4, 'redaction-unrecorded'],
      [5, 'redaction-unrecorded'],
    ]);
    await log.close();
  });

  it('reports a ReadingsPurged that names no earlier range', async () => {
    const log = await EventLog.memory({ device: 'pi-1', clock: fakeClock() });
    await log.append(reading('t', 1));
    for (const data of [
      { fromSeq: 1, toSeq: 5, count: 1, reason: 'x' }, // reaches past itself
      { fromSeq: 2, toSeq: 1, count: 0, reason: 'x' },
    ])
      await log.append({ type: 'ReadingsPurged', data, meta: { actor: 'system' } });
    const report = await log.verify();
    expect(report.errors.map((p) => [p.seq, p.reason])).toEqual([
      [2, 'redaction-invalid'],
      [3, 'redaction-invalid'],
    ]);
    expect(verifyEnvelopes(await all(log)).map((p) => p.reason)).toEqual([
      'redaction-invalid',
      'redaction-invalid',
    ]);
    await log.close();
  });
});
