// The device's event list: every event, newest first, a page at a time
// (/devices/ID/events?order=desc&to-seq=&limit=), filtered by type, each with its JSON
// and hash on expanding it; and a live tail from /fleet/live?device=ID (server-sent
// events) that puts each newly stored event at the top as it arrives. An event recorded before
// a ClockSynced of its boot shows its corrected time, marked (docs/protocol.md §4.1): the hub
// adds it to pages (`corrected=1`), and a ClockSynced arriving live corrects what is shown.
import { subscribe } from './common.js';
import { isAbort } from './device-api.js';
import { CORRECTED_LEGEND, correctedTimeEl, eventTimeEl, h } from './device-dom.js';
import { describe } from './device-timeline.js';

const PAGE = 50;

const TYPES = [
  'ReadingRecorded',
  'PositionRecorded',
  'AlarmRaised',
  'AlarmAcknowledged',
  'AlarmCleared',
  'NoteAdded',
  'ThresholdChanged',
  'SourceConnected',
  'SourceDisconnected',
  'SourceIdentified',
  'SourceFaultReported',
  'SourceCommandAnswered',
  'FramesRejected',
  'FramesLost',
  'DeviceStarted',
  'DeviceStopped',
  'EventRedacted',
  'ClockJumped',
  'ClockSynced',
];

export class EventList {
  constructor(api, els, onHead) {
    this.api = api;
    this.list = els.list;
    this.select = els.select;
    this.older = els.older;
    this.status = els.status;
    this.legend = els.legend;
    if (this.legend) this.legend.textContent = CORRECTED_LEGEND;
    this.onHead = onHead;
    this.type = '';
    this.oldest = null;
    this.ctl = null;
    /** Events the live tail showed: [{seq, shownAt}] (Date.now() when drawn; read by the tests). */
    this.tail = [];
    for (const t of TYPES) this.select.append(h('option', { value: t }, t));
    this.select.addEventListener('change', () => {
      this.type = this.select.value;
      void this.reload();
    });
    this.older.addEventListener('click', () => void this.more());
  }

  async reload() {
    this.oldest = null;
    this.list.replaceChildren();
    this.showLegend();
    await this.more();
  }

  /** The legend of the ≈ mark, while a corrected time is in the list. */
  showLegend() {
    if (this.legend) this.legend.hidden = this.list.querySelector('time.dv-corrected') === null;
  }

  /**
   * A ClockSynced seen live: the events of its boot before it that are shown with their
   * recorded time get the corrected one (the first sync after an event is the one in force).
   */
  correctBy(sync) {
    const offset = sync.data?.offsetMs;
    if (typeof offset !== 'number') return;
    const trusted = Date.parse(sync.time) + offset;
    for (const li of this.list.querySelectorAll(':scope > li.dv-event')) {
      if (li.dataset.boot !== sync.boot || Number(li.dataset.seq) >= sync.seq) continue;
      const shown = li.querySelector('summary > time');
      if (!shown || shown.classList.contains('dv-corrected')) continue;
      const corrected = new Date(Math.round(trusted - (sync.mono - Number(li.dataset.mono)))).toISOString();
      shown.replaceWith(correctedTimeEl(corrected, shown.getAttribute('datetime')));
    }
    this.showLegend();
  }

  async more() {
    this.ctl?.abort();
    const ctl = new AbortController();
    this.ctl = ctl;
    const toSeq = this.oldest === null ? undefined : this.oldest - 1;
    if (toSeq === 0) return;
    try {
      const page = await this.api.eventsPage(this.type, toSeq, PAGE, ctl.signal);
      if (ctl.signal.aborted) return;
      for (const e of page) this.list.append(item(e));
      if (page.length > 0) this.oldest = page[page.length - 1].seq;
      this.older.hidden = page.length < PAGE || this.oldest <= 1;
      if (this.list.childElementCount === 0) this.list.append(h('li', { class: 'muted' }, 'No such event.'));
      this.showLegend();
    } catch (err) {
      if (!isAbort(err)) this.list.append(h('li', { class: 'error' }, err.message));
    }
  }

  /** Follow newly stored events of the device. */
  startTail() {
    // common.js's subscribe: the browser resumes after the last id it got; a feed the browser
    // gave up on (the hub restarting) is opened again, as the fleet page's is
    this.source = subscribe(
      this.api.liveUrl(),
      {
        event: (e) => {
          this.onHead(e);
          if (e.type === 'ClockSynced') this.correctBy(e);
          if (this.type && e.type !== this.type) return;
          this.list.querySelector(':scope > li.muted')?.remove();
          const li = item(e);
          li.classList.add('dv-new');
          this.list.prepend(li);
          this.tail.push({ seq: e.seq, shownAt: Date.now() });
          if (this.tail.length > 1000) this.tail.splice(0, 500);
        },
      },
      {
        onState: (state) => {
          this.status.textContent = state === 'open' ? '· live' : '· reconnecting…';
        },
      },
    );
  }
}

function item(e) {
  return h(
    'li',
    { class: 'dv-event', 'data-seq': e.seq, 'data-type': e.type, 'data-boot': e.boot, 'data-mono': e.mono },
    h(
      'details',
      null,
      h(
        'summary',
        null,
        h('span', { class: 'dv-seq' }, `#${e.seq}`),
        ' ',
        eventTimeEl(e),
        ' ',
        h('strong', null, e.type),
        ' ',
        h('span', { class: 'dv-summary' }, summary(e)),
      ),
      h('p', { class: 'dv-hash' }, 'hash ', h('code', null, e.hash)),
      h('pre', { class: 'dv-json' }, JSON.stringify(e, null, 2)),
    ),
  );
}

function summary(e) {
  if (e.data === null) return '(payload purged)';
  if (e.type === 'ReadingRecorded')
    return `${e.data.sensor} ${e.data.value}${e.data.unit ? ` ${e.data.unit}` : ''}`;
  if (e.type === 'PositionRecorded') return `${e.data.lat}, ${e.data.lon}`;
  return describe(e);
}
