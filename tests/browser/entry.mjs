// Browser tests of data entry (issue 17 item 8, branch entry): the 区划管理
// form (create, a refused code shown in the form, rename and move to another
// district, disable, delete), a district administrator's view of its own
// streets only, and no entry for staff; the 档案附件 tab (upload a PDF, a
// refused file type shown in the form, download with its type and name,
// delete; a street account reads only); 摸排录入 (a street proposes a new
// enterprise and a change, the district returns one with a reason, the street
// edits and resubmits, the district confirms both).  Own server and city; prints
// "N passed, N failed".
import { Database, Server, makeCity, launch, loginPage } from './harness.mjs';

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [['city.admin', 'city_admin', '--region', '310000'], ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113'], ['luodian.staff', 'street_staff', '--region', '310113103'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code]])
    db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db);
  browser = await launch();
}

const row = code => `[data-testid=regions] tr[data-code="${code}"]`;

async function test_city_admin_region_form() {
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', undefined, errors);
  await page.click('[data-nav=regions]');
  await page.waitForSelector(row('310113103'));
  // create a park under 宝山区
  await page.click('[data-action=new-region]');
  await page.fill('.modal input[name=code]', '310113501');
  await page.fill('.modal input[name=name]', '宝山工业园区');
  await page.selectOption('.modal select[name=kind]', 'park');
  await page.selectOption('.modal select[name=parent_id]', { label: '宝山区' });
  await page.click('.modal button[type=submit]');
  await page.waitForSelector(row('310113501'));
  assert((await page.textContent(row('310113501'))).includes('园区'), 'kind shown');
  // the same code again: the server's refusal is shown in the form, nothing stored
  await page.click('[data-action=new-region]');
  await page.fill('.modal input[name=code]', '310113501');
  await page.fill('.modal input[name=name]', '重复');
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('.modal .err');
  assert((await page.textContent('.modal .err')).includes('310113501'), 'conflict detail shown');
  await page.click('.modal button.btn:not(.primary)');
  assert(db.scalar("SELECT count(*) FROM regions WHERE name = '重复'") === '0', 'refused region stored');
  // rename and move to 嘉定区
  await page.click(`${row('310113501')} [data-action=edit-region]`);
  await page.fill('.modal input[name=name]', '嘉定工业园区');
  await page.selectOption('.modal select[name=parent_id]', { label: '嘉定区' });
  await page.click('.modal button[type=submit]');
  await page.waitForFunction(sel => { const r = document.querySelector(sel); return r && r.textContent.includes('嘉定工业园区') && r.textContent.includes('嘉定区'); }, row('310113501'));
  assert(db.scalar("SELECT d.code FROM regions r JOIN regions d ON d.id = r.parent_id WHERE r.code = '310113501'") === '310114', 'moved');
  // disable, then delete
  await page.click(`${row('310113501')} [data-action=disable-region]`);
  await page.waitForSelector(`${row('310113501')} [data-action=delete-region]`);
  assert(db.scalar("SELECT disabled_at IS NOT NULL FROM regions WHERE code = '310113501'") === 't', 'disabled');
  page.once('dialog', d => d.accept());
  await page.click(`${row('310113501')} [data-action=delete-region]`);
  await page.waitForFunction(sel => !document.querySelector(sel), row('310113501'));
  assert(db.scalar("SELECT count(*) FROM regions WHERE code = '310113501'") === '0', 'deleted');
  // a street with enterprises: disabled, but its deletion is refused with the reason
  await page.click(`${row('310113103')} [data-action=disable-region]`);
  await page.waitForSelector(`${row('310113103')} [data-action=delete-region]`);
  page.once('dialog', d => d.accept());
  await page.click(`${row('310113103')} [data-action=delete-region]`);
  await page.waitForSelector('.toast.error');
  assert((await page.textContent('.toast.error')).includes('2'), 'in-use reason shown');
  await page.click(`${row('310113103')} [data-action=enable-region]`);
  await page.waitForSelector(`${row('310113103')} [data-action=disable-region]`);
  const audit = db.sql("SELECT action || ':' || result FROM audit_log WHERE action LIKE 'region_%' ORDER BY id").map(r => r[0]);
  for (const a of ['region_create:ok', 'region_create:failed', 'region_update:ok', 'region_delete:ok', 'region_delete:denied'])
    assert(audit.includes(a), `audit ${a} missing: ${audit}`);
  await context.close();
}

