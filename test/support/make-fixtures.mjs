// Writes the committed fixtures of the CURRENT on-disk log format into
// test/fixtures/log-v<version>/ (a device log, a hub's fleet store of several devices, a
// redacted record) with the facts each must read back as (expected.json). A format's
// fixtures are made once and never rewritten: if the folder exists this refuses, so older
// formats' fixtures stay as they were committed and keep proving that old logs still open.
// Usage: npm run fixtures   (builds first; run it when FORMAT.version in src/log/streams.ts moves)
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EventLog, FORMAT } from '../../dist/src/log/event-log.js';
import { fixtureFacts } from './fixture-facts.mjs';

const root = new URL(`../fixtures/log-v${FORMAT.version}/`, import.meta.url).pathname;
if (existsSync(root)) {
  process.stderr.write(`make-fixtures: ${root} exists; fixtures of a format are never rewritten\n`);
  process.exit(2);
}

/** A clock that starts at `start` and moves 250 ms per event: several events per second. */
function clock(start) {
  let t = Date.parse(start) - 250;
  let m = 0;
  return { now: () => (t += 250), mono: () => (m += 250.25) };
}
const reading = (sensor, value, unit) => ({
  type: 'ReadingRecorded',
  data: { source: 'node', sensor, value, unit },
  meta: { actor: 'sensor:node' },
});

async function deviceLog(dir, device, start, n) {
  let log = await EventLog.open(dir, { device, create: true, clock: clock(start), boot: `${device}-boot-1` });
  await log.append({
    type: 'DeviceStarted',
    data: {
      version: '0.1.0',
      sources: [{ name: 'node', driver: 'line', port: '/dev/ttyUSB0' }],
      clockSynced: true,
    },
    meta: { actor: 'system' },
  });
  await log.appendMany(
    Array.from({ length: n }, (_, i) => reading(i % 2 ? 'hum' : 'temp', 20 + i / 4, i % 2 ? '%' : 'C')),
  );
  await log.append({
    type: 'NoteAdded',
    data: { text: 'Ünïcödé ✓ call 555-0100' },
    meta: { actor: 'operator:ana' },
  });
  await log.close();
  // a second boot, later the same day
  log = await EventLog.open(dir, { clock: clock(start.replace('T08', 'T09')), boot: `${device}-boot-2` });
  await log.append({
    type: 'AlarmRaised',
    data: { alarm: 'temp-above', sensor: 'temp', kind: 'above', limit: 24, value: 24.5 },
    meta: { actor: 'system' },
  });
  await log.append({
    type: 'AlarmAcknowledged',
    data: { alarm: 'temp-above' },
    meta: { actor: 'operator:ana' },
  });
  await log.redact(n + 2, 'phone number', 'operator:ana');
  const events = [];
  for await (const e of log.events()) events.push(e);
  await log.compact();
  await log.close();
  return events;
}

const tmp = `${root.replace(/\/$/, '')}.tmp`;
rmSync(tmp, { recursive: true, force: true });
mkdirSync(tmp, { recursive: true });
try {
  const expected = {};
  // a device's log: two boots, a batch, a redaction
  const pi = await deviceLog(join(tmp, 'device'), 'fixture-pi', '2026-11-24T08:00:00.000Z', 20);

  // a redacted record on its own: the smallest log holding one
  {
    const log = await EventLog.open(join(tmp, 'redacted'), {
      device: 'fixture-r',
      create: true,
      clock: clock('2026-11-25T08:00:00.000Z'),
      boot: 'fixture-r-boot-1',
    });
    await log.append({ type: 'NoteAdded', data: { text: 'keep' }, meta: { actor: 'operator:ana' } });
    await log.append({
      type: 'NoteAdded',
      data: { text: 'secret 555-0100' },
      meta: { actor: 'operator:ana' },
    });
    await log.redact(2, 'phone number', 'operator:ana');
    await log.close();
  }

  // a hub's store: three devices' copies arriving interleaved, one redaction purging an
  // event of an earlier batch and one purging an event of its own batch, a quarantined fork
  {
    const a = await deviceLog(join(tmp, 'src-a'), 'fixture-a', '2026-11-24T08:00:00.000Z', 6);
    const b = await deviceLog(join(tmp, 'src-b'), 'fixture-b', '2026-11-24T08:00:30.000Z', 4);
    const hub = await EventLog.open(join(tmp, 'hub'), { create: true, fleet: true });
    await hub.appendSealed(a.slice(0, 8));
    await hub.appendSealed(pi.slice(0, 10));
    await hub.appendSealed(b);
    await hub.appendSealed(a.slice(8));
    await hub.appendSealed(pi.slice(10));
    await hub.putAside(
      'quarantine',
      `fixture-a:3:${'0'.repeat(64)}`,
      JSON.stringify({ ...a[2], hash: '0'.repeat(64) }),
    );
    await hub.compact();
    await hub.close();
    rmSync(join(tmp, 'src-a'), { recursive: true });
    rmSync(join(tmp, 'src-b'), { recursive: true });
  }

  for (const [name, fleet] of [
    ['device', false],
    ['redacted', false],
    ['hub', true],
  ]) {
    const dir = join(tmp, name);
    rmSync(join(dir, 'LOCK'), { force: true });
    rmSync(join(dir, 'LOG.old'), { force: true });
    const log = await EventLog.open(dir, { fleet });
    expected[name] = { fleet, ...(await fixtureFacts(log, fleet)) };
    await log.close();
    rmSync(join(dir, 'LOCK'), { force: true });
    rmSync(join(dir, 'LOG.old'), { force: true });
  }
  writeFileSync(
    join(tmp, 'expected.json'),
    `${JSON.stringify({ format: FORMAT, stores: expected }, null, 2)}\n`,
  );
  (await import('node:fs')).renameSync(tmp, root);
  process.stdout.write(`make-fixtures: wrote ${root}\n`);
} catch (err) {
  rmSync(tmp, { recursive: true, force: true });
  throw err;
}
