// Writes test/fixtures/log-v1/: a small log in format version 1, made once and committed.
// Its head hash is pinned in test/log/fixture.int.test.ts; if a change to the code makes
// that test fail, the on-disk format changed and old logs would no longer open.
// Usage: npm run build && node test/support/make-fixture-log-v1.mjs
import { rmSync } from 'node:fs';
import { EventLog } from '../../dist/src/log/event-log.js';

const dir = new URL('../fixtures/log-v1/', import.meta.url).pathname;
rmSync(dir, { recursive: true, force: true });
let t = Date.parse('2026-11-24T08:00:00.000Z');
let m = 0;
const clock = { now: () => (t += 1000), mono: () => (m += 1000.5) };
const log = await EventLog.open(dir, { device: 'fixture-pi', create: true, clock, boot: 'fixture-boot-1' });
await log.append({
  type: 'DeviceStarted',
  data: {
    version: '0.1.0',
    sources: [{ name: 'node', driver: 'line', port: '/dev/ttyUSB0' }],
    clockSynced: true,
  },
  meta: { actor: 'system' },
});
await log.append({
  type: 'SourceConnected',
  data: { source: 'node', driver: 'line', port: '/dev/ttyUSB0' },
  meta: { actor: 'system' },
});
for (let i = 0; i < 20; i++) {
  await log.append({
    type: 'ReadingRecorded',
    data: {
      source: 'node',
      sensor: i % 2 ? 'hum' : 'temp',
      value: i % 2 ? 40 + i / 10 : 20 + i / 4,
      unit: i % 2 ? '%' : 'C',
    },
    meta: { actor: 'sensor:node' },
  });
}
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
await log.append({
  type: 'NoteAdded',
  data: { text: 'Ünïcödé ✓ call 555-0100' },
  meta: { actor: 'operator:ana' },
});
await log.redact(25, 'phone number', 'operator:ana');
await log.compact();
console.log(JSON.stringify(log.head()));
await log.close();
rmSync(`${dir}LOCK`, { force: true });
