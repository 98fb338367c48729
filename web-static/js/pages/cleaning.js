// 粉尘清理: cleaning areas, the check-in form with a photo (enterprise
// accounts), recent check-ins, and compliance tables for supervisors.
import { api, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading, pct } from '../ui.js';
import { drillOf, drillBar } from '../drill.js';

const PHOTO_MAX_MB = 2;
const METHODS = ['vacuum', 'wet_wipe', 'sweep', 'other'];
const METHOD_LABEL = { vacuum: ['负压吸尘', 'Vacuum'], wet_wipe: ['湿式擦拭', 'Wet wipe'], sweep: ['清扫', 'Sweeping'], other: ['其他', 'Other'] };
const mLabel = m => (METHOD_LABEL[m] || [m, m])[document.documentElement.lang === 'en' ? 1 : 0];

async function shrinkPhoto(f) {
  const bmp = await createImageBitmap(f);
  const k = Math.min(1, 1600 / Math.max(bmp.width, bmp.height));
  const c = document.createElement('canvas');
  c.width = Math.round(bmp.width * k); c.height = Math.round(bmp.height * k);
  c.getContext('2d').drawImage(bmp, 0, 0, c.width, c.height);
  const blob = await new Promise(ok => c.toBlob(ok, 'image/jpeg', 0.85));
  if (!blob) throw new Error('encode');
  return new File([blob], (f.name || 'photo').replace(/\.[^.]*$/, '') + '.jpg', { type: 'image/jpeg' });
}

export default async function cleaningPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('cl.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (ctx.isEnt) { await cleaningPanel(el, ctx, { id: ctx.me.scope.id }); return; }
  if (!hasRoute('GET', '/api/v1/cleaning/compliance')) { el.append(card(t('cl.compliance'), missingRoute('GET /api/v1/cleaning/compliance'))); return; }
  // from a statistic: its period and enterprises instead of the last days
  const drill = drillOf(ctx.query);
  const days = Object.keys(drill).length ? 0 : +(ctx.query.get('days') || 7);
  const from = new Date(Date.now() - (days || 7) * 86400e3).toISOString();
  const box = h('div', null, loading());
  el.append(h('section', { class: 'card' }, drillBar(drill, '#/cleaning'), h('div', { class: 'filters' }, t('mon.range'), ...[7, 30].map(d =>
    h('a', { class: 'btn sm' + (d === days ? ' primary' : ''), href: '#/cleaning?days=' + d }, d + (document.documentElement.lang === 'en' ? ' d' : '天')))), h('div', { class: 'bd flush' }, box)));
  let r;
  const query = days ? 'from=' + encodeURIComponent(from) : new URLSearchParams(drill);
  try { r = await api('/api/v1/cleaning/compliance?' + query); } catch (e) { fill(box, errorBox(e)); return; }
  const tot = r.totals || {};
  fill(box, 
    h('div', { class: 'stats', style: { padding: '12px 14px 0' } },
      h('div', { class: 'stat gblue' }, h('div', { class: 'k' }, t('cl.rate')), h('div', { class: 'v' }, pct(tot.rate))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, t('cl.required')), h('div', { class: 'v' }, tot.required ?? 0)),
      h('div', { class: 'stat red' }, h('div', { class: 'k' }, t('cl.missed')), h('div', { class: 'v' }, tot.missed ?? 0)),
      h('div', { class: 'stat orange' }, h('div', { class: 'k' }, t('cl.late')), h('div', { class: 'v' }, tot.late ?? 0)),
      h('div', { class: 'stat', 'data-stat': 'without-areas' }, h('div', { class: 'k' }, t('d17.noarea.n')), h('div', { class: 'v' }, tot.without_areas ?? 0))),
    table([
      { title: t('common.enterprise'), render: x => h('a', { href: `#/enterprises/${x.id}?tab=cleaning` }, x.name) },
      { title: t('cl.areas'), class: 'num', render: x => Array.isArray(x.areas) ? x.areas.length : (x.areas ?? '') },
      { title: t('cl.required'), class: 'num', key: 'required' }, { title: t('cl.missed'), class: 'num', key: 'missed' },
      { title: t('cl.late'), class: 'num', key: 'late' },
      { title: t('cl.rate'), class: 'num', render: x => h('span', { class: 'tag ' + (x.rate == null ? 'muted' : x.rate >= 0.9 ? 'ok' : x.rate >= 0.6 ? 'warn' : 'bad') }, pct(x.rate)) },
    ], r.enterprises || [], { empty: empty(t('cl.noareas'), t('cl.noareas.hint')), attrs: { 'data-testid': 'compliance-table' } }));
  const none = r.without_areas || [];
  if (none.length) el.append(card(`${t('d17.noarea.list')} (${none.length})`, h('div', null, h('div', { class: 'note' }, t('d17.noarea.hint')),
    h('div', { class: 'chips', 'data-testid': 'without-areas' }, none.map(x => h('a', { class: 'tag warn', href: `#/enterprises/${x.id}?tab=cleaning` }, x.name))))));
}

