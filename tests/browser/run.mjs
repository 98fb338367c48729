// Browser tests of the dashboard, headless in Debian's Chromium.  One server
// and one small city for the whole file; each test uses its own browser
// contexts.  Prints one line per test and the closing "N passed, N failed";
// tests whose API route the server does not have yet are reported as skipped.
import { createHmac } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, loginPage, sleep, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

class Skip extends Error {}
const TOTP_KEY = '5d41402abc4b2a76b9719d911017c5925d41402abc4b2a76b9719d911017c592';
const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };

let db, srv, browser, ents, routes;
const errors = [];
const has = (m, p) => routes.some(r => r.method === m && r.path === p);
const need = (m, p) => { if (!has(m, p)) throw new Skip(`${m} ${p} not on this server yet`); };

async function setup() {
  db = new Database();
  ents = makeCity(db);
  const accounts = [
    ['city.admin', 'city_admin', '--region', '310000'],
    ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113'],
    ['luodian.staff', 'street_staff', '--region', '310113103'],
    ['jiading.admin', 'district_admin', '--region', '310114'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code],
    ['a2.manager', 'enterprise_manager', '--enterprise', ents[1].code],
    ['a1.staff', 'enterprise_staff', '--enterprise', ents[0].code],
  ];
  for (const [u, role, flag, scope] of accounts) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300, DUSTWATCH_TOTP_KEY: TOTP_KEY });
  routes = await srv.routes();
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, name + '.png') }); }
const tableNames = async page => page.$$eval('[data-testid=enterprise-table] [data-enterprise-link]', as => as.map(a => a.textContent));

// ---------------------------------------------------------------------------
async function test_each_role_sees_only_its_scope() {
  const expect = { 'city.admin': 3, 'baoshan.staff': 2, 'luodian.staff': 2, 'jiading.admin': 1 };
  for (const [user, n] of Object.entries(expect)) {
    const { context, page } = await loginPage(browser, srv.base, user, PW, errors);
    await page.waitForSelector('[data-page=overview] [data-stat=enterprises]');
    await page.waitForFunction(n => document.querySelector('[data-stat=enterprises] .v').textContent.trim() === String(n), n, { timeout: 10000 });
    await page.goto(srv.base + '/#/enterprises');
    await page.waitForSelector('[data-testid=enterprise-table]');
    const names = await tableNames(page);
    assert(names.length === n, `${user} sees ${names.length} enterprises, expected ${n}: ${names}`);
    if (user === 'jiading.admin') {
      assert(!names.some(x => x.includes('宝罗')), 'jiading sees a Baoshan enterprise');
      // by URL: the API answers 404 outside the scope, the page says so
      await page.goto(srv.base + '/#/enterprises/' + ents[0].id);
      await page.waitForSelector('[data-testid=forbidden]');
      assert(!(await page.isVisible('[data-testid=enterprise-name]')), 'foreign archive rendered');
    }
    if (user === 'city.admin') await shot(page, 'enterprises-city');
    await context.close();
  }
  // enterprise: lands on its own archive, no city/district navigation, other ids refused
  const { context, page } = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await page.waitForSelector('[data-testid=enterprise-name]');
  assert((await page.textContent('[data-testid=enterprise-name]')).includes(ents[0].name), 'enterprise lands on its own page');
  assert(!(await page.$('[data-nav=overview]')) && !(await page.$('[data-nav=enterprises][href="#/enterprises"]')), 'enterprise sees city/district navigation');
  await shot(page, 'archive-enterprise');
  for (const path of ['/#/enterprises/' + ents[1].id, '/#/monitor/' + ents[2].id, '/#/overview', '/#/enterprises']) {
    await page.goto(srv.base + path);
    await sleep(300);
    if (path.endsWith('overview') || path.endsWith('/enterprises')) {
      await page.waitForSelector('[data-testid=enterprise-name]');
      assert((await page.textContent('[data-testid=enterprise-name]')).includes(ents[0].name), path + ' did not go back to the own enterprise');
    } else {
      await page.waitForSelector('[data-testid=forbidden]');
      assert(!(await page.content()).includes(ents[1].name), 'foreign name leaked for ' + path);
    }
  }
  // the API itself refuses too, with the browser's own session cookie
  const st = await page.evaluate(async id => (await fetch('/api/v1/enterprises/' + id)).status, ents[1].id);
  assert(st === 404, 'API answered ' + st + ' for a foreign enterprise');
  await context.close();
}

