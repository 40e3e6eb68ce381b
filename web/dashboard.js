// 领导看板 (leader dashboard): KPIs from api/stats/kpis by department / street / community / grid /
// category for a period, as a table (rates in %) and an ECharts bar chart; a heat map of the period
// (api/stats/heat: tickets per grid) on the grid map; CSV / XLSX export (fetched with the bearer header, saved as a file);
// the 考核红黑榜 of the same period (dashboard-rank.js).

import { ApiError, apiUrl, getJSON, getToken, getUser } from './api.js';
import { drawHeat, resizeHeat } from './dashboard-map.js';
import { refreshRanking, startRanking } from './dashboard-rank.js';
import { chinaParts, el, percent } from './labels.js';
import { setupLogin } from './page-login.js';

const GROUP_LABELS = {
  department: '部门', street: '街道', community: '社区', grid: '网格', category: '类别', district: '全区',
  centre: '指挥中心',
};
// The groupings a street or community centre may read (its own area's rows only).
const AREA_GROUPS = ['street', 'community', 'grid', 'centre'];
const COLUMNS = [ // [key, label, kind]
  ['name', '名称', 'name'],
  ['total', '受理量', 'count'],
  ['dispatched', '派遣量', 'count'],
  ['closed', '结案量', 'count'],
  ['response_rate', '响应率', 'rate'],
  ['on_time_sign_rate', '按时签收率', 'rate'],
  ['on_time_handling_rate', '按期处置率', 'rate'],
  ['closure_rate', '结案率', 'rate'],
  ['on_time_closure_rate', '按期结案率', 'rate'],
  ['return_rate', '回退率', 'rate'],
  ['rework_rate', '返工率', 'rate'],
  ['extension_rate', '延期率', 'rate'],
  ['satisfaction_rate', '满意率', 'rate'],
  ['repeat_rate', '重复投诉率', 'rate'],
];
const CARDS = [
  ['total', '受理量', 'count'], ['dispatched', '派遣量', 'count'], ['closed', '结案量', 'count'],
  ['response_rate', '响应率', 'rate'], ['closure_rate', '结案率', 'rate'],
  ['on_time_closure_rate', '按期结案率', 'rate'], ['satisfaction_rate', '满意率', 'rate'],
];
const CHART_TOP = 15;

const $ = (id) => document.getElementById(id);
const dom = {
  app: $('dashboard'), user: $('current-user'), consoleLink: $('console-link'), controls: $('controls'),
  centre: $('centre-name'),
  from: $('date-from'), to: $('date-to'), groupBy: $('group-by'), message: $('db-message'), cards: $('cards'),
  head: $('kpi-head'), body: $('kpi-body'), empty: $('kpi-empty'), tableTitle: $('table-title'),
  chart: $('chart'), chartTitle: $('chart-title'), heat: $('heat-map'), heatInfo: $('heat-info'),
  legend: $('heat-legend'), csv: $('export-csv'), xlsx: $('export-xlsx'),
};
const state = { groupBy: 'department', period: 'month', chart: null, seq: 0 };

// ----------------------------------------------------------------- period --

/** "YYYY-MM-DD" of today in China, shifted by `days`. */
function chinaDate(days = 0, base = new Date()) {
  const p = chinaParts(base);
  const d = new Date(Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day) + days));
  return d.toISOString().slice(0, 10);
}

function setPeriod(period) {
  state.period = period;
  const today = chinaDate();
  const [y, m] = today.split('-');
  const from = { today, week: chinaDate(-6), month: `${y}-${m}-01`, year: `${y}-01-01` }[period];
  dom.from.value = from;
  dom.to.value = today;
}

/** [date_from, date_to) as ISO with +08:00; the "to" day is included. */
function range() {
  const from = dom.from.value || chinaDate();
  const to = dom.to.value || chinaDate();
  const [y, m, d] = to.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  return { from: `${from}T00:00:00+08:00`, to: `${next}T00:00:00+08:00` };
}

function kpiPath(groupBy, format = 'json') {
  const { from, to } = range();
  const q = new URLSearchParams({ date_from: from, date_to: to, group_by: groupBy, format });
  return `api/stats/kpis?${q}`;
}

// ----------------------------------------------------------------- render --

function cell(row, [key, , kind]) {
  if (kind === 'rate') return percent(row[key]);
  if (kind === 'count') return Number(row[key] || 0).toLocaleString('zh-CN');
  return rowName(row);
}