export async function cleaningPanel(el, ctx, e) {
  if (!hasRoute('GET', '/api/v1/enterprises/{id}/cleaning-areas')) { el.append(card(t('cl.areas'), missingRoute('GET /api/v1/enterprises/{id}/cleaning-areas'))); return; }
  const areasBox = h('div', null, loading());
  const listBox = h('div', null, loading());
  const canEditAreas = hasRoute('POST', '/api/v1/enterprises/{id}/cleaning-areas') && ['city_admin', 'district_admin', 'district_staff', 'city_staff', 'enterprise_manager', 'enterprise_staff'].includes(ctx.me.role);
  el.append(h('div', { class: 'grid g2' },
    card(t('cl.areas'), areasBox, canEditAreas ? h('button', { class: 'btn sm', onclick: newArea, 'data-action': 'new-area' }, '+ ' + t('cl.newarea')) : null, { flush: true }),
    card(t('cl.recent'), listBox, null, { flush: true })));
  async function loadAreas() {
    let r;
    try { r = await api(`/api/v1/enterprises/${e.id}/cleaning-areas`); } catch (ex) { fill(areasBox, errorBox(ex)); return; }
    if (!ctx.alive) return;
    fill(areasBox, table([
      { title: t('cl.area'), key: 'name' }, { title: t('cl.freq'), render: a => tv('freq', a.frequency) },
      { title: t('cl.at'), render: a => a.last_checkin_at ? fmtTime(a.last_checkin_at) : h('span', { class: 'tag bad' }, t('common.none')) },
      { title: t('common.state'), render: a => a.active ? h('span', { class: 'tag ok' }, '启用') : h('span', { class: 'tag muted' }, '停用') },
      { title: t('common.actions'), render: a => ctx.isEnt && a.active && hasRoute('POST', '/api/v1/cleaning-areas/{id}/checkins')
        ? h('button', { class: 'btn sm primary', 'data-action': 'checkin', 'data-area': a.name, onclick: () => checkin(a) }, t('cl.checkin')) : '' },
    ], r.items, { empty: empty(t('cl.noareas'), t('cl.noareas.hint')), attrs: { 'data-testid': 'areas-table' } }));
  }
  async function loadCheckins() {
    if (!hasRoute('GET', '/api/v1/enterprises/{id}/checkins')) { fill(listBox, missingRoute('GET /api/v1/enterprises/{id}/checkins')); return; }
    let r;
    try { r = await api(`/api/v1/enterprises/${e.id}/checkins?limit=30`); } catch (ex) { fill(listBox, errorBox(ex)); return; }
    if (!ctx.alive) return;
    fill(listBox, table([
      { title: t('cl.at'), render: c => fmtTime(c.checked_at) }, { title: t('cl.area'), key: 'area' }, { title: t('cl.person'), key: 'person' },
      { title: t('cl.method'), render: c => mLabel(c.method) },
      { title: t('cl.photo'), render: c => c.photo ? h('a', { href: c.photo.href, target: '_blank', rel: 'noopener' }, h('img', { src: c.photo.href, alt: t('cl.photo'), style: { height: '36px', borderRadius: '3px' }, loading: 'lazy', 'data-testid': 'checkin-photo' })) : '' },
      { title: t('common.note'), render: c => [c.note, c.late_entry ? h('span', { class: 'tag warn' }, '补录') : null] },
    ], r.items, { empty: empty(t('empty.nodata')), attrs: { 'data-testid': 'checkins-table' } }));
  }
  function newArea() {
    formModal(t('cl.newarea'), [
      formRow(t('cl.area'), h('input', { type: 'text', name: 'name', required: true, maxlength: 100 })),
      formRow(t('cl.freq'), select('frequency', ['per_shift', 'daily', 'weekly'].map(f => [f, t('freq.' + f)]), 'daily'))],
    async v => { await api(`/api/v1/enterprises/${e.id}/cleaning-areas`, { method: 'POST', body: v }); toast(t('set.saved'), 'ok'); loadAreas(); });
  }
  function checkin(a) {
    const prev = h('div');
    const file = h('input', { type: 'file', name: 'photo_file', accept: 'image/*', capture: 'environment', 'data-testid': 'checkin-camera', onchange: () => {
      clear(prev);
      const f = file.files[0];
      if (f) prev.append(h('img', { class: 'photo-prev', src: URL.createObjectURL(f), alt: '' }), h('div', { class: 'muted' }, `${f.name} · ${(f.size / 1024).toFixed(0)} KB`));
    } });
    const progress = h('div', { class: 'muted' });
    formModal(t('cl.checkin') + ' · ' + a.name, [
      formRow(t('cl.person'), h('input', { type: 'text', name: 'person', required: true, maxlength: 100, value: ctx.me.display_name || '' })),
      formRow(t('cl.method'), select('method', METHODS.map(m => [m, mLabel(m)]), 'vacuum')),
      formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 2000 })),
      formRow(t('cl.photo'), h('div', null, file, prev)), progress],
    async v => {
      const body = { person: v.person, method: v.method };
      if (v.note) body.note = v.note;
      let f = file.files[0];
      // a phone camera's photo (several MB, maybe HEIC) is re-encoded as a
      // JPEG of at most 1600 px before the size check
      if (f && (f.size > PHOTO_MAX_MB * 1024 * 1024 || !/^image\/(jpeg|png)$/.test(f.type))) f = await shrinkPhoto(f).catch(() => f);
      if (f) {
        if (f.size > PHOTO_MAX_MB * 1024 * 1024) throw new Error(t('cl.photo.big', { n: PHOTO_MAX_MB }));
        progress.textContent = '…';
        body.photo = await new Promise((ok, fail) => { const rd = new FileReader(); rd.onload = () => ok(rd.result); rd.onerror = fail; rd.onprogress = ev => { if (ev.lengthComputable) progress.textContent = Math.round(ev.loaded / ev.total * 100) + '%'; }; rd.readAsDataURL(f); });
      }
      await api(`/api/v1/cleaning-areas/${a.id}/checkins`, { method: 'POST', body });
      toast(t('cl.done'), 'ok');
      loadAreas(); loadCheckins();
    }, t('cl.checkin'));
  }
  await Promise.all([loadAreas(), loadCheckins()]);
}
