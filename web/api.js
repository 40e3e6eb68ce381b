// Small fetch wrapper for the Grid Dispatch API.
// - keeps the session (bearer token + user) in localStorage
// - adds `Authorization: Bearer <token>` to every call
// - turns any 401 into "session over": clears the token and calls the
//   handler registered with onUnauthorized() (the console shows the login form)

import { setWorkingPeriods } from './labels.js';

const TOKEN_KEY = 'gridDispatch.token';
const USER_KEY = 'gridDispatch.user';

let unauthorizedHandler = () => {};

export class ApiError extends Error {
  /** `body` is the parsed error answer, e.g. a 422's {"detail", "field", "errors"}. */
  constructor(status, detail, body = null) {
    super(detail || `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status;
    this.detail = detail;
    this.body = body;
    this.field = body && typeof body.field === 'string' ? body.field : null;
    this.errors = body && Array.isArray(body.errors) ? body.errors : [];
  }
}

/** The page each role works in; roles without an entry stay on the console (index.html). */
const HOME_PAGES = {
  grid_officer: 'officer.html',
  hotline_operator: 'hotline.html',
  department_staff: 'workbench.html',
};
// Leaders stay on the console (they 督办 from its ticket panel); its "领导看板" link opens dashboard.html.

export function homePageFor(role) {
  return HOME_PAGES[role] || null;
}

export function onUnauthorized(handler) {
  unauthorizedHandler = handler;
}

export function getToken() {
  return localStorage.getItem(TOKEN_KEY);
}

export function getUser() {
  try {
    return JSON.parse(localStorage.getItem(USER_KEY) || 'null');
  } catch {
    return null;
  }
}

export function setSession(token, user) {
  localStorage.setItem(TOKEN_KEY, token);
  localStorage.setItem(USER_KEY, JSON.stringify(user || null));
}

export function clearSession() {
  localStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(USER_KEY);
}

/** Absolute URL of an API path, relative to the page (works behind a path prefix too). */
export function apiUrl(path) {
  return new URL(path.replace(/^\//, ''), document.baseURI);
}

/** ws: or wss: URL (matching the page's protocol, same host) with query parameters. */
export function wsUrl(path, params = {}) {
  const url = apiUrl(path);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [key, value] of Object.entries(params)) {
    url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** Turn FastAPI's `detail` (string, or a list of validation errors) into one line. */
function detailText(body) {
  if (!body || body.detail == null) return '';
  if (typeof body.detail === 'string') return body.detail;
  if (Array.isArray(body.detail)) {
    return body.detail.map((d) => d.msg || JSON.stringify(d)).join('；');
  }
  return JSON.stringify(body.detail);
}

async function readBody(response) {
  const type = response.headers.get('content-type') || '';
  if (type.includes('application/json') || type.includes('+json')) {
    try {
      return await response.json();
    } catch {
      return null;
    }
  }
  const text = await response.text();
  return text ? { detail: text } : null;
}

/**
 * Call the API. `options.form` sends an urlencoded body, `options.json` a JSON body,
 * `options.formData` a multipart body (a FormData, e.g. with files).
 * Resolves with the parsed JSON; rejects with ApiError (status 0 = network failure).
 */
export async function apiFetch(path, options = {}) {
  const { method = 'GET', form, json, formData, signal, auth = true } = options;
  const headers = { Accept: 'application/json' };
  let body;
  if (formData) {
    body = formData; // the browser sets the multipart Content-Type with its boundary
  } else if (form) {
    body = new URLSearchParams(form);
  } else if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  const token = getToken();
  if (auth && token) headers.Authorization = `Bearer ${token}`;

  let response;
  try {
    response = await fetch(apiUrl(path), { method, headers, body, signal });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, '无法连接服务器，请检查网络');
  }

  const data = await readBody(response);
  if (response.status === 401 && auth) {
    clearSession();
    unauthorizedHandler();
    throw new ApiError(401, detailText(data) || '登录已失效，请重新登录', data);
  }
  if (!response.ok) {
    throw new ApiError(response.status, detailText(data) || `请求失败（${response.status}）`, data);
  }
  return data;
}

export function getJSON(path, options = {}) {
  return apiFetch(path, { ...options, method: 'GET' });
}

/** The district's working periods from yesterday to 30 days on, for exact countdowns (refreshed daily). */
export async function loadWorkCalendar() {
  const day = (offset) => new Date(Date.now() + 8 * 3600000 + offset * 86400000).toISOString().slice(0, 10);
  try {
    setWorkingPeriods(await getJSON(`/api/calendar?from=${day(-1)}&to=${day(30)}`));
  } catch {
    // countdowns fall back to Monday–Friday until the next try
  }
  clearTimeout(loadWorkCalendar.timer);
  loadWorkCalendar.timer = setTimeout(loadWorkCalendar, 6 * 3600000);
}

/** OAuth2 password flow. Stores and returns {access_token, user}. */
export async function login(username, password) {
  const data = await apiFetch('api/auth/token', {
    method: 'POST',
    form: { username, password },
    auth: false,
  });
  if (!data || !data.access_token) {
    throw new ApiError(500, '登录响应缺少访问令牌');
  }
  setSession(data.access_token, data.user);
  return data;
}
