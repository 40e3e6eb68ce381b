// 网格巡查: the grid officer's phone app (installable PWA).
//
// Reports go to the outbox (IndexedDB) first and are sent from there: right away when
// online, else on the `online` event, on a retry timer and on the next page load. Each
// keeps its client_ref, so however often it is sent the server makes one ticket.
// "我的上报" shows the outbox's unsent reports (待发送) above GET api/tickets (own reports).
// "核查任务" lists the field checks sent to this officer; answers go through the same outbox.

import {
  ApiError, clearSession, getJSON, getToken, getUser, homePageFor, login, onUnauthorized,
} from './api.js';
import { formatShort } from './labels.js';
import { ReportForm } from './officer-report.js';
import { TaskList } from './officer-tasks.js';
import { deleteReport, listReports, pruneSent, syncOutbox } from './outbox.js';

const STATE_LABELS = {
  new: '待派遣', manual: '待人工派遣', dispatched: '已派遣', signed: '处置中', returned: '已回退', suspended: '挂账',
  feedback: '待核查', closed: '已结案', rejected: '不予受理', merged: '已合并',
};
const STATUS_LABELS = { pending: '待发送', failed: '发送失败' };
const RETRY_MIN_MS = 5000;
const RETRY_MAX_MS = 60000;
const LIST_REFRESH_MS = 60000;

const $ = (id) => document.getElementById(id);
const dom = {
  loginView: $('login-view'), loginForm: $('login-form'), loginUsername: $('login-username'),
  loginPassword: $('login-password'), loginError: $('login-error'), loginSubmit: $('login-submit'),
  app: $('app'), net: $('net-status'), userName: $('user-name'), logout: $('logout-button'),
  tabs: document.querySelectorAll('.o-tab'), badge: $('pending-badge'), toast: $('toast'),
  list: $('mine-list'), empty: $('mine-empty'), info: $('mine-info'), refresh: $('refresh-button'),
};

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

const app = {
  owner: null,
  form: null,
  tasks: null,
  serverTickets: [],
  serverLoaded: false,
  retryTimer: null,
  retryDelay: RETRY_MIN_MS,
  toastTimer: null,
};

function toast(text, ms = 4000) {
  dom.toast.textContent = text;
  dom.toast.hidden = false;
  clearTimeout(app.toastTimer);
  app.toastTimer = setTimeout(() => { dom.toast.hidden = true; }, ms);
}

function setNet(online) {
  dom.net.dataset.state = online ? 'online' : 'offline';
  dom.net.textContent = online ? '在线' : '离线';
}

// ------------------------------------------------------------------ sync --

async function updatePending() {
  if (!app.owner) return 0;
  const pending = (await listReports(app.owner)).filter((r) => r.status === 'pending' && r.kind !== 'answer').length;
  dom.badge.textContent = String(pending);
  dom.badge.hidden = pending === 0;
  return pending;
}

function scheduleRetry() {
  clearTimeout(app.retryTimer);
  app.retryTimer = setTimeout(() => sync('timer'), app.retryDelay);
  app.retryDelay = Math.min(app.retryDelay * 2, RETRY_MAX_MS);
}

/** Send what is pending; announce what happened. Safe to call any time, as often as wanted. */
async function sync(reason) {
  if (!app.owner) return null;
  clearTimeout(app.retryTimer);
  app.retryTimer = null;
  let result;
  try {
    result = await syncOutbox(app.owner, { onChange: () => { renderList(); app.tasks?.render(); } });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return null; // login shown; reports stay
    result = { sent: 0, failed: 0, pending: 1, offline: true };
  }
  if (result.offline) setNet(false);
  else if (result.sent) setNet(true);
  const pending = await updatePending();
  if (pending) scheduleRetry();
  else app.retryDelay = RETRY_MIN_MS;
  if (result.sent && reason !== 'submit') toast(`已发送 ${result.sent} 条待发送记录`);
  if (result.failed) toast(`${result.failed} 条记录被服务器拒绝，请在“我的上报”或“核查任务”中查看原因`, 6000);
  if (result.sent || result.failed) {
    await loadServerList();
    await app.tasks?.load();
  }
  await renderList();
  return result;
}