async function test_district_admin_sees_own_streets_only() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', undefined, errors);
  await page.click('[data-nav=regions]');
  await page.waitForSelector(row('310113103'));
  assert(!(await page.$(row('310114102'))), "another district's town is listed");
  await page.click('[data-action=new-region]');
  assert(!(await page.$('.modal select[name=parent_id]')), 'a district chooses a district');
  await page.fill('.modal input[name=code]', '310113502');
  await page.fill('.modal input[name=name]', '顾村镇');
  await page.selectOption('.modal select[name=kind]', 'town');
  await page.click('.modal button[type=submit]');
  await page.waitForSelector(row('310113502'));
  assert(db.scalar("SELECT d.code FROM regions r JOIN regions d ON d.id = r.parent_id WHERE r.code = '310113502'") === '310113', 'placed in its district');
  await context.close();
}

async function test_staff_has_no_region_admin() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', undefined, errors);
  assert(!(await page.$('[data-nav=regions]')), 'district staff sees the regions entry');
  await page.goto(srv.base + '/#/regions');
  await page.waitForSelector('[data-page=regions] .empty');
  assert(!(await page.$('[data-action=new-region]')), 'district staff may create regions');
  await context.close();
}

const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');

async function test_enterprise_uploads_downloads_and_deletes_attachments() {
  const eid = ents[0].id;
  const { context, page } = await loginPage(browser, srv.base, 'a1.manager', undefined, errors);
  await page.goto(`${srv.base}/#/enterprises/${eid}?tab=files`);
  await page.waitForSelector('[data-tab-body=files] [data-action=upload-attachment]');
  await page.click('[data-action=upload-attachment]');
  await page.selectOption('.modal select[name=kind]', 'safety_assessment');
  await page.setInputFiles('.modal input[type=file]', { name: '安全评价报告.pdf', mimeType: 'application/pdf', buffer: PDF });
  await page.fill('.modal input[name=note]', '2026 年度');
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('[data-testid=attachments] [data-attachment="安全评价报告.pdf"]');
  assert((await page.textContent('[data-testid=attachments]')).includes('安全评价报告'), 'kind label shown');
  // a GIF named .png: the server's refusal in the form, nothing stored
  await page.click('[data-action=upload-attachment]');
  await page.setInputFiles('.modal input[type=file]', { name: 'licence.png', mimeType: 'image/png', buffer: Buffer.from('GIF89a' + '\0'.repeat(20)) });
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('.modal .err');
  assert((await page.textContent('.modal .err')).includes('PDF'), 'refusal shown: ' + await page.textContent('.modal .err'));
  await page.click('.modal button.btn:not(.primary)');
  assert(db.scalar(`SELECT count(*) FROM enterprise_attachments WHERE enterprise_id = ${eid}`) === '1', 'refused file stored');
  // the link downloads the same bytes with the stored type and name
  const href = await page.getAttribute('[data-attachment="安全评价报告.pdf"]', 'href');
  const got = await page.evaluate(async u => { const r = await fetch(u); const b = new Uint8Array(await r.arrayBuffer()); return { type: r.headers.get('content-type'), disp: r.headers.get('content-disposition'), text: String.fromCharCode(...b) }; }, href);
  assert(got.type === 'application/pdf' && got.text === PDF.toString('latin1'), 'download: ' + JSON.stringify(got).slice(0, 200));
  assert(got.disp.includes("filename*=UTF-8''%E5%AE%89"), 'disposition: ' + got.disp);
  await context.close();
  // a street account reads, with no upload or delete
  const s = await loginPage(browser, srv.base, 'luodian.staff', undefined, errors);
  await s.page.goto(`${srv.base}/#/enterprises/${eid}?tab=files`);
  await s.page.waitForSelector('[data-testid=attachments] [data-attachment="安全评价报告.pdf"]');
  assert(!(await s.page.$('[data-action=upload-attachment]')) && !(await s.page.$('[data-action=delete-attachment]')), 'street may write');
  await s.context.close();
  // the district deletes it
  const d = await loginPage(browser, srv.base, 'baoshan.admin', undefined, errors);
  await d.page.goto(`${srv.base}/#/enterprises/${eid}?tab=files`);
  await d.page.waitForSelector('[data-action=delete-attachment]');
  d.page.once('dialog', x => x.accept());
  await d.page.click('[data-action=delete-attachment]');
  await d.page.waitForSelector('[data-tab-body=files] .empty');
  assert(db.scalar(`SELECT count(*) FROM enterprise_attachments WHERE enterprise_id = ${eid}`) === '0', 'not deleted');
  const audit = db.sql("SELECT action || ':' || result FROM audit_log WHERE action LIKE 'attachment_%' ORDER BY id").map(r => r[0]);
  assert(audit.join() === 'attachment_create:ok,attachment_delete:ok', 'audit: ' + audit);
  await d.context.close();
}

