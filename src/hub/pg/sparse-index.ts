// The PostgreSQL store's index of sparse events: a partial index over (device, seq) of every
// event that is neither a reading nor a fix, so a device read asking only for such types (the
// device page's timeline) walks those rows instead of a month of readings. Created on the
// partitioned `events`, it is built on every partition there is and on every one attached
// later (partitions.ts). A read uses it only when its WHERE repeats the index's predicate
// word for word: the planner must prove the predicate from the query, and cannot from the
// type list, a parameter.
import { DENSE_TYPES } from '../fleet-store.js';

export const SPARSE_INDEX = 'events_device_seq_sparse';

/** The index's predicate, as the migration writes it and as a read repeats it. */
export const SPARSE_PREDICATE = `e.type NOT IN (${DENSE_TYPES.map((t) => `'${t}'`).join(', ')})`;

// a migration is never edited once released: its text is spelled out, not derived
export const SPARSE_INDEX_MIGRATION = `
-- Device reads of sparse types only (alarms, notes, thresholds, sources, redactions).
CREATE INDEX ${SPARSE_INDEX} ON events (device, seq)
  WHERE type NOT IN ('ReadingRecorded', 'PositionRecorded');
`;
