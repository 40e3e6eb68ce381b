// The workflow actions of one ticket as buttons, each with the small form it needs.
// The server decides what the viewer may do (`allowed_actions`, per ticket and viewer); this module
// draws a button for each and posts to api/tickets/{id}/<action>.
// Used by the console's ticket panel and the department workbench.

import { ApiError, apiFetch } from './api.js';
import {
  ACTION_LABELS, ASSIST_LABELS, SATISFACTION_LABELS, STATE_LABELS, el, formatDateTime, fromLocalInput,
  toLocalInput,
} from './labels.js';
import { compressPhoto } from './photos.js';

const MAX_PHOTOS = 6;

const FIELD_LABELS = {
  department_id: '责任部门', note: '备注', reason: '理由', message: '督办内容', text: '处置结果',
  photos: '照片', new_deadline_at: '新期限', deadline_at: '协办期限', part: '协办内容',
  satisfaction: '满意度', into_ticket_id: '合并到', confirm: '确认', request_id: '延期申请',
  notice_id: '督办通知', task_id: '协办任务', grid_code: '网格编码', centre_id: '下派到', user_id: '承办人',
  confirm_open_parts: '确认关闭未完成的协办', open_parts_reason: '关闭协办的理由',
};

// Field kinds → how the input is built and which body key it fills.
const F = {
  department: { key: 'department_id', kind: 'department', required: true },
  centre: { key: 'centre_id', kind: 'centre', required: true },
  assignee: { key: 'user_id', kind: 'assignee', required: true },
  note: { key: 'note', kind: 'textarea', label: '备注（可选）' },
  noteRequired: { key: 'note', kind: 'textarea', required: true, label: '理由' },
  reason: { key: 'reason', kind: 'textarea', required: true },
  message: { key: 'message', kind: 'textarea', required: true },
  text: { key: 'text', kind: 'textarea', required: true },
  photos: { key: 'photos', kind: 'photos' },
  newDeadline: { key: 'new_deadline_at', kind: 'datetime', required: true },
  assistDeadline: { key: 'deadline_at', kind: 'datetime', required: true },
  part: { key: 'part', kind: 'input', required: true },
  satisfaction: { key: 'satisfaction', kind: 'satisfaction', required: true },
  into: { key: 'into_ticket_id', kind: 'merge', required: true },
  confirm: { key: 'confirm', kind: 'checkbox', label: '类别不同也合并' },
  extension: { key: 'request_id', kind: 'extension', required: true },
  notice: { key: 'notice_id', kind: 'notice', required: true },
  task: { key: 'task_id', kind: 'task', required: true },
};

const days = (n) => new Date(Date.now() + n * 86400000);

/** Every action the pages can take: fields, how to post, and the primary-ness of its button. */
const SPECS = {
  dispatch: { fields: [F.department, F.note], path: () => 'dispatch', primary: true },
  redispatch: { fields: [F.department, F.note], path: () => 'redispatch' },
  overrule: { fields: [F.noteRequired], path: () => 'overrule' },
  reject: { fields: [F.reason], path: () => 'reject', danger: true },
  sign: { fields: [], path: () => 'sign', primary: true, immediate: true },
  return: { fields: [F.reason], path: () => 'return', danger: true },
  request_extension: { fields: [F.newDeadline, F.reason], path: () => 'extensions' },
  approve_extension: { fields: [F.extension, F.note], path: (v) => `extensions/${v.request_id}/approve`, primary: true },
  refuse_extension: { fields: [F.extension, F.noteRequired], path: (v) => `extensions/${v.request_id}/refuse` },
  suspend: { fields: [F.reason], path: () => 'suspend' },
  resume: { fields: [F.note], path: () => 'resume' },
  feedback: { fields: [F.text, F.photos], path: () => 'feedback', primary: true, multipart: true },
  verify_pass: { fields: [F.note], path: () => 'verify', extra: { passed: true }, primary: true },
  verify_fail: { fields: [F.noteRequired], path: () => 'verify', extra: { passed: false }, danger: true },
  callback: { fields: [F.satisfaction, F.note], path: () => 'callback', primary: true },
  urge: { fields: [F.message], path: () => 'urge' },
  ack_urge: { fields: [F.notice], path: (v) => `notices/${v.notice_id}/ack`, primary: true },
  escalate: { fields: [F.note], path: () => 'escalate' },
  hand_down: { fields: [F.centre, F.note], path: () => 'hand-down' },
  verify_request: { fields: [F.note], path: () => 'verification' },
  assign: { fields: [F.assignee, F.note], path: () => 'assign', primary: true },
  add_assist: { fields: [F.department, F.part, F.assistDeadline], path: () => 'assists' },
  assist_sign: { fields: [F.task], path: (v) => `assists/${v.task_id}/sign`, primary: true },
  assist_feedback: { fields: [F.task, F.text], path: (v) => `assists/${v.task_id}/feedback` },
  merge: { fields: [F.into, F.confirm], path: () => 'merge' },
};
// Path-only values (ids in the URL) are not sent in the body.
const PATH_KEYS = new Set(['request_id', 'notice_id', 'task_id']);

