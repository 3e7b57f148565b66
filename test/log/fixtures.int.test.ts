// Every committed on-disk fixture, one loop: each store is copied (opening writes LevelDB's
// own files), opened, read every way the log reads (eventsJson, read by seq, by time and in
// fleet order, get, seqAtTime), verified, and compared with the facts recorded when it was
// made. A failure here means the on-disk format changed and logs in the field would not
// read back as written. Format 1 predates expected.json: its facts are pinned here.
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { EventLog, FORMAT } from '../../src/log/event-log.js';
// @ts-expect-error: plain JavaScript shared with the generator (test/support/make-fixtures.mjs)
import { fixtureFacts } from '../support/fixture-facts.mjs';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'fieldlog-fixtures-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Facts {
  fleet: boolean;
  devices: unknown[];
}

const V1: Record<string, Facts> = {
  '.': {
    fleet: false,
    devices: [
      {
        device: 'fixture-pi',
        head: { seq: 26, hash: '49e1d1f652cb3fe2b2cabe44ead09c409451471335599b9ecf32e9a0a7d4613d' },
        count: 26,
        verify: { ok: true, events: 26, errors: 0 },
        purged: [25],
        first: { type: 'DeviceStarted', time: '2026-11-24T08:00:01.000Z', boot: 'fixture-boot-1' },
        seqAtLastTime: 26,
        inFirstSecond: 2,
        eventsJsonSha256: '09a4440a19f1265658645dca2470b51fac0597bddffc684c0942687c8c6acd70',
        readSha256: '2ffff42429aeb96de1f8196a801828922fb3878833b73db078eef8cd014fde2a',
      },
    ],
  },
};

/** Every format folder with its stores and their recorded facts. */
function formats(): { version: string; stores: Record<string, Facts> }[] {
  return readdirSync(fixtures)
    .filter((d) => /^log-v\d+$/.test(d))
    .map((version) => {
      const file = join(fixtures, version, 'expected.json');
      if (version === 'log-v1') return { version, stores: V1 };
      if (!existsSync(file)) throw new Error(`${version} has no expected.json`);
      return { version, stores: JSON.parse(readFileSync(file, 'utf8')).stores };
    });
}

describe('committed on-disk fixtures', () => {
  it('holds one for every format this fieldlog reads, the current one included', () => {
    const versions = formats().map((f) => f.version);
    expect(versions).toContain('log-v1');
    expect(versions).toContain(`log-v${FORMAT.version}`);
    expect(formats().find((f) => f.version === `log-v${FORMAT.version}`)!.stores).toHaveProperty(
      'hub.fleet',
      true,
    );
  });

  for (const { version, stores } of formats()) {
    for (const [name, expected] of Object.entries(stores)) {
      it(`${version} ${name}: opens, reads, verifies and matches what was recorded`, async () => {
        const dir = join(root, version, name);
        cpSync(join(fixtures, version, name), dir, { recursive: true });
        const log = await EventLog.open(dir, { fleet: expected.fleet });
        try {
          const { fleet: _f, ...facts } = expected;
          expect(await fixtureFacts(log, expected.fleet)).toEqual(facts);
        } finally {
          await log.close();
        }
      });
    }
  }
});
