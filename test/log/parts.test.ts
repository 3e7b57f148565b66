// The log's parts composed without EventLog, through their own interfaces only: what the
// stager writes through the disk, the reader reads back; a failed write rolls the stream
// registry back; the redactor's repair is what an open runs. EventLog's own behaviour is
// the log contract's (log-contract.ts); this pins the seams between the parts.
import { MemoryLevel } from 'memory-level';
import { describe, expect, it } from 'vitest';
import { LogDisk } from '../../src/log/disk.js';
import { EventLog } from '../../src/log/event-log.js';
import { RunIndexer } from '../../src/log/indexer.js';
import { LogReader } from '../../src/log/reader.js';
import { RecordCodec } from '../../src/log/records.js';
import { Redactor } from '../../src/log/redactor.js';
import { type PendingBatch, Stager } from '../../src/log/stager.js';
import { StreamRegistry } from '../../src/log/streams.js';
import { StringTable } from '../../src/log/strings.js';
import { fakeClock, reading } from './helpers.js';

async function parts(fleet = false) {
  const db = new MemoryLevel<Uint8Array, Uint8Array>({ keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  const disk = new LogDisk(db, null, false);
  const streams = new StreamRegistry(disk);
  const codec = new RecordCodec(new StringTable());
  const index = new RunIndexer(fleet);
  const redactor = new Redactor(disk, streams, codec);
  const written: PendingBatch[] = [];
  const stager = new Stager({
    disk,
    streams,
    codec,
    index,
    clock: fakeClock(),
    boot: 'b1',
    redactions: redactor,
    closed: () => false,
    capture: () => true,
    written: (batch) => written.push(batch),
  });
  const reader = new LogReader(disk, streams, codec, index);
  await streams.load(codec, true);
  return { db, disk, streams, codec, index, redactor, stager, reader, written };
}

async function all<T>(gen: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of gen) out.push(x);
  return out;
}

describe("the log's parts", () => {
  it('read back through the reader what the stager wrote through the disk, in one batch per turn', async () => {
    const p = await parts();
    await p.streams.chooseDefault('pi-1', true);
    const s = p.streams.get(undefined);
    const envs = await Promise.all([
      p.stager.append(s, reading('t', 1)),
      p.stager.append(s, reading('t', 2)),
    ]);
    expect(p.written).toHaveLength(1);
    expect(p.streams.head('pi-1')).toEqual({ seq: 2, hash: envs[1]!.hash });
    expect(await all(p.reader.events({ device: 'pi-1' }))).toEqual(envs);
    await p.db.close();
  });

  it('roll the registry back to the disk when a write fails: heads back, a new stream gone', async () => {
    const p = await parts(true);
    const device = await EventLog.memory({ device: 'a', clock: fakeClock() });
    const evs = [await device.append(reading('t', 1)), await device.append(reading('t', 2))];
    await p.stager.appendSealed(evs.slice(0, 1));
    p.disk.write = async () => {
      throw new Error('disk full');
    };
    await expect(p.stager.appendSealed(evs.slice(1))).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    expect(p.streams.pendingHead('a')).toEqual({ seq: 1, hash: evs[0]!.hash });
    const other = await EventLog.memory({ device: 'b', clock: fakeClock() });
    await expect(p.stager.appendSealed([await other.append(reading('t', 1))])).rejects.toMatchObject({
      code: 'LOG_WRITE_FAILED',
    });
    expect(p.streams.has('b')).toBe(false);
    expect(p.index.position).toBe(1);
    await Promise.all([device.close(), other.close(), p.db.close()]);
  });

  it("stage a hub's redaction purge with its EventRedacted, and leave nothing for the repair", async () => {
    const p = await parts(true);
    const device = await EventLog.memory({ device: 'a', clock: fakeClock() });
    const target = await device.append(reading('t', 1));
    const redaction = await device.redact(1, 'wrong sensor', 'operator:kim');
    await p.stager.appendSealed([target]);
    await p.stager.appendSealed([redaction]);
    expect((await p.reader.get(1, 'a'))?.data).toBeNull();
    await p.redactor.repair();
    expect(p.redactor.repaired).toEqual([]);
    await Promise.all([device.close(), p.db.close()]);
  });
});
