// The fleet store contract against the PostgreSQL store: one throw-away cluster, a fresh
// database per test.
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import type { FleetStore } from '../../src/hub/fleet-store.js';
import { openPgFleetStore } from '../../src/hub/pg/pg-fleet-store.js';
import { SPARSE_INDEX, SPARSE_INDEX_MIGRATION } from '../../src/hub/pg/sparse-index.js';
import { startPostgres, type TestPostgres } from '../support/pg.js';
import { fleetStoreContract } from './fleet-store-contract.js';

let cluster: TestPostgres;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.stop();
});
let n = 0;

fleetStoreContract('postgres', async () => {
  const url = await cluster.database(`contract${n++}`);
  // a short gap wait: one hub, no predecessor can come from elsewhere
  const open = (create: boolean) => openPgFleetStore(url, { create, gapWaitMs: 20 });
  let store: FleetStore = await open(true);
  return {
    store,
    reopen: async () => {
      await store.close();
      store = await open(false);
      return store;
    },
    // the partial index dropped and made again over the partitions already filled
    rebuild: async () => {
      await store.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`DROP INDEX ${SPARSE_INDEX}`);
        await c.query(SPARSE_INDEX_MIGRATION);
      } finally {
        await c.end();
      }
      store = await open(false);
      return store;
    },
    // a payload changed behind the store's back: its digest no longer fits
    tamper: async (device, seq) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`UPDATE events SET data_text = '{"tampered":true}' WHERE device = $1 AND seq = $2`, [
          device,
          seq,
        ]);
      } finally {
        await c.end();
      }
    },
    cleanup: async () => {
      await store.close();
    },
  };
});
