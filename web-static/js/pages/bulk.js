// 批量导入导出: the tables of dust-removal systems, monitoring points and
// cameras (api/resources/bulk.c).  Per kind: the current rows of the scope (or
// one enterprise), CSV/XLSX export and the empty templates, and a CSV or XLSX upload
// whose answer is either the counts (created / updated / unchanged) or the
// all-or-nothing report: every refused row with its row, line, column, code
// and reason — nothing was stored then.
import { api, apiAll, hasRoute, mayUse, ApiError } from '../api.js';
import { t } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, select, toast, loading } from '../ui.js';

const KINDS = ['systems', 'points', 'cameras'];
const PREVIEW = 200;
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

// RFC 4180 (quoted cells may hold commas, quotes and line breaks)
function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', q = false;
  text = text.replace(/^\ufeff/, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (q) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') q = false; else cell += c;
    } else if (c === '"') q = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}

export default async function bulkPage(el, ctx) {
  el.append(h('div', { class: 'page-head' }, h('h2', null, t('bulk.title')), h('span', { class: 'crumbs' }, ctx.me.scope.name)));
  if (!hasRoute('GET', '/api/v1/bulk/systems/export')) { el.append(empty(t('empty.notfound'))); return; }
  const asked = ctx.query && ctx.query.get ? ctx.query.get('kind') : null;
  const state = { kind: KINDS.includes(asked) ? asked : 'systems', ent: ctx.isEnt ? String(ctx.me.scope.id) : '' };
  const tabs = h('div', { class: 'tabs', 'data-testid': 'bulk-kinds' });
  const entSel = h('span');
  const links = h('span', { class: 'filters' });
  const uploadBox = h('div', { 'data-testid': 'bulk-upload' });
  const report = h('div', { 'data-testid': 'bulk-report' });
  const rowsBox = h('div', { 'data-testid': 'bulk-rows' });
  el.append(tabs, card(t('bulk.export'), h('div', null, h('div', { class: 'filters' }, entSel, links), h('p', { class: 'muted' }, t('bulk.hint')))),
    card(t('bulk.import'), h('div', null, uploadBox, report)), card(t('bulk.rows'), rowsBox));

  if (!ctx.isEnt) {
    let ents = [];
    try { ents = (await apiAll('/api/v1/enterprises')).items || []; } catch { /* the scope's whole table still works */ }
    if (!ctx.alive) return;
    const s = select('enterprise', [['', t('bulk.allents')], ...ents.map(e => [String(e.id), `${e.code} ${e.name}`])], state.ent, { 'data-testid': 'bulk-enterprise' });
    s.onchange = () => { state.ent = s.value; render(); };
    fill(entSel, s);
  }

  const base = () => '/api/v1/bulk/' + state.kind;
  const query = extra => {
    const p = new URLSearchParams(extra || {});
    if (state.ent) p.set('enterprise', state.ent);
    return p.toString() ? '?' + p : '';
  };

  function render() {
    fill(tabs, ...KINDS.map(k => h('button', {
      class: 'btn' + (k === state.kind ? ' primary' : ''), 'data-kind': k,
      onclick: () => { state.kind = k; fill(report); render(); },
    }, t('bulk.kind.' + k))));
    fill(links,
      h('a', { class: 'btn', href: base() + '/export' + query(), download: state.kind + '.csv', 'data-action': 'export-csv' }, t('bulk.csv')),
      h('a', { class: 'btn', href: base() + '/export' + query({ format: 'xlsx' }), download: state.kind + '.xlsx', 'data-action': 'export-xlsx' }, t('bulk.xlsx')),
      h('a', { class: 'btn', href: base() + '/export?template=1', download: state.kind + '_template.csv', 'data-action': 'template' }, t('bulk.template')),
      h('a', { class: 'btn', href: base() + '/export?template=1&format=xlsx', download: state.kind + '_template.xlsx', 'data-action': 'template-xlsx' }, t('bulk.template.xlsx')));
    renderUpload();
    loadRows();
  }

  function renderUpload() {
    const route = '/api/v1/bulk/' + state.kind + '/import';
    if (!mayUse(ctx.me, 'POST', route)) { fill(uploadBox, h('p', { class: 'muted' }, t('bulk.readonly'))); return; }
    const file = h('input', { type: 'file', accept: `.csv,.xlsx,text/csv,${XLSX}`, 'data-testid': 'bulk-file' });
    const btn = h('button', { class: 'btn primary', 'data-action': 'bulk-upload', onclick: upload }, t('bulk.upload'));
    fill(uploadBox, h('div', { class: 'filters' }, file, btn), h('p', { class: 'muted' }, t('bulk.rules')));
    async function upload() {
      const f = file.files[0];
      if (!f) { toast(t('bulk.nofile'), 'bad'); return; }
      btn.disabled = true;
      fill(report, loading());
      let r;
      try {
        // the file's own bytes: a GBK file must reach the server as GBK to be refused as one;
        // the server tells a workbook from CSV by its bytes, the type only has to be one it takes
        const type = /\.xlsx$/i.test(f.name) || f.type === XLSX ? XLSX : 'text/csv';
        const res = await fetch(route + query(), { method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': type, Accept: 'application/json' }, body: f });
        r = await res.json().catch(() => null);
        if (!res.ok) throw new ApiError(res.status, r);
      } catch (e) {
        btn.disabled = false;
        if (!ctx.alive) return;
        const b = e.body || {};
        if (b.errors) {
          fill(report, h('div', { class: 'err', 'data-testid': 'bulk-refused' }, t('bulk.refused', { n: b.errors.length })),
            table([
              { title: t('bulk.row'), key: 'row', class: 'num' }, { title: t('bulk.line'), key: 'line', class: 'num' },
              { title: t('bulk.column'), render: x => x.column || '—' }, { title: t('bulk.code'), render: x => h('code', null, x.code) },
              { title: t('bulk.reason'), render: x => t('bulk.why.' + x.code, {}, '') ? `${t('bulk.why.' + x.code)}: ${x.message}` : x.message },
            ], b.errors, { attrs: { 'data-testid': 'bulk-errors' } }));
        } else fill(report, errorBox(e));
        return;
      }
      btn.disabled = false;
      if (!ctx.alive) return;
      const msg = t('bulk.done', { c: r.created, u: r.updated, n: r.unchanged });
      fill(report, h('div', { class: 'note', 'data-testid': 'bulk-done' }, msg));
      toast(msg, 'ok');
      loadRows();
    }
  }

  async function loadRows() {
    fill(rowsBox, loading());
    const kind = state.kind;
    let text;
    try { text = await api(base() + '/export' + query()); } catch (e) { fill(rowsBox, errorBox(e)); return; }
    if (!ctx.alive || kind !== state.kind) return;
    const rows = parseCsv(typeof text === 'string' ? text : '');
    const head = rows.shift() || [];
    const cols = head.map((title, i) => ({ title, render: r => (r[i] || '').replace(/^'(?=[=+\-@\t\r])/, '') }));
    fill(rowsBox, rows.length > PREVIEW ? h('p', { class: 'muted' }, t('bulk.preview', { n: PREVIEW, total: rows.length })) : null,
      table(cols, rows.slice(0, PREVIEW), { empty: empty(t('bulk.none')), attrs: { 'data-testid': 'bulk-table', 'data-kind': kind } }));
  }

  render();
}
