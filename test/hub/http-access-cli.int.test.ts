// `fieldlog hub`'s access flags refused in one line (exit code 2) before anything is bound,
// opened or created: a host beyond loopback without a token, a token file that cannot be
// read or is empty, a certificate without its key, flags that need --http.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-http-access-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** `fieldlog hub` on a fresh folder with these flags: it must stop at once, the folder untouched. */
async function refused(args: string[], line: RegExp): Promise<void> {
  const data = join(root, `hub-${n++}`);
  const r = await runCli(['hub', '--data', data, '--broker-port', '0', ...args]);
  expect(r.stderr).toMatch(line);
  expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(existsSync(data)).toBe(false);
}

describe('fieldlog hub access flags', () => {
  it('refuses a non-loopback --http-host without a token, naming the flags', async () => {
    for (const host of ['0.0.0.0', '::', '192.0.2.1'])
      await refused(
        ['--http', '0', '--http-host', host],
        new RegExp(
          `^fieldlog: hub: --http-host ${host} is not a loopback address: give --http-token or --http-token-file .*\\[USAGE\\]\\n$`,
        ),
      );
  });

  it('refuses the same from a config file', async () => {
    const config = join(root, 'open.json');
    writeFileSync(config, JSON.stringify({ http: 0, httpHost: '0.0.0.0' }));
    await refused(['--config', config], /--http-host 0\.0\.0\.0 is not a loopback address/);
  });

  it('refuses a token file that cannot be read, is empty, or holds more than one line', async () => {
    await refused(
      ['--http', '0', '--http-token-file', join(root, 'absent')],
      /^fieldlog: hub: --http-token-file \S+absent: cannot be read \(ENOENT\) \[CONFIG_INVALID\]\n$/,
    );
    const empty = join(root, 'empty');
    writeFileSync(empty, ' \n\n');
    await refused(
      ['--http', '0', '--http-token-file', empty],
      /--http-token-file \S+empty: the file is empty/,
    );
    const two = join(root, 'two');
    writeFileSync(two, 'first-secret\nsecond-secret\n');
    await refused(
      ['--http', '0', '--http-token-file', two],
      /the token must be one line \[CONFIG_INVALID\]\n$/,
    );
    await refused(['--http', '0', '--http-token', 'has space'], /--http-token: a token is printable ASCII/);
  });

  it('never prints a token it refuses', async () => {
    const file = join(root, 'two-secret');
    writeFileSync(file, 'top-secret-1\ntop-secret-2');
    const r = await runCli(['hub', '--data', join(root, 'x'), '--http', '0', '--http-token-file', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toContain('top-secret');
  });

  it('refuses --http-token and --http-token-file together, and a certificate without its key', async () => {
    const tok = join(root, 'tok');
    writeFileSync(tok, 'secret-from-file\n');
    await refused(
      ['--http', '0', '--http-token', 'x', '--http-token-file', tok],
      /^fieldlog: hub: give --http-token or --http-token-file, not both \[USAGE\]\n$/,
    );
    await refused(['--http', '0', '--http-cert', tok], /give --http-cert FILE and --http-key FILE together/);
    await refused(['--http', '0', '--http-key', tok], /give --http-cert FILE and --http-key FILE together/);
    await refused(
      ['--http', '0', '--http-cert', join(root, 'nocert'), '--http-key', tok],
      /^fieldlog: hub: --http-cert \S+nocert: cannot be read \(ENOENT\) \[CONFIG_INVALID\]\n$/,
    );
    await refused(
      ['--http', '0', '--http-cert', tok, '--http-key', tok],
      /--http-cert \S+ --http-key \S+: not a PEM certificate and its private key/,
    );
  });

  it('refuses access flags without --http: they would protect nothing', async () => {
    await refused(['--http-token', 'abc'], /^fieldlog: hub: --http-token needs --http PORT/);
  });
});
