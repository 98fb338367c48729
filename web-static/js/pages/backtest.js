// 模型回测: the risk model in force (version, source, parameters), the stored
// versions, a backtest of a candidate model over a period (grade counts stored
// vs candidate, enterprises that would change grade) and, for city
// administrators, storing the candidate as a new version in force (the worker
// loads it without a restart).
import { api, hasRoute, mayUse } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, toast, loading, gradeTag, zoneDay, zoneDayStart } from '../ui.js';

const GRADES = ['blue', 'yellow', 'orange', 'red'];
// the date inputs are days of the display zone (a UTC day ran 8 h behind the
// +08:00 instants sent: from 16:00 UTC the default range ended before now)
const isoDay = d => zoneDay(d);

export default async function backtestPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('bt.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/risk/model')) { el.append(card(t('bt.model'), missingRoute('GET /api/v1/risk/model'))); return; }
  const modelBox = h('div', null, loading());
  const resultBox = h('div', { 'data-testid': 'backtest-result' });
  el.append(card(t('bt.model'), modelBox, null, { 'data-testid': 'model-card' }));
  let info;
  try { info = await api('/api/v1/risk/model'); } catch (e) { fill(modelBox, errorBox(e)); return; }
  if (!ctx.alive) return;
  const f = info.in_force || {};
  const p = f.parameters || {};
  const th = p.grade_thresholds || {};
  const w = p.weights || {};
  fill(modelBox,
    h('div', { class: 'stats' },
      h('div', { class: 'stat gblue' }, h('div', { class: 'k' }, t('bt.version')), h('div', { class: 'v', 'data-testid': 'model-version' }, f.version || t('common.na'))),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, t('bt.source')), h('div', { class: 'v' }, t('bt.source.' + f.source, {}, f.source)), f.activated_at ? h('small', null, fmtTime(f.activated_at)) : null),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, t('bt.thresholds')), h('div', { class: 'v' }, `${th.yellow ?? '-'} / ${th.orange ?? '-'} / ${th.red ?? '-'}`)),
      h('div', { class: 'stat' }, h('div', { class: 'k' }, t('bt.weights')), h('div', { class: 'v' }, `A ${w.alarm ?? '-'} · H ${w.handling ?? '-'} · S ${w.site ?? '-'}`))),
    table([
      { title: t('bt.version'), key: 'version' }, { title: t('bt.by'), key: 'created_by' },
      { title: t('bt.created'), render: v => fmtTime(v.created_at) },
      { title: t('common.state'), render: v => v.active ? h('span', { class: 'tag ok' }, t('bt.active')) : '' },
    ], info.versions || [], { empty: empty(t('bt.noversions')), attrs: { 'data-testid': 'versions-table' } }));

  if (!mayUse(ctx.me, 'POST', '/api/v1/risk/backtest')) return;
  const now = new Date();
  const from = h('input', { type: 'date', name: 'from', value: isoDay(new Date(now - 7 * 86400e3)) });
  const to = h('input', { type: 'date', name: 'to', value: isoDay(new Date(+now + 86400e3)) });
  const text = h('textarea', { name: 'model', rows: 14, spellcheck: false, style: { width: '100%', fontFamily: 'monospace', fontSize: '12px' } }, JSON.stringify(p, null, 2));
  const canStore = mayUse(ctx.me, 'POST', '/api/v1/risk/models');
  el.append(card(t('bt.candidate'), h('div', null,
    h('div', { class: 'filters' }, t('bt.from'), from, t('bt.to'), to,
      h('button', { class: 'btn primary', 'data-action': 'run-backtest', onclick: run }, t('bt.run')),
      canStore ? h('button', { class: 'btn', 'data-action': 'store-model', onclick: store }, t('bt.store')) : null),
    h('p', { class: 'muted' }, t('bt.hint')), text)));
  el.append(card(t('bt.result'), resultBox));

  function candidate() {
    try { return JSON.parse(text.value); } catch (e) { toast(t('bt.badjson') + ': ' + e.message, 'bad'); return null; }
  }
  async function run() {
    const m = candidate();
    if (!m) return;
    fill(resultBox, loading());
    let r;
    try {
      r = await api('/api/v1/risk/backtest', { method: 'POST', body: { model: m, from: zoneDayStart(from.value).toISOString(), to: zoneDayStart(to.value).toISOString() } });
    } catch (e) { fill(resultBox, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(resultBox,
      h('p', null, t('bt.summary', { n: r.enterprises, v: r.model_version, changed: r.changed.length, stored: (r.stored_versions || []).join(', ') || '-' })),
      table([
        { title: t('bt.grade'), render: g => gradeTag(g) },
        { title: t('bt.stored'), class: 'num', render: g => String(r.stored[g] ?? 0) },
        { title: t('bt.new'), class: 'num', render: g => String(r.candidate[g] ?? 0) },
      ], GRADES, { attrs: { 'data-testid': 'grade-counts' } }),
      table([
        { title: t('common.enterprise'), render: x => h('a', { href: '#/enterprises/' + x.enterprise_id }, x.name || x.code) },
        { title: t('bt.before'), render: x => [gradeTag(x.from), ' ', x.r_from] },
        { title: t('bt.after'), render: x => [gradeTag(x.to), ' ', Number(x.r_to).toFixed(2)] },
        { title: t('bt.override'), render: x => x.override_reason || '' },
      ], r.changed, { empty: empty(t('bt.nochange')), attrs: { 'data-testid': 'changed-table' } }));
  }
  async function store() {
    const m = candidate();
    if (!m) return;
    if (!confirm(t('bt.store.confirm', { v: m.version }))) return;
    try {
      await api('/api/v1/risk/models', { method: 'POST', body: { model: m, activate: true } });
      toast(t('bt.stored.ok', { v: m.version }), 'ok');
      ctx.go('#/backtest?' + Date.now());
    } catch (e) { toast(e.message, 'bad'); }
  }
}