function myAssists(ticket, user, status) {
  return (ticket.assists || []).filter((a) => a.department_id === user?.department_id
    && (!status || status.includes(a.status)));
}

/** The actions worth a button: the server's `allowed_actions` already fit this ticket and viewer
 * (department, pending extension, open notices, co-handling parts, source); only the system's own
 * actions and those taken elsewhere (重办 via 回访, 自行处置 on the phone) have no button here. */
export function visibleActions(ticket) {
  return (ticket.allowed_actions || []).filter((a) => !!SPECS[a]);
}

/** One Chinese line for an API failure (409 lists what is allowed now, 422 names the field). */
export function errorText(err) {
  if (!(err instanceof ApiError)) return err?.message || '操作失败';
  const body = err.body || {};
  if (err.status === 0) return err.message;
  if (err.status === 409) {
    const parts = [err.detail || '工单状态已变化'];
    if (body.state) parts.push(`当前状态：${STATE_LABELS[body.state] || body.state}`);
    if (Array.isArray(body.allowed_actions)) {
      const can = body.allowed_actions.map((a) => ACTION_LABELS[a] || a).join('、');
      parts.push(`现可执行：${can || '无'}`);
    }
    return parts.join('；');
  }
  if (err.status === 422) {
    const label = FIELD_LABELS[err.field] || err.field;
    const first = err.errors[0];
    if (first && ['missing', 'string_too_short'].includes(first.type)) return `请填写${label || '必填项'}`;
    if (first && first.type && first.type.includes('datetime')) return `${label || '时间'}格式不正确`;
    if (first && first.type === 'int_parsing') return `请选择${label || '选项'}`;
    const detail = String(err.detail || '').replace(/^输入有误 — /, '');
    return label ? `${label}：${detail}` : detail;
  }
  if (err.status === 403) return `无权操作：${err.detail}`;
  if (err.status === 404) return `未找到：${err.detail}`;
  return err.message;
}

// ---------------------------------------------------------------- fields --

function option(value, text, selected = false) {
  const node = el('option', { value }, text);
  if (selected) node.selected = true;
  return node;
}

