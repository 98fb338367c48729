// 区划管理 (city and district administrators, issue 17 item 8): streets,
// towns and parks — create, rename, change kind or district (the city),
// disable/enable, delete a disabled empty one.  The server checks scope and
// rules; this page shows its answers ({code, hint, detail}) as they come.
import { api } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, formModal, formRow, select, toast, loading } from '../ui.js';

const KINDS = ['street', 'town', 'park'];

export default async function regionsPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('rg.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!['city_admin', 'district_admin'].includes(ctx.me.role)) { el.append(empty(t('empty.forbidden'))); return; }
  const city = ctx.me.role === 'city_admin';
  const list = h('div', null, loading());
  el.append(card(t('rg.list'), list, h('button', { class: 'btn sm primary', 'data-action': 'new-region', onclick: () => edit(null) }, '+ ' + t('rg.create')), { flush: true }));
  let districts = [];

  async function load() {
    let r;
    try { r = await api('/api/v1/regions'); } catch (e) { fill(list, errorBox(e)); return; }
    districts = r.items.filter(x => x.level === 'district');
    const name = id => (districts.find(d => d.id === id) || {}).name || '—';
    const rows = r.items.filter(x => x.level === 'street');
    fill(list, table([
      { title: t('rg.code'), render: x => h('span', { class: 'mono' }, x.code) },
      { title: t('rg.name'), key: 'name' },
      { title: t('rg.kind'), render: x => t('rg.kind.' + x.kind, {}, x.kind) },
      { title: t('rg.district'), render: x => name(x.parent_id) },
      { title: t('rg.enterprises'), key: 'enterprises' },
      { title: t('common.state'), render: x => x.disabled ? h('span', { class: 'tag muted' }, t('rg.disabled')) : h('span', { class: 'tag ok' }, t('rg.enabled')) },
      { title: t('common.actions'), render: x => h('span', { class: 'row-actions' },
        h('button', { class: 'btn sm', 'data-action': 'edit-region', onclick: () => edit(x) }, t('rg.edit')),
        h('button', { class: 'btn sm', 'data-action': x.disabled ? 'enable-region' : 'disable-region', onclick: () => toggle(x) }, x.disabled ? t('rg.enable') : t('rg.disable')),
        x.disabled ? h('button', { class: 'btn sm danger', 'data-action': 'delete-region', onclick: () => del(x) }, t('rg.delete')) : null) },
    ], rows, { attrs: { 'data-testid': 'regions' }, rowAttrs: x => ({ 'data-code': x.code }), empty: empty(t('rg.none')) }));
  }

  function edit(x) {
    const own = districts.length === 1 ? districts[0].id : (x ? x.parent_id : '');
    const parent = city
      ? select('parent_id', districts.map(d => [d.id, d.name]), x ? x.parent_id : own)
      : h('input', { type: 'hidden', name: 'parent_id', value: x ? x.parent_id : own });
    formModal(x ? t('rg.edit') + ' · ' + x.name : t('rg.create'), [
      x ? null : formRow(t('rg.code'), h('input', { name: 'code', required: true, pattern: '[0-9]{9}([0-9]{3})?', placeholder: '310113104', title: t('rg.code.hint') })),
      formRow(t('rg.name'), h('input', { name: 'name', required: true, maxlength: 100, value: x ? x.name : '' })),
      formRow(t('rg.kind'), select('kind', KINDS.map(k => [k, t('rg.kind.' + k)]), x ? x.kind : 'street')),
      city ? formRow(t('rg.district'), parent) : parent,
    ], async v => {
      const body = { name: v.name, kind: v.kind };
      if (!x || Number(v.parent_id) !== x.parent_id) body.parent_id = Number(v.parent_id);
      if (!x) body.code = v.code;
      if (x) await api(`/api/v1/regions/${x.id}`, { method: 'PATCH', body });
      else await api('/api/v1/regions', { method: 'POST', body });
      toast(t('rg.saved'), 'ok');
      load();
    });
  }

  async function toggle(x) {
    try { await api(`/api/v1/regions/${x.id}`, { method: 'PATCH', body: { disabled: !x.disabled } }); toast(t('rg.saved'), 'ok'); } catch (e) { toast(e.message, 'error'); }
    load();
  }

  async function del(x) {
    if (!window.confirm(t('rg.delete.confirm', { name: x.name }))) return;
    try { await api(`/api/v1/regions/${x.id}`, { method: 'DELETE' }); toast(t('rg.deleted'), 'ok'); } catch (e) { toast(e.message, 'error'); }
    load();
  }
  load();
}
