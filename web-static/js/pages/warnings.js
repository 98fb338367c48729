// 预警处置: warnings by colour with live countdowns to the sign-by and
// clear-by deadlines, the lifecycle actions each role may take, and the detail
// with the score that caused it and the escalation / supervision history.
import { api, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, fmtTime, fmtNum, missingRoute, formModal, formRow, toast, loading, duration, gradeTag, stat } from '../ui.js';
import { onLive } from '../live.js';
import { loadLabels, lbl } from '../labels.js';
import { drillOf, drillBar, fromStatistic } from '../drill.js';

const COLOURS = ['red', 'orange', 'yellow', 'blue'];
const STATUSES = ['issued', 'signed', 'feedback', 'clearance_requested', 'returned', 'cleared'];
// action -> [route verb, from statuses, body field, required, who]
const ACTS = {
  sign: ['sign', ['issued'], 'note', false, 'ent'],
  feedback: ['feedback', ['signed', 'feedback', 'returned'], 'feedback', true, 'ent'],
  request: ['request-clearance', ['feedback'], 'note', false, 'ent'],
  approve: ['approve', ['clearance_requested'], 'note', false, 'gov'],
  return: ['return', ['clearance_requested'], 'reason', true, 'gov'],
};

export default async function warningsPage(el, ctx) {
  if (ctx.params.id) return detail(el, ctx, ctx.params.id);
  const q = ctx.query;
  const drill = drillOf(q, ['overdue']);
  // from a statistic: every warning of its period, cleared or not (it counts them all)
  const grade = q.get('grade') || '', open = q.has('open') ? q.get('open') !== 'false' : !fromStatistic(drill);
  const keep = Object.keys(drill).length ? new URLSearchParams(drill) + '&' : '';
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('wn.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/warnings')) { el.append(card(t('wn.title'), missingRoute('GET /api/v1/warnings'))); return; }
  // colour tiles double as the colour filter
  const counts = h('div', { class: 'stats' });
  el.append(counts);
  api('/api/v1/overview').then(ov => {
    const w = ov.warnings || {};
    const by = w.by_grade || {};
    counts.append(...COLOURS.map(c => h('a', { href: `#/warnings?grade=${c}`, style: { textDecoration: 'none', color: 'inherit' } },
      stat(t('colour.' + c) + t('nav.warnings').slice(0, 2), by[c] ?? 0, c === 'blue' ? 'gblue' : c, null, { 'data-colour': c }))),
    stat(t('ov.overdue_warnings'), w.overdue ?? 0, 'red'), stat(t('wstate.clearance_requested'), w.clearance_requested ?? 0, 'ok'));
  }).catch(() => {});
  const tabs = h('nav', { class: 'tabs' }, [['', t('common.all')], ...COLOURS.map(c => [c, t('colour.' + c)])].map(([c, l]) =>
    h('a', { href: `#/warnings?${keep}grade=${c}&open=${open}`, class: c === grade ? 'active' : null }, l)),
  h('a', { href: `#/warnings?${keep}grade=${grade}&open=${!open}`, style: { marginLeft: 'auto' } }, (open ? '☐ ' : '☑ ') + t('wn.include_closed')));
  el.append(tabs);
  const bar = drillBar(drill, '#/warnings');
  if (bar) el.append(bar);
  const filters = { ...drill };
  if (grade) filters.grade = grade;
  if (open) filters.open = 'true';
  el.append(await warningTable(ctx, filters));
}

export async function warningTable(ctx, filters) {
  await loadLabels();
  const wrap = h('section', { class: 'card', 'data-testid': 'warning-list' });
  if (!hasRoute('GET', '/api/v1/warnings')) { wrap.append(missingRoute('GET /api/v1/warnings')); return wrap; }
  const body = h('div', { class: 'bd flush' }, loading());
  wrap.append(body);
  let items = [];
  async function load() {
    const p = new URLSearchParams({ limit: 200 });
    for (const k in filters) p.set(k, filters[k]);
    let r;
    try { r = await api('/api/v1/warnings?' + p); } catch (e) { fill(body, errorBox(e)); return; }
    if (!ctx.alive) return;
    items = r.items;
    fill(body, r.total > items.length ? h('div', { class: 'note', 'data-testid': 'warning-shown' }, t('common.shown', { n: items.length, total: r.total })) : null, table([
      { title: t('wn.colour'), render: w => gradeTagColour(w.grade) },
      filters.enterprise ? null : { title: t('common.enterprise'), render: w => h('a', { href: '#/enterprises/' + w.enterprise.id }, w.enterprise.name) },
      { title: t('wn.cause'), render: w => causeText(w.cause) },
      { title: t('wn.issued'), render: w => h('a', { href: '#/warnings/' + w.id }, fmtTime(w.issued_at)) },
      { title: t('common.state'), render: w => h('span', { class: 'tag ' + (w.status === 'cleared' ? 'ok' : w.overdue ? 'bad' : 'warn'), 'data-warning-state': w.status }, tv('wstate', w.status)) },
      { title: t('wn.sign_by'), render: w => countdown(w.sign_by, w.status !== 'issued') },
      { title: t('wn.clear_by'), render: w => countdown(w.clear_by, ['clearance_requested', 'cleared'].includes(w.status)) },
      { title: t('wn.supervisor'), render: w => tv('level', w.current_level) + (w.escalations_done ? ` ↑${w.escalations_done}` : '') },
      { title: t('common.actions'), render: w => actionButtons(ctx, w, load) },
    ].filter(Boolean), items, { empty: empty(t('wn.empty'), t('wn.empty.hint')), rowClass: w => w.overdue ? 'overdue' : null, rowAttrs: w => ({ 'data-warning-id': w.id }) }));
  }
  await load();
  const tick = setInterval(() => { for (const c of wrap.querySelectorAll('[data-due]')) paint(c); }, 1000);
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'warning' && (!filters.enterprise || ev.enterprise_id === +filters.enterprise) && !pending) pending = setTimeout(() => { pending = null; load(); }, 500); });
  ctx.onLeave(() => { clearInterval(tick); clearTimeout(pending); });
  return wrap;
}