function buildInput(field, ctx) {
  const { ticket, user, departments } = ctx;
  const name = field.key;
  const common = { name, id: `f-${ctx.uid}-${name}`, testid: `field-${name}`, required: field.required };
  switch (field.kind) {
    case 'department': {
      const select = el('select', common, option('', '请选择部门'));
      const groups = [['department', '职能部门'], ['street', '街道办事处'], ['centre', '街道/社区中心（本级承办）']];
      for (const [kind, label] of groups) {
        const group = el('optgroup', { label });
        for (const d of departments.filter((x) => (x.kind || 'department') === kind)) {
          if (d.id === ticket.department_id && ctx.action !== 'dispatch') continue;
          group.append(option(d.id, d.name));
        }
        if (group.children.length) select.append(group);
      }
      return select;
    }
    case 'assignee': {
      // 承办人: the people of the unit holding the ticket, as the server lists them for this viewer
      const select = el('select', common, option('', '正在加载人员…'));
      apiFetch(`api/tickets/${ticket.id}/assignees`).then((people) => {
        select.replaceChildren(option('', people.length ? '请选择承办人' : '本单位暂无可指定人员'),
          ...people.filter((p) => p.id !== ticket.assignee_id).map((p) => option(p.id, `${p.full_name}（${p.username}）`)));
      }).catch(() => select.replaceChildren(option('', '人员加载失败，请重试')));
      return select;
    }
    case 'centre': {
      // 下派: a street or community centre below the holder whose area holds the ticket
      const select = el('select', common, option('', '请选择中心'));
      const areas = [ticket.street_code, ticket.community_code].filter(Boolean);
      for (const d of departments) {
        if (d.kind === 'centre' && areas.includes(d.area_code) && d.id !== ticket.centre_id) {
          select.append(option(d.id, d.name));
        }
      }
      return select;
    }
    case 'textarea':
      return el('textarea', { ...common, rows: 2, maxlength: field.key === 'text' ? 2000 : 500 });
    case 'input':
      return el('input', { ...common, type: 'text', maxlength: 500 });
    case 'datetime': {
      const base = ticket.deadline_at ? new Date(Math.max(Date.parse(ticket.deadline_at), Date.now())) : new Date();
      return el('input', {
        ...common, type: 'datetime-local', value: toLocalInput(new Date(base.getTime() + 2 * 86400000)),
        min: toLocalInput(days(0)),
      });
    }
    case 'satisfaction': {
      const select = el('select', common, option('', '请选择'));
      for (const [value, label] of Object.entries(SATISFACTION_LABELS)) select.append(option(value, label));
      return select;
    }
    case 'merge': {
      const dups = ticket.duplicates || [];
      if (!dups.length) return el('input', { ...common, type: 'number', min: 1, placeholder: '主件工单ID' });
      const select = el('select', common);
      for (const d of dups) {
        const c = d.candidate;
        select.append(option(c.id, `${c.number} · ${c.category_name} · 相距${Math.round(d.distance_m)}米${d.same_caller ? ' · 同一来电人' : ''}`));
      }
      return select;
    }
    case 'checkbox':
      return el('input', { ...common, type: 'checkbox' });
    case 'extension': {
      const select = el('select', common);
      for (const x of (ticket.extensions || []).filter((e) => e.status === 'pending')) {
        select.append(option(x.id, `申请延至 ${formatDateTime(x.new_deadline_at)}：${x.reason}`));
      }
      return select;
    }
    case 'notice': {
      const select = el('select', common);
      // Only the notices addressed to the viewer's department (a co-handling part's 催办 goes to its own).
      const mine = (n) => n.department_id == null || n.department_id === user?.department_id;
      for (const n of (ticket.notices || []).filter((x) => !x.acknowledged_at && mine(x))) {
        select.append(option(n.id, `${formatDateTime(n.created_at)} ${n.message}`));
      }
      return select;
    }
    case 'task': {
      const wanted = ctx.action === 'assist_sign' ? ['pending'] : ['signed'];
      const select = el('select', common);
      for (const a of myAssists(ticket, user, wanted)) {
        select.append(option(a.id, `${a.part}（${ASSIST_LABELS[a.status] || a.status}，期限 ${formatDateTime(a.deadline_at)}）`));
      }
      return select;
    }
    case 'photos':
      return el('input', { ...common, type: 'file', accept: 'image/*', multiple: true, className: 'tp-file-input' });
    default:
      return el('input', common);
  }
}

function readValues(form, spec) {
  const values = {};
  for (const field of spec.fields) {
    const input = form.elements.namedItem(field.key);
    if (!input) continue;
    if (field.kind === 'checkbox') values[field.key] = input.checked;
    else if (field.kind === 'photos') values[field.key] = [...(input.files || [])];
    else if (field.kind === 'datetime') values[field.key] = fromLocalInput(input.value);
    else if (['department', 'merge', 'extension', 'notice', 'task'].includes(field.kind)) {
      values[field.key] = input.value === '' ? null : Number(input.value);
    } else values[field.key] = input.value.trim();
  }
  const partsReason = form.elements.namedItem('open_parts_reason');
  if (partsReason) { // the user was shown the open co-handling parts and confirms closing them
    values.confirm_open_parts = true;
    values.open_parts_reason = partsReason.value.trim();
  }
  return values;
}

/** Required fields checked here too, so a missing choice is said in Chinese before any request. */
function missingField(spec, values) {
  for (const field of spec.fields) {
    const v = values[field.key];
    if (field.required && (v == null || v === '' || Number.isNaN(v))) return field.key;
  }
  return null;
}

