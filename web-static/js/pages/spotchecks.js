// 在线抽查: the district's (or street's) spot-check campaigns, each check as
// one screen (the enterprise's dossier over the period next to the checklist),
// findings that become hazards or rectification requests, counts per
// inspector.  The enterprise sees its findings and answers the requests.
import { api, hasRoute } from '../api.js';
import { t, getLang } from '../i18n.js';
import { lbl, loadLabels } from '../labels.js';
import { h, fill, card, table, empty, errorBox, fmtTime, missingRoute, formModal, formRow, select, toast, loading, stat, pct, gradeTag } from '../ui.js';
import { onLive } from '../live.js';

const RULES = ['random', 'grade', 'street', 'stale', 'list'];
const pickLang = x => (getLang() === 'en' ? x.en : x.zh);
const fTag = x => h('span', { class: 'tag ' + (x.closed ? 'ok' : x.status === 'rejected' || x.overdue ? 'bad' : 'warn'), 'data-finding-state': x.closed ? 'closed' : x.status },
  x.closed ? lbl('spot_finding_status', 'closed') : lbl('spot_finding_status', x.status));

export default async function spotPage(el, ctx) {
  await loadLabels();
  if (ctx.params.id) return checkScreen(el, ctx, ctx.params.id);
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('sp.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/spot-findings')) { el.append(card(t('sp.title'), missingRoute('GET /api/v1/spot-findings'))); return; }
  const findings = h('div', null, loading());
  if (ctx.isEnt) {
    el.append(findings);
    const load = () => findingList(ctx, findings, '', load);
    await load();
    onLive(ctx, ev => { if (ev.type === 'spot_finding' || ev.type === 'hazard') load(); });
    return;
  }
  const tools = h('div', { style: { display: 'flex', gap: '8px', marginBottom: '10px' } },
    h('button', { class: 'btn primary', 'data-action': 'new-campaign', onclick: () => newCampaign(ctx, () => load()) }, t('sp.new')));
  const stats = h('div', { class: 'stats' }), camps = h('div', null, loading()), checks = h('div'), counts = h('div');
  el.append(tools, stats, camps, checks, findings, counts);
  let open = ctx.query.get('campaign');
  async function load() {
    let r;
    try { r = await api('/api/v1/spot-campaigns?limit=100'); } catch (e) { fill(camps, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(camps, card(t('sp.campaigns'), table([
      { title: t('sp.campaign'), render: x => h('a', { href: '#/spotchecks?campaign=' + x.id, 'data-campaign-link': x.id, onclick: e => { e.preventDefault(); open = String(x.id); showChecks(); } }, x.title) },
      { title: t('sp.rule'), render: x => lbl('spot_rule', x.rule) },
      { title: t('sp.period'), render: x => fmtTime(x.period_from) + ' ~ ' + fmtTime(x.period_to) },
      { title: t('sp.progress'), class: 'num', render: x => `${x.done}/${x.checks}` },
      { title: t('sp.findings'), class: 'num', key: 'findings' },
      { title: t('common.state'), render: x => h('span', { class: 'tag ' + (x.status === 'open' ? 'warn' : 'muted') }, t('sp.st.' + x.status)) },
      { title: t('common.actions'), render: x => x.status === 'open' ? h('button', { class: 'btn sm', 'data-action': 'close-campaign', onclick: async () => {
        await api(`/api/v1/spot-campaigns/${x.id}/close`, { method: 'POST' }); toast(t('sp.close') + ' ✓', 'ok'); load(); } }, t('sp.close')) : null },
    ], r.items, { empty: empty(t('sp.none')), rowAttrs: x => ({ 'data-campaign-id': x.id }) }), null, { 'data-testid': 'spot-campaigns' }));
    if (!open && r.items.length) open = String(r.items[0].id);
    showChecks();
    findingList(ctx, findings, 'status=replied,requested,rejected', load);
    loadCounts();
  }
  async function showChecks() {
    if (!open) { fill(checks); return; }
    let r;
    try { r = await api('/api/v1/spot-campaigns/' + encodeURIComponent(open)); } catch (e) { fill(checks, errorBox(e)); return; }
    if (!ctx.alive) return;
    fill(checks, card(t('sp.checks') + ' · ' + r.campaign.title, table([
      { title: t('common.enterprise'), render: x => h('a', { href: '#/spotchecks/' + x.id, 'data-check-link': x.enterprise.id }, x.enterprise.name) },
      { title: t('common.street'), render: x => x.enterprise.street || t('common.na') },
      { title: t('sp.grade'), render: x => x.enterprise.grade ? gradeTag(x.enterprise.grade) : t('common.na') },
      { title: t('sp.last'), render: x => x.last_checked_at ? fmtTime(x.last_checked_at) : t('sp.never') },
      { title: t('common.state'), render: x => h('span', { class: 'tag ' + (x.status === 'done' ? 'ok' : 'warn'), 'data-check-state': x.status }, t('sp.st.' + x.status)) },
      { title: t('sp.inspector'), render: x => x.inspector || t('common.na') },
      { title: t('sp.findings'), class: 'num', key: 'findings' },
    ], r.checks, { empty: empty(t('sp.none')), rowAttrs: x => ({ 'data-check-id': x.id }) }), null, { 'data-testid': 'spot-checks' }));
  }
  async function loadCounts() {
    if (!hasRoute('GET', '/api/v1/spot-checks/counts')) return;
    try {
      const n = await api('/api/v1/spot-checks/counts');
      if (!ctx.alive) return;
      const c = n.totals;
      fill(stats, stat(t('sp.c.checks'), c.checks), stat(t('sp.findings'), c.findings), stat(t('sp.c.hazards'), c.hazards, c.hazards ? 'red' : ''), stat(t('sp.c.closed'), c.closed, 'ok'));
      fill(counts, card(t('sp.counts'), table([{ title: t('sp.inspector'), key: 'inspector' }, { title: t('sp.c.checks'), class: 'num', key: 'checks' },
        { title: t('sp.findings'), class: 'num', key: 'findings' }, { title: t('sp.c.hazards'), class: 'num', key: 'hazards' },
        { title: t('sp.c.rect'), class: 'num', key: 'rectifications' }, { title: t('sp.c.closed'), class: 'num', key: 'closed' }],
      n.items, { empty: empty(t('sp.none')) }), null, { 'data-testid': 'spot-counts' }));
    } catch { /* the campaigns are what matters */ }
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (['spot_campaign', 'spot_check', 'spot_finding'].includes(ev.type) && !pending) pending = setTimeout(() => { pending = null; load(); }, 300); });
  ctx.onLeave(() => clearTimeout(pending));
}

