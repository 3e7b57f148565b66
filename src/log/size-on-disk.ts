// The size of a log's folder on disk, for the console's header and the device's metrics.
// LevelDB's approximateSize leaves out its write-ahead log, so the files are summed.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Bytes of the plain files in `dir` (LevelDB keeps a flat folder). */
export async function sizeOnDisk(dir: string): Promise<number> {
  let total = 0;
  for (const f of await readdir(dir, { withFileTypes: true })) {
    // compaction deletes files as we go: a vanished one counts nothing
    if (f.isFile())
      total += await stat(join(dir, f.name)).then(
        (st) => st.size,
        () => 0,
      );
  }
  return total;
}
