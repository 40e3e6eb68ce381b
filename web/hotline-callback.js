// 回访 (callback) list of the hotline desk: closed 12345 tickets not yet called back
// (GET api/tickets?callback_pending=true&source=hotline) with the citizen's satisfaction entered in
// the row: 满意 / 基本满意 / 不满意 (radios: ←/→, or the keys 1 2 3 anywhere in the row), an optional
// note (required for 不满意: the ticket goes back to its department for 重办), Enter or 登记 posts
// POST api/tickets/{id}/callback; the row disappears on success.

import { ApiError, apiFetch, getJSON } from './api.js';
import { SATISFACTION_LABELS, el, formatShort } from './labels.js';
import { errorText } from './ticket-actions.js';

const CHOICES = ['satisfied', 'basically_satisfied', 'unsatisfied'];

export class CallbackList {
  constructor({ body, empty, info, status, onCount }) {
    Object.assign(this, { body, empty, info, status, onCount });
    this.rows = new Map(); // ticket id → <tr>
    this.loading = null;
    body.addEventListener('keydown', (e) => this.onKey(e));
    body.addEventListener('submit', (e) => {
      e.preventDefault();
      this.submit(Number(e.target.closest('tr')?.dataset.ticketId));
    });
    body.addEventListener('change', (e) => {
      if (e.target.name?.startsWith('satisfaction-')) this.updateRow(e.target.closest('tr'));
    });
  }

  get count() {
    return this.rows.size;
  }

  /** Load (or refresh) the list; rows being edited stay as they are. */
  load() {
    if (this.loading) return this.loading;
    this.loading = (async () => {
      try {
        const q = new URLSearchParams({ callback_pending: 'true', source: 'hotline', limit: '200' });
        const page = await getJSON(`api/tickets?${q}`);
        const items = page?.items || [];
        const ids = new Set(items.map((t) => t.id));
        for (const [id, tr] of this.rows) {
          if (!ids.has(id)) {
            tr.remove();
            this.rows.delete(id);
          }
        }
        let before = null;
        for (const t of [...items].reverse()) { // newest closed on top, in the server's order
          let tr = this.rows.get(t.id);
          if (!tr) {
            tr = this.buildRow(t);
            this.rows.set(t.id, tr);
          }
          if (!tr.isConnected) this.body.insertBefore(tr, before);
          before = tr;
        }
        this.info.textContent = `${items.length} 件待回访 · 更新于 ${formatShort(new Date().toISOString())}`;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 401)) this.info.textContent = `刷新失败：${err.message}`;
      } finally {
        this.loading = null;
        this.changed();
      }
    })();
    return this.loading;
  }

  changed() {
    this.empty.hidden = this.rows.size > 0;
    this.onCount?.(this.rows.size);
  }

  buildRow(t) {
    const name = `satisfaction-${t.id}`;
    const form = el('form', { className: 'h-cb-form', id: `callback-form-${t.id}`, novalidate: true },
      el('div', { className: 'h-segments h-cb-choices', role: 'radiogroup', 'aria-label': `${t.number} 满意度` },
        CHOICES.map((value, i) => el('label', { className: `h-cb-${value}` },
          el('input', { type: 'radio', name, value, 'data-testid': `callback-${value}` }),
          ` ${i + 1} ${SATISFACTION_LABELS[value]}`))),
      el('input', {
        className: 'h-cb-note', name: 'note', maxlength: 500, placeholder: '回访情况（可选）',
        'aria-label': `${t.number} 回访情况`, 'data-testid': 'callback-note',
      }),
      el('button', { type: 'submit', className: 'h-btn h-btn-primary', 'data-testid': 'callback-submit' }, '登记'),
      el('small', { className: 'h-error', 'data-testid': 'callback-error', hidden: true }));
    return el('tr', {
      'data-testid': 'callback-row', dataset: { ticketId: t.id, number: t.number || '' },
    },
    el('td', { className: 'h-num' }, t.number || ''),
    el('td', {}, formatShort(t.closed_at || t.updated_at)),
    el('td', {}, t.caller_name || ''),
    el('td', { className: 'h-num' }, t.caller_phone || ''),
    el('td', { title: t.description || '' }, t.category_name || t.category_code || ''),
    el('td', { className: 'h-addr', title: t.address || t.grid_name || '' }, t.address || t.grid_name || ''),
    el('td', { className: 'h-cb-result', title: t.feedback_text || '' },
      t.department_name ? el('b', {}, `${t.department_name}：`) : null, t.feedback_text || '—'),
    el('td', { className: 'h-cb-cell' }, form));
  }

  updateRow(tr) {
    const value = tr.querySelector('input[type="radio"]:checked')?.value;
    const note = tr.querySelector('.h-cb-note');
    note.placeholder = value === 'unsatisfied' ? '不满意的原因（必填，将退回部门重办）' : '回访情况（可选）';
    tr.dataset.choice = value || '';
  }

  onKey(e) {
    const tr = e.target.closest('tr');
    if (!tr) return;
    const typing = e.target.matches('.h-cb-note');
    if (!typing && !e.ctrlKey && !e.altKey && !e.metaKey && ['1', '2', '3'].includes(e.key)) {
      e.preventDefault();
      const radio = tr.querySelector(`input[value="${CHOICES[Number(e.key) - 1]}"]`);
      radio.checked = true;
      radio.focus();
      this.updateRow(tr);
    } else if (e.key === 'Enter' && !typing && e.target.type === 'radio') {
      e.preventDefault();
      this.submit(Number(tr.dataset.ticketId));
    }
  }

  async submit(id) {
    const tr = this.rows.get(id);
    if (!tr || tr.dataset.busy === 'true') return;
    const error = tr.querySelector('.h-error');
    const show = (text, focus) => {
      error.textContent = text;
      error.hidden = !text;
      focus?.focus();
    };
    const satisfaction = tr.querySelector('input[type="radio"]:checked')?.value;
    const noteBox = tr.querySelector('.h-cb-note');
    const note = noteBox.value.trim();
    if (!satisfaction) return show('请选择满意度（按 1 满意、2 基本满意、3 不满意）', tr.querySelector('input[type="radio"]'));
    if (satisfaction === 'unsatisfied' && !note) return show('不满意时请填写原因：工单将退回承办部门重办', noteBox);
    show('');
    tr.dataset.busy = 'true';
    const button = tr.querySelector('button[type="submit"]');
    button.disabled = true;
    try {
      const detail = await apiFetch(`api/tickets/${id}/callback`, { method: 'POST', json: { satisfaction, note } });
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      this.rows.delete(id);
      this.changed();
      const label = SATISFACTION_LABELS[satisfaction];
      this.status.textContent = satisfaction === 'unsatisfied'
        ? `已登记回访 ${detail.number}：${label}，已退回${detail.department_name ? ` ${detail.department_name} ` : '承办部门'}重办`
        : `已登记回访 ${detail.number}：${label}`;
      this.status.hidden = false;
      next?.querySelector('input[type="radio"]')?.focus();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) {
        show(`${errorText(err)}（可能已由他人回访，列表已刷新）`);
        this.load();
      } else if (!(err instanceof ApiError && err.status === 401)) {
        show(`登记失败：${errorText(err)}`);
      }
    } finally {
      tr.dataset.busy = 'false';
      button.disabled = false;
    }
    return undefined;
  }
}
