// 核查任务 on the officer's phone: field checks (核实 at intake, 核查 before closing) sent to the
// officer on duty for a grid. The list is kept on the phone (localStorage) so it opens offline; the
// photos come through the service worker's cache. An answer (属实/不属实, 已整改/未整改, with photos) is
// stored in the outbox first, like a report, and sent from there — so it survives no network.

import { ApiError, apiUrl, getJSON, getToken } from './api.js';
import { el, formatShort } from './labels.js';
import { newClientRef, saveReport } from './outbox.js';
import { compressPhoto } from './photos.js';

const CACHE_KEY = 'gridDispatch.officer.tasks';
const MAX_PHOTOS = 6;
const CHOICES = {
  intake: [['confirmed', '属实'], ['unfounded', '不属实']],
  closure: [['fixed', '已整改'], ['not_fixed', '未整改']],
};
const NEGATIVE = new Set(['unfounded', 'not_fixed']);
const KIND_HINTS = {
  intake: '到现场核实反映的问题是否属实，拍照后回复',
  closure: '到现场核查责任部门是否已整改，拍照后回复',
};

const $ = (id) => document.getElementById(id);

function cacheKey(owner) {
  return `${CACHE_KEY}.${owner}`;
}

/** A photo of a ticket as an <img>: fetched with the bearer header (the service worker caches it). */
function photo(ticketId, attachmentId, label) {
  const img = el('img', { alt: label, loading: 'lazy', testid: 'task-photo' });
  fetch(apiUrl(`api/tickets/${ticketId}/attachments/${attachmentId}`), {
    headers: { Authorization: `Bearer ${getToken()}` },
  })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
    .then((blob) => { img.src = URL.createObjectURL(blob); img.dataset.loaded = 'true'; })
    .catch(() => { img.alt = `${label}（离线，未缓存）`; });
  return img;
}

export class TaskList {
  /** `getOwner()` names the officer; `outboxChanged()` syncs the outbox after an answer is stored. */
  constructor({ getOwner, listOutbox, outboxChanged, toast }) {
    this.getOwner = getOwner;
    this.listOutbox = listOutbox;
    this.outboxChanged = outboxChanged;
    this.toast = toast;
    this.tasks = [];
    this.openId = null;
    this.photos = [];
    this.map = null;
    this.dom = {
      list: $('task-list'), empty: $('task-empty'), info: $('task-info'), badge: $('task-badge'),
    };
    this.dom.list.addEventListener('click', (e) => this.onClick(e));
    this.dom.list.addEventListener('change', (e) => this.onChange(e));
  }

  /** The cached list first (offline), then the server's when it answers. */
  async load() {
    const owner = this.getOwner();
    if (!owner) return;
    try {
      this.tasks = JSON.parse(localStorage.getItem(cacheKey(owner)) || '[]');
    } catch {
      this.tasks = [];
    }
    await this.render();
    try {
      this.tasks = await getJSON('api/verifications?status=pending');
      localStorage.setItem(cacheKey(owner), JSON.stringify(this.tasks));
      this.dom.info.textContent = `更新于 ${formatShort(new Date().toISOString())}`;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return;
      this.dom.info.textContent = '当前无网络，显示本机保存的任务';
    }
    await this.render();
  }

  async answers() {
    return (await this.listOutbox(this.getOwner())).filter((r) => r.kind === 'answer');
  }

  async render() {
    const answers = new Map((await this.answers()).map((r) => [r.task_id, r]));
    const items = this.tasks.map((t) => this.item(t, answers.get(t.id)));
    const open = this.tasks.filter((t) => !answers.has(t.id) || answers.get(t.id).status === 'failed').length;
    this.dom.badge.textContent = String(open);
    this.dom.badge.hidden = open === 0;
    const keep = this.openId && this.dom.list.querySelector(`[data-task-id="${this.openId}"] .o-task-form`);
    if (keep) return; // do not wipe a form being filled in
    this.dom.list.replaceChildren(...items);
    this.dom.empty.hidden = items.length > 0;
    if (this.openId) this.mountMap();
  }

