// Browser tests of the district's watch (issue 16, notify3): the enterprise duty roster
// edited by a district administrator in the enterprise's page, the watch roster
// (值班表) edited in the duty page, an inapp subscription made in the notification page
// and the inbox of the person on watch (opening a message marks it read).  Own server and
// small city; same output as run.mjs: one line per test and "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];

async function setup() {
  db = new Database();
  ents = makeCity(db);
  for (const [u, role, flag, scope] of [
    ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113'],
    ['jiading.admin', 'district_admin', '--region', '310114'],
  ]) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300 });
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, name + '.png') }); }
const q = s => db.sql('SET dw.scope = \'system\'; ' + s);

// ---------------------------------------------------------------------------
async function test_district_admin_edits_an_enterprise_duty_roster() {
  const e = ents[0];
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(`${srv.base}/#/enterprises/${e.id}?tab=roster`);
  await page.waitForSelector('[data-action=add-duty]');
  await page.click('[data-action=add-duty]');
  await page.fill('input[name=name]', '安全员乙');
  await page.fill('input[name=phone]', '13900000002');
  await page.selectOption('select[name=duty]', 'safety_manager');
  await page.click('button[type=submit]');
  await page.waitForFunction(() => (document.querySelector('[data-testid=roster-table]') || {}).textContent?.includes('13900000002'));
  const rows = q(`SELECT enterprise_id, name, phone, duty FROM duty_roster`);
  assert(JSON.stringify(rows) === JSON.stringify([[String(e.id), '安全员乙', '13900000002', 'safety_manager']]), 'stored: ' + JSON.stringify(rows));
  assert((await page.textContent('[data-testid=roster-table]')).includes('安全管理员'), 'duty shown by its label');
  await shot(page, 'notify3-enterprise-roster');
  await page.click('[data-action=remove-duty]');
  await page.waitForFunction(() => !(document.querySelector('[data-testid=roster-table]') || {}).textContent?.includes('13900000002'));
  assert(q('SELECT count(*) FROM duty_roster')[0][0] === '0', 'removed');
  await context.close();
  // another district does not get the tab's data (the enterprise is not in its scope)
  const j = await loginPage(browser, srv.base, 'jiading.admin', PW, errors);
  await j.page.goto(`${srv.base}/#/enterprises/${e.id}?tab=roster`);
  await j.page.waitForSelector('[data-testid=forbidden]');
  await j.context.close();
}

async function test_watch_roster_added_and_removed_in_the_duty_page() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(`${srv.base}/#/duty`);
  await page.waitForSelector('[data-action=add-shift]');
  await page.click('[data-action=add-shift]');
  const staff = q(`SELECT id FROM accounts WHERE username = 'baoshan.staff'`)[0][0];
  await page.selectOption('select[name=account_id]', staff);
  await page.fill('input[name=phone]', '+8613911110001');
  await page.fill('input[name=note]', '白班');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=watch-roster] [data-shift="baoshan.staff"]');
  const row = await page.textContent('[data-testid=watch-roster] [data-shift="baoshan.staff"]');
  assert(row.includes('+8613911110001') && row.includes('白班'), 'shift row: ' + row);
  const stored = q(`SELECT account_id, phone, ends_at - starts_at FROM duty_shifts`);
  assert(stored.length === 1 && stored[0][0] === staff && stored[0][1] === '+8613911110001' && stored[0][2] === '08:00:00', 'stored: ' + JSON.stringify(stored));
  await shot(page, 'notify3-watch-roster');
  await page.click('[data-action=remove-shift]');
  await page.waitForFunction(() => !document.querySelector('[data-testid=watch-roster] [data-shift="baoshan.staff"]'));
  assert(q('SELECT count(*) FROM duty_shifts')[0][0] === '0', 'shift removed');
  await context.close();
  // staff read the roster without the buttons
  q(`INSERT INTO duty_shifts (district_id, account_id, starts_at, ends_at) SELECT r.id, a.id, now() + interval '1 day',
     now() + interval '25 hours' FROM regions r, accounts a WHERE r.code = '310113' AND a.username = 'baoshan.staff'`);
  const s = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await s.page.goto(`${srv.base}/#/duty`);
  await s.page.waitForSelector('[data-testid=watch-roster] [data-shift="baoshan.staff"]');
  assert(!(await s.page.$('[data-action=add-shift]')) && !(await s.page.$('[data-action=remove-shift]')), 'staff cannot change shifts');
  await s.context.close();
  q('DELETE FROM duty_shifts');
}