/** The server names an empty key 未定位; for departments that means not dispatched yet. */
function rowName(row) {
  if (!row.key && state.groupBy === 'department') return '未派遣';
  return row.name || row.key || '未定位';
}

function renderTable(rows) {
  dom.tableTitle.textContent = `分${GROUP_LABELS[state.groupBy]}指标（${dom.from.value} 至 ${dom.to.value}）`;
  dom.head.replaceChildren(...COLUMNS.map(([key, label, kind]) => el('th', {
    scope: 'col', className: kind === 'name' ? '' : 'db-num', dataset: { key },
  }, label)));
  const sorted = [...rows].sort((a, b) => (b.total || 0) - (a.total || 0));
  dom.body.replaceChildren(...sorted.map((row) => el('tr', {
    testid: 'kpi-row', dataset: { key: row.key, name: rowName(row) },
  }, ...COLUMNS.map((col) => el(col[0] === 'name' ? 'th' : 'td', {
    className: col[2] === 'name' ? 'db-name' : 'db-num',
    dataset: { col: col[0] },
    scope: col[0] === 'name' ? 'row' : null,
    title: col[0] === 'name' ? row.key : null,
  }, cell(row, col))))));
  dom.empty.hidden = rows.length > 0;
}

function renderCards(row) {
  const r = row || {};
  dom.cards.replaceChildren(...CARDS.map(([key, label, kind]) => el('div', {
    className: `db-kpi db-kpi-${kind}`, testid: `card-${key}`,
  }, el('span', { className: 'db-kpi-label' }, label),
  el('strong', { className: 'db-kpi-value' }, kind === 'rate' ? percent(r[key]) : String(r[key] || 0)))));
}

function renderChart(rows) {
  const echarts = window.echarts;
  if (!echarts) {
    dom.chart.textContent = '图表组件缺失（node_modules/echarts，请在 web/ 下执行 npm install）';
    return;
  }
  if (!state.chart) state.chart = echarts.init(dom.chart, null, { renderer: 'canvas' });
  const top = [...rows].sort((a, b) => (b.total || 0) - (a.total || 0)).slice(0, CHART_TOP);
  dom.chartTitle.textContent = `受理量、结案量与结案率（按${GROUP_LABELS[state.groupBy]}，前 ${CHART_TOP}）`;
  const font = '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';
  state.chart.setOption({
    textStyle: { fontFamily: font },
    animation: false,
    color: ['#1b447a', '#2b9a3e', '#e8590c'],
    tooltip: { trigger: 'axis', valueFormatter: (v) => (v == null ? '—' : String(v)) },
    legend: { top: 0, data: ['受理量', '结案量', '结案率'] },
    grid: { left: 16, right: 16, top: 40, bottom: 8, containLabel: true },
    xAxis: {
      type: 'category', data: top.map(rowName),
      axisLabel: { interval: 0, rotate: top.length > 6 ? 30 : 0, width: 90, overflow: 'truncate' },
    },
    yAxis: [
      { type: 'value', minInterval: 1, axisLabel: { formatter: '{value}件' } },
      { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' }, splitLine: { show: false } },
    ],
    series: [
      { name: '受理量', type: 'bar', data: top.map((r) => r.total || 0), barMaxWidth: 28 },
      { name: '结案量', type: 'bar', data: top.map((r) => r.closed || 0), barMaxWidth: 28 },
      {
        name: '结案率', type: 'line', yAxisIndex: 1, symbolSize: 7,
        data: top.map((r) => (r.closure_rate == null ? null : Math.round(r.closure_rate * 1000) / 10)),
      },
    ],
  }, true);
  dom.chart.dataset.bars = String(top.length);
}

// ------------------------------------------------------------------- load --

function showMessage(text) {
  dom.message.textContent = text;
  dom.message.hidden = !text;
}

async function refresh() {
  const seq = (state.seq += 1);
  showMessage('');
  for (const b of dom.groupBy.querySelectorAll('[data-group]')) {
    b.setAttribute('aria-pressed', String(b.dataset.group === state.groupBy));
  }
  for (const b of dom.controls.querySelectorAll('[data-period]')) {
    b.setAttribute('aria-pressed', String(b.dataset.period === state.period));
  }
  dom.app.dataset.loading = 'true';
  try {
    const { from, to } = range();
    const hq = new URLSearchParams({ date_from: from, date_to: to });
    // 本月: scored as the calendar month, compared with the month before; else the span itself.
    refreshRanking(state.period === 'month' ? { month: dom.from.value.slice(0, 7) } : { from, to });
    // A street or community centre sees its own area: the cards are its own row (of the street or
    // community grouping), the table its streets, communities or grids.
    const area = getUser()?.area_code;
    const cardGroups = area ? ['street', 'community'] : ['district'];
    const [groups, heatCells, ...cards] = await Promise.all([
      getJSON(kpiPath(state.groupBy)), getJSON(`api/stats/heat?${hq}`), ...cardGroups.map((g) => getJSON(kpiPath(g))),
    ]);
    if (seq !== state.seq) return;
    renderTable(groups.rows || []);
    const cardRows = cards.flatMap((c) => c.rows || []);
    renderCards(area ? cardRows.find((r) => r.key === area) : cardRows[0]);
    renderChart(groups.rows || []);
    const heat = await drawHeat(dom.heat, dom.legend, heatCells.grids || []);
    dom.heatInfo.textContent = `${heat.total} 件工单，分布于 ${heat.grids} 个网格（重复件合并后不重复计）`;
  } catch (err) {
    if (seq === state.seq) showMessage(`数据加载失败：${err.message}`);
  } finally {
    if (seq === state.seq) dom.app.dataset.loading = 'false';
  }
}

/** Download a table (KPIs, 考核 scores) as CSV or XLSX: the API needs the bearer header, so fetch a blob. */
async function download(path, button, fallbackName) {
  button.disabled = true;
  showMessage('');
  try {
    const response = await fetch(apiUrl(path), {
      headers: { Authorization: `Bearer ${getToken()}` },
    });
    if (!response.ok) {
      let detail = `导出失败（${response.status}）`;
      try { detail = (await response.json()).detail || detail; } catch { /* not JSON */ }
      throw new ApiError(response.status, detail);
    }
    const blob = await response.blob();
    const header = response.headers.get('content-disposition') || '';
    const name = /filename="?([^";]+)"?/.exec(header)?.[1] || fallbackName;
    const url = URL.createObjectURL(blob);
    const link = el('a', { href: url, download: name, hidden: true });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  } catch (err) {
    showMessage(`导出失败：${err.message}`);
  } finally {
    button.disabled = false;
  }
}

