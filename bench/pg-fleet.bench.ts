// (filled in below)
import type { TestPostgres } from '../test/support/pg.js';
import type { BenchResult } from './report.js';

export async function benchPgFleet(_cluster: TestPostgres, _quick: boolean): Promise<BenchResult[]> {
  return [];
}