async function test_survey_propose_return_edit_confirm() {
  const st = await loginPage(browser, srv.base, 'luodian.staff', undefined, errors);
  await st.page.click('[data-nav=survey]');
  await st.page.waitForSelector('[data-action=propose-new]');
  await st.page.click('[data-action=propose-new]');
  for (const [k, v] of [['code', '310113000050'], ['uscc', '91310113MA1G000050'], ['name', '上海罗店新材料有限公司'], ['address', '美丰路8号'], ['dust_kinds', 'wood'], ['dust_workers', '6']])
    await st.page.fill(`.modal input[name=${k}]`, v);
  await st.page.click('.modal button[type=submit]');
  await st.page.waitForSelector('[data-proposal="上海罗店新材料有限公司"] [data-status=pending]');
  // a change of an enterprise of the street
  await st.page.click('[data-action=propose-change]');
  await st.page.selectOption('.modal select[name=id]', String(ents[0].id));
  await st.page.click('.modal button[type=submit]');
  await st.page.waitForSelector('.modal input[name=address]');
  await st.page.fill('.modal input[name=address]', '罗店镇新地址1号');
  await st.page.click('.modal button[type=submit]');
  await st.page.waitForSelector(`[data-proposal="${ents[0].name}"] [data-status=pending]`);
  assert(db.scalar("SELECT count(*) FROM enterprises WHERE code = '310113000050'") === '0', 'pending enterprise written');
  // the district returns the new one with a reason
  const d = await loginPage(browser, srv.base, 'baoshan.admin', undefined, errors);
  await d.page.click('[data-nav=survey]');
  await d.page.waitForSelector('[data-proposal="上海罗店新材料有限公司"] [data-action=return-proposal]');
  const diff = await d.page.textContent(`[data-proposal="${ents[0].name}"]`);
  assert(diff.includes('测试路1号') && diff.includes('罗店镇新地址1号'), 'diff shows current and proposed: ' + diff);
  await d.page.click('[data-proposal="上海罗店新材料有限公司"] [data-action=return-proposal]');
  await d.page.fill('.modal input[name=reason]', '信用代码有误');
  await d.page.click('.modal button[type=submit]');
  await d.page.waitForSelector('[data-proposal="上海罗店新材料有限公司"] [data-status=returned]');
  // the street reads the reason, edits and resubmits
  await st.page.reload();
  await st.page.waitForSelector('[data-proposal="上海罗店新材料有限公司"] [data-status=returned]');
  assert((await st.page.textContent('[data-proposal="上海罗店新材料有限公司"]')).includes('信用代码有误'), 'reason shown to the street');
  await st.page.click('[data-proposal="上海罗店新材料有限公司"] [data-action=edit-proposal]');
  await st.page.fill('.modal input[name=uscc]', '91310113MA1G000051');
  await st.page.click('.modal button[type=submit]');
  await st.page.waitForSelector('[data-proposal="上海罗店新材料有限公司"] [data-status=pending]');
  // the district confirms both
  await d.page.reload();
  for (const name of ['上海罗店新材料有限公司', ents[0].name]) {
    await d.page.waitForSelector(`[data-proposal="${name}"] [data-action=confirm-proposal]`);
    await d.page.click(`[data-proposal="${name}"] [data-action=confirm-proposal]`);
    await d.page.waitForSelector(`[data-proposal="${name}"] [data-status=confirmed]`);
  }
  assert(db.scalar("SELECT uscc FROM enterprises WHERE code = '310113000050'") === '91310113MA1G000051', 'confirmed enterprise written');
  assert(db.scalar(`SELECT address FROM enterprises WHERE id = ${ents[0].id}`) === '罗店镇新地址1号', 'change applied');
  const audit = db.sql("SELECT action FROM audit_log WHERE action LIKE 'proposal_%' AND result = 'ok' ORDER BY id").map(r => r[0]);
  assert(audit.join() === 'proposal_submit,proposal_submit,proposal_return,proposal_edit,proposal_confirm,proposal_confirm', 'audit: ' + audit);
  await st.context.close();
  await d.context.close();
}

async function test_no_script_errors() {
  // the refused requests answered 409/422 on purpose; anything else is a page error
  const real = errors.filter(e => !/\b(409|422)\b/.test(e));
  assert(real.length === 0, 'errors in the pages:\n' + real.join('\n'));
}

const tests = [test_city_admin_region_form, test_district_admin_sees_own_streets_only, test_staff_has_no_region_admin,
  test_enterprise_uploads_downloads_and_deletes_attachments, test_survey_propose_return_edit_confirm, test_no_script_errors];
let passed = 0, failed = 0;
try {
  await setup();
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t();
      passed++;
      console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${t.name}\n${e.stack}`);
    }
  }
} catch (e) {
  failed++;
  console.log('FAIL setup\n' + e.stack + (srv ? '\n' + srv.log() : ''));
} finally {
  if (browser) await browser.close().catch(() => {});
  if (srv) await srv.stop().catch(() => {});
  if (db) db.drop();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
