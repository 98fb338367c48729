// Browser tests of the supervision workflows (issue 14): filings and hazards.
// Own server and city (harness.mjs); prints one line per test and the closing
// "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, sleep, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

class Skip extends Error {}
const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };

let db, srv, browser, ents, routes;
const errors = [];
const need = (m, p) => { if (!routes.some(r => r.method === m && r.path === p)) throw new Skip(`${m} ${p} not on this server yet`); };

async function setup() {
  db = new Database();
  ents = makeCity(db);
  const accounts = [
    ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code],
    ['a2.manager', 'enterprise_manager', '--enterprise', ents[1].code],
  ];
  for (const [u, role, flag, scope] of accounts) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  // a1's points are off until its filing is approved (never reporting, they would be offline at once)
  db.sql(`SET dw.scope = 'system'; UPDATE points SET enabled = false WHERE enterprise_id = ${ents[0].id}`);
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300, DUSTWATCH_ENTERPRISE_OFFLINE_MIN_POINTS: 0 });
  routes = await srv.routes();
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, name + '.png') }); }
const offlineAlarms = () => +db.scalar(`SET dw.scope = 'system'; SELECT count(*) FROM alarms WHERE enterprise_id = ${ents[0].id} AND channel = 'offline'`);

async function waitFor(pred, what, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await pred()) return; await sleep(250); }
  throw new Error('timed out waiting for ' + what);
}

async function submitModal(page, field, text) {
  if (field) await page.fill(`.modal textarea[name=${field}]`, text);
  await page.click('.modal .ft .btn.primary');
  await page.waitForSelector('.modal-bg', { state: 'detached' });
}

// ---------------------------------------------------------------------------
async function test_stop_filing_approved_offline_alarms_stop() {
  need('POST', '/api/v1/enterprises/{id}/filings');
  const ent = ents[0];
  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await e.page.goto(srv.base + '/#/filings');
  await e.page.click('[data-action=new-filing]');
  await e.page.selectOption('.modal select[name=type]', 'stop');
  await e.page.fill('.modal textarea[name=reason]', '订单不足，全厂停产一周');
  await submitModal(e.page);
  await e.page.waitForSelector('[data-filing-state=submitted]');
  const fid = await e.page.getAttribute('[data-filing-id]', 'data-filing-id');

  // the district approves it in its own context; the enterprise's list follows live
  const d = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await d.page.goto(srv.base + '/#/filings?state=submitted');
  await d.page.waitForSelector(`[data-filing-id="${fid}"] [data-action=filing-approve]`);
  await d.page.click(`[data-filing-id="${fid}"] [data-action=filing-approve]`);
  await submitModal(d.page, 'note', '同意停产报备');
  await e.page.waitForSelector(`[data-filing-id="${fid}"] [data-filing-state=approved]`, { timeout: 15000 });

  // the stopped plant goes silent: no offline alarm, one suppressed on the filing.  Its
  // temperature point is switched on now and goes offline 3 s after its last reading.
  db.sql(`SET dw.scope = 'system'; UPDATE points SET enabled = true, expected_interval_s = 2, offline_factor = 1.5 WHERE id = ${ent.points.hopper_temp.id}`);
  await srv.ingest(ent, [{ point: ent.points.hopper_temp.code, ts: new Date().toISOString(), value: 25 }]);
  await d.page.goto(srv.base + '/#/filings/' + fid);
  await d.page.waitForSelector('[data-testid=filing-detail]');
  await d.page.waitForFunction(() => +document.querySelector('[data-testid=filing-suppressed]').textContent >= 1, null, { timeout: 30000 });
  assert(offlineAlarms() === 0, 'an offline alarm was raised during the approved stop filing');
  await shot(d.page, 'filing-detail');

  // 复产: the enterprise reports resumption; the silent point now gets its alarm
  await e.page.click(`[data-filing-id="${fid}"] [data-action=filing-end]`);
  await submitModal(e.page, 'note', '已恢复生产');
  await e.page.waitForSelector(`[data-filing-id="${fid}"] [data-filing-state=ended]`);
  await waitFor(() => offlineAlarms() === 1, 'the offline alarm after resumption');
  await e.context.close(); await d.context.close();
}

