// Address search against the gazetteer while the operator types (GET api/gazetteer/locate).
//
// Debounced; the candidates appear in a listbox under the address field (WAI-ARIA combobox:
// ↑/↓ move, Enter picks, Esc closes; the mouse works too). A confident match (`point`) is applied
// at once, with a visible note the operator can overrule by picking another candidate. Picking
// fills the WGS-84 lon/lat fields and shows the grid. Editing the address afterwards keeps the
// chosen position until a new search finds a confident match; clearing the address drops it.

import { ApiError, getJSON } from './api.js';

const DEBOUNCE_MS = 300;
const MIN_CHARS = 2;
const KIND_LABELS = { road_number: '门牌', compound: '小区', building: '楼栋', landmark: '地标' };

let gridNamesPromise = null;

/** Grid code → name, from the current grid version (loaded once, in the background). */
export function loadGridNames() {
  if (!gridNamesPromise) {
    gridNamesPromise = getJSON('api/grids?level=grid')
      .then((fc) => new Map((fc?.features || []).map((f) => [f.properties?.code, f.properties?.name || ''])))
      .catch((err) => {
        gridNamesPromise = null;
        throw err;
      });
  }
  return gridNamesPromise;
}

function option(c, index) {
  const li = document.createElement('li');
  li.setAttribute('role', 'option');
  li.id = `address-option-${index}`;
  li.dataset.index = String(index);
  li.dataset.testid = 'address-option';
  li.dataset.lon = String(c.lon);
  li.dataset.lat = String(c.lat);
  const main = document.createElement('span');
  main.textContent = c.text;
  const meta = document.createElement('small');
  meta.textContent = [
    KIND_LABELS[c.kind] || c.kind,
    c.exact === false ? '近似门牌' : '',
    c.grid_code ? `网格 ${c.grid_code}` : '不在网格内',
    `匹配 ${Math.round(c.score)}`,
  ].filter(Boolean).join(' · ');
  li.append(main, meta);
  return li;
}

export class AddressSearch {
  /**
   * `input` the address box, `listbox` its <ul>, `note` the line under it; `lon`/`lat` the
   * coordinate inputs; `onPosition()` runs whenever the position changes (duplicate hints).
   */
  constructor({ input, listbox, note, lon, lat, onPosition }) {
    Object.assign(this, { input, listbox, note, lon, lat, onPosition });
    this.candidates = [];
    this.active = -1;
    this.timer = null;
    this.abort = null;
    this.chosen = null; // the gazetteer place whose coordinates are in lon/lat
    this.lastQuery = '';
    input.addEventListener('input', () => this.onInput());
    input.addEventListener('keydown', (e) => this.onKey(e));
    input.addEventListener('blur', () => this.close());
    listbox.addEventListener('mousedown', (e) => {
      const li = e.target.closest('[role="option"]');
      if (!li) return;
      e.preventDefault(); // keep the focus in the input
      this.pick(Number(li.dataset.index));
    });
    // Coordinates typed by hand win over the gazetteer.
    for (const box of [lon, lat]) {
      box.addEventListener('input', () => {
        if (!this.chosen) return;
        this.chosen = null;
        this.showNote('坐标已手工修改', 'manual');
        this.onPosition?.();
      });
    }
  }

  get isOpen() {
    return !this.listbox.hidden;
  }

  /** Forget everything (a new call). */
  reset() {
    clearTimeout(this.timer);
    this.abort?.abort();
    this.candidates = [];
    this.chosen = null;
    this.lastQuery = '';
    this.close();
    this.showNote('', '');
  }

  onInput() {
    clearTimeout(this.timer);
    const text = this.input.value.trim();
    if (text.length < MIN_CHARS) {
      this.abort?.abort();
      this.candidates = [];
      this.close();
      if (!text && this.chosen) this.clearPosition();
      this.showNote('', '');
      return;
    }
    this.timer = setTimeout(() => this.search(text), DEBOUNCE_MS);
  }