  item(t, sent) {
    const ticket = t.ticket || {};
    const overdue = Date.parse(t.deadline_at) < Date.now();
    const status = sent ? (sent.status === 'failed' ? '发送失败' : sent.status === 'sent' ? '已回复' : '待发送') : '';
    const open = this.openId === t.id && !sent;
    return el('li', {
      className: `o-item o-task${overdue ? ' is-overdue' : ''}`, testid: 'task',
      dataset: { taskId: t.id, kind: t.kind, number: ticket.number || '' },
    },
    el('div', { className: 'o-item-top' },
      el('span', { className: `o-chip is-${t.kind}` }, t.kind_label),
      el('strong', {}, ticket.number || ''),
      el('span', { className: `o-state${overdue ? ' is-failed' : ''}`, testid: 'task-deadline' },
        status || `${overdue ? '已超时 ' : ''}截止 ${formatShort(t.deadline_at)}`)),
    el('div', { className: 'o-item-main' }, ticket.category_name || ticket.category_code || ''),
    el('div', { className: 'o-item-meta', testid: 'task-address' },
      [ticket.grid_name, ticket.address].filter(Boolean).join(' · ') || '无地址说明'),
    ticket.description && el('div', { className: 'o-item-desc' }, `反映：${ticket.description}`),
    t.note && el('div', { className: 'o-item-desc' }, `要求：${t.note}`),
    t.kind === 'closure' && ticket.feedback_text && el('div', { className: 'o-item-desc', testid: 'task-feedback' },
      `${ticket.department_name || '责任部门'}反馈：${ticket.feedback_text}`),
    sent?.status === 'failed' && el('div', { className: 'o-item-error' }, `原因：${sent.last_error}`),
    sent?.status === 'pending' && el('div', { className: 'o-item-meta' }, '回复已保存在本机，联网后自动发送'),
    !sent && !open && el('button', {
      type: 'button', className: 'o-btn o-btn-primary o-task-open', dataset: { open: t.id }, testid: 'task-open',
    }, '去核查'),
    open && this.form(t));
  }

  form(t) {
    const ticket = t.ticket || {};
    const photos = [
      ...(t.feedback_attachment_ids || []).map((id) => photo(ticket.id, id, '部门反馈照片')),
      ...(t.report_attachment_ids || []).map((id) => photo(ticket.id, id, '上报照片')),
    ];
    return el('form', { className: 'o-task-form', testid: 'task-form', novalidate: true },
      el('p', { className: 'o-note' }, KIND_HINTS[t.kind] || ''),
      ticket.lat != null && el('div', { className: 'o-task-map', testid: 'task-map' }),
      photos.length > 0 && el('div', { className: 'o-photos o-task-photos' }, ...photos),
      el('fieldset', { className: 'o-field o-choice' }, el('legend', {}, '核查结果'),
        ...(CHOICES[t.kind] || []).map(([value, label]) => el('label', {},
          el('input', { type: 'radio', name: 'answer', value, testid: `answer-${value}` }), ` ${label}`))),
      el('label', { className: 'o-field' }, el('span', {}, '情况说明'),
        el('textarea', { name: 'note', rows: 2, maxlength: 2000, testid: 'task-note',
          placeholder: '不属实、未整改时必填' })),
      el('div', { className: 'o-field' },
        el('span', {}, '现场照片 ', el('small', { testid: 'task-photo-count' }, `${this.photos.length}/${MAX_PHOTOS}`)),
        el('div', { className: 'o-photos' }, el('label', { className: 'o-photo-add' },
          el('input', { type: 'file', accept: 'image/*', multiple: true, name: 'photos', testid: 'task-photo-input' }),
          el('span', { 'aria-hidden': 'true' }, '＋'), el('span', {}, '拍照')))),
      el('p', { className: 'o-error', role: 'alert', testid: 'task-error', hidden: true }),
      el('div', { className: 'o-actions' },
        el('button', { type: 'button', className: 'o-btn o-btn-secondary', dataset: { cancel: t.id } }, '取消'),
        el('button', { type: 'button', className: 'o-btn o-btn-primary', dataset: { submit: t.id }, testid: 'task-submit' },
          '提交回复')));
  }

