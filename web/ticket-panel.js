// The ticket panel: one ticket in full (fields, photos, timeline in China time, reporters,
// extensions, co-handling parts, 督办 notices, duplicate suggestions) and the buttons of every
// action the server allows this viewer (ticket-actions.js). Used by the console and the workbench.
//
//   const panel = new TicketPanel(hostElement, { user, onAction });
//   panel.open(id); panel.changed(ticket)  // a websocket change: reloads when it is the open one

import { apiFetch, apiUrl, getJSON, getToken } from './api.js';
import {
  ACTION_LABELS, ASSIST_LABELS, ESCALATION_LABELS, EXTENSION_LABELS, REQUEST_LABELS, SATISFACTION_LABELS,
  SOURCE_LABELS, STATE_LABELS, URGENCY_LABELS, WARNING_LABELS, el, formatDateTime, isOverdue, workingCountdown,
} from './labels.js';
import { errorText, openForm, renderActions } from './ticket-actions.js';

let departmentsPromise = null;

/** GET api/departments once per page (the pickers of dispatch, redispatch and co-handling). */
export function loadDepartments() {
  if (!departmentsPromise) {
    departmentsPromise = getJSON('api/departments').catch((err) => {
      departmentsPromise = null;
      throw err;
    });
  }
  return departmentsPromise;
}

/** An <img> of an attachment: fetched with the bearer header (an <img src> cannot send it). */
function attachmentImage(ticketId, attachmentId) {
  const img = el('img', { alt: `附件 ${attachmentId}`, testid: 'ticket-photo', loading: 'lazy' });
  const link = el('a', { className: 'tp-photo', target: '_blank', rel: 'noopener' }, img);
  fetch(apiUrl(`api/tickets/${ticketId}/attachments/${attachmentId}`), {
    headers: { Authorization: `Bearer ${getToken()}` },
  })
    .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
    .then((blob) => {
      const url = URL.createObjectURL(blob);
      img.src = url;
      link.href = url;
      img.dataset.loaded = 'true';
    })
    .catch(() => { img.alt = '照片加载失败'; });
  return link;
}

function section(title, testid, ...children) {
  return el('section', { className: 'tp-section', testid }, el('h3', {}, title), ...children);
}

function row(label, value, testid) {
  if (value == null || value === '') return null;
  return [el('dt', {}, label), el('dd', { testid }, value)];
}

export class TicketPanel {
  constructor(host, { user, onAction, onClose } = {}) {
    this.user = user;
    this.onAction = onAction;
    this.onClose = onClose;
    this.ticketId = null;
    this.loadSeq = 0;
    this.reloadTimer = null;
    this.root = el('aside', {
      className: 'tp', testid: 'ticket-panel', hidden: true, 'aria-label': '工单详情', tabindex: -1,
    });
    this.head = el('header', { className: 'tp-head' });
    this.body = el('div', { className: 'tp-body' });
    this.root.append(this.head, this.body);
    this.root.addEventListener('keydown', (e) => { if (e.key === 'Escape') this.close(); });
    this.root.addEventListener('tp-open', (e) => this.open(e.detail));
    host.append(this.root);
  }

  get isOpen() {
    return !this.root.hidden && this.ticketId != null;
  }

  async open(id) {
    this.ticketId = id;
    this.root.hidden = false;
    this.root.dataset.ticketId = id;
    document.body.classList.add('has-ticket-panel');
    if (!this.detail || this.detail.id !== id) {
      this.head.replaceChildren(el('h2', {}, '加载中…'), this.closeButton());
      this.body.replaceChildren();
    }
    await this.load();
    this.root.focus({ preventScroll: true });
  }

  close() {
    this.root.hidden = true;
    this.ticketId = null;
    this.detail = null;
    document.body.classList.remove('has-ticket-panel');
    this.onClose?.();
  }