async function send(ticketId, action, values) {
  const spec = SPECS[action];
  const path = `api/tickets/${ticketId}/${spec.path(values)}`;
  if (spec.multipart) {
    const data = new FormData();
    data.append('text', values.text || '');
    for (const file of (values.photos || []).slice(0, MAX_PHOTOS)) {
      const photo = await compressPhoto(file);
      data.append('photos', photo.blob, photo.name);
    }
    return apiFetch(path, { method: 'POST', formData: data });
  }
  const body = { ...(spec.extra || {}) };
  for (const [key, value] of Object.entries(values)) {
    if (!PATH_KEYS.has(key)) body[key] = value;
  }
  return apiFetch(path, { method: 'POST', json: spec.fields.length || spec.extra ? body : undefined });
}

// ------------------------------------------------------------------ view --

let uidCounter = 0;

/**
 * Render the action bar into `container`. `onDone(detail, action)` receives the ticket the server
 * answers with (for a merge: the main ticket). Re-render on every new detail: `keep` (the form that
 * was open, see openForm()) is put back when its action is still possible, so a live refresh does
 * not wipe what the user is typing; `notice` is a line shown under the bar (e.g. "签收：已完成").
 */
export function renderActions(container, ticket, { user, departments = [], onDone, keep = null, notice = '' }) {
  const actions = visibleActions(ticket);
  container.replaceChildren();
  if (!actions.length) {
    container.append(el('p', { className: 'tp-muted', testid: 'no-actions' }, '当前无可执行的操作'));
    return;
  }
  const bar = el('div', { className: 'tp-action-bar', role: 'toolbar', 'aria-label': '可执行操作' });
  const slot = el('div', { className: 'tp-action-slot' });
  const status = el('p', { className: 'tp-action-status', role: 'status', testid: 'action-status', hidden: !notice }, notice);
  container.append(bar, status, slot);

  const run = async (action, form, values, button) => {
    const error = form?.querySelector('[data-testid="action-error"]');
    const missing = missingField(SPECS[action], values)
      || (values.confirm_open_parts && !values.open_parts_reason ? 'open_parts_reason' : null);
    if (missing) {
      showError(form, error, missing, `请填写${FIELD_LABELS[missing] || missing}`);
      return;
    }
    button.disabled = true;
    let label = button.textContent;
    button.textContent = '提交中…';
    try {
      const detail = await send(ticket.id, action, values);
      form?.remove();
      onDone?.(detail, action);
    } catch (err) {
      const parts = openPartsOf(err);
      if (parts && form?.isConnected && !form.querySelector('[data-testid="open-parts-confirm"]')) {
        askToCloseParts(form, parts);
        label = '确认结案并关闭协办';
        return;
      }
      const text = errorText(err);
      if (error && form.isConnected) showError(form, error, err.field, text);
      else {
        status.textContent = text;
        status.hidden = false;
        status.classList.add('is-error');
      }
    } finally {
      button.disabled = false;
      button.textContent = label;
    }
  };

  for (const action of actions) {
    const spec = SPECS[action];
    const cls = spec.danger ? 'tp-btn tp-btn-danger' : spec.primary ? 'tp-btn tp-btn-primary' : 'tp-btn';
    const button = el('button', {
      type: 'button', className: cls, testid: `action-${action}`, dataset: { action },
    }, ACTION_LABELS[action] || action);
    bar.append(button);
    button.addEventListener('click', () => {
      for (const b of bar.children) b.setAttribute('aria-pressed', String(b === button));
      status.hidden = true;
      status.classList.remove('is-error');
      if (spec.immediate) {
        slot.replaceChildren();
        run(action, null, {}, button);
        return;
      }
      slot.replaceChildren(buildForm(action, ticket, { user, departments }, run));
      slot.querySelector('select, textarea, input')?.focus();
    });
    if (keep && keep.dataset.action === action) {
      button.setAttribute('aria-pressed', 'true');
      slot.append(keep);
    }
  }
}

/** The co-handling parts a 结案 was refused for (422, field confirm_open_parts), or null. */
function openPartsOf(err) {
  if (!(err instanceof ApiError) || err.status !== 422 || err.field !== 'confirm_open_parts') return null;
  return Array.isArray(err.body?.open_parts) ? err.body.open_parts : null;
}

/** 结案 with parts still open: list them in the form and ask for the reason to close them; the next
 * submit resends with confirm_open_parts (see readValues). */
