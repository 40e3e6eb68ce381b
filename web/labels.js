// Shared by the console's ticket panel, the department workbench and the leader dashboard:
// Chinese labels of states, actions and levels, China-time formatting and a tiny DOM helper.

export const STATE_LABELS = {
  new: '待派遣',
  manual: '待人工派遣',
  dispatched: '已派遣(待签收)',
  signed: '处置中',
  returned: '已回退',
  suspended: '挂账',
  feedback: '待核查',
  closed: '已结案',
  rejected: '不予受理',
  merged: '已合并',
};

/** Short labels for narrow places (rows, badges). */
export const STATE_SHORT = { ...STATE_LABELS, dispatched: '已派遣' };

export const ACTION_LABELS = {
  intake: '受理',
  route: '自动派遣',
  route_manual: '转人工派遣',
  dispatch: '人工派遣',
  redispatch: '改派',
  overrule: '驳回回退',
  reject: '不予受理',
  sign: '签收',
  return: '回退',
  request_extension: '申请延期',
  approve_extension: '批准延期',
  refuse_extension: '驳回延期',
  suspend: '挂账',
  resume: '恢复办理',
  feedback: '反馈结果',
  verify_pass: '核查通过',
  verify_fail: '核查不通过(返工)',
  callback: '回访',
  reopen: '重办',
  urge: '督办',
  ack_urge: '确认督办',
  escalate: '上报',
  hand_down: '下派',
  assign: '指定承办人',
  self_resolve: '自行处置',
  add_assist: '增加协办',
  assist_sign: '协办签收',
  assist_feedback: '协办反馈',
  merge: '合并重复件',
  absorb: '并入重复件',
  warn_sign: '签收超时预警',
  warn_yellow: '黄牌预警',
  warn_red: '红牌超期',
  assist_warn_sign: '协办签收超时预警',
  assist_warn_yellow: '协办黄牌预警',
  assist_warn_red: '协办红牌超期',
  assist_close: '关闭协办',
  verify_request: '派发现场核查',
  verify_answer: '现场核查回复',
  verify_warn: '核查超时预警',
};

export const WARNING_LABELS = { none: '', yellow: '临期', red: '超期', escalated: '超期已上报' };
export const ESCALATION_LABELS = { grid: '网格', community: '社区', street: '街道', district: '区' };
export const SOURCE_LABELS = { patrol: '网格员上报', hotline: '12345热线' };
export const URGENCY_LABELS = { urgent: '紧急', normal: '一般' };
export const SATISFACTION_LABELS = {
  satisfied: '满意', basically_satisfied: '基本满意', unsatisfied: '不满意',
};
export const REQUEST_LABELS = { consult: '咨询', help: '求助', complaint: '投诉', report: '举报', suggestion: '建议' };
export const EXTENSION_LABELS = { pending: '待审批', approved: '已批准', refused: '已驳回', cancelled: '已取消' };
export const ASSIST_LABELS = { pending: '待签收', signed: '处置中', done: '已反馈', closed: '结案时关闭' };
export const ROLE_LABELS = {
  dispatcher: '派遣员', shift_lead: '值班长', admin: '管理员', leader: '领导',
  department_staff: '部门人员', grid_officer: '网格员', hotline_operator: '12345受理员',
};

/** States in which the department's clock no longer runs. */
export const FINISHED_STATES = new Set(['closed', 'rejected', 'merged']);

// ------------------------------------------------------------------ time --

export const TZ = 'Asia/Shanghai';
const fmtFull = new Intl.DateTimeFormat('zh-CN', {
  timeZone: TZ, year: 'numeric', month: '2-digit', day: '2-digit',
  hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23',
});

export function toDate(iso) {
  if (!iso) return null;
  const d = iso instanceof Date ? iso : new Date(iso);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** {year, month, day, hour, minute, second} of a moment in China time (strings, zero-padded). */
export function chinaParts(date) {
  const out = {};
  for (const p of fmtFull.formatToParts(date)) out[p.type] = p.value;
  return out;
}

/** "2026-11-28 14:05" in China time. */
export function formatDateTime(iso, { seconds = false } = {}) {
  const d = toDate(iso);
  if (!d) return '—';
  const p = chinaParts(d);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}${seconds ? `:${p.second}` : ''}`;
}

/** "11-28 14:05" in China time. */
export function formatShort(iso) {
  const d = toDate(iso);
  if (!d) return '—';
  const p = chinaParts(d);
  return `${p.month}-${p.day} ${p.hour}:${p.minute}`;
}

/** "2026-11-28" (China calendar day) of a moment. */
export function chinaDay(date) {
  const p = chinaParts(date);
  return `${p.year}-${p.month}-${p.day}`;
}

/** Value for <input type="datetime-local"> showing `date` in China time. */
export function toLocalInput(date) {
  const p = chinaParts(date);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}`;
}

/** "2026-11-28T14:05" typed as China time → ISO string with +08:00 (or null). */
export function fromLocalInput(value) {
  if (!value) return null;
  const text = value.length === 16 ? `${value}:00` : value;
  return `${text}+08:00`;
}

