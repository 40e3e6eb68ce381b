// 调度台 (dispatch console): grid map + live ticket queue.
//
// Start-up: GET api/tickets?limit=200 → remember `last_seq` → open the websocket
// api/console/ws?token=…&since=<last seq>&batch=1 (the changes waiting for us come as one
// array per frame). Every "change" message with a seq we have not applied yet upserts its ticket in the list, the counters and the map.
// Leaflet is loaded as a classic script before this module (global `L`).

import {
  ApiError, clearSession, getJSON, getToken, getUser, homePageFor, loadWorkCalendar, login, onUnauthorized,
  wsUrl,
} from './api.js';
import {
  STATE_SHORT, WARNING_LABELS, formatWorkingMinutes, isOverdue, workingLeft,
} from './labels.js';
import { TicketPanel } from './ticket-panel.js';

const L = window.L;

// ---------------------------------------------------------------- labels --

const STATE_LABELS = STATE_SHORT; // every state, from labels.js
const SOURCE_LABELS = { patrol: '网格员上报', hotline: '12345热线' };
const URGENCY_LABELS = { urgent: '紧急', normal: '一般' };
const LEVEL_LABELS = { district: '区', street: '街道', community: '社区', grid: '网格' };
const ROLE_LABELS = {
  dispatcher: '派遣员',
  shift_lead: '值班长',
  admin: '管理员',
  leader: '领导',
  department: '部门人员',
  department_staff: '部门人员',
  grid_officer: '网格员',
  hotline: '12345受理员',
  hotline_operator: '12345受理员',
};
const ACTION_LABELS = { intake: '受理', route: '自动派遣', dispatch: '派遣' };
// Quick filters beside the counters (not states): 超期 and 临期 by the server's warning level.
const QUICK_FILTERS = { overdue: '超期', yellow: '临期', verifying: '现场核查中' };
const VERIFY_LABELS = { intake: '核实中', closure: '核查中', review: '待抽查' };
const WARNING_RINGS = { yellow: '#f5b700', red: '#e03131', escalated: '#a61e4d' };

const STATE_COLORS = { new: '#1d6fd6', manual: '#f08c00', dispatched: '#2b9a3e' };
const OTHER_STATE_COLOR = '#7b8794';
// States in which a passed deadline no longer matters. Later states (签收、处置 …)
// are shown with their raw name until they get a label here.
const FINISHED_STATES = new Set(['closed', 'cancelled', 'voided', 'rejected', 'archived']);
const DUE_SOON_MIN = 120; // working minutes; display hint only, 督办 rules live in the back end

const TICKET_LIMIT = 200; // initial load
const MAX_TICKETS = 500; // kept in memory / in the list; the oldest are dropped
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 15000;
const STABLE_CONNECTION_MS = 10000; // a connection that lived this long resets the backoff
const WS_CLOSE_UNAUTHORIZED = 4401;

const GRID_LEVELS = ['district', 'street', 'community', 'grid'];
const LAZY_MIN_ZOOM = { community: 13, grid: 14 }; // loaded on first zoom-in, hidden below
// 平城区 frame, shown until the district outline has loaded.
const DEFAULT_BOUNDS = [[40.02, 113.18], [40.13, 113.32]];
const STREET_FILLS = ['#dbe7f5', '#e3efe1', '#f3eadb', '#ebe1f1', '#dcefee', '#f3e0e0'];

// ----------------------------------------------------------------- time --

const TZ = 'Asia/Shanghai';
const fmtShort = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const fmtFull = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});
const fmtClock = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit', weekday: 'short',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

function dateParts(fmt, date) {
  const out = {};
  for (const p of fmt.formatToParts(date)) out[p.type] = p.value;
  return out;
}