async function test_login_failure_is_generic_and_password_change_is_enforced() {
  const context = await browser.newContext({ locale: 'zh-CN' });
  const page = await context.newPage();
  await page.goto(srv.base + '/');
  const tryLogin = async (u, p) => {
    await page.fill('input[name=username]', u); await page.fill('input[name=password]', p);
    await page.click('button[type=submit]');
    await page.waitForSelector('[data-testid=login-msg] .err');
    return page.textContent('[data-testid=login-msg] .err');
  };
  const a = await tryLogin('nobody.here', 'x'), b = await tryLogin('baoshan.staff', 'wrong-password');
  assert(a === b && a.includes('锁定'), 'login messages differ or say nothing of lockout: ' + a + ' / ' + b);
  await shot(page, 'login-failed');
  // an account made through the API must change its password at first login
  const tok = await srv.token('baoshan.admin');
  const r = await srv.api('POST', '/api/v1/accounts', { username: 'new.staff', role: 'district_staff', password: 'Initial-Pass-2026#x' }, tok);
  assert(r.status === 201, 'create account: ' + r.text);
  await page.fill('input[name=username]', 'new.staff'); await page.fill('input[name=password]', 'Initial-Pass-2026#x');
  await page.click('button[type=submit]');
  await page.waitForSelector('input[name=new_password]');
  await shot(page, 'password-change');
  await page.fill('input[name=new_password]', 'short');
  await page.fill('input[name=confirm]', 'short');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=pw-msg] .err');
  await page.fill('input[name=new_password]', 'Brand-New-Pass-2026#');
  await page.fill('input[name=confirm]', 'Brand-New-Pass-2026#');
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-page=overview]');
  await context.close();
}

async function test_new_reading_and_alarm_appear_live_without_reload() {
  const ent = ents[0];
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await page.waitForSelector('[data-page=overview] [data-testid=map]');
  await page.evaluate(() => { window.__noReload = 1; });
  if (has('GET', '/api/v1/events')) {
    await page.waitForSelector('.live-dot.on', { timeout: 10000 });
    const t0 = Date.now();
    const ts = new Date().toISOString();
    await srv.ingest(ent, [{ point: ent.points.hopper_temp.code, ts, value: 95 }]);
    await page.waitForSelector(`[data-testid=live-feed] [data-feed-type=alarm][data-enterprise="${ent.id}"]`, { timeout: 2000 });
    const ms = Date.now() - t0;
    assert(await page.evaluate(() => window.__noReload === 1), 'the page reloaded');
    // event times are ms since the epoch (schema/live-event.schema.json): the
    // feed once multiplied them by 1000 again and dated events in year 5xxxx
    const when = await page.textContent(`[data-testid=live-feed] [data-feed-type=alarm][data-enterprise="${ent.id}"] .when`);
    const year = new Date().getUTCFullYear();
    assert([year, year + 1].some(y => when.includes(String(y))), `live feed time is not now: ${when}`);
    await shot(page, 'overview-live');
    console.log(`     alarm on the open overview ${ms} ms after the ingest acknowledgement`);
  } else {
    // no SSE yet: the archive's points refresh on their own timer
    await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=points`);
    await page.waitForSelector('[data-testid=points-table]');
    await page.evaluate(() => { window.__noReload = 1; });
    await srv.ingest(ent, [{ point: ent.points.pressure_diff.code, ts: new Date().toISOString(), value: 1234.5 }]);
    await page.waitForFunction(id => (document.querySelector(`[data-point-value="${id}"]`) || {}).textContent?.includes('1235'), ent.points.pressure_diff.id, { timeout: 20000 });
    assert(await page.evaluate(() => window.__noReload === 1), 'the page reloaded');
    throw new Skip('GET /api/v1/events not on this server yet: checked the 15 s live value refresh instead');
  }
  await context.close();
}

// The overview's feed starts with the open alarms (GET /alarms): dated as the live events, by
// their raise time in milliseconds (they were given seconds and showed 1970/01/21), and keyed
// by the alarm's id like a live line of it.
async function test_feed_seeded_from_open_alarms_is_dated_and_keyed() {
  const ent = ents[0];
  const ts = new Date().toISOString();
  await srv.ingest(ent, [{ point: ent.points.hopper_temp.code, ts, value: 95 }]);
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  const sel = `[data-testid=live-feed] [data-feed-type=alarm][data-enterprise="${ent.id}"]`;
  await page.waitForSelector(sel, { timeout: 10000 });
  const lines = await page.$$eval(sel, els => els.map(e => ({ id: e.dataset.alarmId, when: e.querySelector('.when').textContent })));
  const ids = async q => page.evaluate(async ([id, q]) => (await (await fetch('/api/v1/alarms?limit=100' + q)).json())
    .items.filter(a => a.enterprise.id === id).map(a => a.id), [ent.id, q]);
  assert((await ids('&open=true')).length > 0, 'no open alarm of the enterprise');
  // a line's alarm may have closed since the feed was seeded (a point's offline alarm folded into
  // its enterprise's, CI at de58648): the line must name an alarm of the enterprise, open or not
  const open = await ids('&state=active,acknowledged,handled,closed');
  const year = new Date().getUTCFullYear();
  for (const l of lines) {
    assert([year, year + 1].some(y => l.when.includes(String(y))), `seeded feed line dated ${l.when}`);
    assert(open.includes(+l.id), `seeded feed line without its alarm's id: ${JSON.stringify(l)}`);
  }
  assert(new Set(lines.map(l => l.id)).size === lines.length, 'two lines for one alarm: ' + JSON.stringify(lines));
  await context.close();
}