/** "剩余 3天4小时" / "超期 2小时5分" (wall-clock; the server's deadline already counts working time). */
export function timeLeft(deadlineIso, now = Date.now()) {
  const d = toDate(deadlineIso);
  if (!d) return { text: '无时限', overdue: false, ms: Infinity };
  const ms = d.getTime() - now;
  const abs = Math.abs(ms);
  const days = Math.floor(abs / 86400000);
  const hours = Math.floor((abs % 86400000) / 3600000);
  const minutes = Math.floor((abs % 3600000) / 60000);
  let span;
  if (days > 0) span = `${days}天${hours}小时`;
  else if (hours > 0) span = `${hours}小时${minutes}分`;
  else span = `${minutes}分钟`;
  return { text: ms < 0 ? `超期 ${span}` : `剩余 ${span}`, overdue: ms < 0, ms };
}

// ----------------------------------------------------------- working time --
// The server counts the deadline in working time (the district's work calendar: holidays, 调休
// make-up days, office hours) and sends `working_minutes_left` with every ticket (null when no clock
// runs). Between two answers the pages count down themselves over the working periods that
// GET /api/calendar served (setWorkingPeriods); before those arrive, or outside their range, over
// Monday–Friday office hours. The next list, message or panel brings the server's exact figure again.

const OFFICE_SPANS = [[8 * 60 + 30, 12 * 60], [13 * 60 + 30, 17 * 60 + 30]]; // minutes of the day
const CHINA_OFFSET_MS = 8 * 3600000; // China has no daylight saving time
const DAY_MS = 86400000;
const receivedAt = new WeakMap(); // ticket object → when this page first saw it
const calendar = { periods: null, from: 0, to: 0 }; // [[startMs, endMs]…] covering [from, to)

/** Use the server's working periods ({periods: [{start, end}], days: [{date}]}) for countdowns. */
export function setWorkingPeriods(answer) {
  const days = answer?.days || [];
  if (!days.length) return;
  calendar.periods = (answer.periods || []).map((p) => [Date.parse(p.start), Date.parse(p.end)]);
  calendar.from = Date.parse(`${days[0].date}T00:00:00+08:00`);
  calendar.to = Date.parse(`${days[days.length - 1].date}T00:00:00+08:00`) + DAY_MS;
}

function weekdayMinutesBetween(fromMs, toMs) {
  let total = 0;
  const startDay = Math.floor((fromMs + CHINA_OFFSET_MS) / DAY_MS);
  const endDay = Math.floor((toMs + CHINA_OFFSET_MS) / DAY_MS);
  for (let day = startDay; day <= endDay && day - startDay < 60; day += 1) {
    const weekday = (day + 4) % 7; // 1970-01-01 was a Thursday (4); 0 = Sunday
    if (weekday === 0 || weekday === 6) continue;
    const base = day * DAY_MS - CHINA_OFFSET_MS;
    for (const [a, b] of OFFICE_SPANS) {
      const lo = Math.max(fromMs, base + a * 60000);
      const hi = Math.min(toMs, base + b * 60000);
      if (hi > lo) total += hi - lo;
    }
  }
  return total;
}

/** Working minutes between two moments: exact over the served calendar, Mon–Fri outside it. */
export function officeMinutesBetween(fromMs, toMs) {
  if (!(toMs > fromMs)) return 0;
  if (!calendar.periods || fromMs < calendar.from || toMs > calendar.to) {
    return Math.floor(weekdayMinutesBetween(fromMs, toMs) / 60000);
  }
  let total = 0;
  for (const [a, b] of calendar.periods) {
    const lo = Math.max(fromMs, a);
    const hi = Math.min(toMs, b);
    if (hi > lo) total += hi - lo;
  }
  return Math.floor(total / 60000);
}

/** Working minutes to the deadline now (negative: overdue), or null when no clock runs. */
export function workingLeft(t, now = Date.now()) {
  if (t?.working_minutes_left == null) return null;
  if (!receivedAt.has(t)) receivedAt.set(t, now);
  return Number(t.working_minutes_left) - officeMinutesBetween(receivedAt.get(t), now);
}

/** "剩余 3 工作小时 20 分" / "超期 1 工作小时 5 分" / "剩余 25 工作分钟". */
export function formatWorkingMinutes(minutes) {
  const abs = Math.abs(Math.trunc(minutes));
  const h = Math.floor(abs / 60);
  const m = abs % 60;
  const span = h ? `${h} 工作小时 ${m} 分` : `${m} 工作分钟`;
  return minutes < 0 ? `超期 ${span}` : `剩余 ${span}`;
}

/** {text, overdue, minutes} of a ticket's working-time countdown, or null when no clock runs. */
export function workingCountdown(t, now = Date.now()) {
  const minutes = workingLeft(t, now);
  if (minutes == null) return null;
  return { text: formatWorkingMinutes(minutes), overdue: minutes < 0, minutes };
}

/** Overdue for the eye: the server's warning level, or no working time left in a clock state. */
export function isOverdue(t, now = Date.now()) {
  if (FINISHED_STATES.has(t.state)) return false;
  if (t.warning_level === 'red' || t.warning_level === 'escalated') return true;
  const minutes = workingLeft(t, now);
  if (minutes != null) return minutes < 0;
  const d = toDate(t.deadline_at);
  return !!d && d.getTime() < now && ['dispatched', 'signed'].includes(t.state);
}

export function percent(value) {
  if (value == null || Number.isNaN(Number(value))) return '—';
  return `${(Number(value) * 100).toFixed(1)}%`;
}

// ------------------------------------------------------------------- DOM --

/** el('span', {className: 'x', dataset: {a: 1}, testid: 'y'}, 'text', child) */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === 'className') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'testid') node.dataset.testid = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
    else if (key === 'value') node.value = value;
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}
