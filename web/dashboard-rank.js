// 考核红黑榜 on the leader dashboard: the top and bottom N units of one kind (部门 / 街道 / 社区 / 网格员) by
// their 考核 score for the dashboard's period (api/stats/scores), with the change from the previous
// period, and the whole score sheet as XLSX. A street or community centre sees the units of its area.

import { ApiError, getJSON } from './api.js';
import { el } from './labels.js';

const $ = (id) => document.getElementById(id);
const dom = {
  card: $('rank-card'), units: $('rank-unit'), size: $('rank-size'), info: $('rank-info'),
  message: $('rank-message'), top: $('rank-top'), bottom: $('rank-bottom'), xlsx: $('rank-xlsx'),
  topTitle: $('rank-top-title'), bottomTitle: $('rank-bottom-title'), note: $('rank-note'),
};
const state = { unit: 'department', period: null, seq: 0, download: null };

/** Query of the scores for a period: `{ month }` (this month's chip: compared with last month) or
 * `{ from, to }` (compared with the span of the same length just before). */
function scoresPath(format = 'json') {
  const q = new URLSearchParams({ unit: state.unit, format });
  if (state.period?.month) q.set('month', state.period.month);
  else {
    q.set('date_from', state.period.from);
    q.set('date_to', state.period.to);
  }
  return `api/stats/scores?${q}`;
}

function score(value) {
  return value == null ? '—' : Number(value).toFixed(2);
}

/** ↑2 / ↓1 / — (same place) / 新 (not ranked last period), with the score change in the tooltip. */
function movement(row) {
  const delta = row.score_change == null ? '' : `，得分 ${row.score_change >= 0 ? '+' : '−'}${score(Math.abs(row.score_change))}`;
  if (row.rank_change == null) {
    return el('span', { className: 'db-move db-move-new', title: '上期未参与排名', testid: 'rank-move' }, '新');
  }
  if (row.rank_change === 0) {
    return el('span', { className: 'db-move db-move-same', title: `名次不变${delta}`, testid: 'rank-move' }, '—');
  }
  const up = row.rank_change > 0;
  return el('span', {
    className: `db-move ${up ? 'db-move-up' : 'db-move-down'}`,
    title: `较上期${up ? '上升' : '下降'} ${Math.abs(row.rank_change)} 名${delta}`,
    testid: 'rank-move',
  }, `${up ? '↑' : '↓'}${Math.abs(row.rank_change)}`);
}

/** One line of a list; `marked` rows get the list's colour on their rank (the podium, the worst three). */
function item(row, marked) {
  const missing = row.missing_rates.length ? `；无数据：${row.missing_rates.length} 项指标` : '';
  return el('li', {
    className: 'db-rank-row', testid: 'rank-row', dataset: { key: row.key, rank: row.rank, score: row.score },
    title: `指标得分 ${score(row.base)}，扣分 ${score(row.deducted)}${missing}`,
  },
  el('span', { className: marked ? 'db-rank-no db-rank-marked' : 'db-rank-no' }, String(row.rank)),
  el('span', { className: 'db-rank-name' }, row.name || row.key),
  el('strong', { className: 'db-rank-score', testid: 'rank-score' }, score(row.score)),
  movement(row));
}

function render(table, size) {
  const ranked = table.rows.filter((r) => r.rank != null);
  const top = ranked.slice(0, size);
  const bottom = ranked.slice(Math.max(size, ranked.length - size)).reverse(); // worst first
  dom.topTitle.textContent = `红榜 · 前 ${size} 名`;
  dom.bottomTitle.textContent = `黑榜 · 后 ${size} 名`;
  dom.top.replaceChildren(...top.map((row) => item(row, row.rank <= 3)));
  dom.bottom.replaceChildren(...bottom.map((row, i) => item(row, i < 3)));
  if (!bottom.length) dom.bottom.append(el('li', { className: 'db-rank-none' }, '参与排名的单位不足，暂无黑榜'));
  const unranked = table.rows.length - ranked.length;
  const t = table.template;
  dom.info.textContent = `模板 v${t.version}「${t.title}」· ${ranked.length} 个${table.unit_label}排名`
    + (unranked ? `，${unranked} 个无数据` : '');
  dom.note.textContent = `${table.formula}。${table.no_data_note}名次变化与上一周期（${
    state.period?.month ? '上月' : '等长的前一时段'}）相比；悬停查看得分构成。`;
  dom.message.hidden = ranked.length > 0;
  dom.message.textContent = ranked.length ? '' : `该时段暂无${table.unit_label}考核数据`;
  dom.card.dataset.unit = table.unit;
  dom.card.dataset.ranked = String(ranked.length);
}

export async function refreshRanking(period) {
  state.period = period;
  const seq = (state.seq += 1);
  for (const b of dom.units.querySelectorAll('[data-unit]')) {
    b.setAttribute('aria-pressed', String(b.dataset.unit === state.unit));
  }
  dom.card.dataset.loading = 'true';
  try {
    const table = await getJSON(scoresPath());
    if (seq !== state.seq) return;
    render(table, Number(dom.size.value));
  } catch (err) {
    if (seq !== state.seq) return;
    dom.top.replaceChildren();
    dom.bottom.replaceChildren();
    dom.info.textContent = '';
    dom.note.textContent = '';
    dom.message.hidden = false;
    dom.message.textContent = err instanceof ApiError && err.status === 404
      ? `${err.message}` : `考核数据加载失败：${err.message}`;
  } finally {
    if (seq === state.seq) dom.card.dataset.loading = 'false';
  }
}

/** Wire the card for the viewer: a street or community centre (`areaCode`) has no 部门 chip and starts at
 * the level below its own; `download(path, button, name)` saves a file fetched with the bearer header. */
export function startRanking({ areaCode, download }) {
  state.download = download;
  const scoped = !!areaCode;
  if (scoped) state.unit = areaCode.length > 9 ? 'officer' : 'community';
  for (const chip of dom.units.querySelectorAll('[data-unit]')) {
    chip.hidden = scoped && chip.dataset.unit === 'department';
  }
}

dom.units.addEventListener('click', (e) => {
  const chip = e.target.closest('[data-unit]');
  if (!chip || !state.period) return;
  state.unit = chip.dataset.unit;
  refreshRanking(state.period);
});
dom.size.addEventListener('change', () => state.period && refreshRanking(state.period));
dom.xlsx.addEventListener('click', () => state.download?.(scoresPath('xlsx'), dom.xlsx, `scores-${state.unit}.xlsx`));
