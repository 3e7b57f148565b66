// Every error fieldlog raises on purpose: one table, one class per code, stable codes.
// Tests and callers branch on `err.code` (and flags), never on the message.

export const ERROR_CODES = {
  LOG_NOT_FOUND: { exit: 1, summary: 'the log folder does not exist or is not a fieldlog log' },
  LOG_LOCKED: { exit: 1, summary: 'another process has the log open for writing' },
  LOG_CORRUPT: { exit: 1, summary: 'a stored record cannot be decoded or breaks the chain' },
  LOG_CLOSED: { exit: 1, summary: 'the log was closed before the operation finished' },
  LOG_WRITE_FAILED: { exit: 1, summary: 'the storage refused a write; nothing of that batch was kept' },
  LOG_DISK_FULL: {
    exit: 1,
    summary:
      "the log's filesystem is full; nothing of that batch was kept, writing resumes when space returns",
  },
  EVENT_INVALID: { exit: 2, summary: 'an event or envelope does not satisfy the contract' },
  DEVICE_UNKNOWN: { exit: 2, summary: 'the log holds no stream for that device' },
  DEVICE_AMBIGUOUS: { exit: 2, summary: 'the log holds several devices; name one with --device' },
  REDACTION_INVALID: {
    exit: 2,
    summary: 'a redaction was refused (no reason, no such event, already redacted)',
  },
  CHAIN_BROKEN: { exit: 1, summary: 'an envelope does not link to the head it was appended to' },
  KEY_FILE_INVALID: {
    exit: 2,
    summary:
      'the device key file cannot be read, is open to others than its owner, or holds no Ed25519 private key',
  },
  USAGE: { exit: 2, summary: 'wrong command-line arguments' },
  CONFIG_INVALID: { exit: 2, summary: 'the configuration has a bad key or value' },
  COMMAND_REJECTED: { exit: 2, summary: 'an operator command was refused; no event was written' },
  SOURCE_DISCONNECTED: { exit: 1, summary: 'a serial source went away' },
  SOURCE_UNAVAILABLE: { exit: 1, summary: 'a serial source could not be opened' },
  SYNC_FORK: { exit: 1, summary: 'two different events claim the same seq of one device' },
  SYNC_GAP: { exit: 1, summary: 'events arrived that do not follow the stored head' },
  SYNC_MESSAGE_INVALID: { exit: 1, summary: 'an MQTT message failed validation' },
  STORE_UNAVAILABLE: {
    exit: 1,
    summary: 'the PostgreSQL fleet store cannot be reached, or its schema is newer than this fieldlog',
  },
  OUTPUT_FAILED: {
    exit: 1,
    summary:
      'an output (file or stdout) could not be written completely; no partial file is left under its name',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class FieldlogError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: number;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FieldlogError';
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

/** Build an error with a stable code; the one place errors are made. */
export function fail(code: ErrorCode, message: string, cause?: unknown): FieldlogError {
  return new FieldlogError(code, message, cause === undefined ? undefined : { cause });
}

export function isFieldlogError(err: unknown, code?: ErrorCode): err is FieldlogError {
  return err instanceof FieldlogError && (code === undefined || err.code === code);
}