  /** The ticket's place on a small map: grid outlines (no tiles on an intranet), its grid marked. */
  async mountMap() {
    const box = this.dom.list.querySelector('.o-task-map');
    const t = this.tasks.find((x) => x.id === this.openId);
    if (!box || !t || !window.L || t.ticket?.lat == null) return;
    const L = window.L;
    this.map?.remove();
    const at = [t.ticket.lat, t.ticket.lon];
    const map = L.map(box, { zoomControl: false, attributionControl: false }).setView(at, 16);
    this.map = map;
    this.grids ??= await getJSON('api/grids?level=grid').catch(() => null);
    if (this.grids && this.map === map) {
      L.geoJSON(this.grids, {
        interactive: false,
        style: (f) => (f.properties?.code === t.ticket.grid_code
          ? { color: '#d9480f', weight: 2.5, fillColor: '#ffa94d', fillOpacity: 0.18 }
          : { color: '#7f97b5', weight: 0.8, fillOpacity: 0 }),
      }).addTo(map);
    }
    L.circleMarker(at, { radius: 9, color: '#fff', weight: 2, fillColor: '#c92a2a', fillOpacity: 0.9 }).addTo(map);
  }

  async onClick(e) {
    const open = e.target.closest('[data-open]');
    if (open) {
      this.openId = Number(open.dataset.open);
      this.photos = [];
      this.dom.list.replaceChildren(); // re-render with the form open
      await this.render();
      return;
    }
    if (e.target.closest('[data-cancel]')) {
      this.openId = null;
      this.photos = [];
      this.dom.list.replaceChildren();
      await this.render();
      return;
    }
    const submit = e.target.closest('[data-submit]');
    if (submit) await this.submit(Number(submit.dataset.submit), submit.closest('form'));
  }

  async onChange(e) {
    const error = e.target.closest('form')?.querySelector('[data-testid="task-error"]');
    if (error) error.hidden = true; // the officer is answering what it said
    if (e.target.name !== 'photos') return;
    const form = e.target.closest('form');
    const strip = e.target.closest('.o-photos');
    for (const file of Array.from(e.target.files || []).slice(0, MAX_PHOTOS - this.photos.length)) {
      try {
        const { blob, name } = await compressPhoto(file); // a JPEG of at most 1600 px
        this.photos.push({ blob, name });
        strip.insertBefore(el('figure', { className: 'o-photo', testid: 'task-photo-thumb' },
          el('img', { src: URL.createObjectURL(blob), alt: name })), strip.lastElementChild);
      } catch (err) {
        this.toast(err.message);
      }
    }
    e.target.value = '';
    form.querySelector('[data-testid="task-photo-count"]').textContent = `${this.photos.length}/${MAX_PHOTOS}`;
  }

  async submit(taskId, form) {
    const error = form.querySelector('[data-testid="task-error"]');
    const answer = form.querySelector('input[name="answer"]:checked')?.value;
    const note = form.querySelector('textarea[name="note"]').value.trim();
    const problem = !answer ? '请选择核查结果'
      : NEGATIVE.has(answer) && !note ? '请填写情况说明'
        : this.photos.length === 0 ? '请拍摄现场照片' : '';
    error.textContent = problem;
    error.hidden = !problem;
    if (problem) return;
    await saveReport({
      kind: 'answer', client_ref: newClientRef(), owner: this.getOwner(), task_id: taskId,
      created_at: new Date().toISOString(), fields: { answer, note }, photos: this.photos,
    });
    this.openId = null;
    this.photos = [];
    this.dom.list.replaceChildren();
    await this.render();
    await this.outboxChanged();
    await this.load();
  }
}
