// The PostgreSQL store writes events with COPY's text format (src/hub/pg/appender.ts): every
// character COPY treats specially (backslash, tab, newline, CR, the \N of NULL) must come
// back exactly as sealed, and the stored chains must still verify.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';

let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});

const AWKWARD = ['back\\slash', '\\N', 'tab\there', 'line\nbreak\r\n', 'quote " \\" end\\', 'é ✓ 😀'];

describe('PostgreSQL store: COPY text', () => {
  it('stores payloads and meta holding backslashes, tabs, newlines and \\N exactly', async () => {
    const log = await EventLog.memory({ device: 'copy-1' });
    const envs: Envelope[] = [];
    for (const text of AWKWARD)
      envs.push(
        await log.append({ type: 'NoteAdded', data: { text }, meta: { actor: 'system', note: text } }),
      );
    await log.close();
    const store: FleetStore = await openPgFleetStore(await cluster.database('copy'), { create: true });
    try {
      const o = await store.append('copy-1', envs);
      expect(o.kind).toBe('stored');
      if (o.kind === 'stored') await o.written;
      const back: Envelope[] = [];
      for await (const chunk of store.events({ device: 'copy-1' })) back.push(...chunk.map((e) => e.event));
      expect(back).toEqual(envs);
      expect(await store.verify('copy-1')).toMatchObject([
        { device: 'copy-1', ok: true, events: AWKWARD.length },
      ]);
    } finally {
      await store.close();
    }
  });
});
