// The login card of the workbench and the dashboard (same element ids as the other pages):
// a token in localStorage starts the page at once; a user of another role is sent to their page.

import { clearSession, getToken, getUser, homePageFor, login, onUnauthorized } from './api.js';

const $ = (id) => document.getElementById(id);

/**
 * setupLogin({ roles, app, start, stop }): `roles` may use this page, `app` is the element shown
 * once logged in, `start(user)` runs then, `stop()` on logout or an expired session.
 */
export function setupLogin({ roles, app, start, stop = () => {} }) {
  const view = $('login-view');
  const form = $('login-form');
  const username = $('login-username');
  const password = $('login-password');
  const error = $('login-error');
  const submit = $('login-submit');

  const show = (message = '') => {
    stop();
    app.hidden = true;
    view.hidden = false;
    error.textContent = message;
    error.hidden = !message;
    password.value = '';
    (username.value ? password : username).focus();
  };

  const enter = () => {
    const user = getUser();
    if (!roles.includes(user?.role)) {
      window.location.replace(homePageFor(user?.role) || 'index.html');
      return;
    }
    view.hidden = true;
    app.hidden = false;
    start(user);
  };

  onUnauthorized(() => show('登录已失效，请重新登录'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!username.value.trim() || !password.value) {
      error.textContent = '请输入用户名和密码';
      error.hidden = false;
      return;
    }
    submit.disabled = true;
    try {
      await login(username.value.trim(), password.value);
      enter();
    } catch (err) {
      error.textContent = err.status === 401 ? (err.detail || '用户名或密码错误') : err.message;
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });
  $('logout-button')?.addEventListener('click', () => {
    clearSession();
    show();
  });
  if (getToken()) enter();
  else show();
  return { expire: () => show('登录已失效，请重新登录') };
}