function gradeTagColour(g) { return h('span', { class: 'tag ' + g, 'data-grade': g }, t('colour.' + g, {}, g)); }
function causeText(c) {
  // grade rise, or an override rule of the catalogue (O.*), in the chosen language
  return !c ? '' : c === 'grade' ? t('wn.cause.grade') : lbl('risk_rule', c) + t('wn.cause.veto');
}
// upgrade / grade_fall carry the grades; the other actions are named by the status they lead to
function eventTitle(v) {
  if (v.action === 'upgrade') return t('wn.ev.upgrade', { from: t('colour.' + v.from_grade, {}, v.from_grade), to: t('colour.' + v.to_grade, {}, v.to_grade) });
  if (v.action === 'grade_fall') return t('wn.ev.grade_fall', { from: t('colour.' + v.from_grade, {}, v.from_grade), to: t('colour.' + v.to_grade, {}, v.to_grade) });
  if (v.action === 'issue' && v.to_grade) return t('wn.ev.issue', { to: t('colour.' + v.to_grade, {}, v.to_grade) });
  return t('wstate.' + v.to_status, {}, v.action);
}
// The worker's notes (server/worker/job_risk.c) as a person reads them: grades by their
// colour, the escalation by its label, the due time in Beijing time (not codes).
export function noteText(n) {
  if (!n) return n;
  const colour = g => g === 'none' ? t('grade.none') : t('colour.' + g, {}, g);
  let m = /^(\w+) -> (\w+), R=([\d.]+) \(model ([^,)]+)(, first score)?\)$/.exec(n);
  if (m) return t('wn.note.grade', { from: colour(m[1]), to: colour(m[2]), r: m[3], model: m[4] }) + (m[5] ? t('wn.note.first') : '');
  m = /^(sign|clearance) deadline missed \(due (\S+)\)$/.exec(n);
  if (m) return lbl('escalation', m[1]) + ' · ' + t('wn.note.due', { t: fmtTime(m[2]) });
  return n;
}
function countdown(due, done) {
  if (!due) return t('common.na');
  if (done) return h('span', { class: 'muted', title: fmtTime(due) }, fmtTime(due));
  const el = h('span', { class: 'countdown', 'data-due': due, title: fmtTime(due) });
  paint(el);
  return el;
}
function paint(el) {
  const left = (Date.parse(el.dataset.due) - Date.now()) / 1000;
  el.className = 'countdown ' + (left < 0 ? 'late' : left < 3600 ? 'soon' : '');
  el.textContent = left < 0 ? t('wn.late', { t: duration(left) }) : t('wn.left', { t: duration(left) });
}

function actionButtons(ctx, w, reload) {
  const out = [];
  for (const [name, [verb, from, field, required, who]] of Object.entries(ACTS)) {
    if (!from.includes(w.status)) continue;
    if ((who === 'ent') !== ctx.isEnt) continue;
    if (!hasRoute('POST', `/api/v1/warnings/{id}/${verb}`)) continue;
    const label = t('wn.' + name);
    out.push(h('button', { class: 'btn sm ' + (name === 'return' ? '' : 'primary'), 'data-action': name, onclick: () => formModal(label, [
      h('div', { class: 'note', style: { marginBottom: '10px' } }, `${w.enterprise.name} · ${t('colour.' + w.grade)} · ${tv('wstate', w.status)}`),
      formRow(field === 'feedback' ? t('wn.feedback') : field === 'reason' ? t('wn.return') : t('common.note'),
        h('textarea', { name: field, required, maxlength: 4000 }))],
    async v => {
      const body = v[field] ? { [field]: v[field] } : {};
      await api(`/api/v1/warnings/${w.id}/${verb}`, { method: 'POST', body });
      toast(label + ' ✓', 'ok'); reload();
    }, label) }, label));
  }
  out.push(h('a', { class: 'btn sm', href: '#/warnings/' + w.id }, t('common.detail')));
  return h('span', { style: { display: 'flex', gap: '4px', flexWrap: 'wrap' } }, out);
}