  /** A websocket change arrived: reload if it concerns the open ticket (debounced). */
  changed(ticket) {
    if (!this.isOpen || !ticket) return;
    const related = ticket.id === this.ticketId || ticket.merged_into_id === this.ticketId
      || (this.detail?.duplicates || []).some((d) => d.candidate.id === ticket.id);
    if (!related) return;
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load(), 150);
  }

  async load() {
    const id = this.ticketId;
    const seq = (this.loadSeq += 1);
    try {
      const [detail, departments] = await Promise.all([getJSON(`api/tickets/${id}`), loadDepartments()]);
      if (seq !== this.loadSeq || id !== this.ticketId) return;
      this.render(detail, departments);
    } catch (err) {
      if (seq !== this.loadSeq) return;
      this.body.replaceChildren(el('p', { className: 'tp-error', role: 'alert' }, `工单加载失败：${errorText(err)}`));
    }
  }

  closeButton() {
    const button = el('button', {
      type: 'button', className: 'tp-close', testid: 'panel-close', title: '关闭（Esc）', 'aria-label': '关闭',
    }, '✕');
    button.addEventListener('click', () => this.close());
    return button;
  }

  render(t, departments, notice = '') {
    const keep = this.detail?.id === t.id ? openForm(this.body) : null;
    this.detail = t;
    this.root.dataset.state = t.state;
    this.root.dataset.number = t.number || '';
    const warn = WARNING_LABELS[t.warning_level];
    this.head.replaceChildren(
      el('div', { className: 'tp-title' },
        el('h2', { testid: 'panel-number' }, t.number || `#${t.id}`),
        el('span', { className: `tp-badge st-${t.state}`, testid: 'panel-state' }, STATE_LABELS[t.state] || t.state),
        warn ? el('span', { className: `tp-badge warn-${t.warning_level}`, testid: 'panel-warning' }, warn) : null,
        t.urgency === 'urgent' ? el('span', { className: 'tp-badge tp-urgent' }, '紧急') : null),
      this.closeButton());

    const actions = el('div', { className: 'tp-actions', testid: 'panel-actions' });
    renderActions(actions, t, {
      user: this.user,
      departments,
      keep,
      notice,
      onDone: (detail, action) => {
        const done = `${ACTION_LABELS[action] || action}：已完成`;
        if (detail && detail.id === this.ticketId) this.render(detail, departments, done);
        else if (detail) this.open(detail.id);
        this.onAction?.(detail, action);
      },
    });

    const left = workingCountdown(t);
    const overdue = isOverdue(t);
    const deadline = t.deadline_at
      ? el('span', { className: overdue ? 'tp-overdue' : '', title: '剩余时间按工作时间计算' },
        formatDateTime(t.deadline_at), left ? `（${left.text}）` : '',
        t.deadline_provisional
          ? el('span', { className: 'tp-provisional', testid: 'panel-deadline-provisional',
            title: '期限跨越尚未载入工作日历的年份，暂按周一至周五计算，载入后自动重算' }, ' 估算')
          : null)
      : '无';
    const facts = el('dl', { className: 'tp-facts', testid: 'panel-facts' }, ...[
      row('事件类别', `${t.category_name || ''}（${t.category_code}）`, 'panel-category'),
      row('来源', `${SOURCE_LABELS[t.source] || t.source}${t.request_type ? ` · ${REQUEST_LABELS[t.request_type] || t.request_type}` : ''}`),
      row('紧急程度', URGENCY_LABELS[t.urgency] || t.urgency),
      row('问题描述', t.description, 'panel-description'),
      row('地址', t.address),
      row('所在网格', t.grid_code ? `${t.grid_name || ''} ${t.grid_code}` : '未定位'),
      row('责任部门', t.department_name || '未派遣', 'panel-department'),
      t.state === 'manual' || t.manual_reason ? row('转人工原因', t.manual_reason, 'panel-manual-reason') : null,
      row('处置时限', deadline, 'panel-deadline'),
      row('签收时限', t.sign_deadline_at && t.state === 'dispatched' ? formatDateTime(t.sign_deadline_at) : null),
      row('主责中心', t.centre_name || '区指挥中心', 'panel-centre'),
      row('承办人', t.assignee_name, 'panel-assignee'),
      row('上报层级', t.escalation_level !== 'grid' ? ESCALATION_LABELS[t.escalation_level] : null),
      row('来电人', t.caller_name || t.caller_phone ? `${t.caller_name || ''} ${t.caller_phone || ''}` : null),
      row('处置结果', t.feedback_text, 'panel-feedback'),
      row('满意度', t.satisfaction ? SATISFACTION_LABELS[t.satisfaction] : null),
      row('不予受理原因', t.reject_reason),
      row('合并到', t.merged_into_id ? `工单 #${t.merged_into_id}` : null),
      row('统计', t.repeat_count || t.return_count || t.rework_count
        ? `重复 ${t.repeat_count} · 回退 ${t.return_count} · 返工 ${t.rework_count}` : null),
      row('受理时间', formatDateTime(t.created_at, { seconds: true })),
      row('结案时间', t.closed_at ? formatDateTime(t.closed_at, { seconds: true }) : null),
    ].flat().filter(Boolean));

    const parts = [section('可执行操作', 'panel-actions-section', actions), section('基本信息', 'panel-info', facts)];
    if (t.attachment_ids?.length) {
      parts.push(section(`照片（${t.attachment_ids.length}）`, 'panel-photos',
        el('div', { className: 'tp-photos' }, t.attachment_ids.map((a) => attachmentImage(t.id, a)))));
    }
    if (t.duplicates?.length) parts.push(this.duplicates(t));
    if (t.notices?.length) parts.push(this.notices(t));
    if (t.extensions?.length) parts.push(this.extensions(t));
    if (t.assists?.length) parts.push(this.assists(t));
    if (t.verifications?.length) parts.push(this.verifications(t));
    if (t.reporters?.length) parts.push(this.reporters(t));
    parts.push(this.timeline(t));
    this.body.replaceChildren(...parts);
  }

  timeline(t) {
    const list = el('ol', { className: 'tp-timeline', testid: 'timeline' });
    for (const e of [...t.log].reverse()) {
      const move = e.from_state && e.from_state !== e.to_state
        ? `${STATE_LABELS[e.from_state] || e.from_state} → ${STATE_LABELS[e.to_state] || e.to_state}` : '';
      list.append(el('li', { testid: 'timeline-entry', dataset: { action: e.action } },
        el('time', { datetime: e.at }, formatDateTime(e.at, { seconds: true })),
        el('div', {},
          el('strong', {}, ACTION_LABELS[e.action] || e.action),
          el('span', { className: 'tp-muted' }, ` · ${e.actor || '系统'}`),
          move ? el('span', { className: 'tp-move' }, move) : null,
          e.to_centre ? el('span', { className: 'tp-move', testid: 'timeline-centre' }, `→ ${e.to_centre}`) : null),
        e.note ? el('p', { className: 'tp-note' }, e.note) : null));
    }
    return section(`时间线（${t.log.length}）`, 'panel-timeline', list);
  }

  reporters(t) {
    return section(`报告人（${t.reporters.length}）`, 'panel-reporters', el('ul', { className: 'tp-list' },
      t.reporters.map((r) => el('li', {},
        [r.name || r.caller_name || (r.user_id ? `用户 #${r.user_id}` : '—'), r.caller_phone].filter(Boolean).join(' '),
        el('span', { className: 'tp-muted' }, ` · ${formatDateTime(r.reported_at)}`)))));
  }

  extensions(t) {
    return section('延期申请', 'panel-extensions', el('ul', { className: 'tp-list' },
      t.extensions.map((x) => el('li', { testid: 'extension', dataset: { status: x.status } },
        el('span', { className: `tp-chip ext-${x.status}` }, EXTENSION_LABELS[x.status] || x.status),
        ` 延至 ${formatDateTime(x.new_deadline_at)}（原 ${formatDateTime(x.old_deadline_at)}）：${x.reason}`,
        x.decision_note ? el('span', { className: 'tp-muted' }, ` · 审批意见：${x.decision_note}`) : null))));
  }

  assists(t) {
    const open = t.open_assist_ids?.length || 0;
    return section('协办', 'panel-assists', el('ul', { className: 'tp-list' },
      t.assists.map((a) => {
        // Supervision of the part: 临期/超期 while open, and a missed sign-for limit while unsigned.
        const running = a.status === 'pending' || a.status === 'signed';
        const warn = running ? WARNING_LABELS[a.warning_level] : '';
        return el('li', { testid: 'assist', dataset: { status: a.status, warning: a.warning_level || 'none' } },
          el('strong', {}, a.department_name || `部门 #${a.department_id}`),
          el('span', { className: `tp-chip as-${a.status}` }, ASSIST_LABELS[a.status] || a.status),
          warn ? el('span', { className: `tp-badge warn-${a.warning_level}`, testid: 'assist-warning' }, warn) : null,
          a.sign_warned && a.status === 'pending'
            ? el('span', { className: 'tp-badge warn-yellow', testid: 'assist-sign-warning' }, '签收超时') : null,
          ` ${a.part} · 期限 ${formatDateTime(a.deadline_at)}`,
          a.feedback_text ? el('p', { className: 'tp-note' }, `反馈：${a.feedback_text}`) : null,
          a.close_reason ? el('p', { className: 'tp-note' }, `结案时关闭：${a.close_reason}`) : null);
      })),
    open && t.state === 'feedback'
      ? el('p', { className: 'tp-muted', testid: 'assists-open' }, `尚有 ${open} 项协办未完成，结案时须确认关闭`) : null);
  }

  verifications(t) {
    return section('现场核查', 'panel-verifications', el('ul', { className: 'tp-list' },
      t.verifications.map((v) => {
        const mine = v.kind === 'review' && v.status === 'pending' && v.centre_id === this.user?.department_id
          && this.user?.role !== 'leader';
        return el('li', { testid: 'verification', dataset: { status: v.status, kind: v.kind, taskId: v.id } },
          el('strong', {}, v.kind_label),
          el('span', { className: `tp-chip ${v.status === 'done' ? 'ext-approved' : 'ext-pending'}` },
            v.answer_label || v.status_label),
          v.overdue ? el('span', { className: 'tp-badge warn-red', testid: 'verification-overdue' }, '已超时') : null,
          ` ${v.holder_name} · 期限 ${formatDateTime(v.deadline_at)}`,
          el('span', { className: 'tp-muted' }, ` · 派发：${v.requested_by_name}`),
          v.note ? el('p', { className: 'tp-note' }, v.note) : null,
          v.answer_note ? el('p', { className: 'tp-note', testid: 'verification-answer' }, `回复：${v.answer_note}`) : null,
          v.attachment_ids?.length
            ? el('div', { className: 'tp-photos' }, v.attachment_ids.map((a) => attachmentImage(t.id, a))) : null,
          mine ? this.reviewForm(t, v) : null);
      })));
  }

  /** 抽查 of a 自行处置 case by the community workstation: 合格, or 不合格 with a reason. */
  reviewForm(t, v) {
    const note = el('input', { className: 'tp-review-note', placeholder: '不合格时须说明原因', testid: 'review-note' });
    const error = el('p', { className: 'tp-error', role: 'alert', hidden: true });
    const send = async (answer) => {
      const data = new FormData();
      data.set('answer', answer);
      data.set('note', note.value.trim());
      try {
        await apiFetch(`api/verifications/${v.id}/answer`, { method: 'POST', formData: data });
        await this.open(t.id);
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    };
    return el('div', { className: 'tp-review' }, note,
      el('button', { type: 'button', className: 'tp-btn tp-btn-primary', testid: 'review-pass', onclick: () => send('passed') }, '抽查合格'),
      el('button', { type: 'button', className: 'tp-btn tp-btn-danger', testid: 'review-fail', onclick: () => send('failed') }, '不合格'),
      error);
  }

  notices(t) {
    return section('督办', 'panel-notices', el('ul', { className: 'tp-list' },
      t.notices.map((n) => el('li', { testid: 'notice', dataset: { acked: String(!!n.acknowledged_at) } },
        el('span', { className: `tp-chip ${n.acknowledged_at ? 'ext-approved' : 'ext-pending'}` },
          n.acknowledged_at ? '已确认' : '待确认'),
        ` ${formatDateTime(n.created_at)} ${n.message}`))));
  }

  duplicates(t) {
    return section('疑似重复件', 'panel-duplicates', el('ul', { className: 'tp-list' },
      t.duplicates.map((d) => el('li', { testid: 'duplicate', dataset: { ticketId: d.candidate.id } },
        el('a', { href: '#', dataset: { open: d.candidate.id } }, d.candidate.number),
        ` ${d.candidate.category_name} · ${STATE_LABELS[d.candidate.state] || d.candidate.state}`,
        ` · 相距 ${Math.round(d.distance_m)} 米${d.same_caller ? ' · 同一来电人' : ''}`,
        el('span', { className: 'tp-muted' }, ` · ${formatDateTime(d.candidate.created_at)}`)))),
    el('p', { className: 'tp-muted' }, `合并时本工单并入所选主件，报告人一并转入。${ACTION_LABELS.merge}见上方操作。`));
  }
}

// Clicking a duplicate's number opens it in the same panel.
document.addEventListener('click', (e) => {
  const link = e.target.closest?.('.tp [data-open]');
  if (!link) return;
  e.preventDefault();
  const panel = link.closest('.tp');
  panel.dispatchEvent(new CustomEvent('tp-open', { detail: Number(link.dataset.open), bubbles: false }));
});
