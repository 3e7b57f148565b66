// The live fleet feed (/fleet/live, server-sent events) for one client. What the client
// missed is read from the store at the pace its socket drains, never ahead of it; once
// caught up, new batches are queued for it up to a cap, and a client whose queue passes
// the cap is dropped (it resumes with Last-Event-ID). So a slow client costs the hub at
// most its queue and a socket buffer, never the fleet's history.
import type { ServerResponse } from 'node:http';
import type { Envelope } from '../log/envelope.js';
import type { FleetStore } from './fleet-store.js';

/** Default cap on what one live client may have queued: 1 MiB of event text. */
export const DEFAULT_LIVE_QUEUE_BYTES = 1024 * 1024;

/** What the catch-up gathers before one write: big enough to be cheap, small to stay bounded. */
const WRITE_CHUNK = 16 * 1024;

export interface LiveFeedOptions {
  store: FleetStore;
  /** The fleet head when the client came (the store's; the feed follows it from here). */
  head: number;
  heartbeatMs: number;
  maxQueuedBytes: number;
  /** Only this device's events (ids stay fleet positions, so Last-Event-ID resumes the same). */
  device?: string;
  /** A client dropped for falling behind. */
  onDrop: () => void;
  onOpen: () => void;
  onClose: () => void;
}

function frame(position: number, event: Envelope): string {
  return `id: ${position}\nevent: event\ndata: ${JSON.stringify(event)}\n\n`;
}

/** Write with the client's pace: resolves once the socket takes more; false once it is gone. */
export async function write(res: ServerResponse, text: string): Promise<boolean> {
  if (res.destroyed || res.writableEnded) return false;
  if (res.write(text)) return true;
  await new Promise<void>((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
  return !res.destroyed && !res.writableEnded;
}

/** Serve the feed after position `lastId` until the client goes (or is dropped). */
export async function serveLive(res: ServerResponse, lastId: number, o: LiveFeedOptions): Promise<void> {
  const { store } = o;
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.write(': fieldlog live\n\n');
  o.onOpen();
  /** Highest position written or queued: the feed goes on from here. */
  let upTo = lastId;
  /** The fleet head as the store last told it (by any hub, for a shared store). */
  let head = o.head;
  const queue: string[] = [];
  let queued = 0;
  /** Caught up: new batches are queued as they come, not read back from the store. */
  let live = false;
  let gone = false;
  let wake: (() => void) | null = null;
  const rouse = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  const drop = () => {
    gone = true;
    queue.length = 0;
    queued = 0;
    o.onDrop();
    // what the socket already holds may still reach a client that reads again; one that
    // never does is cut off, so the dropped stream cannot hold the hub's memory either
    res.end(': dropped: too far behind; reconnect with Last-Event-ID to resume\n\n');
    const cut = setTimeout(() => res.destroy(), 10_000);
    cut.unref();
    res.once('close', () => clearTimeout(cut));
    rouse();
  };

  const onAppended = (fleetHead: number, batch?: { first: number; events: Envelope[] }) => {
    head = Math.max(head, fleetHead);
    if (gone) return;
    if (live && batch && batch.first === upTo + 1) {
      const { first, events } = batch;
      let text = '';
      for (let i = 0; i < events.length; i++)
        if (o.device === undefined || events[i]!.device === o.device) text += frame(first + i, events[i]!);
      if (text !== '') queue.push(text);
      queued += text.length;
      upTo = first + events.length - 1;
      // behind: more queued than the cap while the socket takes nothing more
      if (queued > o.maxQueuedBytes && res.writableNeedDrain) return drop();
    } else {
      // a batch the store did not keep (or another hub's) is read back from the store
      live = false;
    }
    rouse();
  };
  const off = store.onAppended(onAppended);
  const beat = setInterval(() => {
    // a heartbeat is only worth sending to a socket with room; a full one is busy anyway
    if (!gone && res.writableLength === 0) res.write(': heartbeat\n\n');
  }, o.heartbeatMs);
  res.on('close', () => {
    gone = true;
    rouse();
  });
  try {
    // what was appended between the caller's read of the head and this subscription is read
    // back now, not when the next batch comes
    head = Math.max(head, await store.fleetHead());
    while (!gone) {
      const text = queue.shift();
      if (text !== undefined) {
        queued -= text.length;
        if (!(await write(res, text))) break;
        continue;
      }
      if (upTo < head) {
        live = false;
        await catchUp();
        continue;
      }
      // caught up: from here on a batch is queued as it is stored
      live = true;
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    clearInterval(beat);
    off();
    o.onClose();
  }

  /** Read what the client has not seen from the store, one socket-full at a time. */
  async function catchUp(): Promise<void> {
    let text = '';
    for await (const chunk of store.events({ fleet: true, from: upTo + 1, to: head })) {
      for (const { position, event } of chunk) {
        upTo = position!;
        if (o.device !== undefined && event.device !== o.device) continue;
        text += frame(position!, event);
        if (text.length >= WRITE_CHUNK) {
          const ok = await write(res, text);
          text = '';
          if (!ok) {
            gone = true;
            return;
          }
        }
      }
    }
    if (text !== '' && !(await write(res, text))) gone = true;
  }
}
