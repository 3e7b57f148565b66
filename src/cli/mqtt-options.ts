// The MQTT client options both the hub and the device take from their flags or config:
// credentials and TLS files, each file read now so that a missing one is named in one line.
import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { fail } from '../errors.js';

function readPem(flagName: string, file: string | undefined): string | undefined {
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(
      'CONFIG_INVALID',
      `--${flagName} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code})`,
    );
  }
}

/** MQTT options for TLS and credentials, shared by the hub and the device. */
export function mqttSecurity(o: {
  username?: string;
  password?: string;
  ca?: string;
  cert?: string;
  key?: string;
}): Partial<IClientOptions> {
  const out: Partial<IClientOptions> = {};
  if (o.username !== undefined) out.username = o.username;
  if (o.password !== undefined) out.password = o.password;
  const ca = readPem('ca', o.ca);
  const cert = readPem('cert', o.cert);
  const key = readPem('key', o.key);
  if (ca !== undefined) out.ca = ca;
  if (cert !== undefined) out.cert = cert;
  if (key !== undefined) out.key = key;
  return out;
}
