// 部门工作台 (department workbench): my department's queue sorted by deadline with the time left,
// filters by state and overdue, the ticket panel with the department's actions (签收, 回退, 延期,
// 反馈 with photos, 确认督办, 协办签收/反馈), and a live badge fed by the console websocket (the server
// sends a department only its own and co-handled tickets).

import { getJSON, loadWorkCalendar } from './api.js';
import { LiveFeed } from './live-feed.js';
import {
  STATE_SHORT, URGENCY_LABELS, WARNING_LABELS, el, formatShort, isOverdue, toDate, workingCountdown,
} from './labels.js';
import { setupLogin } from './page-login.js';
import { TicketPanel, loadDepartments } from './ticket-panel.js';

const QUEUE_STATES = ['dispatched', 'signed', 'returned', 'suspended', 'feedback'];
const FILTERS = [
  ['all', '全部'], ['mine', '我承办'], ['unassigned', '未分配'], ...QUEUE_STATES.map((s) => [s, STATE_SHORT[s]]),
  ['overdue', '超期'],
];
// 承办人 filters: the viewer's own tickets, and the department's that nobody has taken yet
const PERSON_FILTERS = {
  mine: (t) => t.assignee_id === state.user?.id,
  unassigned: (t) => !t.assignee_id && mine(t),
};
const NEW_WORK = new Set(['route', 'dispatch', 'redispatch', 'reopen', 'verify_fail', 'add_assist', 'urge', 'overrule']);
const CONN_TEXT = { connecting: '正在连接…', open: '实时连接正常', reconnecting: '连接中断，正在重连…' };

const $ = (id) => document.getElementById(id);
const dom = {
  app: $('workbench'), dept: $('department-name'), user: $('current-user'), conn: $('connection-status'),
  badge: $('live-badge'), badgeCount: $('live-count'), filters: $('filters'), queue: $('queue'),
  empty: $('queue-empty'), count: $('queue-count'), host: $('panel-host'), placeholder: $('panel-placeholder'),
};

const state = {
  user: null,
  tickets: new Map(), // id → ticket
  marks: new Map(), // id → Set of 'new' | 'urge' | 'assist'
  filter: 'all',
  selectedId: null,
  unseen: 0,
  feed: null,
  panel: null,
  tick: null,
};

function deadlineMs(t) {
  return toDate(t.deadline_at)?.getTime() ?? Number.POSITIVE_INFINITY;
}

function sortTickets(a, b) {
  return deadlineMs(a) - deadlineMs(b) || Number(a.id) - Number(b.id);
}

function mine(t) {
  return t.department_id === state.user?.department_id;
}

function matches(t) {
  if (state.filter === 'all') return true;
  if (state.filter === 'overdue') return isOverdue(t);
  if (PERSON_FILTERS[state.filter]) return PERSON_FILTERS[state.filter](t);
  return t.state === state.filter;
}

function mark(id, what) {
  if (!state.marks.has(id)) state.marks.set(id, new Set());
  state.marks.get(id).add(what);
}

// ----------------------------------------------------------------- render --

function countdown(t, now = Date.now()) {
  if (!t.deadline_at) return el('span', { className: 'wb-left', testid: 'countdown' }, '无时限');
  if (t.state === 'suspended') return el('span', { className: 'wb-left is-paused', testid: 'countdown' }, '挂账停表');
  if (t.state === 'feedback') return el('span', { className: 'wb-left', testid: 'countdown' }, '已反馈，待核查');
  const left = workingCountdown(t, now); // the server's working minutes, counted down between answers
  if (!left) return el('span', { className: 'wb-left', testid: 'countdown' }, '不计时');
  const overdue = left.overdue || isOverdue(t, now);
  const soon = !overdue && (left.minutes < 4 * 60 || t.warning_level === 'yellow');
  return el('span', {
    className: `wb-left${overdue ? ' is-overdue' : soon ? ' is-soon' : ''}`,
    testid: 'countdown', title: '按工作时间计算（工作日 08:30–12:00、13:30–17:30）',
    dataset: { overdue: String(overdue), minutes: String(left.minutes) },
  }, left.text);
}

