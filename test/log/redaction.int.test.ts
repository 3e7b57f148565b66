// The hub's copy of a redaction: the EventRedacted and the purge of its target are one
// atomic write however they arrive, and a store that a crash left between the two writes
// of the old hub is repaired when it opens. Real LevelDB on disk; the crash is a real
// child process killed between the two steps.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';
import { afterAll, describe, expect, it } from 'vitest';
import { eventKey } from '../../src/log/codec.js';
import type { BatchOp } from '../../src/log/disk.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { markKey } from '../../src/log/redaction.js';
import { startCli } from '../support/proc.js';
import { fakeClock, reading } from './helpers.js';

const script = fileURLToPath(new URL('../support/old-redaction.mjs', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fieldlog-redaction-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

async function all(log: EventLog, device = 'pi-1'): Promise<Envelope[]> {
  const out: Envelope[] = [];
  for await (const e of log.events({ device })) out.push(e);
  return out;
}

/**
 * A device's events as the hub receives them: `before` sent before the device redacted
 * seq 2 (so with its payload), then the EventRedacted (seq 5) and one event after it.
 */
async function deviceEvents(): Promise<{ before: Envelope[]; redaction: Envelope; after: Envelope }> {
  const dev = await EventLog.memory({ device: 'pi-1', clock: fakeClock() });
  for (let i = 0; i < 4; i++) await dev.append(reading('t', 20 + i));
  const before = await all(dev);
  const redaction = await dev.redact(2, 'personal data', 'operator:ana');
  const after = await dev.append(reading('t', 30));
  await dev.close();
  return { before, redaction, after };
}

async function hubLog(): Promise<EventLog> {
  return EventLog.open(join(root, `hub-${n++}`), { create: true, fleet: true });
}

async function expectPurged(hub: EventLog, seq: number): Promise<void> {
  const events = await all(hub);
  expect(events[seq - 1]).toMatchObject({ seq, data: null });
  const report = await hub.verify('pi-1');
  expect(report.errors).toEqual([]);
}

describe('hub redaction', () => {
  it('purges a target stored by an earlier batch in the EventRedacted batch', async () => {
    const { before, redaction, after } = await deviceEvents();
    const hub = await hubLog();
    await hub.appendSealed(before);
    await hub.appendSealed([redaction, after]);
    await expectPurged(hub, 2);
    // the purge keeps the digest the chain covers, and touches nothing else
    const events = await all(hub);
    expect(events[1]!.digest).toBe(before[1]!.digest);
    expect(events.filter((e) => e.data === null).map((e) => e.seq)).toEqual([2]);
    await hub.close();
  });

  it('purges a target in the same call, and listeners see it purged', async () => {
    const { before, redaction } = await deviceEvents();
    const hub = await hubLog();
    const seen: Envelope[] = [];
    hub.on('append', (batch: Envelope[] | null) => seen.push(...(batch ?? [])));
    await hub.appendSealed([...before, redaction]);
    await expectPurged(hub, 2);
    expect(seen.find((e) => e.seq === 2)?.data).toBeNull();
    await hub.close();
  });

  it('purges a target staged by another call of the same batch', async () => {
    const { before, redaction } = await deviceEvents();
    const hub = await hubLog();
    const seen: Envelope[] = [];
    hub.on('append', (batch: Envelope[] | null) => seen.push(...(batch ?? [])));
    await hub.appendSealed([before[0]!]); // creates the stream
    // not awaited in between: both calls join one group commit
    const first = hub.appendSealed(before.slice(1));
    const second = hub.appendSealed([redaction]);
    await Promise.all([first, second]);
    await expectPurged(hub, 2);
    expect(seen.find((e) => e.seq === 2)?.data).toBeNull();
    await hub.close();
  });

  it('takes a target that arrives already purged (a resend after the device redacted)', async () => {
    const { before, redaction } = await deviceEvents();
    const hub = await hubLog();
    const purgedCopy = { ...before[1]!, data: null };
    await hub.appendSealed([before[0]!, purgedCopy, before[2]!, before[3]!, redaction]);
    await expectPurged(hub, 2);
    await hub.close();
  });

  it('stores an EventRedacted naming no purgeable event as it came, and purges nothing', async () => {
    // seqs beyond itself or unknown, an EventRedacted, one already redacted: the chain is the
    // device's, so the hub keeps it; verify reports what is wrong with it
    const dev = await EventLog.memory({ device: 'pi-1', clock: fakeClock() });
    for (let i = 0; i < 3; i++) await dev.append(reading('t', i));
    await dev.redact(1, 'personal data', 'operator:ana'); // seq 4
    // a seq that is no seq at all does not fit EventRedacted's payload: never written
    for (const seq of [0, -1, 2.5, '2'])
      await expect(
        dev.append({ type: 'EventRedacted', data: { seq, reason: 'odd' }, meta: { actor: 'operator:ana' } }),
      ).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    const odd = [99, 4, 1].map((seq) => ({
      type: 'EventRedacted',
      data: { seq, reason: 'odd' },
      meta: { actor: 'operator:ana' },
    }));
    await dev.appendMany(odd);
    const sent = await all(dev);
    const onDevice = (await dev.verify()).errors;
    await dev.close();
    const hub = await hubLog();
    await hub.appendSealed(sent.slice(0, 3));
    await hub.appendSealed(sent.slice(3));
    expect(await all(hub)).toEqual(sent);
    // the hub reports exactly what the device's own verify reports, and nothing else
    const problems = (await hub.verify('pi-1')).errors;
    expect(problems).toEqual(onDevice);
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.every((p) => p.reason.startsWith('redaction-'))).toBe(true);
    await hub.close();
    // and the repair on open leaves it so too
    const again = await EventLog.open(hub.location!);
    expect(again.repaired).toEqual([]);
    expect(await all(again)).toEqual(sent);
    await again.close();
  });

  it('writes the EventRedacted and the purge in one write: a failed write leaves neither', async () => {
    const { before, redaction, after } = await deviceEvents();
    const hub = await hubLog();
    await hub.appendSealed(before);
    // fault injected at the store's one write: record what it was asked to write, then fail
    const writes: BatchOp[][] = [];
    const store = hub.disk;
    const real = store.write;
    store.write = async (ops) => {
      writes.push(ops);
      throw new Error('disk full');
    };
    await expect(hub.appendSealed([redaction])).rejects.toMatchObject({ code: 'LOG_WRITE_FAILED' });
    store.write = real;
    expect(writes).toHaveLength(1);
    // a message's events are one op of puts
    const keys = writes[0]!.flatMap((op) =>
      (op.type === 'puts' ? Array.from({ length: op.count }, (_, i) => op.key(i)) : [op.key]).map((k) =>
        Buffer.from(k).toString('hex'),
      ),
    );
    expect(keys).toContain(Buffer.from(eventKey(0, 5)).toString('hex')); // the EventRedacted
    expect(keys).toContain(Buffer.from(eventKey(0, 2)).toString('hex')); // the purge of its target
    // neither is on disk: the target keeps its payload, the head did not move, all verifies
    expect(hub.head('pi-1').seq).toBe(4);
    expect((await all(hub))[1]!.data).toEqual(before[1]!.data);
    expect((await hub.verify('pi-1')).ok).toBe(true);
    // the device resends, and this time it is written whole
    await hub.appendSealed([redaction, after]);
    await expectPurged(hub, 2);
    await hub.close();
  });
});

describe('redaction mark', () => {
  it('is moved to the head on close: the next open reads only past it', async () => {
    const { before, redaction } = await deviceEvents();
    const hub = await hubLog();
    await hub.appendSealed(before);
    const unpurged = Buffer.from((await hub.db.get(eventKey(0, 2)))!);
    await hub.appendSealed([redaction]);
    const dir = hub.location!;
    await hub.close();
    const raw = async (fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>) => {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
        keyEncoding: 'view',
        valueEncoding: 'view',
      });
      await db.open();
      await fn(db);
      await db.close();
    };
    await raw(async (db) => {
      expect(JSON.parse(Buffer.from((await db.get(markKey('pi-1')))!).toString())).toEqual({ seq: 5 });
      // the payload put back under the mark, which nothing this version writes can do
      await db.put(eventKey(0, 2), unpurged);
    });
    const marked = await EventLog.open(dir);
    expect(marked.repaired).toEqual([]); // what the mark covers is not read again
    await marked.close();
    // without the mark (a store an older version wrote) the stream is read once, whole
    await raw((db) => db.del(markKey('pi-1')));
    const unmarked = await EventLog.open(dir);
    expect(unmarked.repaired).toEqual([{ device: 'pi-1', seq: 2 }]);
    await expectPurged(unmarked, 2);
    await unmarked.close();
  });
});

