// Short envelopes (docs/protocol.md §10.7): a batch may leave out each envelope's `device`,
// the `prev` of all but its first and the `digest` of a payload that is there. The hub puts
// them back before anything looks at the batch; each is covered by the event's hash, so a
// wrong one is a refused event, never a stored one.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Envelope, ZERO_HASH } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import { check, checkEvent } from '../../src/log/seal.js';
import { parseEvents, withPrev } from '../../src/sync/messages.js';

let log: EventLog;
/** The log's events as whole envelopes, and as the JSON texts of whole and short ones. */
let whole: Envelope[];
let wholeJson: string[];
let shortJson: { json: string; prev: string }[];

beforeAll(async () => {
  log = await EventLog.memory({ device: 'pi-s' });
  await log.appendMany([
    {
      type: 'ReadingRecorded',
      data: { source: 'n', sensor: 't', value: 21.5, unit: 'C' },
      meta: { actor: 'sensor:n' },
    },
    { type: 'NoteAdded', data: { text: 'ünïcode "quoted" \\ \u2028' }, meta: { actor: 'operator:ana' } },
    { type: 'ReadingRecorded', data: { source: 'n', sensor: 'h', value: -3e-7 } },
    { type: 'NoteAdded', data: { text: 'to be forgotten' } },
    { type: 'ReadingRecorded', data: { source: 'n', sensor: 't', value: 22 }, meta: { actor: 'sensor:n' } },
  ]);
  await log.redact(4, 'test', 'operator:ana'); // seq 6; seq 4's data is null, its digest stays
  whole = [];
  for await (const e of log.events()) whole.push(e);
  wholeJson = [];
  for await (const chunk of log.eventsJson()) for (const e of chunk) wholeJson.push(e.json);
  shortJson = [];
  for await (const chunk of log.eventsJson({ short: true })) for (const e of chunk) shortJson.push(e);
});
afterAll(() => log.close());

/** A batch of the events from..to (0-based) as the replicator sends it to a hub that takes short ones. */
function shortBatch(from: number, to: number): string {
  const parts = shortJson.slice(from, to + 1).map((e, i) => (i === 0 ? withPrev(e.json, e.prev) : e.json));
  return `{"device":"pi-s","events":[${parts.join(',')}]}`;
}

/** As JSON sees it: the hub's note on a restored envelope (a symbol key) is not part of it. */
const plain = (x: unknown) => JSON.parse(JSON.stringify(x)) as unknown;

const dropped = (obj: Record<string, unknown>, keys: string[]) =>
  Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));

