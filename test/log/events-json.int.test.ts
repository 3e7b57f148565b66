// The log's JSON read (what replication sends) against a store with a record missing: it
// reads records without their keys, so a hole is found by the next record's link, and must
// still be refused naming the missing seq, never sent as if the chain went on. Real LevelDB.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { eventKeySeq, KEY } from '../../src/log/codec.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock, reading } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-events-json-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A device log of `n` readings on disk with the record of `hole` deleted behind its back. */
async function logWithHole(name: string, n: number, hole: number): Promise<string> {
  const dir = join(root, name);
  const log = await EventLog.open(dir, { device: 'pi-1', create: true, sync: false, clock: fakeClock() });
  for (let i = 0; i < n; i += 500)
    await log.appendMany(Array.from({ length: Math.min(500, n - i) }, (_, k) => reading('t', i + k)));
  await log.close();
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  for await (const key of db.keys({ gte: new Uint8Array([KEY.EVENT]), lt: new Uint8Array([KEY.EVENT + 1]) }))
    if (eventKeySeq(key) === hole) await db.del(key);
  await db.close();
  return dir;
}

async function readAll(dir: string, fromSeq?: number): Promise<number> {
  const log = await EventLog.open(dir, { sync: false });
  let n = 0;
  try {
    for await (const chunk of log.eventsJson(fromSeq === undefined ? {} : { fromSeq })) n += chunk.length;
  } finally {
    await log.close();
  }
  return n;
}

describe('eventsJson over a log with a record missing', () => {
  it('refuses at the hole, in a later chunk than the first, naming the seq', async () => {
    const dir = await logWithHole('middle', 2600, 1500);
    await expect(readAll(dir)).rejects.toMatchObject({ code: 'LOG_CORRUPT', message: /seq 1500 is missing/ });
  });

  it('refuses a range that starts just after the hole or at it', async () => {
    const dir = await logWithHole('start', 1200, 700);
    await expect(readAll(dir, 700)).rejects.toMatchObject({
      code: 'LOG_CORRUPT',
      message: /seq 700 is missing/,
    });
    await expect(readAll(dir, 701)).rejects.toMatchObject({
      code: 'LOG_CORRUPT',
      message: /seq 700 is missing/,
    });
    expect(await readAll(dir, 1000)).toBe(201);
  });
});
