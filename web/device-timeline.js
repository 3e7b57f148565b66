// What happened to the device besides its readings, on the charts' time axis: alarms
// (raised, acknowledged by whom, cleared), notes, threshold changes with their actor,
// sources connecting, disconnecting, rejecting or losing frames. The same events are
// drawn on every chart (a uPlot plugin: one vertical mark each) and listed beside them,
// with the alarms gathered into episodes so "who acknowledged it" is read in one row.
import { actorName, CORRECTED_LEGEND, eventTimeEl, h } from './device-dom.js';

/** The event types the timeline shows, and the mark each gets. */
export const TIMELINE_KINDS = {
  AlarmRaised: 'alarm',
  AlarmAcknowledged: 'ack',
  AlarmCleared: 'clear',
  NoteAdded: 'note',
  ThresholdChanged: 'threshold',
  SourceConnected: 'source',
  SourceDisconnected: 'source',
  FramesRejected: 'source',
  FramesLost: 'source',
  DeviceStarted: 'source',
  DeviceStopped: 'source',
  EventRedacted: 'note',
};
export const TIMELINE_TYPES = Object.keys(TIMELINE_KINDS);

const COLORS = {
  alarm: '#d62728',
  ack: '#ff7f0e',
  clear: '#2ca02c',
  note: '#1f77b4',
  threshold: '#9467bd',
  source: '#7f7f7f',
};

/** One line of words for an event of the timeline. */
export function describe(e) {
  const d = e.data;
  const by = actorName(e.meta?.actor);
  if (d === null) return `${e.type} (payload purged)`;
  switch (e.type) {
    case 'AlarmRaised':
      return `alarm ${d.alarm} raised: ${d.sensor} ${d.value} ${d.kind} ${d.limit}`;
    case 'AlarmAcknowledged':
      return `alarm ${d.alarm} acknowledged${by ? ` by ${by}` : ''}${d.comment ? `: “${d.comment}”` : ''}`;
    case 'AlarmCleared':
      return `alarm ${d.alarm} cleared (${d.sensor} ${d.value})`;
    case 'NoteAdded':
      return `note${by ? ` by ${by}` : ''}: ${d.text}`;
    case 'ThresholdChanged':
      return `threshold of ${d.sensor} set to above ${d.above ?? '–'}, below ${d.below ?? '–'}${by ? ` by ${by}` : ''}`;
    case 'SourceConnected':
      return `source ${d.source} connected (${d.driver} ${d.port})`;
    case 'SourceDisconnected':
      return `source ${d.source} disconnected: ${d.reason}`;
    case 'FramesRejected':
      return `source ${d.source} rejected ${d.count} frame(s)`;
    case 'FramesLost':
      return `source ${d.source} lost ${d.count} frame(s)`;
    case 'DeviceStarted':
      return `device started (version ${d.version})`;
    case 'DeviceStopped':
      return `device stopped: ${d.reason}`;
    case 'EventRedacted':
      return `event #${d.seq} redacted${by ? ` by ${by}` : ''}: ${d.reason}`;
    case 'ClockJumped':
      return `clock jumped ${seconds(d.deltaMs)}`;
    case 'ClockSynced':
      return `clock synchronised by ${d.source}${d.offsetMs ? `, ${seconds(d.offsetMs)}` : ''}`;
    default:
      return e.type;
  }
}

/** A signed offset in seconds (days beyond a day), for people. */
function seconds(ms) {
  if (typeof ms !== 'number') return '?';
  const sign = ms < 0 ? '-' : '+';
  const a = Math.abs(ms);
  if (a >= 86_400_000) return `${sign}${(a / 86_400_000).toFixed(2)} d`;
  return `${sign}${(a / 1000).toFixed(3)} s`;
}

