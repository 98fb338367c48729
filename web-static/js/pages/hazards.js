// 隐患排查治理: hazards (major: the ten dust items; ordinary) and their
// rectification loop.  Government accounts report, confirm derived proposals,
// verify or reject; the enterprise files its plan and rectification report.
// Oldest first, with deadline and age; per street ageing for the government.
import { api, apiAll, hasRoute } from '../api.js';
import { t } from '../i18n.js';
import { lbl, loadLabels } from '../labels.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading, stat } from '../ui.js';
import { onLive } from '../live.js';
import { drillOf, drillBar } from '../drill.js';

// action -> [from statuses, body field, required, who]
const ACTS = {
  confirm: [['proposed'], 'note', false, 'gov'],
  dismiss: [['proposed'], 'reason', true, 'gov'],
  plan: [['reported'], 'plan', true, 'ent'],
  rectify: [['planned', 'rejected'], 'report', true, 'ent'],
  verify: [['rectified'], 'note', false, 'gov'],
  reject: [['rectified'], 'reason', true, 'gov'],
};
const TABS = [['open', 'open=true'], ['proposed', 'status=proposed'], ['closed', 'status=closed,dismissed'], ['all', '']];

const statusTag = s => h('span', { class: 'tag ' + ({ closed: 'ok', dismissed: 'muted', proposed: 'muted', rejected: 'bad', rectified: 'warn' }[s] || 'warn'), 'data-hazard-state': s },
  lbl('hazard_status', s, 'hz.state'));

export default async function hazardsPage(el, ctx) {
  await loadLabels();
  if (ctx.params.id) return detail(el, ctx, ctx.params.id);
  // from a statistic: its own filters instead of a tab's
  const drill = drillOf(ctx.query, ['status', 'kind', 'open', 'overdue']);
  const drilling = Object.keys(drill).length > 0;
  const tab = drilling ? '' : ctx.query.get('tab') || 'open';
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('hz.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/hazards')) { el.append(card(t('hz.title'), missingRoute('GET /api/v1/hazards'))); return; }
  const tools = h('div', { style: { display: 'flex', gap: '8px', marginBottom: '10px' } });
  if (hasRoute('POST', '/api/v1/enterprises/{id}/hazards'))
    tools.append(h('button', { class: 'btn primary', 'data-action': 'new-hazard', onclick: () => report(ctx, () => load()) }, t(ctx.isEnt ? 'hz.self' : 'hz.new')));
  if (!ctx.isEnt && hasRoute('POST', '/api/v1/hazards/derive'))
    tools.append(h('button', { class: 'btn', 'data-action': 'derive', onclick: async () => {
      const r = await api('/api/v1/hazards/derive', { method: 'POST', body: {} });
      toast(t('hz.derived', { n: r.proposed }), 'ok'); load();
    } }, t('hz.derive')));
  el.append(tools);
  const ageing = h('div');
  if (!ctx.isEnt && hasRoute('GET', '/api/v1/hazards/ageing')) el.append(ageing);
  el.append(h('nav', { class: 'tabs' }, TABS.map(([k]) => h('a', { href: '#/hazards?tab=' + k, class: k === tab ? 'active' : null }, t('hz.tab.' + k)))));
  const body = h('div', { class: 'bd flush' }, loading());
  el.append(h('section', { class: 'card', 'data-testid': 'hazard-list' }, drillBar(drill, '#/hazards'), body));
  async function load() {
    let r;
    const filter = drilling ? new URLSearchParams(drill) : TABS.find(x => x[0] === tab)[1];
    try { r = await api('/api/v1/hazards?limit=200&' + filter); } catch (e) { fill(body, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(body, r.total > r.items.length ? h('div', { class: 'note', 'data-testid': 'hazard-shown' }, t('common.shown', { n: r.items.length, total: r.total })) : null, table([
      ctx.isEnt ? null : { title: t('common.enterprise'), render: x => h('a', { href: '#/enterprises/' + x.enterprise.id }, x.enterprise.name) },
      { title: t('hz.kind'), render: x => h('span', { class: 'tag ' + (x.kind === 'major' ? 'red' : '') }, x.kind === 'major' ? t('hz.major', { n: x.major_item }) : lbl('hazard_kind', x.kind)) },
      { title: t('hz.what'), render: x => h('a', { href: '#/hazards/' + x.id, 'data-hazard-link': x.id }, x.title) },
      { title: t('hz.how'), render: x => lbl('hazard_found_how', x.found_how) },
      { title: t('common.state'), render: x => statusTag(x.status) },
      { title: t('hz.deadline'), render: x => x.deadline ? h('span', { class: x.overdue ? 'err' : null }, fmtTime(x.deadline) + (x.overdue ? ' ' + t('hz.overdue') : '')) : t('common.na') },
      { title: t('hz.age'), class: 'num', render: x => t('hz.days', { n: x.age_days }) },
      { title: t('common.actions'), render: x => actions(ctx, x, load) },
    ].filter(Boolean), r.items, { empty: empty(t('hz.empty')), rowClass: x => x.overdue ? 'overdue' : null, rowAttrs: x => ({ 'data-hazard-id': x.id }) }));
    if (!ctx.isEnt && hasRoute('GET', '/api/v1/hazards/ageing')) {
      try {
        const a = await api('/api/v1/hazards/ageing');
        fill(ageing, card(t('hz.ageing'), table([
          { title: t('common.street'), render: x => x.street ? x.street.name : t('common.na') },
          { title: t('hz.open'), class: 'num', key: 'open' }, { title: t('hz.kind.major'), class: 'num', key: 'major' },
          { title: t('hz.overdue'), class: 'num', key: 'overdue' }, { title: '<7d', class: 'num', key: 'age_lt_7d' },
          { title: '7–30d', class: 'num', key: 'age_7_30d' }, { title: '>30d', class: 'num', key: 'age_gt_30d' },
          { title: t('hz.oldest'), render: x => fmtTime(x.oldest_found_at) }], a.items, { empty: empty(t('hz.empty')) }), null, { 'data-testid': 'hazard-ageing' }));
      } catch { /* the list is what matters */ }
    }
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'hazard' && !pending) pending = setTimeout(() => { pending = null; load(); }, 300); });
  ctx.onLeave(() => clearTimeout(pending));
}

