// Helpers shared by the hub's pages (no framework, no build step): JSON requests that turn
// the API's error bodies into errors, time formatting, a tiny element builder, and a
// server-sent-events subscription that comes back by itself after the hub restarts.

/** A JSON answer of the hub's API; an error answer throws an Error carrying its `code`. */
export async function getJSON(path, init) {
  const res = await fetch(path, { headers: { accept: 'application/json' }, ...init });
  const text = await res.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // a proxy's HTML error page, a cut-off answer: said below by status
  }
  if (!res.ok) {
    const e = new Error(body?.error?.message ?? `${path}: HTTP ${res.status}`);
    e.code = body?.error?.code ?? `HTTP_${res.status}`;
    e.status = res.status;
    throw e;
  }
  return body;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

/** `2026-11-24 10:00:05` in the browser's zone; `—` for none. */
export function fmtTime(t, { seconds = true } = {}) {
  if (t === null || t === undefined || t === '') return '—';
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '—';
  const day = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
  return `${day} ${time}`;
}

/** `12 s ago`, `5 min ago`, `3 h ago`, `2 d ago`; `never` for none; `now` within a second. */
export function fmtAgo(t, now = Date.now()) {
  if (t === null || t === undefined || t === '') return 'never';
  const ms = now - new Date(t).getTime();
  if (Number.isNaN(ms)) return 'never';
  const s = Math.round(ms / 1000);
  if (s < 1) return 'now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/**
 * A DOM element: `el('a', {href: '/', class: 'x', onclick: f}, 'text', child, [more])`.
 * `text` sets textContent; `on…` functions become listeners; `dataset` is an object;
 * `false`/`null`/`undefined` attributes and children are skipped. Text is never parsed as
 * HTML, so data from devices cannot inject markup.
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'text') node.textContent = String(v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === false || c === null || c === undefined) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/**
 * Subscribes to a server-sent-events path: `handlers` maps event names to functions of the
 * parsed `data` (JSON, or the text when it is not). The browser's EventSource retries a
 * dropped connection itself; one the hub refused (a 503 while it starts, a restart) is
 * closed for good, so this opens a new one after a growing pause (1 s up to 30 s).
 * `onState('open'|'retrying')` tells the page whether it is live. Returns `close()`.
 */
export function subscribe(path, handlers, { onState } = {}) {
  let source = null;
  let timer = null;
  let delay = 1000;
  let closed = false;
  const open = () => {
    if (closed) return;
    source = new EventSource(path);
    source.addEventListener('open', () => {
      delay = 1000;
      onState?.('open');
    });
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (ev) => {
        let data = ev.data;
        try {
          data = JSON.parse(ev.data);
        } catch {
          // not JSON: the handler gets the text
        }
        fn(data, ev);
      });
    }
    source.addEventListener('error', () => {
      onState?.('retrying');
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 30_000);
    });
  };
  open();
  return {
    close() {
      closed = true;
      clearTimeout(timer);
      source?.close();
    },
  };
}

/** The text of an error for the page: its message, and its code when it has one. */
export function errorText(err) {
  return err?.code ? `${err.message} [${err.code}]` : String(err?.message ?? err);
}
