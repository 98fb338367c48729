// Small DOM helpers: h() builds elements (text is always text, never HTML),
// formatting in Beijing time, tables, empty states, modal, toast, lazy
// loading of the vendored ECharts / Leaflet.
import { t, getLang } from './i18n.js';
import { ApiError } from './api.js';

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  if (attrs) for (const k in attrs) {
    const v = attrs[k];
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  add(el, kids);
  return el;
}
function add(el, kids) {
  for (const c of kids) {
    if (c == null || c === false) continue;
    if (Array.isArray(c)) add(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}
export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

// Every time on the dashboard is shown in one zone (the server's
// display_time_zone, GET /api/v1/version; default Asia/Shanghai), never the
// browser's own: tables, the clock and the chart axes alike.
let TZ = 'Asia/Shanghai';
let fmtCache = {};
export function zone() { return TZ; }
export function setZone(z) {
  if (!z || z === TZ) return;
  try { new Intl.DateTimeFormat('en', { timeZone: z }); } catch { return; }
  TZ = z; fmtCache = {}; offCache.clear();
}
function dtf(opts) {
  const key = getLang() + JSON.stringify(opts);
  return fmtCache[key] || (fmtCache[key] = new Intl.DateTimeFormat(getLang() === 'en' ? 'en-GB' : 'zh-CN', { timeZone: TZ, hour12: false, ...opts }));
}
// offset of the display zone from UTC at instant ms (in ms), cached per hour
const offCache = new Map();
let offFmt = null, offFmtZone = null;
export function zoneOffset(ms) {
  const k = Math.floor(ms / 3600e3);
  let o = offCache.get(k);
  if (o !== undefined) return o;
  if (offFmtZone !== TZ) {
    offFmt = new Intl.DateTimeFormat('en-US', { timeZone: TZ, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    offFmtZone = TZ;
  }
  const p = {};
  for (const x of offFmt.formatToParts(new Date(k * 3600e3))) p[x.type] = +x.value;
  o = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) - k * 3600e3;
  if (offCache.size > 5000) offCache.clear();
  offCache.set(k, o);
  return o;
}
// the calendar day (YYYY-MM-DD) of an instant in the display zone, and the
// instant that day starts
export function zoneDay(d) { return new Intl.DateTimeFormat('en-CA', { timeZone: TZ }).format(d); }
export function zoneDayStart(day) { const u = Date.parse(day + 'T00:00:00Z'); return new Date(u - zoneOffset(u - zoneOffset(u))); }
export function fmtTime(v, withSec) {
  if (!v) return t('common.na');
  const d = v instanceof Date ? v : new Date(typeof v === 'string' ? v.replace(' ', 'T').replace(/\+00$/, 'Z') : v);
  if (isNaN(d)) return String(v);
  return dtf({ year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: withSec ? '2-digit' : undefined }).format(d);
}
export function fmtShort(v) {
  const d = new Date(v);
  return dtf({ month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(d);
}
export function fmtNum(v, digits) {
  if (v == null || v === '' || Number.isNaN(+v)) return t('common.na');
  const n = +v;
  if (digits != null) return n.toFixed(digits);
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, '') || '0';
}
// units as shown: ℃ (U+2103) is an empty glyph in common CJK fonts (WenQuanYi
// Micro Hei draws nothing), so it is written °C, which every font has
export function unitText(u) { return (u || '').replace(/\u2103/g, '°C').replace(/\u2109/g, '°F'); }
export function withUnit(v, u, digits) {
  const n = fmtNum(v, digits);
  return u && v != null && v !== '' && !Number.isNaN(+v) ? n + ' ' + unitText(u) : n;
}
export function pct(v) { return v == null ? t('common.na') : (v * 100).toFixed(1) + '%'; }
export function ago(v) {
  const s = Math.max(0, (Date.now() - new Date(v).getTime()) / 1000);
  if (s < 60) return t('ago.s', { n: Math.floor(s) });
  if (s < 3600) return t('ago.m', { n: Math.floor(s / 60) });
  if (s < 86400) return t('ago.h', { n: Math.floor(s / 3600) });
  return t('ago.d', { n: Math.floor(s / 86400) });
}
export function duration(sec) {
  sec = Math.abs(Math.round(sec));
  const d = Math.floor(sec / 86400), hh = Math.floor(sec % 86400 / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
  if (d) return t('dur.dhm', { d, h: hh });
  if (hh) return t('dur.hm', { h: hh, m });
  return t('dur.ms', { m, s });
}

export function empty(title, hint) {
  return h('div', { class: 'empty', 'data-empty': '' }, h('div', { class: 't' }, title || t('empty.nodata')), hint ? h('div', { class: 'hint' }, hint) : null);
}
export function missingRoute(route) {
  return h('div', { class: 'empty', 'data-missing-route': route },
    h('div', { class: 't' }, t('empty.route')), h('div', { class: 'hint' }, t('empty.route.hint', { route })));
}
export function errorBox(e) {
  if (e instanceof ApiError && (e.status === 404)) return empty(t('empty.notfound'));
  if (e instanceof ApiError && e.status === 403) return empty(t('empty.forbidden'), e.message);
  return h('div', { class: 'err', role: 'alert' }, e && e.message || String(e));
}
export function loading() { return h('div', { class: 'empty' }, t('common.loading')); }

export function card(title, body, extra, attrs) {
  return h('section', { class: 'card', ...(attrs || {}) },
    h('div', { class: 'hd' }, title, extra ? h('span', { class: 'extra' }, extra) : null),
    h('div', { class: 'bd' + (attrs && attrs.flush ? ' flush' : '') }, body));
}
export function stat(label, value, cls, sub, attrs) {
  return h('div', { class: 'stat ' + (cls || ''), ...(attrs || {}) }, h('div', { class: 'k' }, label),
    h('div', { class: 'v' }, value, sub ? h('small', null, sub) : null));
}
// columns: [{title, render(row) | key, class}]
export function table(columns, rows, opts = {}) {
  if (!rows || !rows.length) return opts.empty || empty();
  return h('table', { class: 'tbl', ...(opts.attrs || {}) },
    h('thead', null, h('tr', null, columns.map(c => h('th', { class: c.class || null }, c.title)))),
    h('tbody', null, rows.map(r => h('tr', { class: opts.rowClass ? opts.rowClass(r) : null, ...(opts.rowAttrs ? opts.rowAttrs(r) : {}) },
      columns.map(c => h('td', { class: c.class || null, 'data-label': typeof c.title === 'string' ? c.title : null }, c.render ? c.render(r) : (r[c.key] ?? t('common.na'))))))));
}
export function gradeTag(g) {
  if (!g) return h('span', { class: 'tag muted' }, t('grade.none'));
  return h('span', { class: 'tag ' + g, 'data-grade': g }, t('grade.' + g, {}, g));
}
export const GRADE_COLOURS = { red: '#e02d2d', orange: '#ff7d00', yellow: '#f2c200', blue: '#2a7de1', none: '#a0aab8' };

// ---- toast & modal ------------------------------------------------------
let toasts;
export function toast(msg, kind = 'info', ms = 4000) {
  if (!toasts) { toasts = h('div', { class: 'toasts', 'aria-live': 'polite' }); document.body.append(toasts); }
  const el = h('div', { class: 'toast ' + kind, role: kind === 'error' ? 'alert' : 'status' }, msg);
  toasts.append(el);
  setTimeout(() => el.remove(), ms);
}
export function modal(title, body, actions = []) {
  const close = () => bg.remove();
  const bg = h('div', { class: 'modal-bg', onclick: e => { if (e.target === bg) close(); } },
    h('div', { class: 'modal', role: 'dialog', 'aria-label': title },
      h('div', { class: 'hd' }, title, h('button', { class: 'x', onclick: close, 'aria-label': t('common.close') }, '×')),
      h('div', { class: 'bd' }, body),
      actions.length ? h('div', { class: 'ft' }, actions) : null));
  document.body.append(bg);
  const first = bg.querySelector('input, select, textarea');
  if (first) first.focus();
  return { close, el: bg };
}
// a form in a modal; onSubmit(values) may throw ApiError -> shown in the form
export function formModal(title, rows, onSubmit, submitLabel) {
  const err = h('div');
  const form = h('form', { onsubmit: async e => {
    e.preventDefault();
    const fd = new FormData(form);
    const values = {};
    for (const [k, v] of fd.entries()) values[k] = v;
    btn.disabled = true; clear(err);
    try { await onSubmit(values, form); m.close(); } catch (ex) { err.append(h('div', { class: 'err', role: 'alert' }, ex.message)); } finally { btn.disabled = false; }
  } }, rows, err);
  const btn = h('button', { class: 'btn primary', type: 'submit', onclick: () => form.requestSubmit() }, submitLabel || t('common.submit'));
  const m = modal(title, form, [h('button', { class: 'btn', type: 'button', onclick: () => m.close() }, t('common.cancel')), btn]);
  return m;
}
export function formRow(label, input) { return h('label', { class: 'form-row' }, h('span', null, label), input); }
export function select(name, options, value, attrs) {
  return h('select', { name, ...(attrs || {}) }, options.map(([v, l]) => h('option', { value: v, selected: String(v) === String(value ?? '') }, l)));
}

// ---- lazily loaded vendor scripts ----------------------------------------
const scripts = {};
export function loadScript(src) {
  return scripts[src] || (scripts[src] = new Promise((ok, fail) => {
    const s = document.createElement('script');
    s.src = src; s.onload = ok; s.onerror = () => fail(new Error('cannot load ' + src));
    document.head.append(s);
  }));
}
export function loadCss(href) {
  if (document.querySelector(`link[href="${href}"]`)) return;
  document.head.append(h('link', { rel: 'stylesheet', href }));
}
export async function echarts() { await loadScript('/vendor/echarts.min.js'); return window.echarts; }
export async function leaflet() { loadCss('/vendor/leaflet/leaflet.css'); await loadScript('/vendor/leaflet/leaflet.js'); return window.L; }

// ECharts draws time axes in the browser's zone.  Charts with a time axis are
// drawn in UTC instead with every instant moved by the display zone's offset,
// so labels, ticks and tooltips read the display zone's wall clock.
const toMs = v => typeof v === 'number' ? v : Date.parse(typeof v === 'string' ? v.replace(' ', 'T').replace(/\+00$/, 'Z') : v);
export function zoneShift(v) { const ms = toMs(v); return Number.isFinite(ms) ? ms + zoneOffset(ms) : v; }
export function zonedOption(option) {
  const axes = [].concat(option.xAxis || []);
  if (!axes.some(a => a && a.type === 'time')) return option;
  const shiftMark = m => m && m.data ? { ...m, data: m.data.map(d => (d && d.xAxis != null ? { ...d, xAxis: zoneShift(d.xAxis) } : d)) } : m;
  const series = [].concat(option.series || []).map(s => ({ ...s,
    data: (s.data || []).map(d => Array.isArray(d) ? [zoneShift(d[0]), ...d.slice(1)] : d),
    markLine: shiftMark(s.markLine),
    // a markArea's items are [from, to] pairs (the filing periods of a point's series)
    markArea: s.markArea && s.markArea.data ? { ...s.markArea, data: s.markArea.data.map(p => (Array.isArray(p) ? shiftMark({ data: p }).data : p)) } : s.markArea }));
  return { ...option, useUTC: true, series };
}
// a chart bound to a page: disposed when the page goes, resized with the window
export async function chart(el, ctx, option) {
  const ec = await echarts();
  if (!el.isConnected) return null;
  const c = ec.init(el, null, { renderer: 'canvas' });
  const set = c.setOption.bind(c);
  c.setOption = (o, ...rest) => set(zonedOption(o), ...rest);
  c.setOption(option);
  const onResize = () => c.resize();
  window.addEventListener('resize', onResize);
  ctx.onLeave(() => { window.removeEventListener('resize', onResize); c.dispose(); });
  return c;
}
// clear el and append kids, skipping null/false (DOM append would print "null")
export function fill(el, ...kids) {
  clear(el);
  for (const k of kids.flat()) if (k != null && k !== false) el.append(k);
  return el;
}
