// The fleet store contract against the LevelDB store: a real LevelDB folder on disk per test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import { eventKey, metaKey } from '../../src/log/codec.js';
import { asideKey } from '../../src/log/disk.js';
import { fleetStoreContract } from './fleet-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-fleet-store-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

fleetStoreContract('leveldb', async () => {
  const dir = join(root, `store-${n++}`);
  let store: FleetStore = await openLevelFleetStore(dir, { create: true });
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await openLevelFleetStore(dir);
      return store;
    },
    // the index of sparse events gone (as in a store written before it): the open indexes again
    rebuild: async () => {
      const db = (store as LevelFleetStore).log.db;
      for (const ns of ['types1', 'types1-mark']) {
        const gte = asideKey(ns, '');
        const lt = new Uint8Array(gte);
        lt[lt.length - 1] = 1;
        await db.clear({ gte, lt });
      }
      await store.close();
      const rebuilt = await openLevelFleetStore(dir);
      if (rebuilt.indexed.length === 0) throw new Error('the open indexed no device');
      store = rebuilt;
      return store;
    },
    // the record of the next event put in this one's place: its hash and link no longer fit
    tamper: async (device, seq) => {
      const db = (store as LevelFleetStore).log.db;
      const { id } = JSON.parse(Buffer.from((await db.get(metaKey(`stream:${device}`)))!).toString()) as {
        id: number;
      };
      await db.put(eventKey(id, seq), (await db.get(eventKey(id, seq + 1)))!);
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
