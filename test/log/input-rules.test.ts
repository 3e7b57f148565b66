// What the log takes from its writers (append) and from other writers (appendSealed, the
// hub's path): only what it can store and give back exactly. A time before 1970, a
// payload over 16384 bytes of canonical JSON, a meta value that is not a string and a sig
// that is not 88 characters of padded base64 are refused, and nothing is written.
import { describe, expect, it } from 'vitest';
import { digestOf, type Envelope, hashOf, MAX_DATA_BYTES, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from './helpers.js';

const isInvalid = (text: string) =>
  expect.objectContaining({ code: 'EVENT_INVALID', message: expect.stringContaining(text) }) as Error;

/** An event sealed by hand, as another writer would: `over` changes it before it is hashed. */
function sealed(seq: number, prev: string, over: Partial<Envelope> = {}): Envelope {
  const data = over.data ?? { text: `note ${seq}` };
  const env: Envelope = {
    device: 'pi-x',
    seq,
    type: 'NoteAdded',
    time: '2026-11-24T10:00:00.000Z',
    boot: 'b00t',
    mono: seq,
    digest: data === null ? ZERO_HASH : digestOf(data),
    prev,
    hash: '',
    ...over,
    data,
  };
  env.hash = hashOf(env);
  return env;
}

async function all(log: EventLog, device?: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events(device === undefined ? {} : { device })) out.push(e);
  return out;
}

describe('a writer (append)', () => {
  it('refuses a meta value that is not a string, naming the key, and writes nothing', async () => {
    const log = await EventLog.memory({ device: 'pi-01', clock: fakeClock() });
    await log.append({ type: 'NoteAdded', data: { text: 'a' }, meta: { actor: 'system', site: 'north' } });
    for (const meta of [{ n: 5 }, { actor: 'system', tags: ['a'] }, { ok: true }, { x: null }]) {
      await expect(log.append({ type: 'NoteAdded', data: { text: 'b' }, meta })).rejects.toThrow(
        isInvalid(`meta.${Object.keys(meta).at(-1)}`),
      );
    }
    expect(log.head().seq).toBe(1);
    await log.close();
  });

  it('omits an empty meta: the event is the one written without it', async () => {
    const log = await EventLog.memory({ device: 'pi-01', clock: fakeClock() });
    const env = await log.append({ type: 'NoteAdded', data: { text: 'a' }, meta: {} });
    expect(env).not.toHaveProperty('meta');
    expect(env.hash).toBe(hashOf({ ...env, meta: undefined }));
    const [back] = await all(log);
    expect(back).toEqual(env);
    await log.close();
  });

  it('counts the payload limit in bytes of canonical JSON', async () => {
    const log = await EventLog.memory({ device: 'pi-01', clock: fakeClock() });
    const fill = MAX_DATA_BYTES - '{"text":""}'.length;
    await log.append({ type: 'NoteAdded', data: { text: `${'x'.repeat(fill - 2)}é` } });
    await expect(
      log.append({ type: 'NoteAdded', data: { text: `${'x'.repeat(fill - 1)}é` } }),
    ).rejects.toThrow(isInvalid(`over ${MAX_DATA_BYTES}`));
    expect(log.head().seq).toBe(1);
    await log.close();
  });

  it('seals at a clock of 1970 (a Pi without a clock) and never before it', async () => {
    const log = await EventLog.memory({ device: 'pi-01', clock: fakeClock(0) });
    const env = await log.append({ type: 'NoteAdded', data: { text: 'boot' } });
    expect(env.time).toBe('1970-01-01T00:00:00.000Z');
    const early = await EventLog.memory({ device: 'pi-01', clock: fakeClock(-1) });
    await expect(early.append({ type: 'NoteAdded', data: { text: 'x' } })).rejects.toThrow(isInvalid('1970'));
    expect(early.hasDevice('pi-01') ? early.head().seq : 0).toBe(0);
    await Promise.all([log.close(), early.close()]);
  });
});

describe('another writer (appendSealed, the hub)', () => {
  it('refuses a correctly sealed event dated before 1970, naming its seq', async () => {
    const hub = await EventLog.memory({ fleet: true });
    const one = sealed(1, ZERO_HASH);
    await hub.appendSealed([one]);
    const early = sealed(2, one.hash, { time: '1969-12-31T23:59:59.999Z' });
    await expect(hub.appendSealed([early])).rejects.toThrow(isInvalid('seq 2 of pi-x'));
    await expect(
      hub.appendSealed([sealed(2, one.hash, { time: '1970-01-01T00:00:00.000Z' })]),
    ).resolves.toEqual(expect.objectContaining({ seq: 2 }));
    await expect(hub.verify('pi-x')).resolves.toMatchObject({ ok: true, events: 2 });
    await hub.close();
  });

  it('refuses a payload over 16384 bytes of canonical JSON, and takes one of exactly that', async () => {
    const hub = await EventLog.memory({ fleet: true });
    const fill = MAX_DATA_BYTES - '{"text":""}'.length;
    const big = sealed(1, ZERO_HASH, { data: { text: `${'x'.repeat(fill - 1)}é` } });
    await expect(hub.appendSealed([big])).rejects.toThrow(isInvalid('seq 1 of pi-x'));
    const exact = sealed(1, ZERO_HASH, { data: { text: `${'x'.repeat(fill - 2)}é` } });
    await hub.appendSealed([exact]);
    expect(await all(hub, 'pi-x')).toEqual([exact]);
    await hub.close();
  });

  it('keeps an empty meta as the device hashed it, and a sig byte for byte', async () => {
    const hub = await EventLog.memory({ fleet: true });
    const one = sealed(1, ZERO_HASH, { meta: {} });
    const sig = Buffer.alloc(64, 0xfb).toString('base64');
    const two = { ...sealed(2, one.hash, { meta: { actor: 'operator:ann', site: 'north' } }), sig };
    await hub.appendSealed([one, two]);
    expect(await all(hub, 'pi-x')).toEqual([one, two]);
    await expect(hub.verify('pi-x')).resolves.toMatchObject({ ok: true, events: 2 });
    await hub.close();
  });

  it('refuses what would not read back as given: a loose sig, a meta value that is not a string', async () => {
    const hub = await EventLog.memory({ fleet: true });
    const sig = Buffer.alloc(64, 0xfb).toString('base64');
    for (const bad of [
      { ...sealed(1, ZERO_HASH), sig: `${sig.slice(0, 85)}x==` },
      { ...sealed(1, ZERO_HASH), sig: sig.slice(0, -2) },
      sealed(1, ZERO_HASH, { meta: { n: 5 } as unknown as Record<string, string> }),
    ]) {
      await expect(hub.appendSealed([bad])).rejects.toThrow(isInvalid('seq 1 of pi-x'));
    }
    expect(hub.hasDevice('pi-x')).toBe(false);
    await hub.close();
  });
});
