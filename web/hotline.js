// 12345 受理台: keyboard-first entry of a citizen call → POST api/intake/hotline (JSON).
//
// Tab order follows the form; Enter in any field submits (Ctrl+Enter in the content box);
// the address box searches the gazetteer while typing (hotline-address.js: candidates ↑↓ Enter,
// a confident match fills the coordinates by itself); the category box is a searchable combobox
// (↑↓ Enter / Tab pick, Esc closes). Once category and place are known, open tickets that look
// the same are shown as 可能重复 (hotline-similar.js). The server is the one judge of the input:
// its 422 {"detail", "field", "errors"} is shown next to the fields it names. Recent hotline
// tickets (GET api/tickets) show unmasked phones. The 回访 tab lists closed calls to call back.

import {
  ApiError, apiFetch, clearSession, getJSON, getToken, getUser, homePageFor, login, onUnauthorized,
} from './api.js';
import { loadCategoryGroups } from './categories.js';
import { formatShort } from './labels.js';
import { AddressSearch, loadGridNames } from './hotline-address.js';
import { CallbackList } from './hotline-callback.js';
import { CategoryCombo } from './hotline-combo.js';
import { SimilarHints } from './hotline-similar.js';

const STATE_LABELS = {
  new: '待派遣', manual: '待人工派遣', dispatched: '已派遣', signed: '处置中', returned: '已回退', suspended: '挂账',
  feedback: '待核查', closed: '已结案', rejected: '不予受理', merged: '已合并',
};
const CALLBACK_REFRESH_MS = 60000;
const KEY_HELP = {
  'intake-view': 'Tab 下一项 · Enter 受理（内容框中 Ctrl+Enter）· 地址、类别框 ↑↓ 选择、Enter 确认、Esc 关闭',
  'callback-view': 'Tab 下一项 · 数字键 1 满意 / 2 基本满意 / 3 不满意 · Enter 登记 · 标签页 ←→ 切换',
};
const REQUEST_LABELS = { consult: '咨询', help: '求助', complaint: '投诉', report: '举报', suggestion: '建议' };
const RECENT_REFRESH_MS = 20000;
const FIELD_LABELS = {
  call_id: '来电编号', caller_name: '来电人', caller_phone: '来电号码', address: '事发地址', lon: '经度',
  lat: '纬度', request_type: '诉求类型', category_code: '事件类别', content: '诉求内容', urgency: '紧急程度',
};
// What an operator reads instead of pydantic's English, by field and error type.
const FRIENDLY = {
  caller_phone: { string_pattern_mismatch: '号码格式不正确：手机为 1 开头的 11 位数字，座机为“区号-号码”（如 0352-1234567）' },
  call_id: { string_pattern_mismatch: '来电编号为 4–64 位字母、数字、“-”或“_”，且以字母或数字开头' },
  content: { string_too_long: '内容不能超过 2000 字' },
  address: { string_too_long: '地址不能超过 255 字', value_error: '请填写事发地址（或填写坐标）' },
  lon: { float_parsing: '经度应为数字', greater_than_equal: '经度超出范围', less_than_equal: '经度超出范围' },
  lat: { float_parsing: '纬度应为数字', greater_than_equal: '纬度超出范围', less_than_equal: '纬度超出范围', value_error: '经度和纬度需同时填写' },
};
const REQUIRED = { missing: true, string_too_short: true, enum: true };

const $ = (id) => document.getElementById(id);
const dom = {
  loginView: $('login-view'), loginForm: $('login-form'), loginUsername: $('login-username'),
  loginPassword: $('login-password'), loginError: $('login-error'), loginSubmit: $('login-submit'),
  desk: $('desk'), userName: $('user-name'), logout: $('logout-button'),
  form: $('call-form'), result: $('result'), formError: $('form-error'), submit: $('submit-button'),
  reset: $('reset-button'), callId: $('call_id'), phone: $('caller_phone'), content: $('content'),
  lon: $('lon'), lat: $('lat'), recent: $('recent-list'), recentEmpty: $('recent-empty'),
  recentInfo: $('recent-info'), address: $('address'),
  tabs: [$('tab-intake'), $('tab-callback')], callbackCount: $('callback-count'),
};