async function detail(el, ctx, id) {
  el.append(h('div', { class: 'page-head' }, h('a', { class: 'crumbs', href: '#/warnings' }, t('wn.title') + ' /'), h('h2', null, '#' + id)));
  if (!hasRoute('GET', '/api/v1/warnings/{id}')) { el.append(card(t('common.detail'), missingRoute('GET /api/v1/warnings/{id}'))); return; }
  const box = h('div', null, loading());
  el.append(box);
  async function load() {
    let r;
    try { r = await api('/api/v1/warnings/' + encodeURIComponent(id)); } catch (e) { fill(box, errorBox(e)); return; }
    await loadLabels();
    if (!ctx.alive) return;
    const w = r.warning, s = r.score;
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
    const hist = [...(r.events || []).map(v => ({ at: v.at, title: eventTitle(v), who: v.actor, note: noteText(v.note), action: v.action })),
      ...(r.supervisions || []).map(v => ({ at: v.created_at, title: t('wn.supervision') + ' · ' + tv('level', v.level) + ' · ' + lbl('supervision_status', v.status), who: '', note: v.note })),
      ...(r.enforcement_referrals || []).map(v => ({ at: v.created_at, title: t('wn.referral') + ' · ' + lbl('referral_status', v.status), who: '', note: v.note }))]
      .sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
    fill(box, 
      card(t('common.detail'), h('dl', { class: 'kv', 'data-testid': 'warning-detail' },
        kv(t('common.enterprise'), h('a', { href: '#/enterprises/' + w.enterprise.id, 'data-testid': 'warning-enterprise' }, w.enterprise.name)), kv(t('wn.colour'), gradeTagColour(w.grade)),
        kv(t('wn.cause'), causeText(w.cause)), kv(t('common.state'), h('span', { 'data-warning-state': w.status }, tv('wstate', w.status))),
        kv(t('wn.issued'), fmtTime(w.issued_at)), w.upgraded_at ? kv(t('wn.upgraded'), h('span', { 'data-testid': 'warning-upgraded' }, fmtTime(w.upgraded_at))) : null,
        kv(t('wn.supervisor'), tv('level', w.current_level)),
        kv(t('wn.sign_by'), countdown(w.sign_by, w.status !== 'issued')), kv(t('wn.clear_by'), countdown(w.clear_by, ['clearance_requested', 'cleared'].includes(w.status))),
        kv(t('wn.feedback'), w.feedback), kv(t('common.note'), w.inform_city ? '已报市级 city informed' : '')),
      h('div', { class: 'extra' }, actionButtons(ctx, w, load))),
      h('div', { class: 'grid g2' },
        card(t('risk.why'), s ? h('div', null,
          h('div', { style: { display: 'flex', gap: '10px', alignItems: 'center', marginBottom: '8px' } }, gradeTag(s.grade), h('b', { style: { fontSize: '22px' } }, fmtNum(s.r, 1)),
            h('span', { class: 'muted' }, `I ${fmtNum(s.parts.i, 1)} · A ${fmtNum(s.parts.a, 2)} · H ${fmtNum(s.parts.h, 2)} · S ${fmtNum(s.parts.s, 2)}`)),
          s.override ? h('div', { class: 'err' }, t('risk.override') + '：' + (s.override_reason || '')) : null,
          table([{ title: t('risk.rules'), render: x => h('span', { title: x.code }, lbl('risk_rule', x.code)) },
            { title: '+', class: 'num', render: x => x.contribution != null ? fmtNum(x.contribution, 2) : '' }], s.rules || [], { empty: empty(t('common.none')) }))
          : empty()),
        card(t('wn.history'), hist.length ? h('ul', { class: 'timeline', 'data-testid': 'warning-history' }, hist.map(x => h('li', { 'data-event': x.action || null }, h('b', null, x.title), ' · ', fmtTime(x.at, true), x.who ? ' · ' + x.who : '', x.note ? h('div', { class: 'muted' }, x.note) : null))) : empty())));
    const tick = setInterval(() => { for (const c of box.querySelectorAll('[data-due]')) paint(c); }, 1000);
    ctx.onLeave(() => clearInterval(tick));
  }
  await load();
  onLive(ctx, ev => { if (ev.type === 'warning' && String(ev.id) === String(id)) load(); });
}