async function newCampaign(ctx, reload) {
  const regions = await api('/api/v1/regions').catch(() => ({ items: [] }));
  const streets = (regions.items || []).filter(r => r.level === 'street');
  formModal(t('sp.new'), [
    formRow(t('sp.campaign'), h('input', { name: 'title', required: true, maxlength: 200, value: t('sp.default_title') })),
    formRow(t('sp.rule'), select('rule', RULES.filter(r => r !== 'list').map(r => [r, lbl('spot_rule', r)]), 'random')),
    formRow(t('sp.n'), h('input', { name: 'n', type: 'number', min: 1, max: 200, value: 5 })),
    formRow(t('sp.grade'), select('grade', ['red', 'orange', 'yellow', 'blue'].map(g => [g, t('grade.' + g, {}, g)]), 'red')),
    formRow(t('common.street'), select('street_code', streets.map(s => [s.code, s.name]), streets[0] && streets[0].code)),
    formRow(t('sp.stale'), h('input', { name: 'stale_days', type: 'number', min: 1, max: 366, value: 30 })),
  ], async v => {
    const body = { title: v.title, rule: v.rule, n: +v.n || 5 };
    if (v.rule === 'grade') body.grades = [v.grade];
    if (v.rule === 'street') body.street_code = v.street_code;
    if (v.rule === 'stale') body.stale_days = +v.stale_days || 30;
    const r = await api('/api/v1/spot-campaigns', { method: 'POST', body });
    toast(t('sp.picked', { n: r.checks.length }), 'ok');
    ctx.go('#/spotchecks?campaign=' + r.campaign.id); reload();
  });
}

// findings: the enterprise answers requests; the government verifies or rejects answers
async function findingList(ctx, box, filter, reload) {
  let r;
  try { r = await api('/api/v1/spot-findings?limit=200&' + filter); } catch (e) { fill(box, errorBox(e)); return; }
  if (!ctx.alive) return;
  fill(box, card(t(ctx.isEnt ? 'sp.my_findings' : 'sp.to_verify'), findingTable(ctx, r.items, reload), null, { 'data-testid': 'spot-findings' }));
}