let combo = null;
let address = null;
let similar = null;
let callbacks = null;
let refreshTimer = null;
let callbackTimer = null;

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

/** A call id for calls the call-centre system did not number: RX-YYYYMMDDhhmmss-xxxx (editable). */
function newCallId() {
  const p = Object.fromEntries(new Intl.DateTimeFormat('zh-CN', {
    timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
  }).formatToParts(new Date()).map((x) => [x.type, x.value]));
  const rand = Array.from(crypto.getRandomValues(new Uint8Array(2)), (b) => b.toString(16).padStart(2, '0')).join('');
  return `RX-${p.year}${p.month}${p.day}${p.hour}${p.minute}${p.second}-${rand}`;
}

// ---------------------------------------------------------------- errors --

function clearErrors() {
  for (const node of dom.form.querySelectorAll('.h-error')) {
    node.textContent = '';
    node.hidden = true;
  }
  for (const node of dom.form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
  dom.formError.hidden = true;
}

function fieldOf(error) {
  const loc = (error.loc || []).filter((p) => p !== 'body');
  return String(loc[loc.length - 1] ?? '');
}

function friendly(field, error) {
  const type = String(error.type || '');
  const byType = FRIENDLY[field] || {};
  if (byType[type]) return byType[type];
  if (REQUIRED[type]) return `请${field === 'request_type' || field === 'category_code' ? '选择' : '填写'}${FIELD_LABELS[field] || field}`;
  return error.msg || '输入有误';
}

/** Show the server's verdict next to the fields it names; focus the first one. */
function showErrors(err) {
  clearErrors();
  const byField = new Map();
  for (const e of err.errors) {
    const field = fieldOf(e);
    if (!byField.has(field)) byField.set(field, friendly(field, e));
  }
  if (!byField.size && err.field) byField.set(err.field, err.detail); // domain errors are Chinese already
  const unplaced = [];
  let first = null;
  for (const [field, text] of byField) {
    const slot = dom.form.querySelector(`[data-error-for="${field}"]`);
    if (!slot) {
      unplaced.push(`${FIELD_LABELS[field] || field}：${text}`);
      continue;
    }
    slot.textContent = text;
    slot.hidden = false;
    const input = field === 'category_code' ? $('category-input')
      : dom.form.querySelector(`[name="${field}"]`) || $(field);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      if (field === 'lon' || field === 'lat') input.closest('details').open = true;
      first ||= input;
    }
  }
  dom.formError.textContent = unplaced.length ? unplaced.join('；')
    : byField.size ? `请修正标红的 ${byField.size} 项后再受理` : err.message;
  dom.formError.hidden = false;
  first?.focus();
}

// ------------------------------------------------------------------ form --

function numberOrNull(text) {
  const t = text.trim();
  if (!t) return null;
  const n = Number(t);
  return Number.isFinite(n) ? n : t; // a non-number goes to the server, which names the field
}

function collect() {
  const value = (name) => dom.form.querySelector(`[name="${name}"]`)?.value.trim() ?? '';
  const body = {
    call_id: dom.callId.value.trim(),
    caller_name: value('caller_name'),
    caller_phone: value('caller_phone'),
    address: value('address'),
    category_code: combo.value,
    content: dom.content.value.trim(),
    urgency: dom.form.querySelector('input[name="urgency"]:checked')?.value || 'normal',
  };
  const type = dom.form.querySelector('input[name="request_type"]:checked')?.value;
  if (type) body.request_type = type;
  const lon = numberOrNull(dom.lon.value);
  const lat = numberOrNull(dom.lat.value);
  if (lon !== null || lat !== null) Object.assign(body, { lon, lat });
  return body;
}