function askToCloseParts(form, parts) {
  const uid = (uidCounter += 1);
  const reason = el('textarea', {
    name: 'open_parts_reason', id: `f-${uid}-open_parts_reason`, testid: 'field-open_parts_reason',
    rows: 2, maxlength: 500, required: true,
  });
  const box = el('fieldset', { className: 'tp-open-parts', testid: 'open-parts-confirm' },
    el('legend', {}, `尚有 ${parts.length} 项协办未完成`),
    el('ul', { className: 'tp-list' }, parts.map((p) => el('li', { testid: 'open-part' },
      el('strong', {}, p.department_name || `部门 #${p.department_id}`),
      ` ${p.part}（${ASSIST_LABELS[p.status] || p.status}，期限 ${formatDateTime(p.deadline_at)}）`))),
    el('p', { className: 'tp-muted' }, '确认结案将同时关闭以上协办，请填写理由：'),
    el('label', { className: 'tp-field', for: reason.id },
      el('span', {}, FIELD_LABELS.open_parts_reason, el('em', {}, ' *')), reason));
  form.querySelector('[data-testid="action-error"]').before(box);
  reason.focus();
}

/** The action form open in `container` (to hand to the next renderActions as `keep`), or null. */
export function openForm(container) {
  return container.querySelector('form[data-testid="action-form"]');
}

function showError(form, box, field, text) {
  for (const n of form.querySelectorAll('[aria-invalid]')) n.removeAttribute('aria-invalid');
  const input = field ? form.elements.namedItem(field) : null;
  if (input && input.setAttribute) {
    input.setAttribute('aria-invalid', 'true');
    input.focus?.();
  }
  box.textContent = text;
  box.hidden = false;
}

function buildForm(action, ticket, { user, departments }, run) {
  const spec = SPECS[action];
  const ctx = { ticket, user, departments, action, uid: (uidCounter += 1) };
  const form = el('form', {
    className: 'tp-action-form', testid: 'action-form', dataset: { action }, novalidate: true,
  }, el('h4', {}, ACTION_LABELS[action] || action));
  for (const field of spec.fields) {
    const input = buildInput(field, ctx);
    const label = field.label || FIELD_LABELS[field.key] || field.key;
    if (field.kind === 'checkbox') {
      form.append(el('label', { className: 'tp-check' }, input, label));
      continue;
    }
    const row = el('label', { className: 'tp-field', for: input.id },
      el('span', {}, label, field.required ? el('em', {}, ' *') : null), input);
    if (field.kind === 'photos') {
      const preview = el('div', { className: 'tp-photo-preview', testid: 'photo-preview' });
      const count = el('span', { className: 'tp-muted' }, '未选择');
      input.before(el('span', { className: 'tp-file-row' }, el('span', { className: 'tp-btn tp-file-btn' }, '选择照片…'), count));
      input.addEventListener('change', () => {
        count.textContent = input.files.length ? `已选 ${Math.min(input.files.length, MAX_PHOTOS)} 张` : '未选择';
        preview.replaceChildren();
        for (const file of [...input.files].slice(0, MAX_PHOTOS)) {
          const url = URL.createObjectURL(file);
          preview.append(el('img', { src: url, alt: file.name, testid: 'photo-thumb' }));
        }
      });
      row.append(el('small', { className: 'tp-muted' }, `最多 ${MAX_PHOTOS} 张，上传前自动压缩`), preview);
    }
    form.append(row);
  }
  const error = el('p', { className: 'tp-error', role: 'alert', testid: 'action-error', hidden: true });
  const submit = el('button', {
    type: 'submit', className: spec.danger ? 'tp-btn tp-btn-danger' : 'tp-btn tp-btn-primary', testid: 'action-submit',
  }, `确认${ACTION_LABELS[action] || ''}`);
  const cancel = el('button', { type: 'button', className: 'tp-btn', testid: 'action-cancel' }, '取消');
  cancel.addEventListener('click', () => form.remove());
  form.append(error, el('div', { className: 'tp-form-buttons' }, submit, cancel));
  form.addEventListener('input', (event) => {
    event.target.removeAttribute?.('aria-invalid');
    error.hidden = true;
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    error.hidden = true;
    run(action, form, readValues(form, spec), submit);
  });
  return form;
}
