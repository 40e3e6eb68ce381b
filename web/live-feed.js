// The console websocket for pages other than the console (the workbench): connects with the last
// sequence number seen, applies each change once, reconnects with backoff and catches up.

import { getToken, wsUrl } from './api.js';

const MIN_MS = 1000;
const MAX_MS = 15000;
const CLOSE_UNAUTHORIZED = 4401;

export class LiveFeed {
  /** onChange(msg) for every new change; onReset() when the server cannot replay; onStatus(kind). */
  constructor({ since = 0, onChange, onReset, onStatus, onUnauthorized }) {
    this.lastSeq = Number(since) || 0;
    this.handlers = { onChange, onReset, onStatus, onUnauthorized };
    this.delay = MIN_MS;
    this.ws = null;
    this.timer = null;
    this.running = false;
    this.onOnline = () => {
      if (this.running && this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        this.delay = MIN_MS;
        this.connect();
      }
    };
  }

  start() {
    this.running = true;
    window.addEventListener('online', this.onOnline);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener('online', this.onOnline);
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    ws?.close(1000, 'stop');
  }

  connect() {
    if (!this.running) return;
    const token = getToken();
    if (!token) {
      this.handlers.onUnauthorized?.();
      return;
    }
    this.handlers.onStatus?.('connecting');
    const ws = new WebSocket(wsUrl('api/console/ws', { token, since: this.lastSeq, batch: 1 }));
    this.ws = ws;
    let openedAt = 0;
    ws.addEventListener('open', () => {
      if (this.ws !== ws) return;
      openedAt = Date.now();
      this.handlers.onStatus?.('open');
    });
    ws.addEventListener('message', (event) => {
      if (this.ws === ws) this.apply(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (event.code === CLOSE_UNAUTHORIZED) {
        this.handlers.onUnauthorized?.();
        return;
      }
      if (openedAt && Date.now() - openedAt > 10000) this.delay = MIN_MS;
      this.handlers.onStatus?.('reconnecting');
      const delay = this.delay;
      this.delay = Math.min(delay * 2, MAX_MS);
      this.timer = setTimeout(() => {
        this.timer = null;
        this.connect();
      }, delay);
    });
  }

  apply(raw) {
    let parsed;
    try {
      parsed = JSON.parse(raw);
    } catch {
      return;
    }
    // batch=1: the changes waiting for this page arrive together, as an array.
    for (const msg of Array.isArray(parsed) ? parsed : [parsed]) this.applyOne(msg);
  }

  applyOne(msg) {
    if (msg?.type === 'reset') {
      this.lastSeq = 0; // the reload gives the new starting point (after a restore it may be lower)
      this.handlers.onReset?.();
      return;
    }
    if (msg?.type !== 'change') return;
    const seq = Number(msg.seq);
    if (!Number.isFinite(seq) || seq <= this.lastSeq) return;
    this.lastSeq = seq;
    if (msg.ticket) this.handlers.onChange?.(msg);
  }
}