function resetForm() {
  dom.form.reset();
  combo.clear();
  address.reset();
  similar.clear();
  dom.callId.value = newCallId();
  clearErrors();
  dom.phone.focus();
}

async function submit() {
  if (dom.submit.disabled) return;
  clearErrors();
  dom.submit.disabled = true;
  dom.submit.textContent = '受理中…';
  try {
    const receipt = await apiFetch('api/intake/hotline', { method: 'POST', json: collect() });
    dom.result.replaceChildren(
      receipt.duplicate_of_call ? '该来电编号已受理过，未重复建单：' : '已受理，工单号 ',
      el('strong', { 'data-testid': 'result-number' }, receipt.number),
      `（${STATE_LABELS[receipt.state] || receipt.state}）`,
    );
    dom.result.dataset.number = receipt.number;
    dom.result.hidden = false;
    resetForm();
    loadRecent();
    setTimeout(loadRecent, 3000); // the worker routes it within seconds: show its new state
  } catch (err) {
    dom.result.hidden = true;
    if (err instanceof ApiError && err.status === 422) showErrors(err);
    else if (!(err instanceof ApiError && err.status === 401)) {
      dom.formError.textContent = `受理失败：${err.message}（表单内容已保留，可重试）`;
      dom.formError.hidden = false;
    }
  } finally {
    dom.submit.disabled = false;
    dom.submit.textContent = '受理 ⏎';
  }
}

// ---------------------------------------------------------------- recent --

async function loadRecent() {
  try {
    const page = await getJSON('api/tickets?limit=50');
    const items = (page?.items || []).filter((t) => t.source === 'hotline');
    dom.recent.replaceChildren(...items.map((t) => el('tr', {
      'data-testid': 'hotline-row', dataset: { number: t.number || '', state: t.state },
    },
    el('td', { className: 'h-num' }, t.number || ''),
    el('td', {}, formatShort(t.created_at)),
    el('td', {}, t.caller_name || ''),
    el('td', { className: 'h-num', 'data-testid': 'hotline-phone' }, t.caller_phone || ''),
    el('td', {}, REQUEST_LABELS[t.request_type] || t.request_type || ''),
    el('td', {}, t.category_name || t.category_code || ''),
    el('td', { className: 'h-addr', title: t.address || '' }, t.address || ''),
    el('td', {}, el('span', { className: `h-state state-${t.state}` }, STATE_LABELS[t.state] || t.state)))));
    dom.recentEmpty.hidden = items.length > 0;
    dom.recentInfo.textContent = `${items.length} 条 · 更新于 ${formatShort(new Date().toISOString())}`;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) dom.recentInfo.textContent = `刷新失败：${err.message}`;
  }
}

// ------------------------------------------------------------------ tabs --

/** Show one tab's view. From the tab list's arrow keys the focus stays on the tab; otherwise it
 * moves to the view's first input (the phone field, or the first row's satisfaction choice). */
function showTab(id, { focusTab = false } = {}) {
  for (const tab of dom.tabs) {
    const on = tab.getAttribute('aria-controls') === id;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    $(tab.getAttribute('aria-controls')).hidden = !on;
    if (on && focusTab) tab.focus();
  }
  $('key-help').textContent = KEY_HELP[id] || '';
  if (id === 'callback-view') {
    callbacks.load().then(() => {
      if (!focusTab) dom.callbackList.querySelector('input[type="radio"]')?.focus();
    });
  } else if (!focusTab) {
    dom.phone.focus();
  }
}

function onTabKey(e) {
  const i = dom.tabs.indexOf(e.target);
  if (i < 0 || !['ArrowLeft', 'ArrowRight', 'Home', 'End'].includes(e.key)) return;
  e.preventDefault();
  const n = dom.tabs.length;
  const next = e.key === 'Home' ? 0 : e.key === 'End' ? n - 1 : (i + (e.key === 'ArrowRight' ? 1 : -1) + n) % n;
  showTab(dom.tabs[next].getAttribute('aria-controls'), { focusTab: true });
}

