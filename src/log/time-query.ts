// Times that people and scripts give to select events (CLI flags, HTTP parameters): RFC 3339
// with an explicit offset, or a bare date meaning midnight UTC. A date-time without an offset
// would be read in whatever zone the reading machine is set to, so it is refused, not guessed;
// so is a day that does not exist (Date.parse takes 2026-02-30 as 2 March).
const TIME_QUERY =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2})))?$/;

/** ms since the epoch, or undefined when `text` is not such a time. */
export function parseTimeQuery(text: string): number | undefined {
  const m = TIME_QUERY.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day)
    return undefined;
  if (m[4] !== undefined) {
    if (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6]) > 59) return undefined;
    if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return undefined;
  }
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}
