// The device page's reads from the hub's HTTP API (docs/protocol.md, HTTP API): one
// function per endpoint, so the page's modules never build URLs or parse answers
// themselves. Every call takes an AbortSignal: a newer range or cursor position cancels
// the reads it made stale instead of letting an old answer overwrite a new one.

/** An HTTP answer other than 2xx, with the hub's error code when it sent one. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(path, init) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, ...init });
  if (!res.ok) {
    let code = `HTTP_${res.status}`;
    let message = `${path}: ${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body?.error) {
        code = body.error.code;
        message = body.error.message;
      }
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(res.status, code, message);
  }
  return res;
}

async function json(path, signal) {
  return (await request(path, { signal })).json();
}

/** An NDJSON stream read whole: the page only asks for bounded pages (`limit`). */
async function ndjson(path, signal) {
  const text = await (await request(path, { signal })).text();
  const out = [];
  for (const line of text.split('\n')) if (line !== '') out.push(JSON.parse(line));
  return out;
}

const iso = (ms) => new Date(ms).toISOString();

export function deviceApi(id) {
  const base = `/devices/${encodeURIComponent(id)}`;
  return {
    config: (signal) => json('/ui/config.json', signal),
    sensors: (signal) => json(`${base}/sensors`, signal),
    /** min/max/avg/count buckets of one sensor, at most `points` of them. */
    series: (sensor, from, to, points, signal) =>
      json(
        `${base}/series?${new URLSearchParams({ sensor, from: iso(from), to: iso(to), points: String(points) })}`,
        signal,
      ),
    seriesUrl: (sensor, from, to, points) =>
      `${base}/series?${new URLSearchParams({ sensor, from: iso(from), to: iso(to), points: String(points) })}`,
    track: (from, to, points, signal) =>
      json(
        `${base}/track?${new URLSearchParams({ from: iso(from), to: iso(to), points: String(points) })}`,
        signal,
      ),
    /**
     * Events of the given types recorded in since..until, oldest first; those recorded before
     * a ClockSynced of their boot carry `correctedTime` (the range is still by recorded time).
     */
    eventsInRange: (types, since, until, limit, signal) =>
      ndjson(
        `${base}/events?${new URLSearchParams({ type: types.join(','), since: iso(since), until: iso(until), limit: String(limit), corrected: '1' })}`,
        signal,
      ),
    /** One page of the event list, newest first, ending at `toSeq` (the head when absent), with corrected times. */
    eventsPage: (type, toSeq, limit, signal) => {
      const q = new URLSearchParams({ order: 'desc', limit: String(limit), corrected: '1' });
      if (type) q.set('type', type);
      if (toSeq !== undefined) q.set('to-seq', String(toSeq));
      return ndjson(`${base}/events?${q}`, signal);
    },
    stateAt: (ms, signal) => json(`${base}/state?${new URLSearchParams({ at: iso(ms) })}`, signal),
    trust: (signal) => json(`${base}/trust`, signal),
    verify: async () => (await request(`${base}/verify`, { method: 'POST' })).json(),
    exportUrl: (format, since, until) =>
      `${base}/export?${new URLSearchParams({ format, since: iso(since), until: iso(until) })}`,
    liveUrl: () => `/fleet/live?${new URLSearchParams({ device: id })}`,
  };
}

/** True for the error an aborted fetch throws: a superseded read, not a failure. */
export function isAbort(err) {
  return err?.name === 'AbortError';
}
