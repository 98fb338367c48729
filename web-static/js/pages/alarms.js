// 报警处置: list with filters and states, overdue highlighted; detail with the
// readings around the raise and the event history; acknowledge / handle /
// close as the role allows (the API decides; buttons follow the route table).
// Repeats of one point channel are one episode (×count, last trigger); digital
// points show their state text, not "1 / 1"; shelving (搁置) with reason and
// expiry; enterprises acknowledge many alarms at once.  Codes are labelled from
// the API's label catalogue (labels.js).
import { api, hasRoute } from '../api.js';
import { t, tv } from '../i18n.js';
import { h, clear, fill, card, table, empty, errorBox, fmtTime, fmtNum, missingRoute, chart, formModal, formRow, select, toast, loading, duration, unitText } from '../ui.js';
import { onLive } from '../live.js';
import { loadLabels, lbl, pick } from '../labels.js';
import { drillOf, drillBar, drillInputs, fromStatistic } from '../drill.js';

const STATES = ['active', 'acknowledged', 'handled', 'closed'];
const KINDS = ['high', 'high_high', 'low', 'low_low', 'rate_of_rise', 'digital_fault', 'spark', 'frozen', 'out_of_range', 'offline', 'gateway_fault', 'video', 'gateway_offline', 'enterprise_offline'];
const kindText = k => lbl('alarm_kind', k, 'alkind');
const unit = a => unitText(a.point && a.point.unit);
// value / limit for analog points; the state text for digital ones; the points of an outage
function valueText(a) {
  if (a.value_text) return pick(a.value_text);
  if (a.points) return `${a.points.filter(p => !p.back_at).length} / ${a.points.length} 测点 points`;
  if (a.value == null && a.threshold == null) return t('common.na');
  return `${fmtNum(a.value)} / ${fmtNum(a.threshold)} ${unit(a)}`.trim();
}
function episodeTag(a) {
  const ep = a.episode;
  if (!ep || ep.count <= 1) return null;
  return h('span', { class: 'tag warn', 'data-episode-count': ep.count, title: `${fmtTime(ep.first_at, true)} → ${fmtTime(ep.last_at, true)}`, style: { marginLeft: '4px' } }, '×' + ep.count);
}
function shelvedTag(a) {
  return a.shelved ? h('span', { class: 'tag muted', 'data-shelved': 'true', title: a.shelved.reason, style: { marginLeft: '4px' } }, '搁置至 ' + fmtTime(a.shelved.until, true)) : null;
}

export default async function alarmsPage(el, ctx) {
  if (ctx.params.id) return detail(el, ctx, ctx.params.id);
  const q = ctx.query;
  const drill = drillOf(q, ['during']);
  // from a statistic: every alarm of its period, open or not (it counts them all)
  const f = { state: q.get('state') ?? (fromStatistic(drill) ? '' : 'active,acknowledged,handled'), kind: q.get('kind') || '', level: q.get('level') || '', overdue: q.get('overdue') || '', source: q.get('source') === 'video' ? 'video' : '' };
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('al.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name),
    h('div', { class: 'actions' }, h('a', { class: 'btn sm' + (f.source ? '' : ' primary'), href: '#/alarms' }, t('d17.all.list')),
      h('a', { class: 'btn sm' + (f.source ? ' primary' : ''), href: '#/alarms?source=video&state=', 'data-action': 'video-alarms' }, t('d17.video.list')))));
  if (!hasRoute('GET', '/api/v1/alarms')) { el.append(card(t('al.title'), missingRoute('GET /api/v1/alarms'))); return; }
  const form = h('form', { class: 'filters', onsubmit: e => { e.preventDefault(); const p = new URLSearchParams(); for (const [k, v] of new FormData(form)) p.set(k, v); ctx.go('#/alarms?' + p); } },
    h('label', null, t('common.state'), select('state', [['active,acknowledged,handled', '未关闭 open'], ['', t('common.all')], ...STATES.map(s => [s, t('alstate.' + s)])], f.state)),
    h('label', null, t('al.kind'), select('kind', [['', t('common.all')], ...KINDS.map(k => [k, t('alkind.' + k)])], f.kind)),
    h('label', null, t('al.level'), select('level', [['', t('common.all')], ['2', t('allevel.2')], ['1', t('allevel.1')], ['0', t('allevel.0')]], f.level)),
    h('label', null, h('input', { type: 'checkbox', name: 'overdue', value: 'true', checked: f.overdue === 'true' }), t('al.only_overdue')),
    f.source ? h('input', { type: 'hidden', name: 'source', value: f.source }) : null,
    ...drillInputs(drill),
    h('button', { class: 'btn primary', type: 'submit' }, t('common.search')));
  const box = h('div');
  el.append(h('section', { class: 'card' }, drillBar(drill, '#/alarms'), form, h('div', { class: 'bd flush' }, box)));
  const filters = { ...drill };
  for (const k in f) if (f[k]) filters[k] = f[k];
  box.append(await alarmTable(ctx, filters, { page: +(q.get('page') || 1) }));
}

