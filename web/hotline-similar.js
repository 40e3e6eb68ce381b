// Duplicate hints while a call is entered (GET api/tickets/similar): once the category and an
// address or position are known, open recent tickets that look like the same problem are listed
// under "可能重复" — number, state, distance, and whether the same caller reported it. A hint
// only: the operator still registers the call; the dispatcher merges duplicates.

import { ApiError, getJSON } from './api.js';
import { STATE_SHORT, el, formatShort } from './labels.js';

const DEBOUNCE_MS = 400;

function distanceText(m) {
  if (m === null || m === undefined) return '同一地址'; // matched by caller and address, no positions
  const d = Number(m);
  if (!Number.isFinite(d)) return '';
  if (d < 1) return '同一位置';
  return d < 1000 ? `相距约 ${Math.round(d)} 米` : `相距约 ${(d / 1000).toFixed(1)} 公里`;
}

export class SimilarHints {
  /** `box` the section, `list` its <ul>, `title` its heading; `read()` gives the form's fields. */
  constructor({ box, list, title, read }) {
    Object.assign(this, { box, list, title, read });
    this.timer = null;
    this.abort = null;
    this.lastKey = '';
  }

  /** Call after any change of category, address, position or phone. */
  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.check(), DEBOUNCE_MS);
  }

  clear() {
    clearTimeout(this.timer);
    this.abort?.abort();
    this.lastKey = '';
    this.list.replaceChildren();
    this.box.hidden = true;
    this.box.dataset.count = '0';
  }

  async check() {
    const f = this.read();
    const hasPosition = Number.isFinite(f.lon) && Number.isFinite(f.lat);
    if (!f.category_code || (!hasPosition && !f.address)) {
      this.clear();
      return;
    }
    const query = new URLSearchParams({ category_code: f.category_code });
    if (hasPosition) {
      query.set('lon', String(f.lon));
      query.set('lat', String(f.lat));
    }
    if (f.address) query.set('address', f.address.slice(0, 255));
    if (/^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8})$/.test(f.caller_phone || '')) query.set('caller_phone', f.caller_phone);
    const key = query.toString();
    if (key === this.lastKey) return;
    this.abort?.abort();
    const controller = new AbortController();
    this.abort = controller;
    try {
      const found = await getJSON(`api/tickets/similar?${key}`, { signal: controller.signal });
      if (controller.signal.aborted) return;
      this.lastKey = key;
      this.show(Array.isArray(found) ? found : []);
    } catch (err) {
      if (err?.name === 'AbortError' || (err instanceof ApiError && err.status === 401)) return;
      this.lastKey = '';
      this.box.hidden = true; // a hint only: never in the operator's way
    }
  }

  show(items) {
    this.box.dataset.count = String(items.length);
    this.box.hidden = items.length === 0;
    this.title.textContent = `可能重复（${items.length}）：附近已有同类未办结工单，请向来电人核实是否同一问题`;
    this.list.replaceChildren(...items.map((s) => el('li', {
      testid: 'similar-item', dataset: { number: s.number || '', sameCaller: String(!!s.same_caller) },
    },
    el('strong', { className: 'h-num' }, s.number || `#${s.id}`),
    el('span', { className: `h-state state-${s.state}` }, STATE_SHORT[s.state] || s.state),
    s.same_caller ? el('span', { className: 'h-same-caller', testid: 'similar-same-caller' }, '同一来电人') : null,
    el('span', { testid: 'similar-distance' }, distanceText(s.distance_m)),
    el('span', { className: 'h-similar-what' }, [s.category_name, s.address || s.grid_name].filter(Boolean).join(' · ')),
    el('time', { datetime: s.created_at }, `${formatShort(s.created_at)} 受理`))));
  }
}