// -------------------------------------------------------------- lifecycle --

function start(user) {
  dom.user.textContent = user.full_name || user.username;
  const scoped = !!user.area_code; // a street or community centre: only groupings of its area
  if (scoped) { // name the centre whose area the figures cover
    getJSON('api/departments').then((departments) => {
      const centre = departments.find((d) => d.id === user.department_id);
      if (centre) dom.centre.textContent = `${centre.name}（本辖区）`;
    }).catch(() => {});
  }
  for (const chip of dom.groupBy.querySelectorAll('[data-group]')) {
    chip.hidden = scoped && !AREA_GROUPS.includes(chip.dataset.group);
  }
  if (scoped && !AREA_GROUPS.includes(state.groupBy)) state.groupBy = 'grid';
  startRanking({ areaCode: user.area_code, download });
  dom.consoleLink.hidden = false;
  if (!dom.from.value) setPeriod(state.period);
  refresh();
}

dom.controls.addEventListener('click', (e) => {
  const period = e.target.closest('[data-period]');
  const group = e.target.closest('[data-group]');
  if (period) {
    setPeriod(period.dataset.period);
    refresh();
  } else if (group) {
    state.groupBy = group.dataset.group;
    refresh();
  }
});
for (const input of [dom.from, dom.to]) {
  input.addEventListener('change', () => {
    state.period = null;
    refresh();
  });
}
dom.controls.addEventListener('submit', (e) => e.preventDefault());
for (const [format, button] of [['csv', dom.csv], ['xlsx', dom.xlsx]]) {
  button.addEventListener('click', () => download(
    kpiPath(state.groupBy, format), button, `kpi-${state.groupBy}.${format}`,
  ));
}
window.addEventListener('resize', () => {
  state.chart?.resize();
  resizeHeat();
});

setupLogin({
  roles: ['leader', 'shift_lead', 'dispatcher', 'admin'],
  app: dom.app,
  start,
  stop: () => { state.seq += 1; },
});