export async function alarmTable(ctx, filters, opts = {}) {
  const wrap = h('div', { 'data-testid': 'alarm-list' });
  await loadLabels();
  const picked = new Set();
  const canBatch = ctx.isEnt && hasRoute('POST', '/api/v1/alarms/acknowledge');
  if (!hasRoute('GET', '/api/v1/alarms')) { wrap.append(missingRoute('GET /api/v1/alarms')); return wrap; }
  const limit = 30;
  let page = opts.page || 1;
  async function load() {
    const p = new URLSearchParams({ limit, offset: (page - 1) * limit });
    for (const k in filters) p.set(k, filters[k]);
    let r;
    try { r = await api('/api/v1/alarms?' + p); } catch (e) { fill(wrap, errorBox(e)); return; }
    if (!ctx.alive) return;
    const pages = Math.max(1, Math.ceil(r.total / limit));
    picked.clear();
    const batchBtn = canBatch ? h('button', { class: 'btn sm primary', 'data-action': 'batch-ack', disabled: true, onclick: () => formModal('批量确认 ' + t('al.ack'), [
      formRow(t('al.verdict'), select('verdict', ['real_hazard', 'device_fault', 'unknown'].map(v => [v, lbl('ack_verdict', v, 'verdict')]))),
      formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 4000 }))], async v => {
        const res = await api('/api/v1/alarms/acknowledge', { method: 'POST', body: { ids: [...picked], ...v } });
        toast(`${res.acknowledged} ✓` + (res.refused ? ` · ${res.refused} ✗` : ''), res.refused ? 'error' : 'ok'); load();
      }) }, '批量确认 Acknowledge selected') : null;
    const pick1 = a => a.state === 'active' ? h('input', { type: 'checkbox', 'data-pick': a.id, onchange: e => {
      if (e.target.checked) picked.add(a.id); else picked.delete(a.id);
      batchBtn.disabled = picked.size === 0;
    } }) : null;
    fill(wrap, batchBtn ? h('div', { class: 'toolbar', style: { padding: '6px 12px' } }, batchBtn) : null, table([
      canBatch ? { title: '', render: pick1 } : null,
      { title: t('al.raised'), render: a => h('a', { href: '#/alarms/' + a.id }, fmtTime(a.raised_at, true)) },
      filters.enterprise ? null : { title: t('common.enterprise'), render: a => h('a', { href: '#/enterprises/' + a.enterprise.id }, a.enterprise.name) },
      { title: t('al.point'), render: a => a.point ? a.point.name : a.gateway ? a.gateway.code : a.points ? a.points.map(p => p.code).slice(0, 3).join(', ') + (a.points.length > 3 ? ' …' : '') : h('span', null, [a.camera_code, a.label].filter(Boolean).join(' · '),
        a.snapshot ? h('a', { href: '#/alarms/' + a.id }, h('img', { class: 'thumb', src: a.snapshot.href, alt: t('d17.snapshot'), loading: 'lazy', 'data-testid': 'snapshot-thumb' })) : null) },
      { title: t('al.kind'), render: a => h('span', { 'data-kind': a.kind }, kindText(a.kind), episodeTag(a), shelvedTag(a)) },
      { title: t('al.level'), render: a => h('span', { class: 'tag ' + (a.level >= 2 ? 'red' : a.level === 1 ? 'orange' : 'muted') }, tv('allevel', a.level)) },
      { title: t('al.value'), class: 'num', render: a => h('span', { 'data-value-text': '' }, valueText(a)) },
      { title: t('common.state'), render: a => h('span', null, h('span', { class: 'tag ' + (a.state === 'closed' ? 'ok' : a.state === 'active' ? 'bad' : 'warn'), 'data-alarm-state': a.state }, tv('alstate', a.state)),
        a.back_to_normal && a.state !== 'closed' ? h('span', { class: 'tag ok', style: { marginLeft: '4px' } }, '已恢复') : null) },
      { title: t('al.deadline'), render: a => deadline(a) },
      { title: t('common.actions'), render: a => actions(ctx, a, load) },
    ].filter(Boolean), r.items, { empty: empty(t('al.empty'), t('al.empty.hint')), rowClass: a => a.overdue ? 'overdue' : null, rowAttrs: a => ({ 'data-alarm-id': a.id }) }),
    r.total > limit ? h('div', { class: 'pager' }, t('common.total', { n: r.total }),
      h('button', { class: 'btn sm', disabled: page <= 1, onclick: () => { page--; load(); } }, t('common.prev')), `${page} / ${pages}`,
      h('button', { class: 'btn sm', disabled: page >= pages, onclick: () => { page++; load(); } }, t('common.next'))) : null);
  }
  await load();
  let pending = null;
  onLive(ctx, ev => { if (ev.type === 'alarm' && (!filters.enterprise || ev.enterprise_id === +filters.enterprise) && !pending) pending = setTimeout(() => { pending = null; load(); }, 600); });
  ctx.onLeave(() => clearTimeout(pending));
  return wrap;
}

