// Browser tests of data entry (issue 17 item 8, branch entry): the 区划管理
// form (create, a refused code shown in the form, rename and move to another
// district, disable, delete), a district administrator's view of its own
// streets only, and no entry for staff.  Own server and city; prints
// "N passed, N failed".
import { Database, Server, makeCity, launch, loginPage } from './harness.mjs';

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser;
const errors = [];

async function setup() {
  db = new Database();
  makeCity(db);
  for (const [u, role, flag, scope] of [['city.admin', 'city_admin', '--region', '310000'], ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113']])
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

async function test_no_script_errors() {
  // the refused requests answered 409 on purpose; anything else is a page error
  const real = errors.filter(e => !/409/.test(e));
  assert(real.length === 0, 'errors in the pages:\n' + real.join('\n'));
}

const tests = [test_city_admin_region_form, test_district_admin_sees_own_streets_only, test_staff_has_no_region_admin, test_no_script_errors];
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
