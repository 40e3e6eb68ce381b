// The report form of the officer's phone app: position (GPS + draggable pin), category
// picker with search, description, urgency, address, up to 6 photos compressed in the
// browser. Submitting stores the report in the outbox (IndexedDB) first; sending is the
// outbox's job, so a report made offline is never lost. 自行处置 is the same flow with
// `self_resolved: true` in the stored report (the server closes the ticket at intake); it needs
// at least one photo of the scene.

import { categoryLabel, filterGroups, loadCategoryGroups } from './categories.js';
import { ReportMap } from './officer-map.js';
import { newClientRef, saveReport } from './outbox.js';
import { compressPhoto } from './photos.js';

export const MAX_PHOTOS = 6;
const RECENT_KEY = 'gridDispatch.officer.recentCategories';
const RECENT_MAX = 4;

const $ = (id) => document.getElementById(id);

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child != null && child !== false) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function readRecent() {
  try {
    const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
    return Array.isArray(list) ? list.filter((c) => typeof c === 'string') : [];
  } catch {
    return [];
  }
}

function rememberRecent(code) {
  const list = [code, ...readRecent().filter((c) => c !== code)].slice(0, RECENT_MAX);
  localStorage.setItem(RECENT_KEY, JSON.stringify(list));
}

export class ReportForm {
  /**
   * `getOwner()` names the logged-in officer; `onSaved(record)` runs after the report is
   * durably stored (the app then syncs); `toast(text)` shows a short message.
   */
  constructor({ getOwner, onSaved, toast }) {
    this.getOwner = getOwner;
    this.onSaved = onSaved;
    this.toast = toast;
    this.groups = [];
    this.position = null; // {lat, lon, grid}
    this.photos = []; // [{blob, name, url}]
    this.categoryCode = '';
    this.clientRef = newClientRef(); // the report's idempotency key, made when it is created
    this.lastFix = null;
    this.watchId = null;
    this.dom = {
      form: $('report-form'), positionInfo: $('position-info'), locate: $('locate-button'),
      categoryButton: $('category-button'), description: $('description'), address: $('address'),
      photoInput: $('photo-input'), photoStrip: $('photo-strip'), photoAdd: $('photo-add'),
      photoCount: $('photo-count'), formError: $('form-error'), submit: $('submit-report'),
      selfHandle: $('self-handle'), selfHint: $('self-handle-hint'),
      sheet: $('category-sheet'), search: $('category-search'), list: $('category-list'),
      close: $('category-close'),
    };
    this.map = new ReportMap($('report-map'), { onMove: (p) => this.onPosition(p) });
    this.bind();
  }