function deadline(a) {
  if (a.state === 'closed' || a.state === 'handled') return h('span', { class: 'muted' }, t('common.na'));
  const due = a.state === 'active' ? a.ack_deadline : a.handle_deadline;
  const left = (Date.parse(due) - Date.now()) / 1000;
  return h('span', { class: 'countdown ' + (left < 0 ? 'late' : left < 600 ? 'soon' : ''), title: fmtTime(due) },
    (a.state === 'active' ? '确认 ' : '处置 ') + (left < 0 ? t('wn.late', { t: duration(left) }) : t('wn.left', { t: duration(left) })));
}

function actions(ctx, a, reload) {
  const b = [];
  const done = async (verb, body) => {
    await api(`/api/v1/alarms/${a.id}/${verb}`, { method: 'POST', body });
    toast('OK', 'ok'); reload();
  };
  if (ctx.isEnt && a.state === 'active' && hasRoute('POST', '/api/v1/alarms/{id}/acknowledge'))
    b.push(h('button', { class: 'btn sm primary', 'data-action': 'ack', onclick: () => formModal(t('al.ack'), [
      formRow(t('al.verdict'), select('verdict', ['real_hazard', 'device_fault', 'unknown'].map(v => [v, t('verdict.' + v)]))),
      formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 4000 }))], v => done('acknowledge', v)) }, t('al.ack')));
  if (ctx.isEnt && a.state === 'acknowledged' && hasRoute('POST', '/api/v1/alarms/{id}/handle'))
    b.push(h('button', { class: 'btn sm primary', 'data-action': 'handle', onclick: () => formModal(t('al.handle'), [
      formRow(t('al.cause'), select('cause_category', ['process_abnormal', 'equipment_fault', 'sensor_fault', 'false_alarm', 'other'].map(v => [v, t('cause.' + v)]))),
      formRow(t('al.measures'), h('textarea', { name: 'measures', required: true, maxlength: 4000 }))], v => done('handle', v)) }, t('al.handle')));
  if (a.state === 'handled' && a.back_to_normal && hasRoute('POST', '/api/v1/alarms/{id}/close'))
    b.push(h('button', { class: 'btn sm', 'data-action': 'close', onclick: () => formModal(t('al.closeit'), [
      formRow(t('common.note'), h('textarea', { name: 'note', maxlength: 4000 }))], v => done('close', v.note ? v : {})) }, t('al.closeit')));
  if (a.state !== 'closed' && !a.shelved && hasRoute('POST', '/api/v1/alarms/{id}/shelve'))
    b.push(h('button', { class: 'btn sm', 'data-action': 'shelve', onclick: () => formModal('搁置 Shelve', [
      formRow('原因 Reason', h('textarea', { name: 'reason', required: true, maxlength: 1000 })),
      formRow('搁置时长 For', select('hours', [['1', '1 h'], ['4', '4 h'], ['8', '8 h'], ['24', '24 h'], ['72', '72 h']]))],
    v => done('shelve', { reason: v.reason, until: new Date(Date.now() + (+v.hours) * 3600e3).toISOString().replace(/\.\d+Z$/, 'Z') })) }, '搁置'));
  if (a.shelved && hasRoute('POST', '/api/v1/alarms/{id}/unshelve'))
    b.push(h('button', { class: 'btn sm', 'data-action': 'unshelve', onclick: () => done('unshelve', {}) }, '取消搁置'));
  b.push(h('a', { class: 'btn sm', href: '#/alarms/' + a.id }, t('common.detail')));
  return h('span', { style: { display: 'flex', gap: '4px' } }, b);
}

