// The fleet order. A bigserial is neither gap-free nor commit-ordered, so positions are not
// given at insert: each committed batch is recorded unpositioned, and a sequencing pass
// (one at a time across every hub, under an advisory lock that no append takes) gives the
// committed batches the next positions in one transaction, one UPDATE per batch, and moves
// the fleet head with them. A reader that stops at the fleet head therefore never skips an
// event committed late nor sees one twice. The pass NOTIFYs the new head to every hub.
import type pg from 'pg';
import { LOCK } from './migrations.js';

/** Batches positioned per pass (a pass repeats while there are more). */
const PASS = 10_000;

export class Sequencer {
  private running: Promise<void> | null = null;
  private again: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly moved: (head: number) => void,
  ) {}

  /**
   * Position every batch committed before this call. Passes of this process run one after
   * another: a call during a pass is served by the next one, shared with the other callers.
   * Resolves once that pass ended (a failed pass is left to the next one: never rejects).
   */
  sequence(): Promise<void> {
    if (!this.running) {
      this.running = this.pass().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    if (!this.again) {
      const after = this.running;
      this.again = after.then(() => {
        this.again = null;
        return this.sequence();
      });
    }
    return this.again;
  }

  private async pass(): Promise<void> {
    let client: pg.PoolClient | null = null;
    try {
      client = await this.pool.connect();
      for (;;) {
        await client.query('BEGIN');
        // waits only for another hub's pass, never for an append
        await client.query('SELECT pg_advisory_xact_lock($1)', [LOCK.sequencer]);
        const r = await client.query<{ n: string; head: string }>(
          `WITH todo AS (
             SELECT id, count, sum(count) OVER (ORDER BY id) AS upto
             FROM batches WHERE position IS NULL ORDER BY id LIMIT ${PASS}
           ), f AS (SELECT head FROM fleet WHERE one),
           done AS (
             UPDATE batches b SET position = f.head + todo.upto - todo.count + 1
             FROM todo, f WHERE b.id = todo.id RETURNING b.count
           ), moved AS (
             UPDATE fleet SET head = fleet.head + coalesce((SELECT sum(count) FROM done), 0)
             WHERE one RETURNING (SELECT count(*) FROM done) AS n, head
           )
           SELECT n, head, CASE WHEN n > 0 THEN pg_notify('fieldlog_fleet', head::text) END FROM moved`,
        );
        const n = Number(r.rows[0]!.n);
        const head = Number(r.rows[0]!.head);
        await client.query('COMMIT');
        if (n > 0) this.moved(head);
        if (n < PASS) break;
      }
    } catch {
      // PostgreSQL away or the pass failed: nothing was positioned; the next pass (the next
      // commit, the periodic sweep or a reconnect) positions these batches
      if (client) await client.query('ROLLBACK').catch(() => {});
      client?.release(true);
      client = null;
    } finally {
      client?.release();
    }
  }
}