async function test_csv_export_downloads() {
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await page.goto(srv.base + '/#/enterprises');
  await page.waitForSelector('[data-action=export-csv]');
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export-csv]')]);
  const text = readFileSync(await dl.path(), 'utf8');
  assert(text.charCodeAt(0) === 0xfeff && text.includes('统一社会信用代码'), 'CSV header missing');
  assert(text.includes(ents[0].name) && text.includes(ents[1].name) && !text.includes(ents[2].name), 'CSV is not the district\'s');
  await context.close();
}

async function test_checkin_with_photo() {
  need('POST', '/api/v1/cleaning-areas/{id}/checkins');
  const ent = ents[0];
  const tok = await srv.token('a1.manager');
  const r = await srv.api('POST', `/api/v1/enterprises/${ent.id}/cleaning-areas`, { name: '1号车间地面', frequency: 'daily' }, tok);
  assert(r.status === 201 || r.status === 200, 'area: ' + r.text);
  const { context, page } = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await page.goto(srv.base + '/#/cleaning');
  await page.click('[data-action=checkin]');
  await page.fill('input[name=person]', '张三');
  await page.selectOption('select[name=method]', 'wet_wipe');
  await page.fill('textarea[name=note]', '地面及设备表面积尘已清理');
  // a real 1x1 PNG
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  await page.setInputFiles('input[name=photo_file]', { name: 'clean.png', mimeType: 'image/png', buffer: png });
  await page.waitForSelector('.photo-prev');
  await shot(page, 'checkin-form');
  await page.click('.modal .ft .btn.primary');
  await page.waitForSelector('[data-testid=checkin-photo]', { timeout: 10000 });
  const n = db.scalar(`SET dw.scope = 'system'; SELECT count(*) FROM cleaning_checkins WHERE enterprise_id = ${ent.id} AND photo IS NOT NULL AND person = '张三'`);
  assert(n === '1', 'check-in with photo not stored: ' + n);
  await shot(page, 'cleaning');
  await context.close();
}

async function test_district_approves_clearance_requested_in_another_context() {
  need('POST', '/api/v1/warnings/{id}/approve');
  const ent = ents[0];
  // a warning as the worker would issue it: push the enterprise to orange
  const wid = await makeWarning(ent);
  const e = await loginPage(browser, srv.base, 'a1.manager', PW, errors);
  await e.page.goto(srv.base + '/#/warnings');
  const row = `[data-warning-id="${wid}"]`;
  await e.page.waitForSelector(row);
  for (const [act, field, text] of [['sign', 'note', '已签收'], ['feedback', 'feedback', '已停机检查灰斗，清理积灰'], ['request', 'note', '隐患已消除，申请消警']]) {
    await e.page.click(`${row} [data-action=${act}]`);
    await e.page.fill(`.modal textarea[name=${field}]`, text);
    await e.page.click('.modal .ft .btn.primary');
    await e.page.waitForSelector('.modal-bg', { state: 'detached' });
    await sleep(300);
  }
  await e.page.waitForSelector(`${row} [data-warning-state=clearance_requested]`);
  // the district, in its own context: overview -> warning -> archive -> approve
  const d = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await d.page.goto(srv.base + '/#/warnings/' + wid);
  await d.page.waitForSelector('[data-testid=warning-detail]');
  await d.page.click('[data-testid=warning-enterprise]');
  await d.page.waitForSelector('[data-testid=enterprise-name]');
  await d.page.goto(srv.base + '/#/warnings/' + wid);
  await d.page.waitForSelector('[data-testid=warning-detail] [data-action=approve], .extra [data-action=approve]');
  await shot(d.page, 'warning-detail');
  await d.page.click('[data-action=approve]');
  await d.page.fill('.modal textarea[name=note]', '核查属实，同意消警');
  await d.page.click('.modal .ft .btn.primary');
  await d.page.waitForSelector('[data-warning-state=cleared]', { timeout: 10000 });
  // the enterprise's open page follows
  await e.page.goto(srv.base + '/#/warnings?open=false');
  await e.page.waitForSelector(`${row} [data-warning-state=cleared]`);
  await e.context.close(); await d.context.close();
}

async function makeWarning(ent) {
  // drive a high-high temperature and a spark on one collector (an override) and wait for the worker's warning
  const now = Date.now();
  await srv.ingest(ent, [0, 1, 2, 3, 4, 5].map(i => ({ point: ent.points.hopper_temp.code, ts: new Date(now - (30 - i * 5) * 1000).toISOString(), value: 60 + i * 6 })));
  await srv.ingest(ent, [{ point: ent.points.spark_detected.code, ts: new Date().toISOString(), value: 1 }]);
  const tok = await srv.token('baoshan.admin');
  for (let i = 0; i < 60; i++) {
    const r = await srv.api('GET', `/api/v1/warnings?enterprise=${ent.id}&open=true`, undefined, tok);
    if (r.status === 200 && r.body.items.length) return r.body.items[0].id;
    await sleep(500);
  }
  throw new Error('no warning issued for the enterprise');
}

