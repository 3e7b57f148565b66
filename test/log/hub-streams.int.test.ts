// A hub's streams are made by the devices' first batches: written with them, in call order,
// or not at all. Real LevelDB on disk; a slow or failing disk is injected at the store's I/O.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock, reading } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-hub-streams-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function deviceEvents(device: string, count: number): Promise<Envelope[]> {
  const dev = await EventLog.memory({ device, clock: fakeClock() });
  const out: Envelope[] = [];
  for (let i = 0; i < count; i++) out.push(await dev.append(reading('t', i)));
  await dev.close();
  return out;
}

type Io = {
  db: { put: (...a: unknown[]) => Promise<void> };
};

describe("a hub's new streams", () => {
  it('take fleet positions in call order, however long the disk takes', async () => {
    const [a, b] = [await deviceEvents('a', 2), await deviceEvents('b', 2)];
    const dir = join(root, `hub-${n++}`);
    const hub = await EventLog.open(dir, { create: true, fleet: true });
    // a disk that answers the first single write late (it used to create each stream)
    const io = hub as unknown as Io;
    const put = io.db.put.bind(io.db);
    let first = true;
    io.db.put = async (...args) => {
      if (first) {
        first = false;
        await new Promise((r) => setTimeout(r, 50));
      }
      return put(...args);
    };
    await Promise.all([hub.appendSealed(a), hub.appendSealed(b)]);
    const order: string[] = [];
    for await (const f of hub.fleetEvents()) order.push(`${f.position}:${f.event.device}:${f.event.seq}`);
    expect(order).toEqual(['1:a:1', '2:a:2', '3:b:1', '4:b:2']);
    await hub.close();
    const again = await EventLog.open(dir, { fleet: true });
    expect(again.deviceNames().sort()).toEqual(['a', 'b']);
    expect((await again.verify('a')).ok && (await again.verify('b')).ok).toBe(true);
    await again.close();
  });

  it('leave nothing behind when their first batch is not written, and are made by the next', async () => {
    const a = await deviceEvents('a', 3);
    const dir = join(root, `hub-${n++}`);
    const hub = await EventLog.open(dir, { create: true, fleet: true });
    // fault injected at the log's one write (its disk part)
    const write = hub.disk.write.bind(hub.disk);
    hub.disk.write = async () => {
      throw new Error('disk full');
    };
    await expect(hub.appendSealed(a)).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    expect(hub.hasDevice('a')).toBe(false);
    expect(hub.deviceNames()).toEqual([]);
    hub.disk.write = write;
    await hub.appendSealed(a);
    await hub.close();
    const again = await EventLog.open(dir, { fleet: true });
    expect(again.deviceNames()).toEqual(['a']);
    expect(again.head('a').seq).toBe(3);
    await again.close();
  });
});

describe("a hub's copy as JSON text", () => {
  it('gives the envelopes it holds, signatures and purged payloads included', async () => {
    const dev = await EventLog.memory({ device: 'pi-sig', clock: fakeClock() });
    await dev.append({ type: 'NoteAdded', data: { text: 'é ✓ "q"' }, meta: { actor: 'operator:ana' } });
    for (let i = 0; i < 3; i++) await dev.append(reading('t', i / 3));
    await dev.redact(2, 'test', 'operator:ana');
    const sent: Envelope[] = [];
    for await (const e of dev.events()) sent.push(e);
    await dev.close();
    // the signature is not hashed: any 64 bytes pass the hub's checks and are kept as they came
    const signed = sent.map((e, i) =>
      i % 2 === 0 ? { ...e, sig: Buffer.alloc(64, i + 0x3e).toString('base64') } : e,
    );
    const hub = await EventLog.open(join(root, `hub-${n++}`), { create: true, fleet: true });
    await hub.appendSealed(signed);
    const parsed = [];
    for await (const chunk of hub.eventsJson({ device: 'pi-sig' }))
      for (const x of chunk) parsed.push(JSON.parse(x.json));
    const held = [];
    for await (const e of hub.events({ device: 'pi-sig' })) held.push(e);
    await hub.close();
    expect(held.filter((e) => e.sig !== undefined)).toHaveLength(Math.ceil(signed.length / 2));
    expect(held.find((e) => e.seq === 2)?.data).toBeNull();
    expect(parsed).toEqual(held);
  });
});