function buildRow(t) {
  const marks = state.marks.get(t.id) || new Set();
  const warn = WARNING_LABELS[t.warning_level];
  const overdue = isOverdue(t);
  return el('li', {
    className: `wb-row${overdue ? ' is-overdue' : ''}${state.selectedId === t.id ? ' is-selected' : ''}`,
    testid: 'queue-row', tabindex: 0, 'aria-selected': String(state.selectedId === t.id),
    dataset: { ticketId: t.id, number: t.number, state: t.state },
  },
  el('div', { className: 'wb-line' },
    el('span', { className: 'wb-number', testid: 'row-number' }, t.number),
    el('span', { className: `tp-badge st-${t.state}`, testid: 'row-state' }, STATE_SHORT[t.state] || t.state),
    warn ? el('span', { className: `tp-badge warn-${t.warning_level}` }, warn) : null,
    !mine(t) ? el('span', { className: 'wb-chip wb-chip-assist', testid: 'row-assist', title: '本部门为协办单位' }, '协办') : null,
    mine(t) && t.assist_department_ids?.length ? el('span', {
      className: 'wb-chip wb-chip-assist', testid: 'row-has-assist', title: `有 ${t.assist_department_ids.length} 个协办单位`,
    }, `协办 ${t.assist_department_ids.length}`) : null,
    t.urgency === 'urgent' ? el('span', { className: 'wb-chip wb-chip-urgent' }, URGENCY_LABELS.urgent) : null,
    mine(t) && t.assignee_name ? el('span', { className: 'wb-chip', testid: 'row-assignee', title: '承办人' }, t.assignee_name) : null,
    t.open_notice_count > 0 || marks.has('urge') ? el('span', {
      className: 'wb-chip wb-chip-urge', testid: 'row-urge',
      title: t.open_notice_count > 0 ? `${t.open_notice_count} 条督办待确认` : '收到督办',
    }, t.open_notice_count > 1 ? `督办 ${t.open_notice_count}` : '督办') : null,
    marks.has('new') ? el('span', { className: 'wb-chip wb-chip-new', testid: 'row-new' }, '新') : null,
    el('time', { className: 'wb-created', datetime: t.created_at }, formatShort(t.created_at))),
  el('div', { className: 'wb-line wb-main-line' },
    el('strong', {}, t.category_name || t.category_code),
    el('span', { className: 'wb-place' }, t.address || t.grid_name || '')),
  el('div', { className: 'wb-line wb-desc' }, t.description || ''),
  el('div', { className: 'wb-line wb-deadline' },
    el('span', { className: 'wb-muted', testid: 'row-deadline' }, t.deadline_at ? `时限 ${formatShort(t.deadline_at)}` : ''),
    countdown(t)));
}

function render() {
  const now = Date.now();
  const all = [...state.tickets.values()].sort(sortTickets);
  const shown = all.filter(matches);
  dom.queue.replaceChildren(...shown.map(buildRow));
  dom.empty.hidden = shown.length > 0;
  dom.count.textContent = `${shown.length} 件`;
  for (const button of dom.filters.querySelectorAll('[data-filter]')) {
    const key = button.dataset.filter;
    const n = key === 'all' ? all.length
      : key === 'overdue' ? all.filter((t) => isOverdue(t, now)).length
        : PERSON_FILTERS[key] ? all.filter(PERSON_FILTERS[key]).length
          : all.filter((t) => t.state === key).length;
    button.querySelector('.wb-n').textContent = n;
    button.setAttribute('aria-pressed', String(state.filter === key));
  }
}

function renderFilters() {
  dom.filters.replaceChildren(...FILTERS.map(([key, label]) => el('button', {
    type: 'button', className: `wb-filter${key === 'overdue' ? ' wb-filter-overdue' : ''}`,
    testid: `filter-${key}`, dataset: { filter: key }, 'aria-pressed': 'false',
  }, label, ' ', el('span', { className: 'wb-n' }, '0'))));
}

// ------------------------------------------------------------------- data --

async function loadQueue() {
  const query = new URLSearchParams({ sort: 'deadline', limit: '500' });
  for (const s of QUEUE_STATES) query.append('state', s);
  const page = await getJSON(`api/tickets?${query}`);
  state.tickets.clear();
  for (const t of page.items || []) state.tickets.set(t.id, t);
  render();
  return Number(page.last_seq) || 0;
}

