// `--http PORT` given explicitly is the user's port: taken, it is one line and exit code 2,
// before anything is opened or written (the demo's free-port fallback is for its default).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-http-port-'));
let taken: Server;
let port: number;
beforeAll(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  port = (taken.address() as { port: number }).port;
});
afterAll(async () => {
  await new Promise<void>((resolve) => taken.close(() => resolve()));
  rmSync(root, { recursive: true, force: true });
});

describe('an explicit --http port that is taken', () => {
  it('stops the hub with one line, its store not created', async () => {
    const data = join(root, 'hub');
    const r = await runCli(['hub', '--data', data, '--broker-port', '0', '--http', String(port)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `^fieldlog: hub: --http ${port}: 127\\.0\\.0\\.1:${port} is in use \\(EADDRINUSE\\) \\[USAGE\\]\\n$`,
      ),
    );
    expect(r.stdout).toBe('');
    expect(existsSync(data)).toBe(false);
  });

  it('stops the demo with one line instead of taking another port, nothing written', async () => {
    const data = join(root, 'demo');
    const r = await runCli(['demo', '--no-ui', '--data', data, '--http', String(port)]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`^fieldlog: demo: --http ${port}: [^\\n]* is in use [^\\n]*\\[USAGE\\]\\n$`),
    );
    expect(r.stdout).toBe('');
    expect(existsSync(data)).toBe(false);
  });
});
