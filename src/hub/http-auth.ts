// Token auth in front of everything the hub serves over HTTP (the API, the pages, their
// assets). It wraps the server's one handler, so a route added later is covered without
// doing anything. A request carries the token as `Authorization: Bearer T`, or in the
// cookie fieldlog_token that a visit with `?token=T` sets (answered with a 303 to the same
// address without the token, so that it leaves the address bar and the history). Tokens
// are compared in constant time over their SHA-256 digests, so not even a length leaks.
// The token itself is never written anywhere but that cookie.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** Why a request was refused: it carried no token, or one that is not the hub's. */
export type RefusedReason = 'missing' | 'wrong';

export const TOKEN_COOKIE = 'fieldlog_token';

export interface HttpAuth {
  /** `handler` behind the token check. */
  guard(handler: Handler): Handler;
  /** Requests refused so far, by reason (for /metrics). */
  refused(): Record<RefusedReason, number>;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Whether `given` is the token whose digest is `expected`, in time that depends on neither. */
export function tokenMatches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** What a token may be: printable ASCII without spaces (it travels in a header, a cookie and a URL). */
export function isValidToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}

/** Every value of the cookie `name` in a Cookie header (a browser may send several). */
function cookieValues(header: string | undefined, name: string): string[] {
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== name) continue;
    const raw = part.slice(eq + 1).trim();
    try {
      values.push(decodeURIComponent(raw));
    } catch {
      values.push(raw);
    }
  }
  return values;
}

/** A browser asking for a page gets a page back; a program gets JSON. */
function wantsPage(req: IncomingMessage, path: string): boolean {
  return path === '/' || path.startsWith('/device/') || /\btext\/html\b/.test(req.headers.accept ?? '');
}

const LOGIN_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>fieldlog hub: token needed</title></head>
<body>
<h1>This hub needs its access token</h1>
<p>Open this page again with <code>?token=</code> and the hub's token at the end of its address
(for example <code>/?token=…</code>). The hub then keeps the token in a cookie for this browser
session and takes it out of the address.</p>
<p>Programs send it as the header <code>Authorization: Bearer …</code>.
The token is whatever the hub was started with (<code>--http-token</code> or <code>--http-token-file</code>):
ask whoever runs the hub.</p>
</body>
</html>
`;

export function httpAuth(token: string): HttpAuth {
  const expected = digest(token);
  const counts: Record<RefusedReason, number> = { missing: 0, wrong: 0 };

  function refuse(req: IncomingMessage, res: ServerResponse, path: string, reason: RefusedReason): void {
    counts[reason]++;
    const headers = {
      // RFC 6750: a wrong token is an invalid_token; a missing one names only the scheme
      'www-authenticate': reason === 'wrong' ? 'Bearer error="invalid_token"' : 'Bearer',
      'cache-control': 'no-store',
    };
    // what was refused needs no reading: let a keep-alive connection go on
    req.resume();
    if (wantsPage(req, path)) {
      res
        .writeHead(401, {
          ...headers,
          'content-type': 'text/html; charset=utf-8',
          'content-security-policy': "default-src 'none'",
          'x-content-type-options': 'nosniff',
        })
        .end(LOGIN_PAGE);
      return;
    }
    const message =
      reason === 'wrong'
        ? "the token is not this hub's: send the one it was started with"
        : 'this hub needs its token: send "Authorization: Bearer <token>" (or open a page with ?token=<token>)';
    res
      .writeHead(401, { ...headers, 'content-type': 'application/json' })
      .end(`${JSON.stringify({ error: { code: 'UNAUTHORIZED', message } })}\n`);
  }

  /** Log in by address: the token goes into the cookie and out of the address. */
  function login(req: IncomingMessage, res: ServerResponse, url: URL): void {
    url.searchParams.delete('token');
    // never "//host": that would send the browser to another site
    const location = `${url.pathname.replace(/^\/+/, '/')}${url.search}`;
    // behind a proxy that ends TLS the hub speaks plain HTTP, but the browser HTTPS
    const forwarded = String(req.headers['x-forwarded-proto'] ?? '')
      .split(',')[0]
      ?.trim();
    const secure = (req.socket as TLSSocket).encrypted === true || forwarded === 'https';
    req.resume();
    res
      .writeHead(303, {
        location,
        'set-cookie': `${TOKEN_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure ? '; Secure' : ''}`,
        'cache-control': 'no-store',
        'referrer-policy': 'no-referrer',
      })
      .end();
  }

  return {
    guard(handler: Handler): Handler {
      return (req, res) => {
        let url: URL;
        try {
          url = new URL(req.url ?? '/', 'http://hub');
        } catch {
          // not even an address: no route would take it, and it carries no token we could read
          url = new URL('http://hub/');
        }
        const inAddress = url.searchParams.getAll('token');
        if (inAddress.length > 0) {
          if (inAddress.length === 1 && tokenMatches(inAddress[0]!, expected)) return login(req, res, url);
          return refuse(req, res, url.pathname, 'wrong');
        }
        const given: string[] = [];
        const auth = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
        if (auth) given.push(auth[1]!);
        given.push(...cookieValues(req.headers.cookie, TOKEN_COOKIE));
        if (given.length === 0) return refuse(req, res, url.pathname, 'missing');
        // each one is compared (no early exit on the first that matches)
        let ok = false;
        for (const g of given) ok = tokenMatches(g, expected) || ok;
        if (!ok) return refuse(req, res, url.pathname, 'wrong');
        handler(req, res);
      };
    },
    refused: () => ({ ...counts }),
  };
}