/** A uPlot plugin drawing one vertical mark per timeline event over the plot. */
export function marksPlugin(getEvents) {
  return {
    hooks: {
      draw: [
        (u) => {
          const { ctx } = u;
          const { top, height, left, width } = u.bbox;
          ctx.save();
          ctx.lineWidth = Math.max(1, devicePixelRatio);
          for (const m of getEvents()) {
            const x = Math.round(u.valToPos(m.ms, 'x', true));
            if (x < left || x > left + width) continue;
            ctx.strokeStyle = COLORS[m.kind];
            ctx.globalAlpha = m.kind === 'source' ? 0.35 : 0.8;
            ctx.beginPath();
            ctx.moveTo(x, top);
            ctx.lineTo(x, top + height);
            ctx.stroke();
          }
          ctx.restore();
        },
      ],
    },
  };
}

/** Alarm episodes: each raise with the acknowledgement and clearing that followed it. */
export function alarmEpisodes(events) {
  const open = new Map();
  const episodes = [];
  for (const e of events) {
    const d = e.data;
    if (d === null || typeof d.alarm !== 'string') continue;
    if (e.type === 'AlarmRaised') {
      const ep = { alarm: d.alarm, sensor: d.sensor, raised: e, acknowledged: null, cleared: null };
      open.set(d.alarm, ep);
      episodes.push(ep);
    } else {
      // an acknowledgement or clearing of an alarm raised before the range still counts
      let ep = open.get(d.alarm);
      if (!ep) {
        ep = { alarm: d.alarm, sensor: d.sensor ?? '', raised: null, acknowledged: null, cleared: null };
        open.set(d.alarm, ep);
        episodes.push(ep);
      }
      if (e.type === 'AlarmAcknowledged') ep.acknowledged = e;
      else if (e.type === 'AlarmCleared') {
        ep.cleared = e;
        open.delete(d.alarm);
      }
    }
  }
  return episodes;
}

export function renderAlarms(container, events) {
  const episodes = alarmEpisodes(events);
  if (episodes.length === 0) {
    container.replaceChildren(h('p', { class: 'muted' }, 'No alarm in this range.'));
    return;
  }
  const rows = episodes
    .reverse()
    .map((ep) =>
      h(
        'tr',
        { class: 'dv-alarm', 'data-alarm': ep.alarm, 'data-seq': ep.raised?.seq ?? '' },
        h('td', null, ep.alarm),
        h(
          'td',
          null,
          ep.raised ? [eventTimeEl(ep.raised), ` (${ep.raised.data?.value ?? '?'})`] : 'before the range',
        ),
        h(
          'td',
          { class: 'dv-ack', 'data-by': ep.acknowledged?.meta?.actor ?? '' },
          ep.acknowledged
            ? [actorName(ep.acknowledged.meta?.actor) ?? 'someone', ' at ', eventTimeEl(ep.acknowledged)]
            : '—',
        ),
        h('td', null, ep.cleared ? eventTimeEl(ep.cleared) : 'active'),
      ),
    );
  container.replaceChildren(
    h(
      'table',
      { class: 'dv-table' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, 'alarm'),
          h('th', null, 'raised'),
          h('th', null, 'acknowledged by'),
          h('th', null, 'cleared'),
        ),
      ),
      h('tbody', null, rows),
    ),
  );
}

/** The timeline list, newest first; clicking an entry moves the cursor to its time. */
export function renderTimeline(list, events, truncated, onPick) {
  const items = [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    const kind = TIMELINE_KINDS[e.type] ?? 'source';
    items.push(
      h(
        'li',
        { class: `dv-tl dv-k-${kind}`, 'data-seq': e.seq, 'data-type': e.type },
        h(
          'button',
          { type: 'button', class: 'dv-linklike', onclick: () => onPick(Date.parse(e.time)) },
          eventTimeEl(e),
        ),
        ' ',
        describe(e),
      ),
    );
  }
  if (items.length === 0) items.push(h('li', { class: 'muted' }, 'Nothing but readings in this range.'));
  if (truncated)
    items.push(h('li', { class: 'muted' }, `The first ${events.length} events of the range are shown.`));
  if (events.some((e) => e.correctedTime !== undefined))
    items.push(h('li', { class: 'muted dv-corrected-legend' }, CORRECTED_LEGEND));
  list.replaceChildren(...items);
}