function toDate(iso) {
  if (!iso) return null;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "11-28 14:05" in China time. */
function formatShort(iso) {
  const d = toDate(iso);
  if (!d) return iso || '—';
  const p = dateParts(fmtShort, d);
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** "2026-11-28 14:05:09" in China time. */
function formatFull(iso) {
  const d = toDate(iso);
  if (!d) return iso || '';
  const p = dateParts(fmtFull, d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

/** Calendar day in China time, e.g. "2026-11-28". */
function chinaDay(date) {
  const p = dateParts(fmtFull, date);
  return `${p.year}-${p.month}-${p.day}`;
}

function formatClock(date) {
  const p = dateParts(fmtClock, date);
  return `${p.year}年${p.month}月${p.day}日 ${p.weekday} ${p.hour}:${p.minute}:${p.second}`;
}

// ------------------------------------------------------------------ DOM --

const $ = (id) => document.getElementById(id);
const dom = {
  loginView: $('login-view'),
  loginForm: $('login-form'),
  loginUsername: $('login-username'),
  loginPassword: $('login-password'),
  loginError: $('login-error'),
  loginSubmit: $('login-submit'),
  consoleView: $('console-view'),
  conn: $('connection-status'),
  clock: $('clock'),
  userName: $('user-name'),
  userRole: $('user-role'),
  systemBanner: $('system-banner'),
  logout: $('logout-button'),
  mapMessage: $('map-message'),
  counters: document.querySelectorAll('.counter'),
  listFilter: $('list-filter'),
  listCount: $('list-count'),
  list: $('ticket-list'),
  empty: $('ticket-empty'),
};

/** Create an element: el('span', {className: 'x', dataset: {a: 1}}, 'text', child). */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function escapeHtml(text) {
  return String(text ?? '').replace(/[&<>"']/g, (c) => ({
    '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
  })[c]);
}

// ---------------------------------------------------------------- state --

const state = {
  running: false,
  session: 0, // bumped on every start/stop so late async results are dropped
  tickets: new Map(), // id → ticket
  rows: new Map(), // id → <li>
  markers: new Map(), // id → L.CircleMarker
  lastChange: new Map(), // id → last change message (actor, action)
  lastSeq: 0,
  filter: null, // null | 'today' | a state
  selectedId: null,
  ws: null,
  wsOpenedAt: 0,
  reconnectDelay: RECONNECT_MIN_MS,
  reconnectTimer: null,
  reconnectFn: null, // what the pending timer will run (connect or startFeed)
};

const rowIds = new WeakMap(); // <li> → ticket id (ids keep their JSON type)

function stateLabel(s) {
  return STATE_LABELS[s] || s || '未知';
}

function stateClass(s) {
  return STATE_LABELS[s] ? `state-${s}` : 'state-other';
}

function stateColor(s) {
  return STATE_COLORS[s] || OTHER_STATE_COLOR;
}

/** Newest first: created_at descending, then id descending. */
function compareTickets(a, b) {
  const ta = toDate(a.created_at)?.getTime() ?? 0;
  const tb = toDate(b.created_at)?.getTime() ?? 0;
  if (ta !== tb) return tb - ta;
  return Number(b.id) - Number(a.id);
}

// ------------------------------------------------------------------ map --

let map = null;
let polygonRenderer = null;
let ticketRenderer = null;
const gridLayers = {}; // level → L.GeoJSON
const gridLoads = {}; // level → Promise

function initMap() {
  if (map) {
    map.invalidateSize();
    return;
  }
  map = L.map('map', {
    zoomSnap: 0.25,
    zoomDelta: 0.5,
    minZoom: 9,
    maxZoom: 18,
    attributionControl: false,
  });
  map.fitBounds(DEFAULT_BOUNDS);
  L.control.scale({ imperial: false, position: 'bottomleft' }).addTo(map);

  // One canvas for every polygon level: the canvas hands a click to the topmost
  // interactive polygon, so grids (drawn last) win over communities and streets.
  polygonRenderer = L.canvas({ padding: 0.5, tolerance: 2 });
  map.createPane('tickets');
  map.getPane('tickets').style.zIndex = 500;
  ticketRenderer = L.svg({ pane: 'tickets' });

  map.on('zoomend', updateLazyLevels);
}

function gridStyle(level, feature) {
  switch (level) {
    case 'district':
      return { color: '#0e2f52', weight: 4, opacity: 0.9, fillColor: '#ffffff', fillOpacity: 0.6 };
    case 'street': {
      const code = String(feature?.properties?.code || '');
      let hash = 0;
      for (const ch of code) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
      return {
        color: '#2c5a8c', weight: 2.2, opacity: 0.85,
        fillColor: STREET_FILLS[hash % STREET_FILLS.length], fillOpacity: 0.55,
      };
    }
    case 'community':
      return { color: '#5b7fae', weight: 1.2, opacity: 0.8, dashArray: '5 4', fillOpacity: 0 };
    default:
      return { color: '#7f97b5', weight: 0.7, opacity: 0.9, fillOpacity: 0 };
  }
}

function polygonPopup(props) {
  const level = LEVEL_LABELS[props.level] || props.level || '';
  return `<div class="grid-popup">
    <div class="grid-popup-name">${escapeHtml(props.name || '（未命名）')}</div>
    <div class="grid-popup-meta">${escapeHtml(level)} · 编码 <code>${escapeHtml(props.code)}</code></div>
    ${props.parent_code ? `<div class="grid-popup-meta">上级编码 <code>${escapeHtml(props.parent_code)}</code></div>` : ''}
  </div>`;
}

/** A span holding `text` as text: Leaflet renders a string tooltip as HTML, and names come from imports. */
function textNode(text) {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

function buildGridLayer(level, geojson) {
  return L.geoJSON(geojson, {
    renderer: polygonRenderer,
    style: (feature) => gridStyle(level, feature),
    onEachFeature: (feature, layer) => {
      const props = feature.properties || {};
      layer.bindPopup(() => polygonPopup(props), { maxWidth: 280 });
      if (level === 'street' && props.name) {
        layer.bindTooltip(textNode(props.name), {
          permanent: true, direction: 'center', className: 'street-label', interactive: false,
        });
      }
    },
  });
}

/** Keep drawing order district < street < community < grid (also the click order). */
function restackGridLayers() {
  for (const level of GRID_LEVELS) {
    const layer = gridLayers[level];
    if (layer && map.hasLayer(layer)) layer.bringToFront();
  }
}

function loadGridLevel(level) {
  if (!gridLoads[level]) {
    const session = state.session;
    gridLoads[level] = getJSON(`api/grids?level=${level}`)
      .then((geojson) => {
        if (session !== state.session) return null;
        gridLayers[level] = buildGridLayer(level, geojson);
        return gridLayers[level];
      })
      .catch((err) => {
        delete gridLoads[level];
        if (session === state.session && !(err instanceof ApiError && err.status === 401)) {
          showMapMessage(`${LEVEL_LABELS[level]}边界加载失败：${err.message}`);
        }
        return null;
      });
  }
  return gridLoads[level];
}

function showLevel(level, visible) {
  const layer = gridLayers[level];
  if (!layer) return;
  if (visible && !map.hasLayer(layer)) {
    layer.addTo(map);
    restackGridLayers();
  } else if (!visible && map.hasLayer(layer)) {
    map.removeLayer(layer);
  }
}

async function loadBaseGrids() {
  const [district, street] = await Promise.all([loadGridLevel('district'), loadGridLevel('street')]);
  if (!state.running) return;
  showLevel('district', true);
  showLevel('street', true);
  const frame = district || street;
  if (frame && frame.getBounds().isValid()) {
    map.fitBounds(frame.getBounds(), { padding: [16, 16] });
  }
  updateLazyLevels();
}

async function updateLazyLevels() {
  if (!map || !state.running) return;
  for (const [level, minZoom] of Object.entries(LAZY_MIN_ZOOM)) {
    const wanted = map.getZoom() >= minZoom;
    if (wanted && !gridLayers[level]) {
      await loadGridLevel(level);
      if (!state.running) return;
    }
    showLevel(level, map.getZoom() >= minZoom);
  }
}

function clearGridLayers() {
  for (const level of GRID_LEVELS) {
    if (gridLayers[level] && map) map.removeLayer(gridLayers[level]);
    delete gridLayers[level];
    delete gridLoads[level];
  }
}

let mapMessageTimer = null;
function showMapMessage(text) {
  dom.mapMessage.textContent = text;
  dom.mapMessage.hidden = false;
  clearTimeout(mapMessageTimer);
  mapMessageTimer = setTimeout(() => { dom.mapMessage.hidden = true; }, 8000);
}

// -------------------------------------------------------------- markers --

function markerPopup(t) {
  const place = t.grid_name || t.address || '';
  return `<div class="ticket-popup">
    <div class="ticket-popup-head">
      <strong>${escapeHtml(t.number)}</strong>
      <span class="badge ${stateClass(t.state)}">${escapeHtml(stateLabel(t.state))}</span>
      ${t.urgency === 'urgent' ? '<span class="badge badge-urgent">紧急</span>' : ''}
    </div>
    <div>${escapeHtml(t.category_name || t.category_code || '')}</div>
    ${place ? `<div class="muted">${escapeHtml(place)}</div>` : ''}
    ${t.address && t.address !== place ? `<div class="muted">${escapeHtml(t.address)}</div>` : ''}
    ${t.description ? `<div class="ticket-popup-desc">${escapeHtml(t.description)}</div>` : ''}
    <div class="muted">${escapeHtml(t.department_name || (t.manual_reason ? `${t.centre_name ? `${t.centre_name}待处置` : '待人工派遣'}：${t.manual_reason}` : '未派遣'))}</div>
  </div>`;
}

function markerStyle(t) {
  const urgent = t.urgency === 'urgent';
  const ring = WARNING_RINGS[t.warning_level] || (isOverdue(t) ? WARNING_RINGS.red : null);
  return {
    radius: urgent || ring ? 8 : 6.5,
    color: ring || (urgent ? '#c92a2a' : '#ffffff'),
    weight: ring ? 4 : urgent ? 3 : 2,
    opacity: 1,
    fillColor: stateColor(t.state),
    fillOpacity: 0.95,
  };
}

function upsertMarker(t, flash) {
  if (!map) return;
  let marker = state.markers.get(t.id);
  const hasPosition = Number.isFinite(Number(t.lat)) && Number.isFinite(Number(t.lon))
    && t.lat !== null && t.lon !== null;
  if (!hasPosition) {
    if (marker) {
      marker.remove();
      state.markers.delete(t.id);
    }
    return;
  }
  const latlng = [Number(t.lat), Number(t.lon)];
  if (!marker) {
    marker = L.circleMarker(latlng, {
      ...markerStyle(t), renderer: ticketRenderer, pane: 'tickets', className: 'ticket-marker',
    });
    marker.bindPopup(() => markerPopup(state.tickets.get(t.id) || t), { maxWidth: 300 });
    marker.on('click', () => selectTicket(t.id, { fromMap: true }));
    marker.addTo(map);
    state.markers.set(t.id, marker);
  } else {
    marker.setLatLng(latlng);
    marker.setStyle(markerStyle(t));
    if (marker.isPopupOpen()) marker.setPopupContent(markerPopup(t)); // keep an open popup current
  }
  const path = marker.getElement();
  if (path) {
    path.dataset.ticketId = t.id;
    path.dataset.state = t.state;
    path.dataset.warning = t.warning_level || 'none';
    if (flash) restartAnimation(path, 'marker-flash');
  }
  if (t.state !== 'dispatched') marker.bringToFront(); // open work stays on top
}

function removeMarker(id) {
  const marker = state.markers.get(id);
  if (marker) marker.remove();
  state.markers.delete(id);
}

// ---------------------------------------------------------- ticket list --

/** The deadline cell: the working-time countdown while the clock runs, else the deadline itself. */
function deadlineInfo(t, now = Date.now()) {
  const d = toDate(t.deadline_at);
  if (!d) return { text: '无时限', cls: 'deadline-none', title: '' };
  const when = formatShort(t.deadline_at);
  const title = `处置时限 ${when}（剩余时间按工作时间计算）`;
  const minutes = FINISHED_STATES.has(t.state) ? null : workingLeft(t, now);
  if (minutes == null) return { text: `时限 ${when}`, cls: '', title };
  const text = formatWorkingMinutes(minutes);
  if (minutes < 0) return { text, cls: 'deadline-overdue', title };
  if (minutes < DUE_SOON_MIN) return { text, cls: 'deadline-soon', title };
  return { text, cls: '', title };
}

/** 督办 (open notices) and 协办 (co-handling departments) marks of a row. */
function supervisionMarks(t) {
  const marks = [];
  if (t.open_notice_count > 0) {
    marks.push(el('span', {
      className: 'badge badge-urge', 'data-testid': 'ticket-urge', title: `${t.open_notice_count} 条督办待部门确认`,
    }, t.open_notice_count > 1 ? `督办 ${t.open_notice_count}` : '督办'));
  }
  const assists = t.assist_department_ids?.length || 0;
  if (assists) {
    marks.push(el('span', {
      className: 'badge badge-assist', 'data-testid': 'ticket-assist', title: `${assists} 个协办单位`,
    }, assists > 1 ? `协办 ${assists}` : '协办'));
  }
  return marks;
}

function rowTitle(t) {
  const lines = [
    `${t.number} · ${stateLabel(t.state)}`,
    `来源：${SOURCE_LABELS[t.source] || t.source || '—'}　紧急程度：${URGENCY_LABELS[t.urgency] || t.urgency || '—'}`,
    `类别：${t.category_name || '—'}（${t.category_code || '—'}）`,
  ];
  if (t.address) lines.push(`地址：${t.address}`);
  if (t.grid_name || t.grid_code) lines.push(`网格：${t.grid_name || ''} ${t.grid_code || ''}`.trim());
  if (t.description) lines.push(`描述：${t.description}`);
  if (t.caller_name || t.caller_phone) lines.push(`来电人：${t.caller_name || ''} ${t.caller_phone || ''}`.trim());
  lines.push(`受理时间：${formatFull(t.created_at)}`);
  if (t.updated_at) lines.push(`更新时间：${formatFull(t.updated_at)}`);
  const change = state.lastChange.get(t.id);
  if (change) {
    lines.push(`最近操作：${change.actor || ''} ${ACTION_LABELS[change.action] || change.action || ''}（${formatFull(change.at)}）`);
  }
  return lines.join('\n');
}

function buildRow(t) {
  const deadline = deadlineInfo(t);
  const manual = t.state === 'manual' || (!t.grid_name && t.manual_reason);
  const place = manual && t.manual_reason
    ? el('span', { className: 'ticket-place ticket-reason', 'data-testid': 'ticket-place' },
      `原因：${t.manual_reason}`)
    : el('span', { className: 'ticket-place', 'data-testid': 'ticket-place' },
      t.grid_name || t.address || '未定位网格');

  const row = el('li', {
    className: `ticket-row ${stateClass(t.state)}${t.urgency === 'urgent' ? ' is-urgent' : ''}`,
    'data-testid': 'ticket-row',
    dataset: { ticketId: t.id, state: t.state, number: t.number },
    tabindex: 0,
    title: rowTitle(t),
    'aria-selected': String(state.selectedId === t.id),
  },
  el('div', { className: 'row-line row-top' },
    el('span', { className: 'ticket-number', 'data-testid': 'ticket-number' }, t.number),
    el('span', { className: `badge ${stateClass(t.state)}`, 'data-testid': 'ticket-state' }, stateLabel(t.state)),
    t.urgency === 'urgent' && el('span', { className: 'badge badge-urgent', 'data-testid': 'ticket-urgency' }, '紧急'),
    WARNING_LABELS[t.warning_level] && el('span', {
      className: `badge badge-warn-${t.warning_level}`, 'data-testid': 'ticket-warning',
    }, WARNING_LABELS[t.warning_level]),
    ...supervisionMarks(t),
    t.verification_pending && el('span', {
      className: 'badge badge-verify', 'data-testid': 'ticket-verifying', title: '等待网格员现场核实/核查（或社区抽查）的回复',
    }, VERIFY_LABELS[t.verification_pending] || '核查中'),
    el('span', { className: `source source-${t.source}` }, SOURCE_LABELS[t.source] || t.source || ''),
    el('time', {
      className: 'ticket-time', 'data-testid': 'ticket-time', datetime: t.created_at || '',
    }, formatShort(t.created_at))),
  el('div', { className: 'row-line row-main' },
    el('span', { className: 'ticket-category', 'data-testid': 'ticket-category' },
      t.category_name || t.category_code || '未分类'),
    place),
  el('div', { className: 'row-line row-meta' },
    el('span', {
      className: `ticket-department${t.department_name ? '' : ' is-empty'}`,
      'data-testid': 'ticket-department',
    }, t.department_name || (t.centre_name && t.state === 'manual' ? `${t.centre_name}待处置` : '未派遣')),
    el('span', {
      className: `ticket-deadline ${deadline.cls}`,
      'data-testid': 'ticket-deadline',
      title: deadline.title || null,
      dataset: { deadline: t.deadline_at || '' },
    }, deadline.text)));
  rowIds.set(row, t.id);
  return row;
}

function matchesFilter(t, today = chinaDay(new Date())) {
  if (!state.filter) return true;
  if (state.filter === 'today') {
    const d = toDate(t.created_at);
    return !!d && chinaDay(d) === today;
  }
  if (state.filter === 'overdue') return isOverdue(t);
  if (state.filter === 'yellow') return t.warning_level === 'yellow';
  if (state.filter === 'manual') return t.state === 'manual' && inMyQueue(t);
  if (state.filter === 'verifying') return !!t.verification_pending;
  return t.state === state.filter;
}

/** Whether the viewer's centre holds the ticket: a street or community centre's staff (with an area)
 * their own centre's tickets, the district centre those no lower centre holds. */
function inMyQueue(t) {
  const user = getUser();
  const mine = user?.area_code ? user.department_id : null;
  return (t.centre_id ?? null) === mine;
}

/** Put `row` at its sorted place (newest first). */
function placeRow(row, t) {
  let before = null;
  for (const other of dom.list.children) {
    if (other === row) continue;
    const ot = state.tickets.get(rowIds.get(other));
    if (ot && compareTickets(t, ot) < 0) {
      before = other;
      break;
    }
  }
  if (row.nextSibling !== before || row.parentNode !== dom.list) {
    dom.list.insertBefore(row, before);
  }
}

function restartAnimation(node, cls) {
  node.classList.remove(cls);
  void node.getBoundingClientRect(); // reflow so the animation starts again
  node.classList.add(cls);
  node.addEventListener('animationend', () => node.classList.remove(cls), { once: true });
}

function upsertTicket(t, { flash = false } = {}) {
  if (!t || t.id == null) return;
  state.tickets.set(t.id, t);
  const row = buildRow(t);
  row.hidden = !matchesFilter(t);
  const old = state.rows.get(t.id);
  if (old) old.replaceWith(row);
  state.rows.set(t.id, row);
  placeRow(row, t);
  if (flash) restartAnimation(row, 'flash');
  upsertMarker(t, flash);
}

function trimTickets() {
  if (state.tickets.size <= MAX_TICKETS) return;
  const sorted = [...state.tickets.values()].sort(compareTickets);
  for (const t of sorted.slice(MAX_TICKETS)) {
    state.tickets.delete(t.id);
    state.lastChange.delete(t.id);
    state.rows.get(t.id)?.remove();
    state.rows.delete(t.id);
    removeMarker(t.id);
  }
}

function updateCounters() {
  const today = chinaDay(new Date());
  const counts = { today: 0, new: 0, manual: 0, dispatched: 0 };
  for (const t of state.tickets.values()) {
    const created = toDate(t.created_at);
    if (created && chinaDay(created) === today) counts.today += 1;
    if (t.state === 'manual' && !inMyQueue(t)) continue; // another centre's queue
    if (t.state in counts) counts[t.state] += 1;
  }
  for (const button of dom.counters) {
    const key = button.dataset.filter;
    button.dataset.count = counts[key];
    button.querySelector('.counter-value').textContent = counts[key].toLocaleString('zh-CN');
    const pressed = state.filter === key;
    button.setAttribute('aria-pressed', String(pressed));
    button.classList.toggle('is-active', pressed);
  }
  for (const chip of document.querySelectorAll('.quick-filter')) {
    const key = chip.dataset.filter;
    const n = [...state.tickets.values()].filter((t) => (key === 'overdue' ? isOverdue(t)
      : key === 'yellow' ? t.warning_level === 'yellow'
        : key === 'manual' ? t.state === 'manual' && inMyQueue(t)
          : key === 'verifying' ? !!t.verification_pending : t.state === key)).length;
    chip.querySelector('.quick-count').textContent = n;
    chip.setAttribute('aria-pressed', String(state.filter === key));
  }
  updateListInfo();
}

function updateListInfo() {
  let visible = 0;
  for (const row of state.rows.values()) if (!row.hidden) visible += 1;
  dom.empty.hidden = visible > 0;
  dom.empty.textContent = state.filter ? '当前筛选下暂无工单' : '暂无工单';
  dom.listCount.textContent = `${visible} 条`;
  dom.listFilter.replaceChildren();
  if (state.filter) {
    const label = state.filter === 'today' ? '今日受理' : QUICK_FILTERS[state.filter] || stateLabel(state.filter);
    dom.listFilter.append(el('button', {
      type: 'button', className: 'filter-chip', title: '清除筛选', 'data-testid': 'clear-filter',
    }, `筛选：${label} ✕`));
  }
}

/** Clicking the active counter again clears the filter. */
function setFilter(filter) {
  state.filter = state.filter === filter ? null : filter;
  applyFilter();
}

function applyFilter() {
  const today = chinaDay(new Date());
  for (const [id, row] of state.rows) row.hidden = !matchesFilter(state.tickets.get(id), today);
  updateCounters();
}

/** Re-evaluate overdue / due-soon badges and "today" (time passes without messages). */
function refreshTimeDependent() {
  const now = Date.now();
  for (const [id, row] of state.rows) {
    const t = state.tickets.get(id);
    const node = row.querySelector('.ticket-deadline');
    if (!t || !node) continue;
    const info = deadlineInfo(t, now);
    node.textContent = info.text;
    node.className = `ticket-deadline ${info.cls}`;
    if (info.title) node.title = info.title;
  }
  applyFilter(); // "today" moves at midnight
}

function selectTicket(id, { fromMap = false } = {}) {
  const previous = state.rows.get(state.selectedId);
  if (previous) previous.setAttribute('aria-selected', 'false');
  state.selectedId = id;
  const row = state.rows.get(id);
  if (row) {
    row.setAttribute('aria-selected', 'true');
    if (fromMap) row.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
  }
  const marker = state.markers.get(id);
  if (!fromMap && marker && map) {
    map.setView(marker.getLatLng(), Math.max(map.getZoom(), 15));
    marker.openPopup();
  }
  if (panel && id != null) panel.open(id);
}

// The ticket panel (ticket-panel.js): opened by a row or a marker, refreshed by the live feed.
let panel = null;
function ensurePanel() {
  if (!panel) {
    panel = new TicketPanel(document.querySelector('.map-panel'), {
      onAction: (detail) => { if (detail && state.tickets.has(detail.id)) upsertTicket(detail); },
      onClose: () => {
        state.rows.get(state.selectedId)?.setAttribute('aria-selected', 'false');
        state.selectedId = null;
      },
    });
  }
  panel.user = getUser();
}

function clearTickets() {
  state.tickets.clear();
  state.rows.clear();
  state.lastChange.clear();
  for (const marker of state.markers.values()) marker.remove();
  state.markers.clear();
  dom.list.replaceChildren();
  state.lastSeq = 0;
  state.selectedId = null;
  state.filter = null;
  updateCounters();
}

// ------------------------------------------------------------ live feed --

function setConnection(kind) {
  const texts = {
    connecting: '正在连接…',
    open: '实时连接正常',
    reconnecting: '连接中断，正在重连…',
  };
  dom.conn.dataset.state = kind;
  dom.conn.textContent = texts[kind];
}

async function loadTickets() {
  const session = state.session;
  const data = await getJSON(`api/tickets?limit=${TICKET_LIMIT}`);
  if (session !== state.session) return false;
  const items = Array.isArray(data?.items) ? data.items : [];
  for (const t of items) upsertTicket(t);
  state.lastSeq = Math.max(state.lastSeq, Number(data?.last_seq) || 0);
  trimTickets();
  updateCounters();
  return true;
}

function applyMessage(raw) {
  let parsed;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return;
  }
  // batch=1: the changes waiting for this console arrive together, as an array.
  for (const msg of Array.isArray(parsed) ? parsed : [parsed]) applyOne(msg);
}

function applyOne(msg) {
  if (msg?.type === 'reset') {
    // The server could not replay everything we missed (too far behind): reload the list.
    clearTickets();
    loadTickets().catch(() => scheduleReconnect(connect));
    return;
  }
  if (!msg || msg.type !== 'change') return;
  const seq = Number(msg.seq);
  if (!Number.isFinite(seq) || seq <= state.lastSeq) return; // already applied
  state.lastSeq = seq;
  if (!msg.ticket) return;
  state.lastChange.set(msg.ticket.id, { actor: msg.actor, action: msg.action, at: msg.at });
  upsertTicket(msg.ticket, { flash: true });
  panel?.changed(msg.ticket);
  trimTickets();
  updateCounters();
}

function connect() {
  state.reconnectTimer = null;
  if (!state.running) return;
  const token = getToken();
  if (!token) {
    expireSession();
    return;
  }
  const ws = new WebSocket(wsUrl('api/console/ws', { token, since: state.lastSeq, batch: 1 }));
  state.ws = ws;
  ws.addEventListener('open', () => {
    if (state.ws !== ws) return;
    state.wsOpenedAt = Date.now();
    setConnection('open');
  });
  ws.addEventListener('message', (event) => {
    if (state.ws === ws) applyMessage(event.data);
  });
  ws.addEventListener('close', (event) => {
    if (state.ws !== ws) return;
    state.ws = null;
    if (event.code === WS_CLOSE_UNAUTHORIZED) {
      expireSession();
      return;
    }
    if (state.wsOpenedAt && Date.now() - state.wsOpenedAt >= STABLE_CONNECTION_MS) {
      state.reconnectDelay = RECONNECT_MIN_MS;
    }
    state.wsOpenedAt = 0;
    scheduleReconnect(connect);
  });
  // 'error' is always followed by 'close', which does the reconnecting.
}

function scheduleReconnect(fn) {
  if (!state.running || state.reconnectTimer) return;
  setConnection('reconnecting');
  const delay = state.reconnectDelay;
  state.reconnectDelay = Math.min(delay * 2, RECONNECT_MAX_MS);
  dom.conn.title = `${Math.round(delay / 1000)} 秒后重试`;
  state.reconnectFn = fn;
  state.reconnectTimer = setTimeout(fn, delay);
}

/** Initial load, then the websocket. A failed load is retried with the same backoff. */
async function startFeed() {
  state.reconnectTimer = null;
  if (!state.running) return;
  try {
    if (!(await loadTickets())) return;
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return; // login form already shown
    scheduleReconnect(startFeed);
    return;
  }
  if (state.running) connect();
}

// --------------------------------------------------------- login / flow --

function showLogin(message = '') {
  dom.consoleView.hidden = true;
  dom.loginView.hidden = false;
  dom.loginError.textContent = message;
  dom.loginError.hidden = !message;
  dom.loginPassword.value = '';
  dom.loginSubmit.disabled = false;
  dom.loginSubmit.textContent = '登录';
  (dom.loginUsername.value ? dom.loginPassword : dom.loginUsername).focus();
}

function renderUser() {
  const user = getUser();
  dom.userName.textContent = user?.full_name || user?.username || '当前用户';
  const role = user?.role ? ROLE_LABELS[user.role] || user.role : '';
  dom.userRole.textContent = role;
  dom.userRole.hidden = !role;
  if (user?.area_code) { // a street or community centre: say which
    getJSON('api/departments').then((departments) => {
      const centre = departments.find((d) => d.id === user.department_id);
      if (centre && getUser()?.username === user.username) dom.userRole.textContent = `${role} · ${centre.name}`;
    }).catch(() => {});
  }
}

function startConsole() {
  stopConsole();
  state.running = true;
  state.session += 1;
  state.reconnectDelay = RECONNECT_MIN_MS;
  dom.loginView.hidden = true;
  dom.consoleView.hidden = false;
  renderUser();
  setConnection('connecting');
  dom.conn.title = '';
  initMap();
  ensurePanel();
  loadBaseGrids();
  loadWorkCalendar();
  showSystemWarnings();
  startFeed();
}

/** Admins and shift leads see what they must act on (e.g. next year's work calendar not loaded). */
async function showSystemWarnings() {
  dom.systemBanner.hidden = true;
  if (!['admin', 'shift_lead'].includes(getUser()?.role)) return;
  try {
    const health = await getJSON('/api/health');
    const warnings = health.warnings || [];
    dom.systemBanner.replaceChildren(...warnings.map((w) => {
      const line = document.createElement('p');
      line.textContent = `⚠ ${w}`;
      return line;
    }));
    dom.systemBanner.hidden = warnings.length === 0;
  } catch {
    // the banner is advisory; the console works without it
  }
}

function stopConsole() {
  state.running = false;
  state.session += 1;
  clearTimeout(state.reconnectTimer);
  state.reconnectTimer = null;
  if (state.ws) {
    const ws = state.ws;
    state.ws = null; // its close event is ignored from now on
    ws.close(1000, 'logout');
  }
  if (panel?.isOpen) panel.close();
  clearTickets();
  clearGridLayers();
  setConnection('connecting');
}

function expireSession() {
  clearSession();
  stopConsole();
  showLogin('登录已失效，请重新登录');
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
  dom.loginError.hidden = true;
  try {
    const { user } = await login(username, password);
    dom.loginPassword.value = '';
    const home = homePageFor(user?.role);
    if (home) {
      window.location.replace(home); // grid officers and hotline staff have their own pages
      return;
    }
    startConsole();
  } catch (err) {
    dom.loginError.textContent = err.status === 401 ? (err.detail || '用户名或密码错误') : err.message;
    dom.loginError.hidden = false;
    dom.loginPassword.select();
  } finally {
    dom.loginSubmit.disabled = false;
    dom.loginSubmit.textContent = '登录';
  }
}

function onLogout() {
  clearSession();
  stopConsole();
  showLogin();
}

function tickClock() {
  dom.clock.textContent = formatClock(new Date());
  dom.clock.setAttribute('datetime', new Date().toISOString());
}

function main() {
  if (!L) {
    document.body.textContent = '地图组件加载失败（node_modules/leaflet 缺失，请在 web/ 下执行 npm install）。';
    return;
  }
  onUnauthorized(expireSession);
  dom.loginForm.addEventListener('submit', onLoginSubmit);
  dom.logout.addEventListener('click', onLogout);
  for (const button of [...dom.counters, ...document.querySelectorAll('.quick-filter')]) {
    button.addEventListener('click', () => setFilter(button.dataset.filter));
  }
  dom.listFilter.addEventListener('click', (e) => {
    if (e.target.closest('.filter-chip')) setFilter(state.filter);
  });
  dom.list.addEventListener('click', (e) => {
    const row = e.target.closest('.ticket-row');
    if (row) selectTicket(rowIds.get(row));
  });
  dom.list.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' && e.key !== ' ') return;
    const row = e.target.closest('.ticket-row');
    if (!row) return;
    e.preventDefault();
    row.click();
  });
  window.addEventListener('online', () => {
    // The network is back: retry now instead of waiting out the backoff.
    if (state.running && state.reconnectTimer) {
      clearTimeout(state.reconnectTimer);
      state.reconnectDelay = RECONNECT_MIN_MS;
      state.reconnectFn();
    }
  });

  tickClock();
  setInterval(tickClock, 1000);
  setInterval(() => { if (state.running) refreshTimeDependent(); }, 30000);

  const home = getToken() && homePageFor(getUser()?.role);
  if (home) window.location.replace(home);
  else if (getToken()) startConsole();
  else showLogin();
}

main();
