// The `key` of /devices and /devices/ID/trust (docs/protocol.md §11) on a real LevelDB store
// and the real HTTP API: a device enrolled by the keys file, one bound on first use, and an
// unenrolled keyed device whose stored log ends in an unsigned tail.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Listening } from '../../src/http-server.js';
import { createHubApi, listenHubApi } from '../../src/hub/http-api.js';
import { type LevelFleetStore, openLevelFleetStore } from '../../src/hub/leveldb-fleet-store.js';
import { SignatureGate } from '../../src/hub/signatures.js';
import type { Envelope } from '../../src/log/envelope.js';
import { fingerprint } from '../../src/log/signing.js';
import type { DeviceInfo } from '../../src/sync/ingest.js';
import { type SignedDevice, signedDevice } from '../support/signed-chain.js';

const root = mkdtempSync(join(tmpdir(), 'fieldlog-device-keys-'));
let store: LevelFleetStore;
let http: Listening;
let base: string;
const devs = new Map<string, SignedDevice>();
const filed = new Map<string, string>();

async function put(device: string, events: Envelope[], gate: SignatureGate): Promise<void> {
  const r = await store.append(device, events, gate);
  if (r.kind !== 'stored') throw new Error(`${device}: ${r.kind}`);
  await r.written;
}

beforeAll(async () => {
  store = await openLevelFleetStore(join(root, 'hub'), { create: true, sync: false });
  for (const id of ['k-file', 'k-tofu', 'k-tail']) {
    const d = await signedDevice(id);
    await d.readings(9);
    devs.set(id, d);
  }
  filed.set('k-file', devs.get('k-file')!.identity.publicKey);
  await put('k-file', await devs.get('k-file')!.batch(1, 10), new SignatureGate({ keys: filed }));
  await put('k-tofu', await devs.get('k-tofu')!.batch(1, 10), new SignatureGate({ tofu: true }));
  // unenrolled, signed up to 6 and then not: stored as sent, the last four unsigned
  const tail = await devs.get('k-tail')!.batch(1, 6);
  await put('k-tail', tail.concat((await devs.get('k-tail')!.events()).slice(6, 10)), new SignatureGate());
  const infos = async (): Promise<DeviceInfo[]> =>
    Promise.all(
      ['k-file', 'k-tofu', 'k-tail'].map(async (device) => ({
        device,
        fleet: 'north',
        online: false,
        lastSeen: null,
        head: await store.head(device),
        lag: 0,
        rejects: {},
        forks: 0,
        duplicates: 0,
        rewinds: 0,
      })),
    );
  const api = createHubApi({
    store,
    devices: infos,
    metrics: () => ({}),
    enrolledKey: (device) => filed.get(device),
  });
  http = await listenHubApi(api, 0);
  base = `http://127.0.0.1:${http.port}`;
});

afterAll(async () => {
  await http?.close();
  await store?.close();
  rmSync(root, { recursive: true, force: true });
});

interface KeyView {
  fingerprint: string | null;
  enrolled: string | null;
  signed: boolean;
}

async function get<T>(path: string): Promise<T> {
  const res = await fetch(`${base}${path}`);
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

describe('the key of each device in /devices and /devices/ID/trust', () => {
  it('/devices: fingerprint, how it is enrolled, whether its stored head is signed', async () => {
    const { devices } = await get<{ devices: { device: string; key: KeyView }[] }>('/devices');
    const key = (id: string) => devices.find((d) => d.device === id)!.key;
    const fp = (id: string) => fingerprint(devs.get(id)!.identity.publicKey);
    expect(key('k-file')).toEqual({ fingerprint: fp('k-file'), enrolled: 'keys-file', signed: true });
    expect(key('k-tofu')).toEqual({ fingerprint: fp('k-tofu'), enrolled: 'tofu', signed: true });
    expect(key('k-tail')).toEqual({ fingerprint: fp('k-tail'), enrolled: null, signed: false });
  });

  it('/trust: the public key, every key the chain has had, the last signature and the unsigned tail', async () => {
    const signed = await get<{ key: Record<string, unknown> }>('/devices/k-file/trust');
    const pk = devs.get('k-file')!.identity.publicKey;
    expect(signed.key).toEqual({
      fingerprint: fingerprint(pk),
      enrolled: 'keys-file',
      signed: true,
      publicKey: pk,
      keys: [{ publicKey: pk, fingerprint: fingerprint(pk) }],
      lastSigned: 10,
      unsignedTail: null,
    });
    const tail = await get<{ key: Record<string, unknown> }>('/devices/k-tail/trust');
    expect(tail.key).toMatchObject({
      enrolled: null,
      signed: false,
      lastSigned: 6,
      unsignedTail: { from: 7, to: 10 },
    });
  });
});