async function test_upgraded_warning_shows_its_new_grade_and_history() {
  need('GET', '/api/v1/warnings/{id}');
  const ent = ents[2];
  const q = sql => db.scalar(`SET dw.scope = 'system'; ${sql}`);
  const until = async (f, what) => {
    for (let i = 0; i < 120; i++) { const v = f(); if (v) return v; await sleep(250); }
    throw new Error('timed out waiting for ' + what);
  };
  await until(() => q(`SELECT grade FROM enterprise_risk WHERE enterprise_id = ${ent.id}`), 'baseline score');
  // the calibrated model (risk/README.md): Al/Mg 25 + >= 100 workers 15 + multi-storey 5 + dry
  // central 10 + one dry collector 2 = 57, with 5 open hazards (S 0.3) R = 60.42, orange
  q(`UPDATE dust_systems SET wet = false, collector_type = 'bag', central = true WHERE enterprise_id = ${ent.id};
     INSERT INTO enterprise_profiles (enterprise_id, dust_class, dust_workers, multi_storey, open_hazards)
     VALUES (${ent.id}, 'metal_al_mg', 150, true, 5)
     ON CONFLICT (enterprise_id) DO UPDATE SET dust_class = 'metal_al_mg', dust_workers = 150, multi_storey = true, open_hazards = 5;
     INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES (${ent.id}, 'test') ON CONFLICT DO NOTHING; SELECT 1`);
  const wid = await until(() => q(`SELECT id FROM warnings WHERE enterprise_id = ${ent.id} AND cause = 'grade' AND grade = 'orange'`), 'orange warning');
  // positive-pressure conveying, collector indoors: I = 73, R = 77.38, red -> the same warning upgraded
  q(`UPDATE dust_systems SET positive_pressure = true, indoor = true WHERE enterprise_id = ${ent.id};
     INSERT INTO risk_recompute_requests (enterprise_id, reason) VALUES (${ent.id}, 'test') ON CONFLICT DO NOTHING; SELECT 1`);
  await until(() => q(`SELECT grade FROM warnings WHERE id = ${wid}`) === 'red', 'upgrade to red');
  const d = await loginPage(browser, srv.base, 'jiading.admin', PW, errors);
  await d.page.goto(srv.base + '/#/warnings');
  await d.page.waitForSelector(`[data-warning-id="${wid}"] [data-grade=red]`);
  await d.page.goto(srv.base + '/#/warnings/' + wid);
  await d.page.waitForSelector('[data-testid=warning-detail] [data-grade=red]');
  await d.page.waitForSelector('[data-testid=warning-upgraded]');
  const up = await d.page.textContent('[data-testid=warning-history] li[data-event=upgrade]');
  assert(up.includes('橙色') && up.includes('红色'), 'upgrade entry names the grades: ' + up);
  const issue = await d.page.textContent('[data-testid=warning-history] li[data-event=issue]');
  assert(issue.includes('橙色'), 'issue entry names the grade issued: ' + issue);
  await shot(d.page, 'warning-upgraded');
  await d.context.close();
}

async function test_main_pages_render_and_screenshots() {
  const ent = ents[0];
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  for (const [name, path, sel] of [['overview', '/#/overview', '[data-testid=map].leaflet-container'], ['enterprises', '/#/enterprises', '[data-testid=enterprise-table]'],
    ['archive', `/#/enterprises/${ent.id}`, '[data-testid=enterprise-name]'], ['archive-points', `/#/enterprises/${ent.id}?tab=points`, '[data-testid=points-table]'],
    ['archive-risk', `/#/enterprises/${ent.id}?tab=risk`, '[data-tab-body=risk] .card'], ['monitor', `/#/monitor/${ent.id}`, '.pts'],
    ['alarms', '/#/alarms', '[data-page=alarms] .card'], ['warnings', '/#/warnings', '[data-page=warnings] .card'],
    ['cleaning-compliance', '/#/cleaning', '[data-page=cleaning] .card'], ['accounts', '/#/accounts', '[data-testid=accounts-table]'],
    ['audit', '/#/accounts?tab=audit', '[data-testid=audit-table]'], ['settings', '/#/settings', '[data-action=save-tiles]']]) {
    await page.goto(srv.base + path);
    await page.waitForSelector(sel, { timeout: 10000 });
    await sleep(400);
    await shot(page, name);
  }
  // English switch
  await page.selectOption('.topbar select', 'en');
  await page.waitForSelector('text=Overview');
  await page.goto(srv.base + '/#/overview');
  await page.waitForSelector('[data-stat=enterprises]');
  await sleep(400);
  await shot(page, 'overview-en');
  await context.close();
}

