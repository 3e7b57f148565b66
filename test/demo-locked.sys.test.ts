// A second `fieldlog demo` on a folder the first is using: one line and an exit, not a hang.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from './support/cli.js';
import { startCli } from './support/proc.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-demo-locked-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fieldlog demo on a folder in use', () => {
  it('says the log is locked and exits, closing what it had opened', async () => {
    const first = startCli(['demo', '--no-ui', '--data', root, '--http', '0']);
    try {
      await first.waitFor(/^hub API http/);
      const second = await runCli(['demo', '--no-ui', '--data', root, '--http', '0']);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(/^fieldlog: [^\n]* is in use by another process [^\n]*\[LOG_LOCKED\]\n$/);
    } finally {
      await expect(first.stop('SIGTERM')).resolves.toBe(0);
    }
  });
});