function setCallbackCount(n) {
  dom.callbackCount.textContent = String(n);
  dom.callbackCount.hidden = n === 0;
}

// ------------------------------------------------------------------ flow --

function showLogin(message = '') {
  clearInterval(refreshTimer);
  clearInterval(callbackTimer);
  dom.desk.hidden = true;
  dom.loginView.hidden = false;
  dom.loginError.textContent = message;
  dom.loginError.hidden = !message;
  dom.loginPassword.value = '';
  (dom.loginUsername.value ? dom.loginPassword : dom.loginUsername).focus();
}

async function startDesk() {
  const user = getUser();
  if (user?.role !== 'hotline_operator') {
    window.location.replace(homePageFor(user?.role) || 'index.html');
    return;
  }
  dom.loginView.hidden = true;
  dom.desk.hidden = false;
  dom.userName.textContent = user.full_name || user.username;
  if (!dom.callId.value) dom.callId.value = newCallId();
  dom.phone.focus();
  loadRecent();
  callbacks.load();
  loadGridNames().catch(() => {}); // names for the address note, in the background
  clearInterval(refreshTimer);
  refreshTimer = setInterval(loadRecent, RECENT_REFRESH_MS);
  clearInterval(callbackTimer);
  callbackTimer = setInterval(() => callbacks.load(), CALLBACK_REFRESH_MS);
  try {
    combo.setGroups(await loadCategoryGroups());
  } catch (err) {
    dom.formError.textContent = `事件类别加载失败：${err.message}`;
    dom.formError.hidden = false;
  }
}

async function onLoginSubmit(event) {
  event.preventDefault();
  dom.loginSubmit.disabled = true;
  try {
    await login(dom.loginUsername.value.trim(), dom.loginPassword.value);
    await startDesk();
  } catch (err) {
    dom.loginError.textContent = err.status === 401 ? (err.detail || '用户名或密码错误') : err.message;
    dom.loginError.hidden = false;
  } finally {
    dom.loginSubmit.disabled = false;
  }
}

function main() {
  combo = new CategoryCombo($('category-input'), $('category-options'));
  similar = new SimilarHints({
    box: $('similar'), list: $('similar-list'), title: $('similar-title'),
    read: () => ({
      category_code: combo.value,
      address: dom.address.value.trim(),
      lon: dom.lon.value.trim() ? Number(dom.lon.value) : NaN,
      lat: dom.lat.value.trim() ? Number(dom.lat.value) : NaN,
      caller_phone: dom.phone.value.trim(),
    }),
  });
  address = new AddressSearch({
    input: dom.address, listbox: $('address-options'), note: $('address-note'),
    lon: dom.lon, lat: dom.lat, onPosition: () => similar.schedule(),
  });
  combo.onPick = () => similar.schedule();
  for (const box of [dom.address, dom.phone, dom.lon, dom.lat, $('category-input')]) {
    box.addEventListener('input', () => similar.schedule());
  }
  dom.callbackList = $('callback-list');
  callbacks = new CallbackList({
    body: dom.callbackList, empty: $('callback-empty'), info: $('callback-info'), status: $('callback-status'),
    onCount: setCallbackCount,
  });
  for (const tab of dom.tabs) {
    tab.addEventListener('click', () => showTab(tab.getAttribute('aria-controls')));
    tab.addEventListener('keydown', onTabKey);
  }
  onUnauthorized(() => showLogin('登录已失效，请重新登录'));
  dom.loginForm.addEventListener('submit', onLoginSubmit);
  dom.logout.addEventListener('click', () => {
    clearSession();
    showLogin();
  });
  dom.form.addEventListener('submit', (e) => {
    e.preventDefault();
    submit();
  });
  dom.form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      submit();
    }
  });
  dom.reset.addEventListener('click', resetForm);
  if (getToken()) startDesk();
  else showLogin();
}

main();
