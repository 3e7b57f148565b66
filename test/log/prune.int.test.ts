// Pruning a device log's oldest events (src/log/prune.ts) on real LevelDB: what is gone, the
// anchor that stays, reads and folds that start from it, verify (chain and signatures) from
// it, the time index after it, a reopen, and a prune cut off by a failing write.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventKey, KEY, streamRange } from '../../src/log/codec.js';
import { deviceState } from '../../src/log/device-state.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { Projector } from '../../src/log/projection.js';
import { generateIdentity } from '../../src/log/signing.js';
import { fakeClock, reading } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-prune-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function filled(count: number, step = 1000): Promise<{ log: EventLog; dir: string }> {
  const dir = join(root, `log-${++n}`);
  const log = await EventLog.open(dir, { create: true, device: 'pi-1', clock: fakeClock(undefined, step) });
  for (let i = 0; i < count; i += 500)
    await log.appendMany(
      Array.from({ length: Math.min(500, count - i) }, (_, k) => reading(k % 2 ? 't' : 'h', i + k)),
    );
  return { log, dir };
}

async function all(log: EventLog, range: { fromSeq?: number } = {}): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events(range)) out.push(e);
  return out;
}

async function keysOf(log: EventLog, kind: number): Promise<number> {
  return (await log.db.keys(streamRange(kind, 0)).all()).length;
}