async function detail(el, ctx, id) {
  el.append(h('div', { class: 'page-head' }, h('a', { class: 'crumbs', href: '#/alarms' }, t('al.title') + ' /'), h('h2', null, '#' + id)));
  if (!hasRoute('GET', '/api/v1/alarms/{id}')) { el.append(card(t('common.detail'), missingRoute('GET /api/v1/alarms/{id}'))); return; }
  const box = h('div', null, loading());
  el.append(box);
  await loadLabels();
  async function load() {
    let r;
    try { r = await api('/api/v1/alarms/' + encodeURIComponent(id)); } catch (e) { fill(box, errorBox(e)); return; }
    if (!ctx.alive) return;
    const a = r.alarm;
    const kv = (k, v) => [h('dt', null, k), h('dd', null, v ?? t('common.na'))];
    const chartEl = h('div', { class: 'chart' });
    fill(box, 
      card(t('common.detail'), h('dl', { class: 'kv' },
        kv(t('common.enterprise'), h('a', { href: '#/enterprises/' + a.enterprise.id }, a.enterprise.name)), kv(t('al.point'), a.point ? `${a.point.name} (${a.point.code})` : a.gateway ? a.gateway.code : [a.camera_code, a.label].filter(Boolean).join(' · ')),
        kv(t('al.kind'), h('span', null, kindText(a.kind), episodeTag(a), shelvedTag(a))), kv(t('al.level'), tv('allevel', a.level)),
        kv(t('al.value'), valueText(a)), kv(t('al.raised'), fmtTime(a.raised_at, true)),
        a.episode && a.episode.count > 1 ? kv('重复触发 Repeats', `${a.episode.count} · ${fmtTime(a.episode.first_at, true)} → ${fmtTime(a.episode.last_at, true)}` + (a.episode.peak_value != null && !a.value_text ? ` · 峰值 peak ${fmtNum(a.episode.peak_value)} ${unit(a)}` : '')) : [],
        a.shelved ? kv('搁置 Shelved', `${fmtTime(a.shelved.until, true)} · ${a.shelved.reason}`) : [],
        a.snapshot ? kv(t('d17.snapshot'), h('a', { href: a.snapshot.href, target: '_blank', rel: 'noopener' }, h('img', { class: 'snapshot', src: a.snapshot.href, alt: t('d17.snapshot'), 'data-testid': 'alarm-snapshot' }))) : [],
        a.points ? kv('测点 Points', h('ul', { 'data-testid': 'offline-points' }, a.points.map(p => h('li', null, `${p.name} (${p.code}) · ${p.back_at ? '已恢复 ' + fmtTime(p.back_at, true) : '中断 since ' + fmtTime(p.last_data_at || p.joined_at, true)}`)))) : [],
        kv(t('common.state'), h('span', { 'data-alarm-state': a.state }, tv('alstate', a.state))), kv(t('al.deadline'), deadline(a)),
        kv(t('al.verdict'), a.acknowledged ? lbl('ack_verdict', a.acknowledged.verdict, 'verdict') + ' ' + (a.acknowledged.note || '') : null),
        kv(t('al.measures'), a.handled ? `${lbl('cause_category', a.handled.cause_category, 'cause')}：${a.handled.measures}` : null)),
      h('div', { class: 'extra' }, actions(ctx, a, load))),
      h('div', { class: 'grid g-main' }, card(t('al.readings'), chartEl),
        card(t('al.history'), h('ul', { class: 'timeline' }, (r.events || []).map(v => h('li', null,
          h('b', null, lbl('alarm_action', v.action)), ' · ', fmtTime(v.at, true), ' · ', v.actor,
          v.reason ? ' · ' + lbl('alarm_reason', v.reason) : '', v.note ? h('div', { class: 'muted' }, v.note) : null))))));
    const items = (r.readings && r.readings.items) || [];
    if (!items.length) chartEl.replaceWith(empty());
    else {
      const l = a.point ? {} : {};
      await chart(chartEl, ctx, { grid: { left: 44, right: 16, top: 20, bottom: 30 }, tooltip: { trigger: 'axis' }, xAxis: { type: 'time' }, yAxis: { type: 'value', scale: true, name: unit(a) },
        series: [{ type: 'line', showSymbol: false, data: items.map(i => [i[0], i[1]]), lineStyle: { color: '#1d5fbf' },
          markLine: { symbol: 'none', data: [{ xAxis: Date.parse(a.raised_at), lineStyle: { color: '#e02d2d' }, label: { formatter: t('al.raised') } },
            ...(a.threshold != null ? [{ yAxis: a.threshold, lineStyle: { color: '#ff7d00', type: 'dashed' } }] : [])] } }], ...l });
    }
  }
  await load();
}
