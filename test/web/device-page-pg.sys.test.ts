// The device page in a real Chromium against a real hub whose store is PostgreSQL (a
// throw-away cluster of its own; the tests are device-page-suite.ts').
import { startPostgres, type TestPostgres } from '../support/pg.js';
import { devicePageSuite } from './device-page-suite.js';

let cluster: TestPostgres | undefined;
devicePageSuite('PostgreSQL', {
  store: async () => {
    cluster = await startPostgres();
    return cluster.url;
  },
  cleanup: async () => {
    await cluster?.stop();
  },
  screenshots: false,
});
