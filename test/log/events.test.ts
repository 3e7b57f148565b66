// Known event types against their payload schemas: the hand-made ReadingRecorded check
// agrees with its schema, problems are named in plain words, and the log refuses a
// known type with a wrong payload on append (unknown types and extra keys stay allowed).
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { EventLog } from '../../src/log/event-log.js';
import { isReadingPayload, payloadProblem, payloadSchemas } from '../../src/log/events.js';

const anything = fc.oneof(
  fc.string(),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.object({ maxDepth: 1 }),
);

describe('event payload schemas', () => {
  it('checks ReadingRecorded by hand exactly as its schema does', () => {
    const field = (good: fc.Arbitrary<unknown>) =>
      fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: anything });
    fc.assert(
      fc.property(
        fc.record(
          {
            source: field(fc.string()),
            sensor: field(fc.string()),
            value: field(fc.double()),
            unit: field(fc.string()),
            extra: anything,
          },
          { requiredKeys: [] },
        ),
        (data) => {
          const byHand = isReadingPayload(data);
          expect(byHand).toBe(payloadSchemas.ReadingRecorded.safeParse(data).success);
          expect(payloadProblem('ReadingRecorded', data) === undefined).toBe(byHand);
        },
      ),
      { numRuns: 3000 },
    );
  });

  it('names what is wrong in a known payload, in plain words', () => {
    expect(payloadProblem('ReadingRecorded', { foo: 1 })).toBe('ReadingRecorded needs data.source (string)');
    expect(payloadProblem('ReadingRecorded', { source: 'n', sensor: 't', value: '21.5' })).toBe(
      'ReadingRecorded data.value must be a number, not string "21.5"',
    );
    expect(
      payloadProblem('AlarmRaised', { alarm: 'a', sensor: 't', kind: 'sideways', limit: 1, value: 2 }),
    ).toContain('data.kind must be one of "above", "below"');
    expect(payloadProblem('EventRedacted', { seq: 1.5, reason: 'x' })).toContain(
      'data.seq must be an integer',
    );
  });

  it('allows extra keys in known payloads and any payload of an unknown type', () => {
    expect(
      payloadProblem('ReadingRecorded', { source: 'n', sensor: 't', value: 1, quality: 'good' }),
    ).toBeUndefined();
    expect(payloadProblem('NoteAdded', { text: 'hi', by: 'ana' })).toBeUndefined();
    expect(payloadProblem('PumpStarted', { foo: 1 })).toBeUndefined();
    expect(payloadProblem('ToString', {})).toBeUndefined(); // a name on Object.prototype is not a known type
  });
});

describe('appending a known type', () => {
  let log: EventLog | undefined;
  afterEach(async () => {
    await log?.close();
    log = undefined;
  });

  it('refuses a payload that does not fit, and writes nothing', async () => {
    log = await EventLog.memory({ device: 'pi-1', create: true });
    await log.append({ type: 'ReadingRecorded', data: { source: 'n', sensor: 't', value: 1 } });
    await expect(log.append({ type: 'ReadingRecorded', data: { foo: 1 } })).rejects.toMatchObject({
      code: 'EVENT_INVALID',
      message: expect.stringContaining('data.source'),
    });
    await expect(
      log.appendMany([
        { type: 'NoteAdded', data: { text: 'ok' } },
        { type: 'NoteAdded', data: { text: 7 } },
      ]),
    ).rejects.toMatchObject({ code: 'EVENT_INVALID' });
    await log.append({ type: 'Whatever', data: { foo: 1 } });
    expect(log.head().seq).toBe(2);
  });
});