/** Runs the old two-step redaction in a child and kills it between the steps. */
function crashBetweenSteps(dir: string, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, dir, file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`child ended with ${code}: ${err}`));
      else resolve(out);
    });
  });
}

/** Whether the record of (stream 0, seq) on disk still has its payload (the redacted flag unset). */
async function payloadOnDisk(dir: string, seq: number): Promise<boolean> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    const raw = await db.get(eventKey(0, seq));
    return raw !== undefined && (raw[0]! & 2) === 0;
  } finally {
    await db.close();
  }
}

describe('repair on open', () => {
  it('purges the payload a crash between the old two steps left behind, once', async () => {
    const { before, redaction, after } = await deviceEvents();
    const dir = join(root, `crashed-${n++}`);
    const file = join(root, `events-${n++}.json`);
    writeFileSync(file, JSON.stringify({ before, redaction }));
    expect(await crashBetweenSteps(dir, file)).toBe('step 1 written\n');
    // the state the crash left: the EventRedacted is stored, the payload too
    expect(await payloadOnDisk(dir, 2)).toBe(true);

    // the hub restarted on that store repairs it as it opens, and says so
    const proc = startCli(['hub', '--data', dir, '--broker-port', '0']);
    expect(await proc.waitFor(/repaired pi-1 seq 2: purged the payload/)).toBeDefined();
    await proc.waitFor(/^fieldlog hub: store /);
    expect(await proc.stop('SIGTERM')).toBe(0);
    expect(await payloadOnDisk(dir, 2)).toBe(false);

    const hub = await EventLog.open(dir, { fleet: true });
    expect(hub.repaired).toEqual([]);
    expect(hub.head('pi-1').seq).toBe(5);
    await expectPurged(hub, 2);
    // and the device's resend of what follows is taken as usual
    await hub.appendSealed([after]);
    await hub.close();
    const again = await EventLog.open(dir);
    expect((await again.verify('pi-1')).ok).toBe(true);
    await again.close();
  });

  it('repairs on any open of the store, once', async () => {
    const { before, redaction } = await deviceEvents();
    const dir = join(root, `crashed-${n++}`);
    const file = join(root, `events-${n++}.json`);
    writeFileSync(file, JSON.stringify({ before, redaction }));
    await crashBetweenSteps(dir, file);
    expect(await payloadOnDisk(dir, 2)).toBe(true);
    const log = await EventLog.open(dir);
    expect(log.repaired).toEqual([{ device: 'pi-1', seq: 2 }]);
    await expectPurged(log, 2);
    await log.close();
    // idempotent: the next open finds nothing to repair and the log still verifies
    const again = await EventLog.open(dir);
    expect(again.repaired).toEqual([]);
    expect((await again.verify('pi-1')).ok).toBe(true);
    await again.close();
  });
});