  async search(text) {
    if (text === this.lastQuery) return;
    this.abort?.abort();
    const controller = new AbortController();
    this.abort = controller;
    this.input.setAttribute('aria-busy', 'true');
    try {
      const answer = await getJSON(`api/gazetteer/locate?${new URLSearchParams({ q: text })}`, {
        signal: controller.signal,
      });
      if (controller.signal.aborted || this.input.value.trim() !== text) return;
      this.lastQuery = text;
      this.candidates = answer?.candidates || [];
      if (answer?.point) {
        this.apply(answer.point, 'auto');
        this.close();
      } else {
        this.render();
        if (this.candidates.length) {
          this.open();
          this.showNote(this.chosen
            ? `地址已修改，仍沿用定位“${this.chosen.text}”；可用 ↓ 选择其他候选`
            : `未能唯一确定位置：请用 ↓ 选择候选地址（共 ${this.candidates.length} 个），或手工填写坐标`, 'ask');
        } else {
          this.close();
          this.showNote(this.chosen ? `地址已修改，仍沿用定位“${this.chosen.text}”`
            : '地址库中没有相近的地址：可照常受理（由派遣员定位），或手工填写坐标', 'none');
        }
      }
    } catch (err) {
      if (err?.name === 'AbortError') return;
      if (!(err instanceof ApiError && err.status === 401)) this.showNote(`地址检索失败：${err.message}`, 'error');
    } finally {
      if (this.abort === controller) this.input.removeAttribute('aria-busy');
    }
  }

  render() {
    this.listbox.replaceChildren(...this.candidates.map(option));
    this.setActive(this.candidates.length ? 0 : -1);
  }

  open() {
    if (!this.candidates.length) return;
    if (this.listbox.childElementCount !== this.candidates.length) this.render();
    this.listbox.hidden = false;
    this.input.setAttribute('aria-expanded', 'true');
  }

  close() {
    this.listbox.hidden = true;
    this.input.setAttribute('aria-expanded', 'false');
    this.input.removeAttribute('aria-activedescendant');
  }

  setActive(index) {
    this.active = index;
    for (const li of this.listbox.querySelectorAll('[role="option"]')) {
      const on = Number(li.dataset.index) === index;
      li.setAttribute('aria-selected', String(on));
      if (on && !this.listbox.hidden) li.scrollIntoView({ block: 'nearest' });
    }
    if (index >= 0) this.input.setAttribute('aria-activedescendant', `address-option-${index}`);
    else this.input.removeAttribute('aria-activedescendant');
  }

  pick(index) {
    const c = this.candidates[index];
    if (!c) return;
    this.input.value = c.text; // the gazetteer's spelling; the operator may append 单元、门牌 …
    this.lastQuery = c.text;
    this.apply(c, 'picked');
    this.close();
  }

  /** Put a gazetteer place into lon/lat and say so. `how`: 'auto' (confident match) or 'picked'. */
  apply(place, how) {
    this.chosen = place;
    this.lon.value = Number(place.lon).toFixed(7);
    this.lat.value = Number(place.lat).toFixed(7);
    this.lon.removeAttribute('aria-invalid');
    this.lat.removeAttribute('aria-invalid');
    const lead = how === 'auto' ? '已自动定位' : '已选定位';
    const rest = this.candidates.length > 1 && how === 'auto' ? '（不对？按 ↓ 选择其他候选）' : '';
    this.showNote(`${lead}：${place.text} · ${place.grid_code ? `网格 ${place.grid_code}` : '不在任何网格内'}${rest}`, how,
      place.grid_code);
    this.onPosition?.();
  }

  clearPosition() {
    this.chosen = null;
    this.lon.value = '';
    this.lat.value = '';
    this.onPosition?.();
  }

  /** The note under the address; the grid's name is added when known. */
  showNote(text, kind, gridCode = '') {
    this.note.textContent = text;
    this.note.dataset.kind = kind;
    this.note.dataset.grid = gridCode || '';
    this.note.hidden = !text;
    if (!gridCode) return;
    loadGridNames().then((names) => {
      const name = names.get(gridCode);
      if (name && this.note.dataset.grid === gridCode && this.note.textContent === text) {
        this.note.textContent = text.replace(`网格 ${gridCode}`, `${name}（${gridCode}）`);
      }
    }).catch(() => {});
  }

  onKey(e) {
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      if (!this.candidates.length) return;
      e.preventDefault();
      if (!this.isOpen) {
        this.open();
        this.setActive(0);
        return;
      }
      const n = this.candidates.length;
      this.setActive((this.active + (e.key === 'ArrowDown' ? 1 : -1) + n) % n);
    } else if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey && this.isOpen && this.active >= 0) {
      e.preventDefault(); // pick, do not submit
      this.pick(this.active);
    } else if (e.key === 'Escape' && this.isOpen) {
      e.preventDefault();
      this.close();
    } else if (e.key === 'Tab') {
      this.close();
    }
  }
}
