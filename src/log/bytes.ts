// Byte helpers the log's parts share: hashes as bytes and hex, and comparisons.
import { sha256hex } from './envelope.js';

/** The hash before a stream's first event, as bytes. */
export const ZERO = new Uint8Array(32);

export function sha256(input: string | Uint8Array): Uint8Array {
  return unhex(sha256hex(input));
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export function unhex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function sameBytes(a: Uint8Array, b: Uint8Array, n = a.length): boolean {
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && sameBytes(a, b);
}
