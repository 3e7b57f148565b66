// Small DOM and formatting helpers of the device page. Text always goes in as text
// nodes (never innerHTML): event payloads come from devices and operators.

/** An element with attributes (`class`, `data-*`, `on*` handlers, properties) and children. */
export function h(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k in node && !k.startsWith('data-') && k !== 'list') node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : String(c));
  }
  return node;
}

/** A time for people: local date and time to the second, ISO in the tooltip. */
export function fmtTime(t) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return String(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

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