async function report(ctx, reload) {
  let ents = [];
  if (!ctx.isEnt) ents = (await apiAll('/api/v1/enterprises')).items || [];
  const items = Array.from({ length: 10 }, (_, i) => [String(i + 1), (i + 1) + '. ' + lbl('major_hazard_item', String(i + 1))]);
  formModal(t(ctx.isEnt ? 'hz.self' : 'hz.new'), [
    ctx.isEnt ? null : formRow(t('common.enterprise'), select('enterprise', ents.map(e => [e.id, e.name]), ents[0] && ents[0].id)),
    formRow(t('hz.kind'), select('kind', [['ordinary', lbl('hazard_kind', 'ordinary')], ['major', lbl('hazard_kind', 'major')]], 'ordinary')),
    formRow(t('hz.item'), select('major_item', [['', t('common.na')], ...items], '')),
    formRow(t('hz.what'), h('input', { name: 'title', required: true, maxlength: 200 })),
    formRow(t('common.note'), h('textarea', { name: 'description', maxlength: 4000 })),
    ctx.isEnt ? null : formRow(t('hz.how'), select('found_how', ['inspection', 'spot_check', 'warning'].map(x => [x, lbl('hazard_found_how', x)]), 'inspection')),
  ], async v => {
    const body = { kind: v.kind, title: v.title };
    if (v.description) body.description = v.description;
    if (v.kind === 'major') body.major_item = +v.major_item || null;
    if (v.found_how) body.found_how = v.found_how;
    await api(`/api/v1/enterprises/${ctx.isEnt ? ctx.me.scope.id : v.enterprise}/hazards`, { method: 'POST', body });
    toast(t('hz.new') + ' ✓', 'ok'); reload();
  });
}

function actions(ctx, x, reload) {
  const out = [];
  for (const [name, [from, field, required, who]] of Object.entries(ACTS)) {
    if (!from.includes(x.status) || (who === 'ent') !== ctx.isEnt) continue;
    if (!hasRoute('POST', `/api/v1/hazards/{id}/${name}`)) continue;
    const label = t('hz.' + name);
    out.push(h('button', { class: 'btn sm ' + (['confirm', 'verify', 'plan', 'rectify'].includes(name) ? 'primary' : ''), 'data-action': 'hazard-' + name, onclick: () => formModal(label, [
      h('div', { class: 'note', style: { marginBottom: '10px' } }, `${x.enterprise.name} · ${x.title}`),
      formRow(t('hz.field.' + field), h('textarea', { name: field, required, maxlength: 4000 }))],
    async v => {
      await api(`/api/v1/hazards/${x.id}/${name}`, { method: 'POST', body: v[field] ? { [field]: v[field] } : {} });
      toast(label + ' ✓', 'ok'); reload();
    }, label) }, label));
  }
  return h('span', { style: { display: 'flex', gap: '4px', flexWrap: 'wrap' } }, out);
}

async function detail(el, ctx, id) {
  el.append(h('div', { class: 'page-head' }, h('a', { class: 'crumbs', href: '#/hazards' }, t('hz.title') + ' /'), h('h2', null, '#' + id)));
  const box = h('div', null, loading());
  el.append(box);
  async function load() {
    let r;
    try { r = await api('/api/v1/hazards/' + encodeURIComponent(id)); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    const x = r.hazard;
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
    fill(box, h('div', { class: 'stats' }, stat(t('hz.age'), t('hz.days', { n: x.age_days }), x.overdue ? 'red' : ''), stat(t('common.state'), statusTag(x.status))),
      card(t('common.detail'), h('dl', { class: 'kv', 'data-testid': 'hazard-detail' },
        kv(t('common.enterprise'), x.enterprise.name),
        kv(t('hz.kind'), x.kind === 'major' ? t('hz.major', { n: x.major_item }) + ' ' + lbl('major_hazard_item', String(x.major_item)) : lbl('hazard_kind', x.kind)),
        kv(t('hz.what'), x.title), kv(t('common.note'), x.description),
        kv(t('hz.how'), lbl('hazard_found_how', x.found_how) + ' · ' + x.found_by + ' · ' + fmtTime(x.found_at)),
        kv(t('hz.deadline'), x.deadline ? fmtTime(x.deadline) : null), kv(t('hz.field.plan'), x.plan), kv(t('hz.field.report'), x.report),
        kv(t('hz.verify'), x.verify_note), x.photo ? kv(t('hz.photo'), h('img', { src: x.photo.href, style: { maxWidth: '240px' } })) : null),
      h('div', { class: 'extra' }, actions(ctx, x, load))),
      card(t('hz.history'), h('ul', { class: 'timeline', 'data-testid': 'hazard-history' }, r.events.map(v =>
        h('li', { 'data-event': v.action }, h('b', null, t('hz.' + v.action, {}, v.action)), ' · ', fmtTime(v.at, true), v.actor ? ' · ' + v.actor : '', v.note ? h('div', { class: 'muted' }, v.note) : null)))));
  }
  await load();
  onLive(ctx, ev => { if (ev.type === 'hazard' && String(ev.id) === String(id)) load(); });
}