function findingTable(ctx, items, reload, noEnt) {
  return table([
    ctx.isEnt || noEnt ? null : { title: t('common.enterprise'), render: x => x.enterprise.name },
    { title: t('sp.item'), render: x => x.item ? pickLang(x.item) : t('common.na') },
    { title: t('hz.what'), render: x => x.title },
    { title: t('sp.action'), render: x => x.hazard ? h('a', { href: '#/hazards/' + x.hazard.id, 'data-hazard-link': x.hazard.id }, t('sp.a.hazard') + ' #' + x.hazard.id + ' · ' + lbl('hazard_status', x.hazard.status)) : t('sp.a.rectification') },
    { title: t('hz.deadline'), render: x => h('span', { class: x.overdue ? 'err' : null }, fmtTime(x.deadline)) },
    { title: t('common.state'), render: fTag },
    { title: t('sp.reply'), render: x => x.reply || t('common.na') },
    { title: t('common.actions'), render: x => findingActions(ctx, x, reload) },
  ].filter(Boolean), items, { empty: empty(t('sp.none')), rowClass: x => x.overdue ? 'overdue' : null, rowAttrs: x => ({ 'data-finding-id': x.id }) });
}

function findingActions(ctx, x, reload) {
  const acts = ctx.isEnt ? (['requested', 'rejected'].includes(x.status) ? [['reply', 'reply', true]] : [])
    : (x.status === 'replied' ? [['verify', 'note', false], ['reject', 'reason', true]] : []);
  return h('span', { style: { display: 'flex', gap: '4px' } }, acts.map(([name, field, required]) => h('button', {
    class: 'btn sm ' + (name === 'reject' ? '' : 'primary'), 'data-action': 'finding-' + name,
    onclick: () => formModal(t('sp.' + name), [h('div', { class: 'note' }, x.title), formRow(t('sp.field.' + field), h('textarea', { name: field, required, maxlength: 4000 }))],
      async v => { await api(`/api/v1/spot-findings/${x.id}/${name}`, { method: 'POST', body: v[field] ? { [field]: v[field] } : {} }); toast(t('sp.' + name) + ' ✓', 'ok'); reload(); }, t('sp.' + name)),
  }, t('sp.' + name))));
}

