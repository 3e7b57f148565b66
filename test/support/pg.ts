// A throw-away PostgreSQL 15 cluster for system tests: initdb in a temp folder, a server
// listening only on a Unix socket in a private folder (no port to clash), one database
// `fieldlog`; removed at stop. initdb and postgres refuse root, so as root they run as the
// `postgres` user (the folder is handed to it). CI installs Debian's `postgresql`.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN = '/usr/lib/postgresql/15/bin';

export interface TestPostgres {
  /** postgres://postgres@<socket folder>/fieldlog */
  url: string;
  /** A URL for another database of the same cluster, created on first use. */
  database(name: string): Promise<string>;
  /** A fast shutdown (open transactions are rolled back, clients cut), then a new start on the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function asPostgres(cmd: string, args: string[]): [string, string[]] {
  if (process.getuid?.() === 0) return ['runuser', ['-u', 'postgres', '--', cmd, ...args]];
  return [cmd, args];
}

export async function startPostgres(): Promise<TestPostgres> {
  if (!existsSync(join(BIN, 'postgres'))) {
    throw new Error(`PostgreSQL 15 is not installed (${BIN}/postgres): apt-get install postgresql`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'fieldlog-pg-'));
  const data = join(dir, 'data');
  const socket = join(dir, 'socket');
  mkdirSync(socket);
  const root = process.getuid?.() === 0;
  if (root) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chownSync(socket, uid, gid);
  }
  const [initCmd, initArgs] = asPostgres(join(BIN, 'initdb'), [
    '-D',
    data,
    '-U',
    'postgres',
    '-A',
    'trust',
    '-E',
    'UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  execFileSync(initCmd, initArgs, { stdio: 'pipe' });

  let server: { child: ChildProcess; exited: Promise<void> } | null = null;
  const start = async (): Promise<void> => {
    const [cmd, args] = asPostgres(join(BIN, 'postgres'), [
      '-D',
      data,
      '-k',
      socket,
      '-c',
      'listen_addresses=',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ]);
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    let log = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr!.on('data', (d: Buffer) => {
        log += d.toString();
        if (log.includes('database system is ready to accept connections')) resolve();
      });
      child.on('close', (code) =>
        reject(new Error(`postgres exited (${code}) before it was ready:\n${log}`)),
      );
    });
    server = { child, exited };
  };
  const halt = async (): Promise<void> => {
    if (!server) return;
    const { exited } = server;
    // signal the postmaster itself: runuser does not forward every signal
    const pidFile = join(data, 'postmaster.pid');
    const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : NaN;
    if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGINT');
    else server.child.kill('SIGINT');
    await exited;
    server = null;
  };

  await start();
  const hostUrl = (db: string) => `postgres://postgres@${encodeURIComponent(socket)}/${db}`;
  const created = new Set<string>();
  const database = async (name: string): Promise<string> => {
    if (!created.has(name)) {
      const c = new pg.Client({ connectionString: hostUrl('postgres') });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE "${name}"`);
      } finally {
        await c.end();
      }
      created.add(name);
    }
    return hostUrl(name);
  };
  const url = await database('fieldlog');
  return {
    url,
    database,
    restart: async () => {
      await halt();
      await start();
    },
    stop: async () => {
      await halt();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
