// The real `fieldlog hub` process exposed beyond loopback: refused without a token, and with
// a token and a certificate (a self-signed one made here by openssl, never committed) it
// serves its API over HTTPS to a client that trusts that certificate and holds the token.
// Its export download equals `fieldlog hub export` run on the same folder once it stopped.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { type RequestOptions, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { fakeClock } from '../log/helpers.js';
import { runCli } from '../support/cli.js';
import { type Proc, startCli } from '../support/proc.js';

const TOKEN = 'f1e1d10g-5y5-7e57-0123456789abcdef';
const root = mkdtempSync(join(tmpdir(), 'fieldlog-sys-access-'));
const data = join(root, 'hub');
let ca: string;
let hub: Proc;
let port: number;

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One HTTPS request to the hub, trusting only the test's certificate (as `curl --cacert`). */
function https(path: string, opts: RequestOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, ca, servername: 'localhost', ...opts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: root, stdio: 'ignore' });
  ssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'key.pem',
    '-out',
    'cert.pem',
    '-days',
    '1',
    '-subj',
    '/CN=localhost',
    '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1',
  );
  ca = readFileSync(join(root, 'cert.pem'), 'utf8');
  // a store with history, so that the download has something to carry
  const store = await EventLog.open(data, { create: true, fleet: true, sync: false });
  const dev = await EventLog.memory({ device: 'pi-a', clock: fakeClock() });
  await dev.appendMany(
    Array.from({ length: 2000 }, (_, i) => ({
      type: 'ReadingRecorded',
      data: { source: 'node', sensor: 'temp', value: i / 4, unit: '°C' },
    })),
  );
  const evs: Envelope[] = [];
  for await (const e of dev.events()) evs.push(e);
  await store.appendSealed(evs);
  await dev.close();
  await store.close();
  // everything from the config file, the token from its own file
  writeFileSync(join(root, 'token'), `${TOKEN}\n`);
  writeFileSync(
    join(root, 'hub.json'),
    JSON.stringify({
      data,
      brokerPort: 0,
      http: 0,
      httpHost: '0.0.0.0',
      httpTokenFile: join(root, 'token'),
      httpCert: join(root, 'cert.pem'),
      httpKey: join(root, 'key.pem'),
    }),
  );
  hub = startCli(['hub', '--config', join(root, 'hub.json')]);
  const line = await hub.waitFor(/ http https:\/\//);
  expect(line).toMatch(/http https:\/\/0\.0\.0\.0:\d+ \(token required\)$/);
  port = Number(/:(\d+) \(token required\)$/.exec(line)![1]);
});

afterAll(async () => {
  await hub?.stop('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

describe('fieldlog hub beyond loopback', () => {
  it('will not start without a token: one line, exit code 2', async () => {
    const r = await runCli([
      'hub',
      '--data',
      join(root, 'open'),
      '--broker-port',
      '0',
      '--http',
      '0',
      '--http-host',
      '0.0.0.0',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^fieldlog: hub: --http-host 0\.0\.0\.0 is not a loopback address: give --http-token or --http-token-file[^\n]*\[USAGE\]\n$/,
    );
  });

  it('serves HTTPS with its certificate: a client that does not trust it is refused', async () => {
    await expect(https('/devices', { ca: undefined })).rejects.toMatchObject({
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
    });
    // plain HTTP on that port gets no answer
    await expect(
      new Promise((resolve, reject) =>
        httpGet(`http://127.0.0.1:${port}/devices`, resolve).on('error', reject),
      ),
    ).rejects.toThrow();
  });

  it('refuses a request without the token or with another, and counts it', async () => {
    const none = await https('/devices');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect(JSON.parse(none.body.toString())).toMatchObject({ error: { code: 'UNAUTHORIZED' } });
    const wrong = await https('/devices', { headers: { authorization: 'Bearer guess' } });
    expect(wrong.status).toBe(401);
    const page = await https('/');
    expect(page.status).toBe(401);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    const metrics = await https('/metrics', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(metrics.body.toString()).toMatch(/^fieldlog_hub_http_refused_total\{reason="missing"\} 2$/m);
    expect(metrics.body.toString()).toMatch(/^fieldlog_hub_http_refused_total\{reason="wrong"\} 1$/m);
  });

  it('answers with the token, and logs a browser in with a Secure cookie', async () => {
    const devices = await https('/devices', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(devices.status).toBe(200);
    const list = JSON.parse(devices.body.toString()) as {
      devices: { device: string; head: { seq: number } }[];
    };
    expect(list.devices.map((d) => [d.device, d.head.seq])).toEqual([['pi-a', 2000]]);
    const login = await https(`/device/pi-a?token=${TOKEN}`);
    expect(login.status).toBe(303);
    expect(login.headers.location).toBe('/device/pi-a');
    expect(login.headers['set-cookie']).toEqual([
      `fieldlog_token=${TOKEN}; HttpOnly; SameSite=Strict; Path=/; Secure`,
    ]);
    const state = await https('/devices/pi-a/state', { headers: { cookie: `fieldlog_token=${TOKEN}` } });
    expect(state.status).toBe(200);
    expect(JSON.parse(state.body.toString())).toMatchObject({ device: 'pi-a', asOfSeq: 2000 });
    // the token is never in what the hub prints
    expect(hub.lines.join('\n')).not.toContain(TOKEN);
    expect(hub.stderr).not.toContain(TOKEN);
  });

  it('downloads an export equal to `fieldlog hub export` on the same folder', async () => {
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const csv = await https('/devices/pi-a/export?format=csv&since=2026-11-24T10:00:05Z', auth);
    const ndjson = await https('/devices/pi-a/export?format=ndjson', auth);
    expect(csv.status).toBe(200);
    expect(csv.headers['content-disposition']).toBe('attachment; filename="pi-a.csv"');
    expect(await hub.stop('SIGTERM')).toBe(0);
    const cli = (...args: string[]) => runCli(['hub', 'export', '--data', data, '--device', 'pi-a', ...args]);
    const fromCli = await cli(
      '--format',
      'csv',
      '--since',
      '2026-11-24T10:00:05Z',
      '--out',
      join(root, 'a.csv'),
    );
    expect(fromCli.code).toBe(0);
    expect(csv.body.equals(readFileSync(join(root, 'a.csv')))).toBe(true);
    expect((await cli('--format', 'ndjson', '--out', join(root, 'a.ndjson'))).code).toBe(0);
    expect(ndjson.body.equals(readFileSync(join(root, 'a.ndjson')))).toBe(true);
    expect(ndjson.body.toString().trim().split('\n')).toHaveLength(2000);
  });
});
