import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isFieldlogError } from '../../src/errors.js';
import type { Envelope } from '../../src/log/envelope.js';
import { EventLog } from '../../src/log/event-log.js';
import {
  deviceTopic,
  eventsBody,
  parseAck,
  parseEvents,
  parseHello,
  parseStatus,
  parseTopic,
} from '../../src/sync/messages.js';

describe('topics', () => {
  it('builds and parses device topics; hub is no device', () => {
    expect(deviceTopic('fieldlog', 'north', 'pi-1', 'events')).toBe('fieldlog/north/pi-1/events');
    expect(parseTopic('fieldlog', 'fieldlog/north/pi-1/events')).toEqual({
      fleet: 'north',
      device: 'pi-1',
      channel: 'events',
    });
    for (const t of [
      'fieldlog/north/hub/status',
      'fieldlog/north/pi-1/other',
      'x/north/pi-1/ack',
      'fieldlog/a b/pi/ack',
      'fieldlog/n/p',
    ]) {
      expect(parseTopic('fieldlog', t)).toBeUndefined();
    }
  });
});

describe('messages', () => {
  it('parses valid messages and names what is wrong in invalid ones', async () => {
    const log = await EventLog.memory({ device: 'pi-1' });
    await log.appendMany([
      { type: 'NoteAdded', data: { text: 'a' } },
      { type: 'NoteAdded', data: { text: 'b' } },
    ]);
    const evs: Envelope[] = [];
    for await (const e of log.events()) evs.push(e);
    expect(parseEvents(JSON.stringify({ device: 'pi-1', events: evs }), 'pi-1').events).toEqual(evs);
    expect(() => parseEvents(JSON.stringify({ device: 'pi-1', events: [evs[1], evs[0]] }), 'pi-1')).toThrow(
      /contiguous/,
    );
    expect(() => parseEvents(JSON.stringify({ device: 'pi-1', events: evs }), 'pi-2')).toThrow(/topic/);
    expect(parseHello(`{"head":{"seq":0,"hash":"${'0'.repeat(64)}"}}`).head.seq).toBe(0);
    expect(parseAck(JSON.stringify({ upTo: 3, hash: 'a'.repeat(64), error: 'gap' })).error).toBe('gap');
    expect(parseStatus('{"online":false,"time":"2026-11-24T10:00:00.000Z"}').online).toBe(false);
    expect(() => parseAck(JSON.stringify({ upTo: -1, hash: 'a'.repeat(64) }))).toThrow(
      expect.objectContaining({ code: 'SYNC_MESSAGE_INVALID' }) as Error,
    );
    await log.close();
  });

  it('random payloads never throw anything but SYNC_MESSAGE_INVALID', () => {
    const payload = fc.oneof(
      fc.string(),
      fc.jsonValue().map((v) => JSON.stringify(v)),
      fc.uint8Array().map((b) => Buffer.from(b).toString('latin1')),
    );
    fc.assert(
      fc.property(payload, (p) => {
        for (const parse of [parseHello, parseAck, parseStatus, (x: string) => parseEvents(x, 'pi-1')]) {
          try {
            parse(p);
          } catch (err) {
            expect(isFieldlogError(err, 'SYNC_MESSAGE_INVALID')).toBe(true);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('eventsBody', () => {
  it('is the UTF-8 of the message text joined the plain way, for any texts', () => {
    const text = fc.string({ unit: 'binary', maxLength: 300 });
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), fc.array(text, { maxLength: 40 }), (device, events) => {
        const plain = Buffer.from(`{"device":${JSON.stringify(device)},"events":[${events.join(',')}]}`);
        expect(eventsBody(device, events).equals(plain)).toBe(true);
      }),
    );
  });

  it('grows its scratch for a batch larger than any before', () => {
    const big = ['x'.repeat(200_000), 'é'.repeat(100_000)];
    const body = eventsBody('pi-1', big);
    expect(body.toString()).toBe(`{"device":"pi-1","events":[${big.join(',')}]}`);
    expect(eventsBody('pi-1', ['{}']).toString()).toBe('{"device":"pi-1","events":[{}]}');
  });
});
