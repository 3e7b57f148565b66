// The device page's own small helpers, beside the pages' shared ones (common.js, re-exported
// here so each module imports from one place). Text always goes in as text nodes (never
// innerHTML): event payloads come from devices and operators.
import { el, fmtTime } from './common.js';

export { fmtTime };
export const h = el;

/** The value an `<input type="datetime-local" step="1">` takes for a time. */
export function toLocalInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** `operator:ana` → `ana`; other actors (`system`, `sensor:gps`) as they are. */
export function actorName(actor) {
  if (typeof actor !== 'string') return null;
  return actor.startsWith('operator:') ? actor.slice('operator:'.length) : actor;
}

/** A time element showing local time, with the exact ISO time as its datetime and title. */
export function timeEl(t) {
  return h('time', { datetime: t, title: t }, fmtTime(t));
}

/** Marks a corrected time (docs/protocol.md §4.1); a legend beside the list says so. */
export const CORRECTED_MARK = '≈';
export const CORRECTED_LEGEND = `${CORRECTED_MARK} corrected time: recorded before the device's clock was set right (the recorded time is in the tooltip)`;

/** A corrected time, marked, with the time the device recorded in its title. */
export function correctedTimeEl(corrected, recorded) {
  return h(
    'time',
    { datetime: corrected, title: `corrected; recorded as ${recorded}`, class: 'dv-corrected' },
    `${CORRECTED_MARK}${fmtTime(corrected)}`,
  );
}

/** An event's time: its corrected time where the hub gave one (`?corrected=1`), else its own. */
export function eventTimeEl(e) {
  return typeof e.correctedTime === 'string' ? correctedTimeEl(e.correctedTime, e.time) : timeEl(e.time);
}

/** Run `fn` at most once per `ms`, with the last arguments (trailing call kept). */
export function throttle(fn, ms) {
  let timer = null;
  let last = null;
  return (...args) => {
    last = args;
    if (timer !== null) return;
    timer = setTimeout(() => {
      timer = null;
      fn(...last);
    }, ms);
  };
}
