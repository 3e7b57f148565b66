// `fieldlog hub --share GROUP` refused where it cannot work, through the real CLI: with the
// embedded broker (aedes 1.x accepts a $share subscription and then delivers nothing), with a
// LevelDB store (several hubs cannot open one folder), with a group that is not one topic level.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-hub-share-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('fieldlog hub --share refusals', () => {
  it('refuses --share with the embedded broker, with a LevelDB store, and a bad group, in one line, exit 2', async () => {
    const cases: [string[], RegExp][] = [
      [['--store', 'postgres://nobody@127.0.0.1:1/x', '--share', 'g'], /--share needs an external broker/],
      [
        ['--data', join(root, 'never'), '--mqtt', 'mqtt://127.0.0.1:1', '--share', 'g'],
        /--share needs a shared store/,
      ],
      [
        ['--store', join(root, 'never'), '--mqtt', 'mqtt://127.0.0.1:1', '--share', 'g'],
        /--share needs a shared store/,
      ],
      [
        ['--store', 'postgres://nobody@127.0.0.1:1/x', '--mqtt', 'mqtt://127.0.0.1:1', '--share', 'a/b'],
        /--share must match/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['hub', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stdout).toBe('');
      expect(existsSync(join(root, 'never'))).toBe(false);
    }
  });
});