async function onSaved(record) {
  await updatePending();
  await renderList();
  const result = await sync('submit');
  const mine = (await listReports(app.owner)).find((r) => r.client_ref === record.client_ref);
  const selfResolved = !!record.fields?.self_resolved;
  if (mine?.status === 'sent') {
    toast(selfResolved ? `已自行处置并结案，工单号 ${mine.ticket_number}` : `上报成功，工单号 ${mine.ticket_number}`);
  }
  else if (mine?.status === 'failed') toast(`上报被拒绝：${mine.last_error}`, 8000);
  else if (result) {
    toast(`当前无网络：${selfResolved ? '自行处置记录' : ''}已保存在本机（待发送），联网后自动发送`, 6000);
  }
}

// ------------------------------------------------------------------ list --

async function loadServerList() {
  try {
    const page = await getJSON('api/tickets?limit=100&reporter=me');
    app.serverTickets = Array.isArray(page?.items) ? page.items : [];
    app.serverLoaded = true;
    dom.info.textContent = `更新于 ${formatShort(new Date().toISOString())}`;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return;
    dom.info.textContent = `列表未能刷新（${err.message}），显示本机记录`;
  }
}

function stateLabel(state) {
  return STATE_LABELS[state] || state || '';
}

function localItem(r) {
  const f = r.fields || {};
  return el('li', {
    className: `o-item is-${r.status}`, 'data-testid': 'my-report',
    dataset: { status: r.status, clientRef: r.client_ref, number: r.ticket_number || '' },
  },
  el('div', { className: 'o-item-top' },
    el('strong', {}, r.ticket_number || '尚无工单号'),
    el('span', { className: `o-state is-${r.status}`, 'data-testid': 'report-state' },
      STATUS_LABELS[r.status] || stateLabel(r.ticket_state))),
  el('div', { className: 'o-item-main' }, f.category_name || f.category_code || '',
    f.self_resolved ? el('span', { className: 'o-chip', 'data-testid': 'report-self-resolved' }, '自行处置') : null),
  el('div', { className: 'o-item-meta' },
    [f.grid_name || f.address, `${formatShort(r.created_at)} 填报`].filter(Boolean).join(' · ')),
  f.description && el('div', { className: 'o-item-desc' }, f.description),
  r.status === 'pending' && el('div', { className: 'o-item-meta' },
    `已保存在本机，联网后自动发送${r.photos?.length ? `（含 ${r.photos.length} 张照片）` : ''}`),
  r.status === 'failed' && el('div', { className: 'o-item-error' }, `原因：${r.last_error}`),
  r.status === 'failed' && el('button', {
    type: 'button', className: 'o-btn o-btn-ghost', dataset: { discard: r.client_ref },
  }, '删除此条'));
}

function serverItem(t) {
  return el('li', {
    className: `o-item is-sent state-${t.state}`, 'data-testid': 'my-report',
    dataset: { status: 'sent', number: t.number || '', state: t.state, ticketId: t.id },
  },
  el('div', { className: 'o-item-top' },
    el('strong', {}, t.number || ''),
    el('span', { className: `o-state state-${t.state}`, 'data-testid': 'report-state' }, stateLabel(t.state))),
  el('div', { className: 'o-item-main' }, t.category_name || t.category_code || ''),
  el('div', { className: 'o-item-meta' },
    [t.grid_name || t.address, `${formatShort(t.created_at)} 上报`].filter(Boolean).join(' · ')),
  t.description && el('div', { className: 'o-item-desc' }, t.description),
  el('div', { className: 'o-item-meta' }, serverProgress(t)));
}

function serverProgress(t) {
  if (t.state === 'closed' && !t.department_name) return '自行处置，已结案';
  if (t.department_name) return `承办：${t.department_name}`;
  if (['closed', 'rejected', 'merged'].includes(t.state)) return stateLabel(t.state);
  return t.manual_reason ? `待人工派遣：${t.manual_reason}` : '等待派遣';
}

async function renderList() {
  if (!app.owner) return;
  const local = await listReports(app.owner);
  const known = new Set(app.serverTickets.map((t) => t.number));
  const items = [];
  for (const r of local) {
    if (r.kind === 'answer') continue; // listed under 核查任务
    if (r.status !== 'sent') items.push(localItem(r));
    else if (!known.has(r.ticket_number)) items.push(localItem(r)); // sent, not in the list yet
  }
  for (const t of app.serverTickets) items.push(serverItem(t));
  dom.list.replaceChildren(...items);
  dom.empty.hidden = items.length > 0;
}

// ------------------------------------------------------------ app flow --

