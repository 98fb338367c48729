// 系统设置: map tile URL (this browser), language, and what the server offers.
import { api, routeList } from '../api.js';
import { t, setLang, getLang } from '../i18n.js';
import { h, card, toast, table, select } from '../ui.js';

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
    card(t('set.lang'), h('div', null, lang, ' ', h('button', { class: 'btn', onclick: () => { setLang(lang.value); location.reload(); } }, t('common.save')))),
    card(t('set.about'), h('div', { class: 'mono' }, JSON.stringify(version))),
    card(t('set.routes'), table([{ title: 'method', key: 'method' }, { title: 'path', render: r => h('span', { class: 'mono' }, r.path) },
      { title: 'roles', render: r => r.public ? 'public' : r.roles.join(', ') + (r.admin_only ? ' (admin)' : '') }], routeList()), null, { flush: true }));
}
