// 档案附件 (issue 17 item 8): the enterprise's safety assessment, zoning
// drawing, licences … as a tab of its archive (enterprise.js).  Everyone who
// sees the enterprise lists and downloads; city, district and the enterprise
// upload (PDF, JPEG, PNG up to 8 MB: the server checks the file's first
// bytes) and delete.  Not a page of its own: attachmentsPanel(body, ctx, e).
import { api, mayUse } from '../api.js';
import { t, getLang } from '../i18n.js';
import { h, fill, card, table, empty, errorBox, fmtTime, formModal, formRow, select, toast, loading } from '../ui.js';

const MAX = 8 * 1024 * 1024;
const size = n => n >= 1048576 ? (n / 1048576).toFixed(1) + ' MB' : Math.max(1, Math.round(n / 1024)) + ' KB';

function readAsDataUrl(file) {
  return new Promise((ok, fail) => {
    const r = new FileReader();
    r.onload = () => ok(r.result);
    r.onerror = () => fail(new Error(t('att.read_failed')));
    r.readAsDataURL(file);
  });
}

export async function attachmentsPanel(body, ctx, e) {
  const canWrite = mayUse(ctx.me, 'POST', '/api/v1/enterprises/{id}/attachments');
  const list = h('div', null, loading());
  body.append(card(t('arc.files'), list,
    canWrite ? h('button', { class: 'btn sm primary', 'data-action': 'upload-attachment', onclick: upload }, '+ ' + t('att.upload')) : null, { flush: true }));
  let kinds = [];
  const label = code => { const k = kinds.find(x => x.code === code); return k ? (getLang() === 'en' ? k.label_en : k.label_zh) : code; };

  async function load() {
    let r;
    try { [kinds, r] = await Promise.all([api('/api/v1/attachment-kinds').then(x => x.items), api(`/api/v1/enterprises/${e.id}/attachments`)]); } catch (ex) { fill(list, errorBox(ex)); return; }
    fill(list, table([
      { title: t('att.kind'), render: a => label(a.kind) },
      { title: t('att.file'), render: a => h('a', { href: a.href, download: a.filename, 'data-attachment': a.filename }, a.filename) },
      { title: t('att.type'), render: a => ({ 'application/pdf': 'PDF', 'image/jpeg': 'JPEG', 'image/png': 'PNG' })[a.content_type] },
      { title: t('att.size'), render: a => size(a.bytes) },
      { title: t('att.note'), key: 'note' },
      { title: t('att.by'), render: a => `${a.uploaded_by} · ${fmtTime(a.created_at)}` },
      canWrite ? { title: t('common.actions'), render: a => h('button', { class: 'btn sm danger', 'data-action': 'delete-attachment', onclick: () => del(a) }, t('att.delete')) } : null,
    ].filter(Boolean), r.items, { attrs: { 'data-testid': 'attachments' }, empty: empty(t('att.none')) }));
  }

  function upload() {
    formModal(t('att.upload'), [
      formRow(t('att.kind'), select('kind', kinds.map(k => [k.code, getLang() === 'en' ? k.label_en : k.label_zh]), kinds[0] && kinds[0].code)),
      formRow(t('att.file'), h('input', { type: 'file', name: 'file', required: true, accept: 'application/pdf,image/jpeg,image/png' })),
      formRow(t('att.note'), h('input', { name: 'note', maxlength: 500 })),
      h('p', { class: 'muted' }, t('att.limits')),
    ], async (v, form) => {
      const file = form.querySelector('input[type=file]').files[0];
      if (!file) throw new Error(t('att.pick'));
      if (file.size > MAX) throw new Error(t('att.too_big'));
      const data = await readAsDataUrl(file);
      await api(`/api/v1/enterprises/${e.id}/attachments`, { method: 'POST', body: { kind: v.kind, filename: file.name, note: v.note || '', data } });
      toast(t('att.uploaded'), 'ok');
      load();
    }, t('att.upload'));
  }

  async function del(a) {
    if (!window.confirm(t('att.delete.confirm', { name: a.filename }))) return;
    try { await api(`/api/v1/attachments/${a.id}`, { method: 'DELETE' }); toast(t('att.deleted'), 'ok'); } catch (ex) { toast(ex.message, 'error'); }
    load();
  }
  load();
}