function showView(id) {
  for (const tab of dom.tabs) {
    const active = tab.dataset.view === id;
    if (active) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
    $(tab.dataset.view).hidden = !active;
  }
  if (id === 'mine-view') {
    renderList();
    loadServerList().then(renderList);
  } else if (id === 'task-view') {
    app.tasks?.load();
  } else {
    app.form?.map.invalidate();
  }
}

function showLogin(message = '') {
  app.owner = null;
  app.form?.stopGps();
  dom.app.hidden = true;
  dom.loginView.hidden = false;
  dom.loginError.textContent = message;
  dom.loginError.hidden = !message;
  dom.loginPassword.value = '';
  (dom.loginUsername.value ? dom.loginPassword : dom.loginUsername).focus();
}

async function startApp() {
  const user = getUser();
  if (user?.role !== 'grid_officer') {
    window.location.replace(homePageFor(user?.role) || 'index.html');
    return;
  }
  app.owner = user.username;
  dom.loginView.hidden = true;
  dom.app.hidden = false;
  dom.userName.textContent = user.full_name || user.username;
  setNet(navigator.onLine);
  if (!app.form) app.form = new ReportForm({ getOwner: () => app.owner, onSaved, toast });
  if (!app.tasks) {
    app.tasks = new TaskList({
      getOwner: () => app.owner,
      listOutbox: listReports,
      outboxChanged: async () => {
        const result = await sync('submit');
        if (result?.sent) toast('核查回复已发送');
        else if (result && !result.failed) toast('当前无网络：核查回复已保存在本机，联网后自动发送', 6000);
      },
      toast,
    });
  }
  await app.form.start();
  await pruneSent(app.owner).catch(() => {});
  await updatePending();
  await loadServerList();
  await renderList();
  await app.tasks.load();
  sync('load');
}

async function onLoginSubmit(event) {
  event.preventDefault();
  const username = dom.loginUsername.value.trim();
  const password = dom.loginPassword.value;
  if (!username || !password) {
    dom.loginError.textContent = '请输入用户名和密码';
    dom.loginError.hidden = false;
    return;
  }
  dom.loginSubmit.disabled = true;
  dom.loginSubmit.textContent = '登录中…';
  try {
    await login(username, password);
    dom.loginPassword.value = '';
    await startApp();
  } catch (err) {
    dom.loginError.textContent = err.status === 401 ? (err.detail || '用户名或密码错误') : err.message;
    dom.loginError.hidden = false;
  } finally {
    dom.loginSubmit.disabled = false;
    dom.loginSubmit.textContent = '登录';
  }
}

function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  // Scope "officer": the worker serves this app only, never the console or the hotline desk.
  navigator.serviceWorker.register('sw.js', { scope: './officer' }).catch(() => {});
}

function main() {
  if (!window.L) {
    document.body.textContent = '地图组件加载失败（node_modules/leaflet 缺失，请在 web/ 下执行 npm install）。';
    return;
  }
  onUnauthorized(() => showLogin('登录已失效，请重新登录（未发送的上报仍保存在本机）'));
  dom.loginForm.addEventListener('submit', onLoginSubmit);
  dom.logout.addEventListener('click', () => {
    clearSession();
    showLogin();
  });
  for (const tab of dom.tabs) tab.addEventListener('click', () => showView(tab.dataset.view));
  $('photo-input').addEventListener('change', () => { dom.toast.hidden = true; }); // e.g. "需要照片" is answered
  $('task-refresh').addEventListener('click', async () => {
    await sync('manual');
    await app.tasks?.load();
  });
  dom.refresh.addEventListener('click', async () => {
    await sync('manual');
    await loadServerList();
    await renderList();
  });
  dom.list.addEventListener('click', async (e) => {
    const discard = e.target.closest('[data-discard]');
    if (discard && window.confirm('删除这条未能发送的上报？')) {
      await deleteReport(discard.dataset.discard);
      await renderList();
    }
  });
  window.addEventListener('online', () => {
    setNet(true);
    app.retryDelay = RETRY_MIN_MS;
    sync('online');
  });
  window.addEventListener('offline', () => setNet(false));
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && app.owner) sync('visible');
  });
  setInterval(() => {
    if (app.owner && !$('mine-view').hidden) loadServerList().then(renderList);
  }, LIST_REFRESH_MS);
  registerServiceWorker();
  if (getToken()) startApp();
  else showLogin();
}

main();