async function test_inapp_subscription_and_the_inbox_of_the_person_on_watch() {
  const a = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await a.page.goto(`${srv.base}/#/notify`);
  await a.page.waitForSelector('[data-action=new-subscription]');
  await a.page.click('[data-action=new-subscription]');
  await a.page.fill('input[name=name]', '值守站内通知');
  await a.page.selectOption('select[name=channel]', 'inapp');
  await a.page.check('input[name=events][value=filing]');
  await a.page.click('button[type=submit]');
  await a.page.waitForSelector('[data-testid=subs-table] [data-sub="值守站内通知"]');
  const stored = q(`SELECT channel, to_watch, scope_kind FROM webhook_subscriptions`);
  assert(JSON.stringify(stored) === JSON.stringify([['inapp', 't', 'district']]), 'stored: ' + JSON.stringify(stored));
  await a.context.close();
  // baoshan.staff on watch now; an alarm of the district's enterprise is routed to it
  q(`INSERT INTO duty_shifts (district_id, account_id, starts_at, ends_at) SELECT r.id, a.id, now() - interval '1 hour',
     now() + interval '7 hours' FROM regions r, accounts a WHERE r.code = '310113' AND a.username = 'baoshan.staff'`);
  const ent = ents[0];
  q(`SELECT dw_notify('alarm', ${ent.id}, NULL, NULL, 'raise', 'alarm:browser:raise',
     jsonb_build_object('type', 'alarm', 'event', 'raise', 'kind', 'spark', 'level', '2', 'point_name', '1号除尘器火花探测'))`);
  const s = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await s.page.goto(`${srv.base}/#/duty`);
  await s.page.waitForSelector('[data-inbox="alarm:browser:raise"][data-read=no]', { timeout: 15000 });
  const text = await s.page.textContent('[data-testid=inbox-card]');
  assert(text.includes(ent.name) && !text.includes('raise'), 'inbox row labelled: ' + text);
  await s.page.click('[data-inbox="alarm:browser:raise"] [data-action=open-inbox]');
  await s.page.waitForSelector('[data-inbox="alarm:browser:raise"][data-read=yes]');
  await s.page.click('[data-inbox="alarm:browser:raise"] [data-action=open-inbox]');
  const detail = await s.page.textContent('[data-inbox="alarm:browser:raise"] [data-testid=inbox-detail]');
  assert(detail.includes('1号除尘器火花探测') && !detail.includes('spark'), 'detail with labels: ' + detail);
  const read = q(`SELECT read_at IS NOT NULL, (SELECT count(*) FROM notification_deliveries d WHERE d.outbox_id = o.id AND d.result = 'read')
                  FROM notification_outbox o WHERE dedup_key = 'alarm:browser:raise'`);
  assert(JSON.stringify(read) === JSON.stringify([['t', '1']]), 'read once: ' + JSON.stringify(read));
  await shot(s.page, 'notify3-inbox');
  await s.context.close();
}

// Codes the dashboard must show by their catalogue labels (issue 16 item 4): risk rule and
// cause codes, industry codes, enum values, the worker's notes (grades, escalation due
// times: no raw Unix time, no "x -> y").
const RAW = [[/\b[OIASHR]\.[A-Z][A-Z0-9_]*(\.[A-Z0-9_]+)*\b/, 'rule code'], [/\b1[6-9]\d{8}\b/, 'Unix time'], [/\bC\d{4}\b/, 'industry code'],
  [/\b(bag|iron|inherent|deadline missed|first score|supervision|enforcement|orange|red|yellow|blue|district|spark|high_high|stop)\b/, 'enum value'],
  [/->/, 'raw arrow'], [/\b[a-z]+(_[a-z0-9]+)+\b/, 'snake_case code']];