async function test_hazard_reported_rectified_verified() {
  need('POST', '/api/v1/enterprises/{id}/hazards');
  const d = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await d.page.goto(srv.base + '/#/hazards');
  await d.page.click('[data-action=new-hazard]');
  await d.page.selectOption('.modal select[name=enterprise]', String(ents[0].id));
  await d.page.selectOption('.modal select[name=kind]', 'major');
  await d.page.selectOption('.modal select[name=major_item]', '3');
  await d.page.fill('.modal input[name=title]', '1号除尘器未设泄爆装置');
  await d.page.selectOption('.modal select[name=found_how]', 'spot_check');
  await submitModal(d.page);
  await d.page.waitForSelector('[data-hazard-state=reported]');
  const hid = await d.page.getAttribute('[data-hazard-id]', 'data-hazard-id');
  await d.page.waitForSelector('[data-testid=hazard-ageing]');

  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await e.page.goto(srv.base + '/#/hazards');
  const row = `[data-hazard-id="${hid}"]`;
  await e.page.waitForSelector(`${row} [data-action=hazard-plan]`);
  await e.page.click(`${row} [data-action=hazard-plan]`);
  await submitModal(e.page, 'plan', '三日内加装泄爆片');
  await e.page.waitForSelector(`${row} [data-hazard-state=planned]`);
  await e.page.click(`${row} [data-action=hazard-rectify]`);
  await submitModal(e.page, 'report', '泄爆片已安装并验收');
  await e.page.waitForSelector(`${row} [data-hazard-state=rectified]`);

  await d.page.goto(srv.base + '/#/hazards/' + hid);
  await d.page.waitForSelector('[data-testid=hazard-detail] [data-hazard-state=rectified], [data-hazard-state=rectified]');
  await d.page.click('[data-action=hazard-verify]');
  await submitModal(d.page, 'note', '现场复核通过');
  await d.page.waitForSelector('[data-hazard-state=closed]', { timeout: 10000 });
  const events = await d.page.$$eval('[data-testid=hazard-history] [data-event]', li => li.map(x => x.dataset.event));
  assert(events.join(',') === 'report,plan,rectify,verify', 'history: ' + events);
  await shot(d.page, 'hazard-detail');
  await e.context.close(); await d.context.close();
}

async function test_supervision_order_assigned_answered_closed() {
  need('POST', '/api/v1/supervisions/{id}/assign');
  // an overdue red warning the escalation ladder handed to the district
  const e = ents[0].id;
  const sv = db.scalar(`SET dw.scope = 'system';
    WITH s AS (INSERT INTO risk_scores (enterprise_id, computed_at, model_version, r, i, a, h, s, grade, grade_by_score, override, rules, inputs, trigger)
               VALUES (${e}, now(), 'probe', 80, 80, 0, 0, 0, 'red', 'red', false, '[]', '{}', 'manual') RETURNING id),
         w AS (INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, current_level)
               SELECT ${e}, 'grade', 'red', id, now() - interval '2 days', now() - interval '47 hours', now() - interval '1 day', 'district', 'district' FROM s RETURNING id)
    INSERT INTO supervisions (warning_id, enterprise_id, step, level) SELECT id, ${e}, 1, 'district' FROM w RETURNING id`);
  const row = `[data-work-id="${sv}"]`;
  const d = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await d.page.goto(srv.base + '/#/supervision');
  await d.page.waitForSelector(`${row} [data-sv-state=open]`);
  await d.page.click(`${row} [data-action=sv-assign]`);
  await d.page.waitForSelector('.modal select[name=account_id]');
  const staffId = await d.page.$eval('.modal select[name=account_id]', s => [...s.options].find(o => o.textContent.includes('(baoshan.staff)')).value);
  await d.page.selectOption('.modal select[name=account_id]', staffId);
  await submitModal(d.page, 'note', '请于今日内现场核查');
  await d.page.waitForSelector(`${row} [data-sv-state=assigned]`);

  const s = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await s.page.goto(srv.base + '/#/supervision');
  await s.page.click(`${row} [data-action=sv-respond]`);
  await submitModal(s.page, 'response', '已到现场，企业已停机清灰并加装泄爆片');
  await s.page.waitForSelector(`${row} [data-sv-state=responded]`);

  await d.page.waitForSelector(`${row} [data-sv-state=responded]`, { timeout: 10000 }); // live
  await d.page.click(`${row} [data-action=sv-close]`);
  await submitModal(d.page, 'result', '整改到位，督办办结');
  await d.page.waitForSelector(`${row} [data-sv-state=closed]`);
  await shot(d.page, 'supervision');
  await d.context.close(); await s.context.close();
}

async function test_duty_queue_and_enterprise_todo() {
  need('GET', '/api/v1/duty/queue');
  const fid = db.scalar(`SET dw.scope = 'system'; INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, approval_level)
    VALUES (${ents[1].id}, 'maintenance', now() + interval '1 day', now() + interval '2 days', '年度检修', 'district') RETURNING id`);
  const d = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await d.page.goto(srv.base + '/#/duty');
  await d.page.waitForSelector(`[data-testid=duty-queue] [data-item="filing_to_approve:${fid}"]`);
  await shot(d.page, 'duty-queue');
  const e = await loginPage(browser, srv.base, 'a2.manager', PW, errors);
  await e.page.goto(srv.base + '/#/duty');
  await e.page.waitForSelector('[data-testid=todo-list]');
  await d.context.close(); await e.context.close();
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_stop_filing_approved_offline_alarms_stop, test_hazard_reported_rectified_verified,
  test_supervision_order_assigned_answered_closed, test_duty_queue_and_enterprise_todo, test_no_script_errors];
let passed = 0, failed = 0, skipped = 0;
try {
  await setup();
  for (const t of tests) {
    const t0 = Date.now();
    try {
      await t();
      passed++;
      console.log(`ok   ${t.name} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
    } catch (e) {
      if (e instanceof Skip) { skipped++; console.log(`skip ${t.name}: ${e.message}`); continue; }
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
console.log(`screenshots: ${shots}`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed ? 1 : 0);