describe('EventLog.prune', () => {
  it('deletes the events up to a seq and keeps their anchor; reads start after it', async () => {
    const { log, dir } = await filled(1000);
    const hash600 = await log.hashAt(600);
    const before = await all(log);
    const r = await log.prune(600);
    expect(r).toEqual({ pruned: 600, anchor: { seq: 600, hash: hash600 } });
    expect(log.anchor()).toEqual({ seq: 600, hash: hash600 });
    expect(log.count()).toBe(400);
    expect(await log.db.get(eventKey(0, 600))).toBeUndefined();
    expect(await log.db.get(eventKey(0, 601))).toBeDefined();
    const kept = await all(log);
    expect(kept.map((e) => e.seq)).toEqual(before.slice(600).map((e) => e.seq));
    expect(kept[0]!.prev).toBe(hash600);
    expect(kept).toEqual(before.slice(600));
    expect(await all(log, { fromSeq: 1 })).toEqual(before.slice(600));
    expect(await log.get(600)).toBeUndefined();
    expect(await log.get(601)).toEqual(before[600]);
    expect(await log.hashAt(600)).toBe(hash600);
    expect(await log.hashAt(599)).toBeUndefined();
    const report = await log.verify();
    expect(report).toMatchObject({ ok: true, events: 400, anchor: { seq: 600, hash: hash600 } });
    expect(report.head).toEqual(log.head());
    // a second prune goes on from the anchor
    expect(await log.prune(700)).toEqual({ pruned: 100, anchor: { seq: 700, hash: await log.hashAt(700) } });
    expect(await log.prune(650)).toMatchObject({ pruned: 0, anchor: { seq: 700 } });
    await log.close();
    const again = await EventLog.open(dir);
    expect(again.anchor()).toMatchObject({ seq: 700 });
    expect(await all(again)).toEqual(before.slice(700));
    expect(await again.verify()).toMatchObject({ ok: true, events: 300, anchor: { seq: 700 } });
    await again.append(reading('t', 1));
    expect(await again.verify()).toMatchObject({ ok: true, events: 301 });
    await again.close();
  });

  it('never prunes the head, nor past the synced head', async () => {
    const { log } = await filled(10);
    expect(await log.prune(50)).toMatchObject({ pruned: 9, anchor: { seq: 9 } });
    expect(await all(log)).toHaveLength(1);
    expect(await log.prune(10)).toMatchObject({ pruned: 0, anchor: { seq: 9 } });
    await expect(log.prune(1.5)).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    // a pruned event has no payload left to purge: refused, nothing written back
    await expect(log.redact(3, 'personal data', 'operator:ana')).rejects.toMatchObject({
      code: 'REDACTION_INVALID',
      message: 'event 3 of pi-1 was pruned (the log starts after seq 9)',
    });
    expect(await log.db.get(eventKey(0, 3))).toBeUndefined();
    await log.close();
  });

  it('removes the time runs and snapshots of pruned events; time reads work for the kept range', async () => {
    // one event a minute: a time run spans at most an hour, so 600 events make ten runs
    const { log } = await filled(600, 60_000);
    const runs = await keysOf(log, KEY.TIME_RUN);
    expect(runs).toBeGreaterThanOrEqual(10);
    await new Projector(log, deviceState, { snapshotEvery: 100 }).stateAt();
    expect(await keysOf(log, KEY.SNAPSHOT)).toBe(6);
    const e400 = (await log.get(400))!;
    const e401 = (await log.get(401))!;
    await log.prune(400);
    expect(await keysOf(log, KEY.TIME_RUN)).toBeLessThan(runs);
    expect(await keysOf(log, KEY.TIME_RUN)).toBeGreaterThan(0);
    expect(await keysOf(log, KEY.SNAPSHOT)).toBe(2);
    // a time at or after the anchor's next event: exact; before it: the anchor
    expect(await log.seqAtTime(e401.time)).toBe(401);
    expect(await log.seqAtTime(e400.time)).toBe(400);
    expect(await log.seqAtTime(Date.parse(e400.time) - 3_600_000)).toBeLessThanOrEqual(400);
    const since = [];
    for await (const e of log.eventsByTime({ since: 0 })) since.push(e.seq);
    expect(since[0]).toBe(401);
    expect(since).toHaveLength(200);
    await log.close();
  });

  it('folds the kept range from the state kept at the anchor', async () => {
    const { log, dir } = await filled(1000);
    await log.append({
      type: 'NoteAdded',
      data: { text: 'checked the mast' },
      meta: { actor: 'operator:ana' },
    });
    const full = await new Projector(log, deviceState).stateAt();
    const at800 = await new Projector(log, deviceState).stateAt({ seq: 800 });
    await log.prune(700);
    const after = await new Projector(log, deviceState).stateAt();
    expect(after.state).toEqual(full.state);
    expect(after.fromSnapshot).toBe(700);
    expect((await new Projector(log, deviceState).stateAt({ seq: 800 })).state).toEqual(at800.state);
    // before the anchor: the state as of the anchor, the oldest there is
    const early = await new Projector(log, deviceState).stateAt({ seq: 5 });
    expect(early.seq).toBe(700);
    expect(early.state.events).toBe(700);
    await log.close();
    const again = await EventLog.open(dir);
    expect((await new Projector(again, deviceState).stateAt()).state).toEqual(full.state);
    await again.close();
  });

  it('verifies signatures from the anchor when the DeviceKeyAdded is pruned', async () => {
    const dir = join(root, `log-${++n}`);
    const log = await EventLog.open(dir, { create: true, device: 'pi-1', clock: fakeClock() });
    const id = generateIdentity();
    await log.appendKeyEvent('DeviceKeyAdded', id); // seq 1
    for (let i = 0; i < 20; i++) await log.append(reading('t', i)); // each its own batch: each signed
    const full = await log.verify(undefined, { expectKey: id.publicKey });
    expect(full.ok).toBe(true);
    await log.prune(10);
    const r = await log.verify(undefined, { expectKey: id.publicKey });
    expect(r).toMatchObject({ ok: true, anchor: { seq: 10 }, events: 11 });
    expect(r.signatures).toEqual(full.signatures);
    // a key the log never held is still refused
    const other = generateIdentity();
    const bad = await log.verify(undefined, { expectKey: other.publicKey });
    expect(bad.errors.map((e) => e.reason)).toEqual(['key-unknown']);
    await log.close();
  });

  it('writes each chunk atomically: a failed write leaves the anchor of the last chunk written', async () => {
    const { log, dir } = await filled(1000);
    const before = await all(log);
    const write = log.disk.write.bind(log.disk);
    let writes = 0;
    log.disk.write = async (ops) => {
      if (ops.some((o) => o.type === 'del') && ++writes === 2) throw new Error('EIO: the card went away');
      return write(ops);
    };
    await expect(log.prune(900, { chunk: 300 })).rejects.toThrow('EIO');
    expect(log.anchor()).toMatchObject({ seq: 300 });
    expect(await log.db.get(eventKey(0, 301))).toBeDefined();
    expect(await log.verify()).toMatchObject({ ok: true, events: 700, anchor: { seq: 300 } });
    await log.close();
    const again = await EventLog.open(dir);
    expect(again.anchor()).toMatchObject({ seq: 300 });
    expect(await all(again)).toEqual(before.slice(300));
    expect(await again.prune(900, { chunk: 300 })).toMatchObject({ pruned: 600, anchor: { seq: 900 } });
    expect(await again.verify()).toMatchObject({ ok: true, events: 100 });
    await again.close();
  });
});

describe('EventLog.prune beside thinning and redaction', () => {
  it('never lets a thinning started before a prune write back records the prune deleted', async () => {
    for (let round = 0; round < 5; round++) {
      const { log } = await filled(6000);
      // the budget thins from the acknowledged seq it knew; meanwhile an ack moves on and
      // retention prunes past the readings being thinned
      const thinned = log.thinReadings({ afterSeq: 0, max: 4000, reason: 'disk-budget' });
      const pruned = log.prune(3000, { compact: false, chunk: 500 });
      await Promise.all([thinned, pruned]);
      const anchor = log.anchor()!;
      const stored = (await log.db.keys(streamRange(KEY.EVENT, 0)).all()).length;
      expect(stored).toBe(log.head().seq - anchor.seq);
      expect(await log.db.get(eventKey(0, anchor.seq))).toBeUndefined();
      expect((await log.verify()).ok).toBe(true);
      await log.close();
    }
  });
});