function setConn(kind) {
  dom.conn.dataset.state = kind;
  dom.conn.textContent = CONN_TEXT[kind] || kind;
}

function bumpBadge() {
  state.unseen += 1;
  dom.badge.hidden = false;
  dom.badgeCount.textContent = state.unseen;
  dom.badge.classList.remove('is-pulse');
  void dom.badge.offsetWidth;
  dom.badge.classList.add('is-pulse');
  document.title = `(${state.unseen}) 部门工作台`;
}

function clearBadge() {
  state.unseen = 0;
  dom.badge.hidden = true;
  document.title = '部门工作台 · 平城区网格化社会治理指挥中心';
  for (const marks of state.marks.values()) marks.delete('new');
  render();
}

function onChange(msg) {
  const t = msg.ticket;
  const known = state.tickets.get(t.id);
  const byMe = msg.actor && msg.actor === (state.user.full_name || state.user.username);
  const leftUs = known && mine(known) && !mine(t) && ['redispatch', 'return'].includes(msg.action);
  if (!QUEUE_STATES.includes(t.state) || (leftUs && msg.action === 'redispatch')) {
    state.tickets.delete(t.id);
  } else if (known || mine(t) || msg.action === 'add_assist') {
    state.tickets.set(t.id, t);
    if (!byMe && NEW_WORK.has(msg.action)) {
      mark(t.id, msg.action === 'urge' ? 'urge' : 'new');
      bumpBadge();
    }
  }
  render();
  state.panel?.changed(t);
}

// --------------------------------------------------------------- lifecycle --

async function start(user) {
  state.user = user;
  loadWorkCalendar();
  dom.user.textContent = user.full_name || user.username;
  try {
    const departments = await loadDepartments();
    const dept = departments.find((d) => d.id === user.department_id);
    dom.dept.textContent = dept ? dept.name : '未绑定部门';
  } catch {
    dom.dept.textContent = '';
  }
  if (!state.panel) {
    state.panel = new TicketPanel(dom.host, {
      user,
      onAction: (detail) => {
        if (!detail) return;
        if (QUEUE_STATES.includes(detail.state)) state.tickets.set(detail.id, detail);
        else state.tickets.delete(detail.id);
        render();
      },
      onClose: () => {
        state.selectedId = null;
        dom.placeholder.hidden = false;
        render();
      },
    });
  }
  state.panel.user = user;
  let since = 0;
  try {
    since = await loadQueue();
  } catch (err) {
    dom.empty.hidden = false;
    dom.empty.textContent = `工单加载失败：${err.message}`;
  }
  state.feed = new LiveFeed({
    since,
    onChange,
    onStatus: setConn,
    onReset: async () => { state.feed.lastSeq = Math.max(state.feed.lastSeq, await loadQueue()); },
    onUnauthorized: () => login.expire(),
  });
  state.feed.start();
  clearInterval(state.tick);
  state.tick = setInterval(render, 30000); // countdowns move without messages
}

function stop() {
  state.feed?.stop();
  state.feed = null;
  clearInterval(state.tick);
  if (state.panel?.isOpen) state.panel.close();
  state.tickets.clear();
  state.marks.clear();
  state.unseen = 0;
  dom.badge.hidden = true;
}

function select(id) {
  state.selectedId = id;
  state.marks.get(id)?.delete('new');
  dom.placeholder.hidden = true;
  render();
  state.panel.open(id);
}

renderFilters();
dom.filters.addEventListener('click', (e) => {
  const button = e.target.closest('[data-filter]');
  if (!button) return;
  state.filter = button.dataset.filter;
  render();
});
dom.queue.addEventListener('click', (e) => {
  const row = e.target.closest('.wb-row');
  if (row) select(Number(row.dataset.ticketId));
});
dom.queue.addEventListener('keydown', (e) => {
  if (e.key !== 'Enter' && e.key !== ' ') return;
  const row = e.target.closest('.wb-row');
  if (!row) return;
  e.preventDefault();
  select(Number(row.dataset.ticketId));
});
dom.badge.addEventListener('click', () => {
  clearBadge();
  dom.queue.scrollTo({ top: 0, behavior: 'smooth' });
});

const login = setupLogin({ roles: ['department_staff'], app: dom.app, start, stop });
