// Drill-down from a statistic (issue 15): the statistics page links each number to a list page,
// the API list's filters in the hash's query (pageOf in pages/stats.js).  The list pages pass
// them on to their API list and name them above it, so the list holds what the number counts.
import { t } from './i18n.js';
import { h, fmtTime } from './ui.js';
import { lbl } from './labels.js';

// the filters every linked list shares: the period and the enterprises counted
export const DRILL_KEYS = ['from', 'to', 'district', 'street', 'enterprise', 'industry', 'dust_kind', 'risk_grade'];

// {key: value} of the drill-down filters in q (URLSearchParams), and of the list's own keys
// in extra that the statistics' links use
export function drillOf(q, extra = []) {
  const o = {};
  for (const k of [...DRILL_KEYS, ...extra]) {
    const v = q.get(k);
    if (v != null && v !== '') o[k] = v;
  }
  return o;
}

// whether the page was opened from a statistic (a period: its default filters step aside)
export const fromStatistic = drill => 'from' in drill || 'to' in drill;

function shown(k, v) {
  if (k === 'from' || k === 'to') return fmtTime(v);
  if (k === 'industry') return lbl('industry', v);
  if (k === 'dust_kind') return lbl('dust_kind', v);
  if (k === 'risk_grade') return t('grade.' + v, {}, v);
  return v;
}

// a bar naming the filters, with a link to the list without them; null when there are none
export function drillBar(drill, clearHref) {
  const keys = Object.keys(drill);
  if (!keys.length) return null;
  return h('div', { class: 'filters drill', 'data-testid': 'drill-filters' },
    h('strong', null, t('drill.title')),
    ...keys.map(k => h('span', { class: 'tag', 'data-drill-filter': k }, `${t('drill.' + k, {}, k)} ${shown(k, drill[k])}`)),
    h('a', { class: 'btn sm', href: clearHref, 'data-action': 'drill-clear' }, t('drill.clear')));
}

// hidden inputs that keep the filters when the page's own form is sent
export const drillInputs = drill => Object.entries(drill).map(([k, v]) => h('input', { type: 'hidden', name: k, value: v }));
