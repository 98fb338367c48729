// Login (with the authenticator code when the account has a second factor),
// and the password change the policy may ask for right after it.
// Failures show one generic message (no user enumeration, lockout included).
import { api } from '../api.js';
import { t, setLang, getLang } from '../i18n.js';
import { h, clear, fill } from '../ui.js';

export default function login(opts) {
  const app = document.getElementById('app');
  const box = h('div', { class: 'login-box' });
  fill(app, h('div', { class: 'login-wrap' }, box));
  document.title = t('login.title') + ' - ' + t('app.title');
  if (opts.mustChange) changeForm(box, opts, t('pw.must'));
  else loginForm(box, opts);
}

function header() {
  return [h('div', { class: 'brand' }, h('img', { src: '/img/logo.svg', alt: '' }), h('h1', null, t('app.title'))),
    h('p', { class: 'sub' }, t('app.org'))];
}
function langSwitch(box, opts, again) {
  return h('a', { onclick: () => { setLang(getLang() === 'zh' ? 'en' : 'zh'); clear(box); again(box, opts); } }, getLang() === 'zh' ? 'English' : '中文');
}

function loginForm(box, opts) {
  const msg = h('div', { 'data-testid': 'login-msg' });
  if (opts.expired) msg.append(h('div', { class: 'note' }, t('login.expired')));
  const user = h('input', { type: 'text', name: 'username', autocomplete: 'username', required: true, maxlength: 64 });
  const pw = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, maxlength: 256 });
  const btn = h('button', { class: 'btn primary', type: 'submit' }, t('login.submit'));
  // shown once the server asks for it (401 totp_required after the right password)
  const code = h('input', { type: 'text', name: 'totp_code', inputmode: 'numeric', autocomplete: 'one-time-code', pattern: '[0-9]{6}', maxlength: 6 });
  const codeRow = h('div', { 'data-testid': 'totp-row', style: { display: 'none' } }, h('label', null, t('login.totp')), code);
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    btn.disabled = true; btn.textContent = t('login.busy'); clear(msg);
    try {
      const body = { username: user.value.trim(), password: pw.value };
      if (codeRow.style.display !== 'none' && code.value) body.totp_code = code.value.trim();
      const r = await api('/api/v1/auth/login', { method: 'POST', body, noAuthRedirect: true });
      if (r.must_change_password || r.password_expired) { clear(box); changeForm(box, opts, t('pw.must'), pw.value); return; }
      const me = await api('/api/v1/auth/me', { noAuthRedirect: true });
      opts.onLoggedIn(me);
    } catch (ex) {
      if (ex.code === 'totp_required') {
        codeRow.style.display = ''; msg.append(h('div', { class: 'note' }, t('login.totp.ask'))); code.focus();
        return;
      }
      msg.append(h('div', { class: 'err', role: 'alert' }, ex.code === 'login_failed' ? t('login.failed') : ex.message));
      pw.value = ''; code.value = ''; pw.focus();
    } finally { btn.disabled = false; btn.textContent = t('login.submit'); }
  } },
  h('label', null, t('login.user')), user, h('label', null, t('login.pw')), pw, codeRow, msg, btn);
  box.append(...header(), h('h2', { style: { fontSize: '15px', margin: '0 0 4px' } }, t('login.title')), form,
    h('div', { class: 'foot' }, h('span', null, t('login.hint')), langSwitch(box, opts, loginForm)));
  user.focus();
}

function changeForm(box, opts, why, current) {
  const msg = h('div', { 'data-testid': 'pw-msg' });
  const cur = h('input', { type: 'password', name: 'current_password', autocomplete: 'current-password', required: true, value: current || '' });
  const nw = h('input', { type: 'password', name: 'new_password', autocomplete: 'new-password', required: true });
  const nw2 = h('input', { type: 'password', name: 'confirm', autocomplete: 'new-password', required: true });
  const btn = h('button', { class: 'btn primary', type: 'submit' }, t('common.submit'));
  const form = h('form', { onsubmit: async e => {
    e.preventDefault(); clear(msg);
    if (nw.value !== nw2.value) { msg.append(h('div', { class: 'err' }, t('pw.mismatch'))); return; }
    btn.disabled = true;
    try {
      await api('/api/v1/auth/password', { method: 'POST', body: { current_password: cur.value, new_password: nw.value }, noAuthRedirect: true });
      const me = await api('/api/v1/auth/me', { noAuthRedirect: true });
      opts.onLoggedIn(me);
    } catch (ex) {
      if (ex.status === 401 && ex.code === 'unauthenticated') { clear(box); loginForm(box, { ...opts, expired: true }); return; }
      msg.append(h('div', { class: 'err', role: 'alert' }, ex.message));
    } finally { btn.disabled = false; }
  } },
  h('div', { class: 'note' }, why), h('label', null, t('pw.current')), cur, h('label', null, t('pw.new')), nw,
  h('label', null, t('pw.confirm')), nw2, h('div', { class: 'muted', style: { fontSize: '12px', marginTop: '6px' } }, t('pw.rules')), msg, btn);
  box.append(...header(), h('h2', { style: { fontSize: '15px', margin: '0 0 4px' } }, t('pw.title')), form);
  (current ? nw : cur).focus();
}