async function test_pages_show_labels_not_codes() {
  const e = ents[0];
  q(`UPDATE enterprises SET dust_kinds = '{iron}' WHERE id = ${e.id}`);
  // a red warning caused by a precursor rule, with the worker's notes and an escalation;
  // a supervision order; an overdue spark alarm and a filing to review in the duty queue
  const score = q(`SELECT id FROM risk_scores WHERE enterprise_id = ${e.id} ORDER BY id DESC LIMIT 1`)[0][0];
  const w = q(`INSERT INTO warnings (enterprise_id, cause, grade, score_id, issued_at, sign_by, clear_by, supervisor, current_level)
     VALUES (${e.id}, 'O.PRECURSOR.HOT_SPARK', 'red', ${score}, now() - interval '3 hours', now() - interval '2 hours', now() + interval '1 day',
     'district', 'district') RETURNING id`)[0][0];
  q(`INSERT INTO warning_events (warning_id, enterprise_id, action, to_status, to_grade, actor, note) VALUES
       (${w}, ${e.id}, 'issue', 'issued', 'red', 'worker', 'blue -> red, R=81.20 (model 2026.2-calibrated, first score)');
     INSERT INTO warning_events (warning_id, enterprise_id, action, to_status, step, level, actor, note) VALUES
       (${w}, ${e.id}, 'escalate', 'issued', 1, 'district', 'worker', 'sign deadline missed (due 2026-12-01T08:00:00Z)');
     INSERT INTO supervisions (warning_id, enterprise_id, step, level) VALUES (${w}, ${e.id}, 1, 'district');
     INSERT INTO alarms (enterprise_id, point_id, source, channel, kind, level, max_level, raised_at, ack_deadline, handle_deadline, ack_overdue)
       SELECT ${e.id}, id, 'rule', 'limit', 'spark', 2, 2, now() - interval '2 hours', now() - interval '1 hour', now() + interval '1 hour', true
       FROM points WHERE enterprise_id = ${e.id} LIMIT 1;
     INSERT INTO filings (enterprise_id, type, starts_at, ends_at, reason, approval_level) VALUES
       (${e.id}, 'stop', now() + interval '1 day', now() + interval '2 days', '停产检修', 'district')`);
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  const views = [['enterprises', '[data-testid=enterprise-table]'], [`enterprises/${e.id}`, '[data-tab-body=base] dl'],
    [`enterprises/${e.id}?tab=dust`, '[data-tab-body=dust] table'], [`enterprises/${e.id}?tab=risk`, '[data-testid=risk-breakdown]'],
    ['warnings', '[data-testid=warning-list] table'], [`warnings/${w}`, '[data-testid=warning-history]'], ['duty', '[data-testid=duty-queue] table']];
  const found = [];
  for (const [path, sel] of views) {
    await page.goto(`${srv.base}/#/${path}`);
    await page.waitForSelector(sel);
    await page.waitForTimeout(300); // labels are fetched once; let the last list render
    const text = await page.evaluate(() => document.querySelector('main').innerText);
    for (const [re, what] of RAW) { const m = re.exec(text); if (m) found.push(`${path}: ${what} "${m[0]}" in «${text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, ' ')}»`); }
  }
  // what they show instead
  await page.goto(`${srv.base}/#/warnings/${w}`);
  await page.waitForSelector('[data-testid=warning-history]');
  const hist = await page.textContent('[data-testid=warning-history]');
  assert(hist.includes('签收超期') && hist.includes('2026/12/01 16:00') && hist.includes('红色'), 'escalation and grade labelled: ' + hist);
  await page.goto(`${srv.base}/#/enterprises/${e.id}?tab=risk`);
  await page.waitForSelector('[data-code^="I."]');
  await shot(page, 'notify3-labels-risk');
  await context.close();
  assert(found.length === 0, 'raw codes on the pages:\n' + found.join('\n'));
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_district_admin_edits_an_enterprise_duty_roster, test_watch_roster_added_and_removed_in_the_duty_page,
  test_inapp_subscription_and_the_inbox_of_the_person_on_watch, test_pages_show_labels_not_codes, test_no_script_errors];
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
console.log(`screenshots: ${shots}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
