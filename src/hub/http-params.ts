// The HTTP API's request parameters, read and checked at the edge: every endpoint names
// the parameters it takes, and anything else (an unknown or repeated parameter, an empty
// value, a number that is not a whole number, a range that ends before it starts) is a
// 400 whose message says in plain words what was wrong and what is expected.

import { parseTimeQuery } from '../log/time-query.js';

/** An answer other than 200, with a stable code (documented in the README's HTTP API section). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function badParameter(message: string): HttpError {
  return new HttpError(400, 'BAD_PARAMETER', message);
}

/** The query of one request, limited to the names an endpoint takes. */
export class Params {
  private readonly values = new Map<string, string>();

  constructor(url: URL, accepted: readonly string[]) {
    for (const [name, value] of url.searchParams) {
      if (!accepted.includes(name)) {
        throw badParameter(
          accepted.length === 0
            ? `unknown parameter "${name}": this endpoint takes none`
            : `unknown parameter "${name}": this endpoint takes ${accepted.join(', ')}`,
        );
      }
      if (this.values.has(name)) throw badParameter(`${name} is given twice: give it once`);
      if (value === '') throw badParameter(`${name} is empty: give a value or leave it out`);
      this.values.set(name, value);
    }
  }

  has(name: string): boolean {
    return this.values.has(name);
  }

  /** A whole number ≥ `min`, or undefined when absent. */
  int(name: string, min = 0): number | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : wholeNumber(name, v, min);
  }

  /** An RFC 3339 time as ms since the epoch, or undefined when absent. */
  time(name: string): number | undefined {
    const v = this.values.get(name);
    if (v === undefined) return undefined;
    const ms = parseTimeQuery(v);
    if (ms === undefined) {
      throw badParameter(
        `${name} must be an RFC 3339 time with its offset, such as 2026-11-24T12:00:00Z, or a date such as 2026-11-24, not "${v}"`,
      );
    }
    return ms;
  }

  text(name: string): string | undefined {
    return this.values.get(name);
  }
}

/** A whole number from text, checked the same way for a parameter or a header. */
export function wholeNumber(name: string, v: string, min = 0): number {
  if (!/^-?\d+$/.test(v)) throw badParameter(`${name} must be a whole number, not "${short(v)}"`);
  const n = Number(v);
  if (n < min) throw badParameter(`${name} must be at least ${min}, not ${v}`);
  if (!Number.isSafeInteger(n)) throw badParameter(`${name} is too large: ${short(v)}`);
  return n;
}

/** `from`..`to` must not end before it starts. */
export function checkRange(
  fromName: string,
  from: number | undefined,
  toName: string,
  to: number | undefined,
): void {
  if (from !== undefined && to !== undefined && to < from) {
    throw badParameter(`${toName} (${to}) is before ${fromName} (${from}): the range would be empty`);
  }
}

function short(v: string): string {
  return v.length > 40 ? `${v.slice(0, 40)}…` : v;
}