// one check = one screen: what the enterprise did over the period, and the checklist
async function checkScreen(el, ctx, id) {
  el.append(h('div', { class: 'page-head' }, h('a', { class: 'crumbs', href: '#/spotchecks' }, t('sp.title') + ' /'), h('h2', null, t('sp.dossier'))));
  const box = h('div', null, loading());
  el.append(box);
  async function load() {
    let d;
    try { d = await api(`/api/v1/spot-checks/${encodeURIComponent(id)}/dossier`); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    const k = d.check.check, on = d.online || {};
    const list = (title, rows, cols, testid) => card(title + ` (${rows ? rows.length : 0})`, table(cols, rows || [], { empty: empty(t('common.none')) }), null, { 'data-testid': testid });
    fill(box,
      h('div', { class: 'stats' }, stat(t('common.enterprise'), k.enterprise.name, '', k.enterprise.street),
        stat(t('sp.period'), fmtTime(d.period.from), '', '~ ' + fmtTime(d.period.to)),
        stat(t('sp.online'), pct(on.online_rate), on.online_rate != null && on.online_rate < 0.9 ? 'red' : 'ok', t('sp.interruptions', { n: d.interruptions ? d.interruptions.total : 0 })),
        stat(t('sp.alarms'), d.alarms ? d.alarms.total : 0, '', t('sp.overdue', { n: on.alarms ? on.alarms.overdue : 0 })),
        stat(t('common.state'), h('span', { 'data-check-state': k.status }, t('sp.st.' + k.status)))),
      h('div', { class: 'grid g2' },
        k.status === 'pending' ? recordForm(ctx, d.check, load) : card(t('sp.result'), h('dl', { class: 'kv' },
          h('dt', null, t('sp.inspector')), h('dd', null, k.inspector + ' · ' + fmtTime(k.checked_at)),
          ...d.check.checklist.flatMap(i => [h('dt', null, pickLang(i)), h('dd', null, t('sp.ans.' + (k.answers[i.code] || 'na')))]),
          h('dt', null, t('common.note')), h('dd', null, k.note || t('common.na')))),
        card(t('sp.findings'), findingTable(ctx, d.check.findings, load, true), null, { 'data-testid': 'spot-findings' })),
      list(t('sp.alarms'), d.alarms && d.alarms.items, [{ title: t('sp.raised'), render: x => fmtTime(x.raised_at) }, { title: t('sp.kind'), render: x => lbl('alarm_kind', x.kind) },
        { title: t('common.state'), render: x => t('alstate.' + x.state, {}, x.state) }, { title: t('sp.handled'), render: x => x.handled ? (x.handled.cause_category || '✓') : (x.overdue ? h('span', { class: 'err' }, t('hz.overdue')) : t('common.na')) }], 'dossier-alarms'),
      h('div', { class: 'grid g2' },
        list(t('sp.video'), d.video_alarms && d.video_alarms.items, [{ title: t('sp.raised'), render: x => fmtTime(x.raised_at) }, { title: t('sp.kind'), render: x => x.label || x.camera_code || x.kind }], 'dossier-video'),
        list(t('sp.cleaning'), d.cleaning && d.cleaning.items, [{ title: t('sp.raised'), render: x => fmtTime(x.checked_at) }, { title: t('sp.area'), key: 'area' }, { title: t('sp.person'), key: 'person' }], 'dossier-cleaning'),
        list(t('sp.filings'), d.filings, [{ title: t('fl.type'), render: x => t('fl.type.' + x.type) }, { title: t('fl.period'), render: x => fmtTime(x.starts_at) + ' ~ ' + fmtTime(x.ends_at) }, { title: t('common.state'), render: x => t('fl.state.' + x.state, {}, x.state) }], 'dossier-filings'),
        list(t('sp.hazards'), d.hazards && d.hazards.items, [{ title: t('hz.what'), render: x => h('a', { href: '#/hazards/' + x.id }, x.title) }, { title: t('common.state'), render: x => lbl('hazard_status', x.status) }, { title: t('hz.deadline'), render: x => fmtTime(x.deadline) }], 'dossier-hazards')));
  }
  await load();
  onLive(ctx, ev => { if ((ev.type === 'spot_check' && String(ev.id) === String(id)) || ev.type === 'spot_finding' || ev.type === 'hazard') load(); });
}

function recordForm(ctx, check, reload) {
  const rows = check.checklist.map(i => {
    const detail = h('span', { style: { display: 'none', gap: '4px' } },
      h('input', { name: 'title.' + i.code, placeholder: t('hz.what'), maxlength: 200 }),
      select('action.' + i.code, [['hazard', t('sp.a.hazard')], ['rectification', t('sp.a.rectification')]], i.major_item ? 'hazard' : 'rectification'));
    const ans = select('ans.' + i.code, [['ok', t('sp.ans.ok')], ['finding', t('sp.ans.finding')], ['na', t('sp.ans.na')]], 'ok',
      { onchange: e => { detail.style.display = e.target.value === 'finding' ? 'flex' : 'none'; } });
    return h('div', { class: 'form-row', 'data-item': i.code }, h('span', null, pickLang(i) + (i.major_item ? ` (${t('hz.major', { n: i.major_item })})` : '')), ans, detail);
  });
  const err = h('div');
  const form = h('form', { 'data-testid': 'spot-record', onsubmit: async e => {
    e.preventDefault();
    const fd = new FormData(form), answers = {}, findings = [];
    for (const i of check.checklist) {
      answers[i.code] = fd.get('ans.' + i.code);
      if (answers[i.code] === 'finding') findings.push({ item_code: i.code, title: fd.get('title.' + i.code) || pickLang(i), action: fd.get('action.' + i.code) });
    }
    const body = { answers, findings };
    if (fd.get('note')) body.note = fd.get('note');
    try {
      await api(`/api/v1/spot-checks/${check.check.id}/record`, { method: 'POST', body });
      toast(t('sp.record') + ' ✓', 'ok'); reload();
    } catch (ex) { fill(err, h('div', { class: 'err', role: 'alert' }, ex.message)); }
  } }, rows, formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 4000 })), err,
  h('button', { class: 'btn primary', type: 'submit', 'data-action': 'record' }, t('sp.record')));
  return card(t('sp.checklist'), form);
}