  bind() {
    const d = this.dom;
    d.form.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit();
    });
    d.selfHandle.addEventListener('click', () => this.submit({ selfResolved: true }));
    d.locate.addEventListener('click', () => {
      this.map.reset();
      if (this.lastFix) this.map.setGpsFix(this.lastFix, { force: true });
      else this.startGps();
    });
    d.categoryButton.addEventListener('click', () => this.openSheet());
    d.close.addEventListener('click', () => this.closeSheet());
    d.search.addEventListener('input', () => this.renderSheet());
    d.search.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') this.closeSheet();
      if (e.key === 'Enter') {
        e.preventDefault();
        d.list.querySelector('[data-code]')?.click(); // Enter takes the first match
      }
    });
    d.list.addEventListener('click', (e) => {
      const option = e.target.closest('[data-code]');
      if (option) this.pickCategory(option.dataset.code);
    });
    d.photoInput.addEventListener('change', () => this.addPhotos([...d.photoInput.files]));
    d.photoStrip.addEventListener('click', (e) => {
      const remove = e.target.closest('[data-remove]');
      if (remove) this.removePhoto(Number(remove.dataset.remove));
    });
  }

  /** Load categories and map outlines, start GPS. Safe to call again after a re-login. */
  async start() {
    this.startGps();
    this.map.invalidate();
    this.map.loadOutlines();
    try {
      this.groups = await loadCategoryGroups();
      this.renderCategory();
    } catch (err) {
      this.showFieldError('category_code', `类别加载失败：${err.message}`);
    }
  }

  startGps() {
    if (!('geolocation' in navigator)) {
      this.dom.positionInfo.textContent = '此设备不支持定位：请在地图上点选上报位置';
      return;
    }
    if (this.watchId != null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = navigator.geolocation.watchPosition(
      (pos) => {
        this.lastFix = pos.coords;
        this.map.setGpsFix(pos.coords);
      },
      (err) => {
        if (this.position) return; // keep the position we have
        this.dom.positionInfo.textContent = err.code === err.PERMISSION_DENIED
          ? '未允许定位：请在地图上点选上报位置，或在浏览器设置中允许定位'
          : '暂时无法定位：请在地图上点选上报位置';
        this.dom.positionInfo.dataset.state = 'error';
      },
      { enableHighAccuracy: true, maximumAge: 10000, timeout: 20000 },
    );
  }

  stopGps() {
    if (this.watchId != null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
  }

  onPosition({ lat, lon, grid, source }) {
    this.position = { lat, lon, grid };
    const coords = `${lon.toFixed(5)}, ${lat.toFixed(5)}`;
    const where = grid ? `${grid.name || ''}（${grid.code}）` : '不在已知网格内';
    const how = source === 'drag' || source === 'tap' ? '已手动调整' : 'GPS定位';
    const info = this.dom.positionInfo;
    info.replaceChildren(el('strong', {}, where), ` · ${how} · ${coords}`);
    info.dataset.state = grid ? 'ok' : 'outside';
    info.dataset.grid = grid?.code || '';
    this.showFieldError('position', '');
  }

  // ------------------------------------------------------------ category --

  openSheet() {
    this.dom.sheet.hidden = false;
    this.dom.search.value = '';
    this.renderSheet();
    this.dom.search.focus();
  }

  closeSheet() {
    this.dom.sheet.hidden = true;
    this.dom.categoryButton.focus();
  }

  renderSheet() {
    const query = this.dom.search.value;
    const groups = filterGroups(this.groups, query);
    const nodes = [];
    const option = (c) => el('button', {
      type: 'button', className: 'o-option', 'data-testid': 'category-option',
      dataset: { code: c.code }, 'aria-pressed': String(c.code === this.categoryCode),
    }, el('span', {}, c.name), el('small', {}, c.code));
    const recent = query ? [] : readRecent()
      .map((code) => this.groups.flatMap((g) => g.children).find((c) => c.code === code))
      .filter(Boolean);
    if (recent.length) {
      nodes.push(el('h3', {}, '最近使用'), el('div', { className: 'o-options' }, ...recent.map(option)));
    }
    for (const group of groups) {
      nodes.push(el('h3', {}, `${group.name}`, el('small', {}, group.code)),
        el('div', { className: 'o-options' }, ...group.children.map(option)));
    }
    if (!groups.length) nodes.push(el('p', { className: 'o-empty' }, `没有找到“${query}”相关的类别`));
    this.dom.list.replaceChildren(...nodes);
  }

  pickCategory(code) {
    this.categoryCode = code;
    rememberRecent(code);
    this.renderCategory();
    this.showFieldError('category_code', '');
    this.closeSheet();
  }

  renderCategory() {
    const b = this.dom.categoryButton;
    b.textContent = this.categoryCode ? categoryLabel(this.groups, this.categoryCode) : '请选择类别';
    b.dataset.code = this.categoryCode;
    b.classList.toggle('is-empty', !this.categoryCode);
  }

  // -------------------------------------------------------------- photos --

  async addPhotos(files) {
    this.dom.photoInput.value = '';
    const room = MAX_PHOTOS - this.photos.length;
    if (files.length > room) this.toast(`照片最多 ${MAX_PHOTOS} 张，已忽略多余的 ${files.length - room} 张`);
    this.dom.photoAdd.classList.add('is-busy');
    for (const file of files.slice(0, Math.max(0, room))) {
      try {
        const photo = await compressPhoto(file);
        this.photos.push({ ...photo, url: URL.createObjectURL(photo.blob) });
      } catch (err) {
        this.toast(err.message);
      }
      this.renderPhotos();
    }
    this.dom.photoAdd.classList.remove('is-busy');
  }

  removePhoto(index) {
    const [photo] = this.photos.splice(index, 1);
    if (photo) URL.revokeObjectURL(photo.url);
    this.renderPhotos();
  }

  renderPhotos() {
    const strip = this.dom.photoStrip;
    for (const node of strip.querySelectorAll('.o-photo')) node.remove();
    this.photos.forEach((p, i) => {
      const kb = Math.round(p.blob.size / 1024);
      strip.insertBefore(el('figure', { className: 'o-photo', 'data-testid': 'photo-thumb' },
        el('img', { src: p.url, alt: `照片 ${i + 1}` }),
        el('figcaption', {}, `${kb} KB`),
        el('button', { type: 'button', className: 'o-photo-remove', 'aria-label': `删除照片 ${i + 1}`, dataset: { remove: i } }, '×')),
      this.dom.photoAdd);
    });
    this.dom.photoCount.textContent = `${this.photos.length}/${MAX_PHOTOS}`;
    this.dom.photoAdd.hidden = this.photos.length >= MAX_PHOTOS;
    this.dom.selfHint.textContent = this.photos.length ? '直接结案' : '需现场照片';
    this.dom.selfHandle.dataset.ready = String(this.photos.length > 0);
    if (this.photos.length) this.showFieldError('photos', '');
  }

  // -------------------------------------------------------------- submit --

  showFieldError(field, text) {
    const node = document.querySelector(`[data-error-for="${field}"]`);
    if (node) {
      node.textContent = text;
      node.hidden = !text;
    } else if (field === 'position') {
      if (text) this.dom.positionInfo.textContent = text;
    }
  }

  validate({ selfResolved = false } = {}) {
    const errors = {};
    if (!this.position) errors.position = '还没有上报位置：请等待定位，或在地图上点选';
    if (!this.categoryCode) errors.category_code = '请选择事件类别';
    if (!this.dom.description.value.trim()) {
      errors.description = selfResolved ? '请填写问题及处置情况' : '请填写问题描述';
    }
    if (selfResolved && !this.photos.length) {
      errors.photos = '自行处置需要至少 1 张现场照片（处置后的现场），请先拍照后再点“自行处置”';
    }
    for (const field of ['category_code', 'description', 'photos']) this.showFieldError(field, errors[field] || '');
    if (errors.photos) this.dom.photoAdd.scrollIntoView({ block: 'center', behavior: 'smooth' });
    if (errors.position) {
      this.dom.positionInfo.textContent = errors.position;
      this.dom.positionInfo.dataset.state = 'error';
    }
    return Object.keys(errors).length === 0;
  }

  /** Store the report in the outbox; `selfResolved`: 自行处置 (closed at once, needs a photo). */
  async submit({ selfResolved = false } = {}) {
    const d = this.dom;
    d.formError.hidden = true;
    if (!this.validate({ selfResolved })) {
      if (selfResolved && !this.photos.length) this.toast('自行处置需要至少 1 张现场照片');
      return;
    }
    d.submit.disabled = true;
    d.selfHandle.disabled = true;
    try {
      const urgency = d.form.querySelector('input[name="urgency"]:checked')?.value || 'normal';
      const record = await saveReport({
        client_ref: this.clientRef,
        owner: this.getOwner(),
        created_at: new Date().toISOString(),
        fields: {
          lon: Number(this.position.lon.toFixed(7)),
          lat: Number(this.position.lat.toFixed(7)),
          category_code: this.categoryCode,
          category_name: categoryLabel(this.groups, this.categoryCode),
          grid_name: this.position.grid?.name || '',
          description: d.description.value.trim(),
          urgency,
          address: d.address.value.trim(),
          self_resolved: selfResolved,
        },
        photos: this.photos.map(({ blob, name }) => ({ blob, name })),
      });
      this.resetDraft();
      this.onSaved(record);
    } catch (err) {
      d.formError.textContent = `保存失败：${err.message || err}`;
      d.formError.hidden = false;
    } finally {
      d.submit.disabled = false;
      d.selfHandle.disabled = false;
    }
  }

  /** A new, empty report with a new idempotency key; the position stays (next report is nearby). */
  resetDraft() {
    this.clientRef = newClientRef();
    this.categoryCode = '';
    this.renderCategory();
    this.dom.description.value = '';
    this.dom.address.value = '';
    this.dom.form.querySelector('input[name="urgency"][value="normal"]').checked = true;
    for (const p of this.photos) URL.revokeObjectURL(p.url);
    this.photos = [];
    this.renderPhotos();
  }
}
