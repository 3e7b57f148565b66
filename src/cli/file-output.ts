// An output file written completely or not at all: lines go to a temporary file beside
// the target, which is synced and renamed over it only once everything is written. A
// failed or interrupted write (a full disk, a signal) removes the temporary file, so a
// file under the target's name is always a complete one. Devices and pipes (`/dev/stdout`,
// a FIFO) have no "beside", and a symbolic link is not ours to replace: they are written
// in place, as `>` would.
import { type FileHandle, lstat, open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fail } from '../errors.js';
import { type Output, writeErrorText } from './output.js';

export interface FileOutput extends Output {
  /** Writes what is buffered, syncs, and puts the file under its name. */
  commit(): Promise<void>;
  /** Drops what was written; nothing is left under the target's name. */
  abort(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function openFileOutput(path: string, cmd: string): Promise<FileOutput> {
  const failed = (err: unknown) =>
    fail(
      'OUTPUT_FAILED',
      `${cmd}: cannot write ${path}: ${writeErrorText(err as NodeJS.ErrnoException)}`,
      err,
    );
  let target: Awaited<ReturnType<typeof lstat>> | null = null;
  try {
    target = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw failed(err);
  }
  const followed = target?.isSymbolicLink() ? await stat(path).catch(() => null) : target;
  if (followed?.isDirectory()) throw fail('OUTPUT_FAILED', `${cmd}: cannot write ${path}: it is a folder`);
  const inPlace = target !== null && !target.isFile();
  const tmp = inPlace ? path : join(dirname(path), `.${basename(path)}.${process.pid}.partial`);
  let fh: FileHandle;
  try {
    fh = await open(tmp, inPlace ? 'w' : 'wx');
  } catch (err) {
    const folder = await stat(dirname(path)).catch(() => null);
    if (!folder?.isDirectory())
      throw fail(
        'OUTPUT_FAILED',
        `${cmd}: cannot write ${path}: the folder ${dirname(path)} does not exist`,
        err,
      );
    if ((err as NodeJS.ErrnoException).code === 'ENOENT')
      throw fail(
        'OUTPUT_FAILED',
        `${cmd}: cannot write ${path}: no file can be created in ${dirname(path)}`,
        err,
      );
    throw failed(err);
  }
  let pending: string[] = [];
  let size = 0;
  let done = false;
  const flush = async () => {
    if (pending.length === 0) return;
    const buf = Buffer.from(pending.join(''));
    pending = [];
    size = 0;
    try {
      // a write may take part of the buffer (a disk filling up): the rest goes again,
      // and the error comes from that next write
      for (let at = 0; at < buf.length; ) at += (await fh.write(buf, at)).bytesWritten;
    } catch (err) {
      throw failed(err);
    }
  };
  return {
    async line(text: string) {
      pending.push(`${text}\n`);
      size += text.length + 1;
      if (size >= CHUNK) await flush();
    },
    async commit() {
      done = true;
      try {
        await flush();
        if (!inPlace) await fh.sync().catch((err) => Promise.reject(failed(err)));
      } catch (err) {
        await fh.close().catch(() => {});
        if (!inPlace) await unlink(tmp).catch(() => {});
        throw err;
      }
      await fh.close().catch((err) => Promise.reject(failed(err)));
      if (!inPlace) {
        try {
          await rename(tmp, path);
        } catch (err) {
          await unlink(tmp).catch(() => {});
          throw failed(err);
        }
      }
    },
    async abort() {
      if (done) return;
      done = true;
      await fh.close().catch(() => {});
      if (!inPlace) await unlink(tmp).catch(() => {});
    },
  };
}