// 设备与接入: a district admin adds a camera and a gateway, issues an api_key
// ingest credential (its secret shown once), a gateway pushes a reading with
// it through the real ingest listener, then the page revokes it.
async function test_district_admin_manages_equipment_and_ingest_credentials() {
  need('POST', '/api/v1/enterprises/{id}/cameras'); need('POST', '/api/v1/enterprises/{id}/ingest-credentials');
  const ent = ents[0];
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=assets`);
  await page.waitForSelector('[data-testid=systems-table] [data-system-id]');
  const submit = async () => { await page.click('.modal .ft .btn.primary'); };
  const closed = () => page.waitForSelector('.modal-bg', { state: 'detached' });
  // camera, on the enterprise's system
  await page.click('[data-action=new-cameras]');
  await page.fill('.modal input[name=code]', 'CAM-T1');
  await page.fill('.modal input[name=name]', '1号除尘器卸灰口');
  await page.selectOption('.modal select[name=system_id]', { index: 1 });
  await page.fill('.modal input[name=stream_url]', 'rtsp://10.0.0.8/stream1');
  await submit(); await closed();
  await page.waitForSelector('[data-testid=cameras-table] tr[data-camera-code="CAM-T1"]');
  assert((await page.textContent('[data-testid=cameras-table] tr[data-camera-code="CAM-T1"]')).includes('1号除尘系统'), 'camera row does not name its system');
  // the same code again: the server's refusal stands next to the form, which stays open
  await page.click('[data-action=new-cameras]');
  await page.fill('.modal input[name=code]', 'CAM-T1');
  await page.fill('.modal input[name=name]', '重复');
  await submit();
  await page.waitForSelector('.modal .err');
  const dup = await page.textContent('.modal .err');
  assert(dup.includes('the enterprise has a camera with this code'), 'duplicate camera error shows no detail: ' + dup);
  await page.click('.modal .ft .btn:not(.primary)'); await closed();
  // gateway
  await page.click('[data-action=new-gateways]');
  await page.fill('.modal input[name=code]', 'GW-T1');
  await page.fill('.modal input[name=name]', '1号车间网关');
  await page.selectOption('.modal select[name=dialect]', 'native');
  await submit(); await closed();
  await page.waitForSelector('[data-testid=gateways-table] tr[data-gateway-code="GW-T1"]');
  // a point added to the system, then disabled
  await page.click('[data-testid=systems-table] tr[data-system-id] [data-action=points]');
  await page.waitForSelector('[data-points-of] [data-action=new-point]');
  await page.click('[data-points-of] [data-action=new-point]');
  await page.fill('.modal input[name=code]', ent.code + '0105001');
  await page.selectOption('.modal select[name=kind]', 'fan_running');
  await page.fill('.modal input[name=name]', '主风机运行');
  await submit(); await closed();
  const newPt = `[data-points-of] tr:has-text("${ent.code}0105001")`;
  await page.waitForSelector(newPt);
  await page.click(`${newPt} [data-action=disable]`);
  await page.waitForSelector(`${newPt} [data-action=enable]`);
  assert(db.scalar(`SET dw.scope = 'system'; SELECT enabled FROM points WHERE code = '${ent.code}0105001'`) === 'f', 'point not disabled');
  // ingest credential: the secret appears once
  await page.click('[data-action=new-credentials]');
  await page.selectOption('.modal select[name=kind]', 'api_key');
  await page.fill('.modal input[name=label]', '浏览器测试网关');
  await submit();
  await page.waitForSelector('[data-testid=new-secret] [data-secret=api_key]');
  const key = (await page.textContent('[data-testid=new-secret] [data-secret=api_key]')).trim();
  assert(/^dwk_/.test(key) && key.length > 30, 'no api key shown: ' + key);
  await shot(page, 'assets-secret-once');
  await page.click('.modal .hd .x'); await closed();
  const row = '[data-testid=credentials-table] tr:has-text("浏览器测试网关")';
  await page.waitForSelector(row);
  assert(!(await page.content()).includes(key), 'the secret is still on the page after its modal closed');
  await page.reload();
  await page.waitForSelector(row);
  const html = await page.content();
  const ident = (await page.textContent(`${row} .mono`)).replace('…', '');
  assert(!html.includes(key) && ident.length >= 8 && key.startsWith(ident), `after reload: secret shown or prefix wrong (${ident})`);
  // a gateway uses it: one reading through the real ingest listener
  const ts = new Date().toISOString();
  const ack = await srv.ingest({ apiKey: key }, [{ point: ent.points.pressure_diff.code, ts, value: 1432.5 }]);
  assert(db.scalar(`SET dw.scope = 'system'; SELECT count(*) FROM readings WHERE point_id = ${ent.points.pressure_diff.id} AND value = 1432.5`) === '1', 'reading not stored: ' + JSON.stringify(ack));
  // a point with data is not deleted: the server's advice stands above the list, with the way out
  const dataPt = `[data-points-of] tr[data-point-id="${ent.points.pressure_diff.id}"]`;
  await page.click('[data-testid=systems-table] tr[data-system-id] [data-action=points]');
  await page.click(`${dataPt} [data-action=delete-point]`);
  await page.click('.modal [data-action=confirm]');
  await page.waitForSelector('[data-testid=systems-msg] .err [data-action=disable-instead]');
  assert((await page.textContent('[data-testid=systems-msg] .err')).includes('disable it instead'), 'in_use advice missing');
  await shot(page, 'assets-district');
  // revoked from the page: the next push is refused
  await page.click(`${row} [data-action=revoke]`);
  await page.click('.modal [data-action=confirm]');
  await page.waitForSelector(`[data-testid=credentials-table] tr[data-active="0"]:has-text("浏览器测试网关")`);
  const r = await fetch(`http://127.0.0.1:${srv.ingestPort}/ingest/v1/readings`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Api-Key': key },
    body: JSON.stringify({ readings: [{ point: ent.points.pressure_diff.code, ts: new Date().toISOString(), value: 1 }] }) });
  assert(r.status === 401 || r.status === 403, 'revoked key still ingests: ' + r.status);
  await context.close();
}