describe('short envelopes', () => {
  it('leave out device, prev and the digest of a payload that is there, and nothing else', () => {
    expect(whole.map((e) => e.data === null)).toEqual([false, false, false, true, false, false]);
    for (let i = 0; i < whole.length; i++) {
      const s = JSON.parse(shortJson[i]!.json) as Record<string, unknown>;
      const w = JSON.parse(wholeJson[i]!) as Record<string, unknown>;
      const left = whole[i]!.data === null ? ['device', 'prev'] : ['device', 'prev', 'digest'];
      expect(s).toEqual(dropped(w, left));
      expect(shortJson[i]!.prev).toBe(i === 0 ? ZERO_HASH : whole[i - 1]!.hash);
    }
  });

  it('are made whole by the hub: the same envelopes, and the same check, as the whole batch', () => {
    for (const [from, to] of [
      [0, 5],
      [1, 3],
      [3, 4],
      [5, 5],
    ] as const) {
      const got = parseEvents(shortBatch(from, to), 'pi-s').events;
      expect(plain(got)).toEqual(whole.slice(from, to + 1));
      const head = { seq: from, hash: from === 0 ? ZERO_HASH : whole[from - 1]!.hash };
      const a = check(got, head);
      const b = check(
        parseEvents(`{"device":"pi-s","events":[${wholeJson.slice(from, to + 1).join(',')}]}`, 'pi-s').events,
        head,
      );
      expect(a.datas).toEqual(b.datas);
      expect(a.metas).toEqual(b.metas);
      expect(a.times).toEqual(b.times);
      expect(a.purges).toEqual(b.purges);
    }
  });

  it('may leave out any of the three in any envelope, or none: a batch mixes them freely', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.boolean(), fc.boolean(), fc.boolean()), { minLength: 6, maxLength: 6 }),
        (drops) => {
          const evs = whole.map((e, i) => {
            const [device, prev, digest] = drops[i]!;
            const keys = [
              ...(device ? ['device'] : []),
              ...(prev && i > 0 ? ['prev'] : []),
              ...(digest && e.data !== null ? ['digest'] : []),
            ];
            return dropped(JSON.parse(wholeJson[i]!) as Record<string, unknown>, keys);
          });
          const got = parseEvents(JSON.stringify({ device: 'pi-s', events: evs }), 'pi-s').events;
          expect(plain(got)).toEqual(whole);
          expect(check(got, { seq: 0, hash: ZERO_HASH }).datas).toHaveLength(6);
        },
      ),
      { numRuns: 64 },
    );
  });

  it('are refused when the first leaves out its prev, or a redacted one its digest', () => {
    const noPrev = `{"device":"pi-s","events":[${shortJson[1]!.json}]}`;
    expect(() => parseEvents(noPrev, 'pi-s')).toThrow(
      expect.objectContaining({ code: 'SYNC_MESSAGE_INVALID', message: expect.stringMatching(/prev/) }),
    );
    const redacted = dropped(JSON.parse(wholeJson[3]!) as Record<string, unknown>, ['digest']);
    expect(() => parseEvents(JSON.stringify({ device: 'pi-s', events: [redacted] }), 'pi-s')).toThrow(
      expect.objectContaining({ code: 'SYNC_MESSAGE_INVALID', message: expect.stringMatching(/digest/) }),
    );
    // an envelope of another device cannot hide behind the message's: its own device is checked
    const other = { ...(JSON.parse(wholeJson[0]!) as Record<string, unknown>), device: 'pi-t' };
    expect(() => parseEvents(JSON.stringify({ device: 'pi-s', events: [other] }), 'pi-s')).toThrow(
      /belongs to pi-t/,
    );
  });

  it('are malformed when a payload whose digest is left out cannot be written out canonically', () => {
    // 10,000 levels: JSON.parse takes them, the canonical writer's recursion does not
    const deep = `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`;
    const env = shortJson[0]!.json.replace(/"data":\{[^}]*\}/, `"data":${deep}`);
    expect(env).toContain(deep);
    expect(() => parseEvents(`{"device":"pi-s","events":[${withPrev(env, ZERO_HASH)}]}`, 'pi-s')).toThrow(
      expect.objectContaining({
        code: 'SYNC_MESSAGE_INVALID',
        message: expect.stringMatching(/^events\[0\]: /),
      }),
    );
  });

  it('cannot smuggle a payload, a link or a digest past the hash', () => {
    const batch = () => JSON.parse(shortBatch(0, 2)) as { device: string; events: Record<string, unknown>[] };
    const refused = (b: ReturnType<typeof batch>) => () =>
      check(parseEvents(JSON.stringify(b), 'pi-s').events, { seq: 0, hash: ZERO_HASH });
    // another payload: the digest restored from it is not the one the hash covers
    const data = batch();
    (data.events[1]!.data as { text: string }).text = 'forged';
    expect(refused(data)).toThrow(/seq 2 of pi-s: hash mismatch/);
    // a prev of its own that is not the hash before it
    const link = batch();
    link.events[2]!.prev = 'f'.repeat(64);
    expect(refused(link)).toThrow(expect.objectContaining({ code: 'CHAIN_BROKEN' }));
    // a digest of its own beside the payload is still checked against it
    const digest = batch();
    digest.events[0]!.digest = 'e'.repeat(64);
    expect(refused(digest)).toThrow(/seq 1 of pi-s: data does not match its digest/);
  });

  it('keep the payload a digest was restored from only for that payload', () => {
    const [env] = parseEvents(shortBatch(0, 0), 'pi-s').events;
    expect(() => checkEvent(env!, 'pi-s')).not.toThrow();
    // a copy with another payload (as a purge makes) carries the restored digest along
    const copy = { ...env!, data: { source: 'n', sensor: 't', value: 99, unit: 'C' } };
    expect(() => checkEvent(copy, 'pi-s')).toThrow(/data does not match its digest/);
  });
});
