// Who may reach the hub's HTTP server, from its flags: a token (`--http-token` or
// `--http-token-file`), required when the server listens beyond loopback, and HTTPS
// (`--http-cert`, `--http-key`). Every file is read and checked now, before anything is
// bound or opened, so that a mistake is one line (exit code 2) and never a hub left open.
import { readFileSync } from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import { createSecureContext } from 'node:tls';
import { fail } from '../errors.js';
import type { TlsFiles } from '../http-server.js';
import { type HttpAuth, httpAuth, isValidToken } from '../hub/http-auth.js';
import { type FlagTable, type Parsed, str } from './args.js';

export const HTTP_ACCESS_FLAGS: FlagTable = {
  'http-token': {
    type: 'string',
    value: 'TOKEN',
    group: 'http-token',
    help: 'every HTTP request (API and page) needs this token: the header "Authorization: Bearer TOKEN", or the cookie a page opened with ?token=TOKEN sets; required when --http-host is not a loopback address',
  },
  'http-token-file': {
    type: 'string',
    value: 'FILE',
    group: 'http-token',
    help: 'the token as --http-token, read from this file (one line), so that it is not in the process list',
  },
  'http-cert': {
    type: 'string',
    value: 'FILE',
    help: 'serve the HTTP API and page over HTTPS with this PEM certificate (chain); needs --http-key',
  },
  'http-key': { type: 'string', value: 'FILE', help: "the PEM private key of --http-cert's certificate" },
};

/** 127.0.0.0/8, ::1 (also as ::ffff:127.x.y.z) and localhost: reachable from this machine only. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  if (!isIPv6(h)) return false;
  const mapped = /^(?:0{0,4}:){0,5}:?ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped) return mapped[1]!.startsWith('127.');
  // every group but the last zero, the last 1: ::1, 0:0:0:0:0:0:0:1, 0::1
  const groups = h.split(':');
  const last = groups.pop();
  return last !== undefined && /^0{0,3}1$/.test(last) && groups.every((g) => /^0{0,4}$/.test(g));
}

function readFlagFile(cmd: string, name: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw fail(
      'CONFIG_INVALID',
      `${cmd}: --${name} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
      err,
    );
  }
}

function readToken(cmd: string, p: Parsed): string | undefined {
  const given = str(p, 'http-token');
  const file = str(p, 'http-token-file');
  if (given === undefined && file === undefined) return undefined;
  const token = given ?? readFlagFile(cmd, 'http-token-file', file!).trim();
  const where = given !== undefined ? '--http-token' : `--http-token-file ${file}`;
  if (token === '')
    throw fail('CONFIG_INVALID', `${cmd}: ${where}: the file is empty: it must hold the token`);
  if (/[\r\n]/.test(token)) throw fail('CONFIG_INVALID', `${cmd}: ${where}: the token must be one line`);
  // never the token itself in the message: it may sit in a log
  if (!isValidToken(token))
    throw fail(
      'CONFIG_INVALID',
      `${cmd}: ${where}: a token is printable ASCII without spaces (openssl rand -hex 32 makes a good one)`,
    );
  return token;
}

function readTls(cmd: string, p: Parsed): TlsFiles | undefined {
  const certFile = str(p, 'http-cert');
  const keyFile = str(p, 'http-key');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined)
    throw fail('USAGE', `${cmd}: give --http-cert FILE and --http-key FILE together (HTTPS needs both)`);
  const tls = {
    cert: readFlagFile(cmd, 'http-cert', certFile),
    key: readFlagFile(cmd, 'http-key', keyFile),
  };
  try {
    // what the server would fail on at its first connection, found now
    createSecureContext(tls);
  } catch (err) {
    const why = ((err as Error).message.split('\n')[0] ?? '').replace(/^error:[0-9A-F]+:/i, '');
    throw fail(
      'CONFIG_INVALID',
      `${cmd}: --http-cert ${certFile} --http-key ${keyFile}: not a PEM certificate and its private key (${why})`,
      err,
    );
  }
  return tls;
}

export interface HttpAccess {
  auth?: HttpAuth;
  tls?: TlsFiles;
}

/** The token check and TLS files the flags ask for, checked against the host the API listens on. */
export function httpAccess(cmd: string, p: Parsed, host: string, serving: boolean): HttpAccess {
  const flags = Object.keys(HTTP_ACCESS_FLAGS).filter((n) => p.values[n] !== undefined);
  if (!serving) {
    if (flags.length > 0)
      throw fail('USAGE', `${cmd}: --${flags[0]} needs --http PORT (there is no HTTP server without it)`);
    return {};
  }
  const token = readToken(cmd, p);
  if (token === undefined && !isLoopback(host))
    throw fail(
      'USAGE',
      `${cmd}: --http-host ${host} is not a loopback address: give --http-token or --http-token-file (anyone who can reach the port could read the fleet's history)`,
    );
  const tls = readTls(cmd, p);
  return { ...(token === undefined ? {} : { auth: httpAuth(token) }), ...(tls === undefined ? {} : { tls }) };
}