// enterprise staff: the lists, no write buttons for systems and points
// (city/district only) nor for credentials (administrators only)
async function test_enterprise_staff_sees_equipment_read_only() {
  need('GET', '/api/v1/enterprises/{id}/systems');
  const ent = ents[0];
  const { context, page } = await loginPage(browser, srv.base, 'a1.staff', PW, errors);
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=assets`);
  await page.waitForSelector('[data-testid=systems-table] [data-system-id]');
  await page.waitForSelector('[data-testid=credentials] table, [data-testid=credentials] [data-empty]');
  assert((await page.textContent('[data-testid=systems-table]')).includes('1号除尘系统'), 'system not listed');
  await page.click('[data-testid=systems-table] tr[data-system-id] [data-action=points]');
  await page.waitForSelector('[data-points-of] tr[data-point-id]');
  for (const sel of ['[data-action=new-systems]', '[data-testid=systems] [data-action=edit]', '[data-testid=systems] [data-action=delete]',
    '[data-action=new-point]', '[data-action=disable]', '[data-action=enable]', '[data-action=delete-point]', '[data-action=new-credentials]', '[data-action=revoke]'])
    assert(!(await page.$(sel)), 'enterprise staff sees ' + sel);
  // cameras and gateways are the enterprise's own equipment: it may maintain them
  if (has('POST', '/api/v1/enterprises/{id}/cameras')) assert(await page.$('[data-action=new-cameras]'), 'enterprise staff cannot add a camera');
  await shot(page, 'assets-enterprise-staff');
  // English strings exist for the section
  await page.selectOption('.topbar select', 'en');
  await page.waitForSelector('[data-testid=credentials] .hd:has-text("Ingest credentials")');
  assert((await page.textContent('[data-tab=assets]')).includes('Equipment'), 'assets tab not in English');
  await shot(page, 'assets-en');
  await context.close();
}

// account administration on the page: disable/enable, unlock, reset the
// password (the account must change it), change role and scope; buttons only
// for the accounts the caller manages
async function test_district_admin_manages_accounts() {
  need('POST', '/api/v1/accounts/{id}/disable');
  const tok = await srv.token('baoshan.admin');
  const made = await srv.api('POST', '/api/v1/accounts', { username: 'browser.clerk', role: 'district_staff', password: 'Quartz-Pass-2026#x' }, tok);
  assert(made.status === 201, 'create account: ' + made.text);
  const row = u => `[data-testid=accounts-table] tr[data-username="${u}"]`;
  const state = u => db.scalar(`SET dw.scope = 'system'; SELECT disabled::text || ',' || coalesce(locked_until > now(), false)::text || ',' || must_change_password::text || ',' || role FROM accounts WHERE username = '${u}'`);
  // lock it with failed logins
  for (let i = 0; i < 5; i++) await srv.api('POST', '/api/v1/auth/login', { username: 'browser.clerk', password: 'wrong-password' });
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.admin', PW, errors);
  await page.goto(srv.base + '/#/accounts');
  await page.waitForSelector(row('browser.clerk'));
  // none for itself, for the city or for another district's admin (not listed at all)
  assert(!(await page.$(`${row('baoshan.admin')} [data-action]`)), 'buttons on the own account');
  assert(!(await page.$(row('city.admin'))) && !(await page.$(row('jiading.admin'))), 'foreign accounts listed');
  // unlock
  await page.click(`${row('browser.clerk')} [data-action=unlock]`);
  await page.waitForFunction(u => !document.querySelector(`[data-testid=accounts-table] tr[data-username="${u}"] [data-action=unlock]`), 'browser.clerk');
  assert(state('browser.clerk') === 'false,false,true,district_staff', 'unlock: ' + state('browser.clerk'));
  // disable (confirmed), then enable
  await page.click(`${row('browser.clerk')} [data-action=disable]`);
  await page.click('.modal [data-action=confirm]');
  await page.waitForSelector(`${row('browser.clerk')} [data-action=enable]`);
  assert(state('browser.clerk').startsWith('true,'), 'disable: ' + state('browser.clerk'));
  await shot(page, 'accounts-admin');
  await page.click(`${row('browser.clerk')} [data-action=enable]`);
  await page.waitForSelector(`${row('browser.clerk')} [data-action=disable]`);
  assert(state('browser.clerk').startsWith('false,'), 'enable: ' + state('browser.clerk'));
  // reset the password: a generated one, shown once
  await page.click(`${row('browser.clerk')} [data-action=reset-password]`);
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('[data-testid=initial-password]');
  const generated = (await page.textContent('[data-testid=initial-password]')).trim();
  assert(generated.length >= 12, 'no generated password');
  await page.click('.modal .x');
  const login = await srv.api('POST', '/api/v1/auth/login', { username: 'browser.clerk', password: generated });
  assert(login.status === 200 && JSON.parse(login.text).must_change_password === true, 'reset password: ' + login.text);
  // role and scope: to a street of the district
  await page.click(`${row('browser.clerk')} [data-action=edit]`);
  await page.selectOption('.modal select[name=role]', 'street_staff');
  await page.fill('.modal input[name=region]', '310113103');
  await page.click('.modal button[type=submit]');
  await page.waitForFunction(() => !document.querySelector('.modal'));
  await page.waitForSelector(`${row('browser.clerk')}:has-text("罗店镇")`);
  assert(state('browser.clerk').endsWith(',street_staff'), 'role change: ' + state('browser.clerk'));
  // a region outside the district: the server's refusal shows in the form
  await page.click(`${row('browser.clerk')} [data-action=edit]`);
  await page.fill('.modal input[name=region]', '310114102');
  await page.click('.modal button[type=submit]');
  await page.waitForSelector('.modal .err');
  assert((await page.textContent('.modal .err')).includes('310114102'), 'refusal not shown');
  // that 422 was asked for: the browser logs it, it is no page error
  for (let i = errors.length - 1; i >= 0; i--) if (/^baoshan\.admin: console: .*status of 422/.test(errors[i])) errors.splice(i, 1);
  await context.close();
}

// RFC 6238 with node's crypto: the code an authenticator app would show
function totpCode(secretB32, step) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretB32) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map(b => parseInt(b, 2)));
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[19] & 15;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1000000).padStart(6, '0');
}

// an administrator enrols a second factor on the settings page, login then
// asks for the code, and the city resets it from the accounts page
async function test_admin_totp_enrol_login_and_reset() {
  need('POST', '/api/v1/auth/totp');
  const city = await srv.token('city.admin');
  const made = await srv.api('POST', '/api/v1/accounts', { username: 'browser.admin', role: 'district_admin', region: '310114', password: 'Totp-Quartz-2026#' }, city);
  assert(made.status === 201, 'create account: ' + made.text);
  // the forced first change, through the API
  const tok = JSON.parse((await srv.api('POST', '/api/v1/auth/login', { username: 'browser.admin', password: 'Totp-Quartz-2026#' })).text).token;
  const ch = await srv.api('POST', '/api/v1/auth/password', { current_password: 'Totp-Quartz-2026#', new_password: PW }, tok);
  assert(ch.status === 200, 'password change: ' + ch.text);
  let { context, page } = await loginPage(browser, srv.base, 'browser.admin', PW, errors);
  await page.goto(srv.base + '/#/settings');
  await page.click('[data-testid=totp] [data-action=totp-enrol]');
  await page.waitForSelector('[data-testid=totp-uri]');
  const uri = (await page.textContent('[data-testid=totp-uri]')).trim();
  const secret = (await page.textContent('[data-testid=totp-secret]')).trim();
  assert(uri.startsWith('otpauth://totp/dustwatch:browser.admin?secret=' + secret), 'otpauth URI: ' + uri);
  const step = Math.floor(Date.now() / 1000 / 30);
  await page.fill('[data-testid=totp] input[name=code]', totpCode(secret, step));
  await page.click('[data-testid=totp] [data-action=totp-confirm]');
  await page.waitForSelector('[data-testid=totp] .tag.ok');
  await shot(page, 'totp-enabled');
  await page.click('[data-action=logout]');
  await page.waitForSelector('input[name=username]');
  // login: the password first, then the code the server asks for
  await page.fill('input[name=username]', 'browser.admin');
  await page.fill('input[name=password]', PW);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=totp-row] input[name=totp_code]', { state: 'visible' });
  await shot(page, 'login-totp');
  await page.fill('input[name=totp_code]', totpCode(secret, step + 1));
  await page.click('button[type=submit]');
  await page.waitForSelector('.shell', { timeout: 15000 });
  await context.close();
  // the city removes it from the accounts page
  ({ context, page } = await loginPage(browser, srv.base, 'city.admin', PW, errors));
  await page.goto(srv.base + '/#/accounts');
  const row = '[data-testid=accounts-table] tr[data-username="browser.admin"]';
  await page.click(`${row} [data-action=reset-totp]`);
  await page.click('.modal [data-action=confirm]');
  await page.waitForFunction(r => document.querySelector(r) && !document.querySelector(r + ' [data-action=reset-totp]'), row);
  const plain = await srv.api('POST', '/api/v1/auth/login', { username: 'browser.admin', password: PW });
  assert(plain.status === 200, 'login after the reset: ' + plain.text);
  await context.close();
}

// issue 16 item 1: a spark detector pulsing is one episode -- one feed line with its count,
// one list row with ×count, its state text instead of "1 / 1" and its own kind label
async function test_spark_repeats_are_one_episode_in_feed_and_list() {
  need('POST', '/api/v1/alarms/acknowledge');
  const ent = ents[1];
  const sp = ent.points.spark_detected.code;
  const { context, page } = await loginPage(browser, srv.base, 'baoshan.staff', PW, errors);
  await page.waitForSelector('[data-page=overview] [data-testid=map]');
  await page.waitForSelector('.live-dot.on', { timeout: 10000 });
  const t0 = Date.now() - 50000;
  const at = s => new Date(t0 + s * 1000).toISOString();
  await srv.ingest(ent, [0, 10, 20, 30, 40].map((s, i) => ({ point: sp, ts: at(s), value: i % 2 ? 0 : 1 })));
  await page.waitForSelector(`[data-testid=live-feed] [data-enterprise="${ent.id}"] [data-feed-count="3"]`, { timeout: 15000 });
  const lines = await page.$$eval(`[data-testid=live-feed] [data-feed-type=alarm][data-enterprise="${ent.id}"]`,
    xs => xs.filter(x => x.textContent.includes('火花探测')).length);
  assert(lines === 1, `the repeats of one episode took ${lines} feed lines`);
  await shot(page, 'overview-feed-episode');
  await context.close();
  const { context: c2, page: p2 } = await loginPage(browser, srv.base, 'a2.manager', PW, errors);
  await p2.goto(srv.base + '/#/alarms?kind=spark');
  await p2.waitForSelector('[data-testid=alarm-list] [data-episode-count="3"]');
  const rows = await p2.$$eval('[data-testid=alarm-list] tr[data-alarm-id]', xs => xs.length);
  assert(rows === 1, `${rows} rows for one episode`);
  const v = await p2.textContent('[data-testid=alarm-list] [data-value-text]');
  assert(v.includes('检测到火花') && !v.includes('/'), 'value shown as ' + v);
  const k = await p2.textContent('[data-testid=alarm-list] [data-kind=spark]');
  assert(k.includes('火花探测') && !k.includes('设备故障'), 'kind shown as ' + k);
  assert(await p2.$('[data-action=batch-ack]') && await p2.$('[data-action=shelve]'), 'no batch acknowledge or shelve');
  await shot(p2, 'alarms-episode');
  await c2.close();
}

async function test_leaving_the_overview_while_its_map_settles() {
  // Leaflet's canvas renderer redraws at once after a move and forgets the
  // frame it had requested; leaving the page then cancelled only the newer
  // frame and the forgotten one redrew a removed canvas (TypeError reading
  // 'clearRect': an intermittent CI failure).  The same order of events, made
  // on purpose: a redraw requested, a move, another request, the page left.
  const mine = [];
  const { context, page } = await loginPage(browser, srv.base, 'city.admin', PW, mine);
  for (let i = 0; i < 5; i++) {
    await page.evaluate(() => { location.hash = '#/'; });
    await page.waitForFunction(() => {
      const el = document.querySelector('[data-page=overview] .leaflet-container');
      let n = 0;
      if (el && el._dwMap) el._dwMap.eachLayer(l => { if (l.setStyle && l._renderer) n++; });
      return n > 0;
    }, null, { timeout: 15000 });
    await sleep(300);
    await page.evaluate(() => new Promise(done => {
      const map = document.querySelector('[data-page=overview] .leaflet-container')._dwMap;
      const paths = [];
      map.eachLayer(l => { if (l.setStyle && l._renderer) paths.push(l); });
      paths[0].setStyle({}); // frame A requested
      map.fire('moveend'); // redraw now; A forgotten
      paths[0].setStyle({}); // frame B requested
      addEventListener('hashchange', () => setTimeout(done, 200), { once: true });
      location.hash = '#/alarms'; // map.remove() cancels B
    }));
  }
  await context.close();
  assert(mine.length === 0, 'errors while leaving the overview:\n' + mine.join('\n'));
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_each_role_sees_only_its_scope, test_login_failure_is_generic_and_password_change_is_enforced,
  test_new_reading_and_alarm_appear_live_without_reload, test_feed_seeded_from_open_alarms_is_dated_and_keyed,
  test_csv_export_downloads, test_checkin_with_photo,
  test_district_approves_clearance_requested_in_another_context, test_upgraded_warning_shows_its_new_grade_and_history,
  test_main_pages_render_and_screenshots,
  test_district_admin_manages_equipment_and_ingest_credentials, test_enterprise_staff_sees_equipment_read_only,
  test_district_admin_manages_accounts, test_admin_totp_enrol_login_and_reset,
  test_spark_repeats_are_one_episode_in_feed_and_list, test_leaving_the_overview_while_its_map_settles, test_no_script_errors];
// DW_BROWSER_ONLY=word[,word]: run only the tests whose names contain a word (and the script-error check)
const only = (process.env.DW_BROWSER_ONLY || '').split(',').filter(Boolean);
const selected = only.length ? tests.filter(f => f === test_no_script_errors || only.some(w => f.name.includes(w))) : tests;
let passed = 0, failed = 0, skipped = 0;
try {
  await setup();
  for (const t of selected) {
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
