// 系统设置: map tile URL (this browser), language, an administrator's own
// second factor (TOTP), and what the server offers.
import { api, routeList, hasRoute } from '../api.js';
import { t, setLang, getLang } from '../i18n.js';
import { h, card, toast, table, select, fill } from '../ui.js';

// enrol: the secret and its otpauth:// URI once, then a code confirms it
function totpCard(ctx) {
  const box = h('div', { 'data-testid': 'totp' });
  const paint = enabled => {
    if (enabled) { fill(box, h('p', null, h('span', { class: 'tag ok' }, t('totp.on')), ' ', t('totp.on.note'))); return; }
    fill(box, h('p', null, t('totp.off')), h('button', { class: 'btn primary', 'data-action': 'totp-enrol', onclick: enrol }, t('totp.enrol')));
  };
  async function enrol() {
    let r;
    try { r = await api('/api/v1/auth/totp', { method: 'POST' }); } catch (e) { toast(e.message, 'error'); return; }
    const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', pattern: '[0-9]{6}', maxlength: 6, required: true, autocomplete: 'one-time-code' });
    const msg = h('div');
    fill(box, h('p', null, t('totp.scan')),
      h('div', { class: 'secret mono', 'data-testid': 'totp-uri', style: { wordBreak: 'break-all' } }, r.otpauth_uri),
      h('p', null, t('totp.secret'), ' ', h('span', { class: 'mono', 'data-testid': 'totp-secret' }, r.secret)),
      h('form', { onsubmit: async e => {
        e.preventDefault(); fill(msg);
        try { await api('/api/v1/auth/totp/confirm', { method: 'POST', body: { code: code.value.trim() } }); toast(t('totp.on'), 'ok'); paint(true); } catch (ex) { fill(msg, h('div', { class: 'err', role: 'alert' }, ex.message)); }
      } }, h('label', null, t('totp.code'), ' ', code), ' ', h('button', { class: 'btn primary', type: 'submit', 'data-action': 'totp-confirm' }, t('totp.confirm')), msg));
  }
  paint(!!ctx.me.totp_enabled);
  return card(t('totp.title'), box);
}

export default async function settings(el, ctx) {
  const url = h('input', { type: 'url', name: 'tiles', value: localStorage.getItem('dw.tiles') || '', placeholder: 'https://tiles.example.gov.cn/{z}/{x}/{y}.png', style: { width: '100%' } });
  const lang = select('lang', [['zh', '中文'], ['en', 'English']], getLang());
  let version = {};
  try { version = await api('/api/v1/version'); } catch { /* optional */ }
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('set.title'))),
    card(t('set.tiles'), h('form', { onsubmit: e => {
      e.preventDefault();
      const v = url.value.trim();
      if (v) localStorage.setItem('dw.tiles', v); else localStorage.removeItem('dw.tiles');
      toast(t('set.saved'), 'ok');
    } }, url, h('p', { class: 'muted', style: { fontSize: '12px' } }, t('set.tiles.hint')),
    h('button', { class: 'btn primary', type: 'submit', 'data-action': 'save-tiles' }, t('common.save')))),
    ctx.isAdmin && hasRoute('POST', '/api/v1/auth/totp') ? totpCard(ctx) : null,
    card(t('set.lang'), h('div', null, lang, ' ', h('button', { class: 'btn', onclick: () => { setLang(lang.value); location.reload(); } }, t('common.save')))),
    card(t('set.about'), h('div', { class: 'mono' }, JSON.stringify(version))),
    card(t('set.routes'), table([{ title: 'method', key: 'method' }, { title: 'path', render: r => h('span', { class: 'mono' }, r.path) },
      { title: 'roles', render: r => r.public ? 'public' : r.roles.join(', ') + (r.admin_only ? ' (admin)' : '') }], routeList()), null, { flush: true }));
}
