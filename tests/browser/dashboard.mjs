// Browser tests of the dashboard's display rules (issue 17): one time zone
// for every time including chart axes, units on values, phone layout of the
// enterprise pages, the picker and compliance figures.  One server and one
// small city for the file; each test uses its own browser contexts.  Prints
// one line per test and the closing "N passed, N failed".
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database, Server, makeCity, launch, sleep, PW } from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const shots = join(here, 'screenshots');
mkdirSync(shots, { recursive: true });

const assert = (c, m) => { if (!c) throw new Error('assertion failed: ' + m); };
let db, srv, browser, ents;
const errors = [];
const expectedConsole = []; // a test that provokes a refusal says so

async function setup() {
  db = new Database();
  ents = makeCity(db);
  const accounts = [
    ['city.admin', 'city_admin', '--region', '310000'],
    ['baoshan.admin', 'district_admin', '--region', '310113'],
    ['baoshan.staff', 'district_staff', '--region', '310113'],
    ['a1.manager', 'enterprise_manager', '--enterprise', ents[0].code],
    ['a1.staff', 'enterprise_staff', '--enterprise', ents[0].code],
    ['a2.manager', 'enterprise_manager', '--enterprise', ents[1].code],
  ];
  for (const [u, role, flag, scope] of accounts) db.admin('create-account', '--username', u, '--role', role, flag, scope, '--display-name', u);
  srv = await new Server().start(db, { DUSTWATCH_WORKER_INTERVAL_MS: 300 });
  browser = await launch();
}

async function shot(page, name) { await page.screenshot({ path: join(shots, 'dash-' + name + '.png'), fullPage: false }); }

// a logged-in page in a context with the given options (time zone, phone …)
async function login(user, opts = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', ...opts });
  const page = await context.newPage();
  // the first frames of the stack say which script failed (the message alone often does not)
  page.on('pageerror', e => errors.push(`${user}: ${e.message}` + (e.stack ? '\n      ' + e.stack.split('\n').slice(1, 5).map(l => l.trim()).join('\n      ') : '')));
  page.on('console', m => { if (m.type() === 'error' && !/status of (401|404|403|409)/.test(m.text()) && !expectedConsole.some(r => r.test(m.text()))) errors.push(`${user}: console: ${m.text()}`); });
  await page.goto(srv.base + '/');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', PW);
  await page.click('button[type=submit]');
  await page.waitForSelector('.shell', { timeout: 15000 });
  return { context, page };
}
// wall-clock HH:MM:SS of an instant in a zone
const wall = (ms, tz) => new Intl.DateTimeFormat('en-GB', { timeZone: tz, hour12: false, hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(new Date(ms));

// the tooltip of the trend chart's last point (ECharts draws axes on a canvas;
// its tooltip is HTML and shows the axis value as the axis labels it)
async function trendTooltip(page) {
  await page.waitForSelector('[data-page=monitor] .chart canvas', { timeout: 15000 });
  return page.evaluate(async () => {
    const el = document.querySelector('[data-page=monitor] .chart');
    const c = window.echarts.getInstanceByDom(el);
    const n = c.getOption().series[0].data.length;
    c.dispatchAction({ type: 'showTip', seriesIndex: 0, dataIndex: n - 1 });
    await new Promise(r => setTimeout(r, 400));
    const tips = [...el.querySelectorAll('div')].filter(d => d.style.position === 'absolute' && d.textContent.trim());
    return { text: tips.map(d => d.textContent).join(' | '), useUTC: c.getOption().useUTC };
  });
}

// ---------------------------------------------------------------------------
// Item 2: a UTC browser shows chart times in the display zone (Asia/Shanghai),
// the same as a Shanghai browser and the same as the tables.
async function test_chart_times_follow_display_zone_not_browser() {
  const ent = ents[0];
  const ts = Math.floor((Date.now() - 7 * 60e3) / 1000) * 1000;
  await srv.ingest(ent, [{ point: ent.points.hopper_temp.code, ts: new Date(ts).toISOString(), value: 41.5 }]);
  const want = wall(ts, 'Asia/Shanghai');
  const seen = {};
  for (const tz of ['UTC', 'Asia/Shanghai', 'America/New_York']) {
    const { context, page } = await login('a1.manager', { timezoneId: tz });
    await page.goto(srv.base + `/#/monitor/${ent.id}?range=1h&point=${ent.points.hopper_temp.id}`);
    const tip = await trendTooltip(page);
    seen[tz] = tip.text;
    assert(tip.text.includes(want), `${tz} browser: tooltip "${tip.text}" does not show the Shanghai time ${want}`);
    if (tz !== 'Asia/Shanghai') assert(!tip.text.includes(wall(ts, tz)), `${tz} browser: tooltip shows the browser's zone ${wall(ts, tz)}`);
    if (tz === 'UTC') await shot(page, 'utc-monitor');
    await context.close();
  }
  assert(seen.UTC === seen['Asia/Shanghai'], `UTC and Shanghai browsers differ: ${seen.UTC} / ${seen['Asia/Shanghai']}`);
}

// Item 4: units on values, and the temperature unit is visible ink (℃,
// U+2103, is an empty glyph in WenQuanYi Micro Hei: 16 px wide, no pixels).
// The unit text is drawn on a canvas in the element's own computed font and
// its dark pixels counted.
async function inkOf(page, sel) {
  return page.$eval(sel, el => {
    const cs = getComputedStyle(el);
    const text = el.textContent.trim();
    const c = document.createElement('canvas');
    c.width = 200; c.height = 60;
    const g = c.getContext('2d');
    g.font = `${cs.fontWeight} 32px ${cs.fontFamily}`;
    g.fillStyle = '#000'; g.textBaseline = 'top';
    g.fillText(text, 4, 4);
    const d = g.getImageData(0, 0, c.width, c.height).data;
    let ink = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 64) ink++;
    return { text, ink, width: g.measureText(text).width, rect: el.getBoundingClientRect().width };
  });
}
async function test_units_shown_and_degree_celsius_visible() {
  const ent = ents[0];
  await srv.ingest(ent, [{ point: ent.points.hopper_temp.code, ts: new Date(Date.now() - 5000).toISOString(), value: 39 }]);
  const { context, page } = await login('a1.manager');
  await page.goto(srv.base + `/#/monitor/${ent.id}?point=${ent.points.hopper_temp.id}`);
  const sel = `[data-point-value="${ent.points.hopper_temp.id}"] small`;
  await page.waitForSelector(sel, { timeout: 15000 });
  const u = await inkOf(page, sel);
  assert(u.rect > 4 && u.width > 4, `unit has no width: ${JSON.stringify(u)}`);
  // a lone "C" has about 1/2 of "°C"'s ink; an empty ℃ glyph has none
  assert(u.ink > 40, `unit "${u.text}" draws ${u.ink} pixels: invisible`);
  assert(/C/.test(u.text), `temperature unit text is "${u.text}"`);
  const value = await page.textContent(`[data-point-value="${ent.points.hopper_temp.id}"]`);
  assert(/39(\.0+)?\s*°C/.test(value), `temperature card reads "${value}"`);
  // the archive's point table: every analog value and limit carries its unit
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=points`);
  await page.waitForSelector('[data-testid=points-table]');
  const row = await page.textContent(`[data-point-value="${ent.points.hopper_temp.id}"]`);
  assert(/°C/.test(row), `points table value "${row}" has no unit`);
  const limits = await page.$eval(`[data-point-value="${ent.points.hopper_temp.id}"]`, b => b.closest('tr').textContent);
  assert(/80\s*°C|80 °C/.test(limits) || /°C.*°C/.test(limits), `limits without unit: ${limits}`);
  await shot(page, 'units');
  await context.close();
}

// Item 3: the enterprise pages on a phone (Chromium mobile emulation, 390 px):
// nothing wider than the screen, the navigation reachable, and the 清理打卡
// button on screen and tappable, with the camera capture input.
const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 3 };
async function overflow(page) {
  return page.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const wide = [...document.querySelectorAll('main *, .topbar *, .sidenav')].filter(e => {
      const r = e.getBoundingClientRect();
      if (!r.width) return false;
      // inside a horizontal scroller (nav row, tabs) is fine
      for (let p = e.parentElement; p; p = p.parentElement) { const o = getComputedStyle(p).overflowX; if (o === 'auto' || o === 'scroll') return false; }
      return r.right > w + 1 || r.left < -1;
    }).slice(0, 3).map(e => `${e.tagName}.${e.className} ${Math.round(e.getBoundingClientRect().right)}`);
    return { w, sw: document.documentElement.scrollWidth, wide };
  });
}
async function test_enterprise_pages_usable_on_a_phone() {
  const ent = ents[0];
  const tok = await srv.token('a1.manager');
  const r = await srv.api('POST', `/api/v1/enterprises/${ent.id}/cleaning-areas`, { name: '抛光车间地面', frequency: 'daily' }, tok);
  assert(r.status === 201 || r.status === 200, 'area: ' + r.text);
  const { context, page } = await login('a1.staff', PHONE);
  const pages = [['archive', `/#/enterprises/${ent.id}`, '[data-testid=enterprise-name]'],
    ['todo', `/#/enterprises/${ent.id}?tab=points`, '[data-testid=points-table]'],
    ['alarms', '/#/alarms', '[data-page=alarms] table, [data-page=alarms] .empty'],
    ['warnings', '/#/warnings', '[data-page=warnings] table, [data-page=warnings] .empty'],
    ['monitor', `/#/monitor/${ent.id}`, '[data-page=monitor] .pt'],
    ['cleaning', '/#/cleaning', '[data-action=checkin]']];
  for (const [name, path, sel] of pages) {
    await page.goto(srv.base + path);
    await page.waitForSelector(sel, { timeout: 15000 });
    await sleep(300);
    const o = await overflow(page);
    assert(o.sw <= o.w + 1 && !o.wide.length, `${name}: page ${o.sw} px wide on a ${o.w} px screen: ${o.wide.join(', ')}`);
    const nav = await page.$eval('.sidenav', n => n.getBoundingClientRect());
    assert(nav.width <= 391 && nav.height < 80, `${name}: side nav takes ${Math.round(nav.width)}×${Math.round(nav.height)}`);
    await shot(page, 'phone-' + name);
  }
  // the check-in button: inside the screen, tappable, opens the camera form
  const btn = await page.$('[data-action=checkin]');
  const box = await btn.boundingBox();
  assert(box && box.x >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844 * 3, `清理打卡 off-screen: ${JSON.stringify(box)}`);
  assert(box.height >= 28, `清理打卡 too small to tap: ${box.height}px`);
  await btn.scrollIntoViewIfNeeded();
  assert(await btn.isVisible(), '清理打卡 not visible');
  await btn.tap();
  await page.waitForSelector('.modal input[type=file]');
  const cam = await page.$eval('.modal input[type=file]', i => ({ accept: i.accept, capture: i.getAttribute('capture') }));
  assert(cam.accept === 'image/*' && cam.capture === 'environment', 'camera input: ' + JSON.stringify(cam));
  const o = await overflow(page);
  assert(o.sw <= o.w + 1, `check-in form ${o.sw} px wide`);
  await page.fill('.modal input[name=person]', '李四');
  const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64');
  await page.setInputFiles('.modal input[type=file]', { name: 'clean.png', mimeType: 'image/png', buffer: png });
  await shot(page, 'phone-checkin-form');
  const submit = await page.$('.modal .ft .btn.primary');
  const sb = await submit.boundingBox();
  assert(sb.x + sb.width <= 390, 'submit button off-screen');
  await submit.tap();
  await page.waitForSelector('[data-testid=checkin-photo]', { timeout: 10000 });
  const n = db.scalar(`SET dw.scope = 'system'; SELECT count(*) FROM cleaning_checkins WHERE enterprise_id = ${ent.id} AND photo IS NOT NULL AND person = '李四'`);
  assert(n === '1', 'check-in from the phone not stored: ' + n);
  await context.close();
}

// Item 9: the 实时监测 picker colours each enterprise by its state (grey when
// offline, else its grade); the CSV export carries the list's filters; the
// compliance page lists enterprises without cleaning areas.
async function test_picker_states_export_filters_and_arealess_enterprises() {
  const [a1, a2] = ents;
  await srv.ingest(a1, [{ point: a1.points.hopper_temp.code, ts: new Date(Date.now() - 2000).toISOString(), value: 35 }]);
  const { context, page } = await login('baoshan.admin');
  await page.goto(srv.base + '/#/monitor');
  await page.waitForSelector(`[data-pick-state][data-enterprise="${a2.id}"]`);
  const st = await page.$$eval('[data-pick-state]', els => Object.fromEntries(els.map(e => [e.dataset.enterprise, [e.dataset.pickState, getComputedStyle(e).borderTopColor, getComputedStyle(e).backgroundColor]])));
  assert(st[a2.id][0] === 'off', 'a2 reports nothing but its card is ' + st[a2.id][0]);
  assert(st[a1.id][0] !== 'off', 'a1 reports but its card is offline');
  assert(st[a1.id][1] !== st[a2.id][1] || st[a1.id][2] !== st[a2.id][2], 'online and offline cards look alike: ' + JSON.stringify(st));
  await shot(page, 'picker');
  // export with the list's filter: only the filtered enterprise in the file
  await page.goto(srv.base + '/#/enterprises?q=' + encodeURIComponent('罗店木业'));
  await page.waitForSelector('[data-testid=enterprise-table]');
  const href = await page.getAttribute('[data-action=export-csv]', 'href');
  assert(href.includes('q=' + encodeURIComponent('罗店木业')), 'export link without the filter: ' + href);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('[data-action=export-csv]')]);
  const { readFileSync } = await import('node:fs');
  const text = readFileSync(await dl.path(), 'utf8');
  const rows = text.trim().split('\n').slice(1);
  assert(rows.length === 1 && rows[0].includes('罗店木业'), 'exported rows: ' + rows.length + '\n' + text.slice(0, 300));
  // compliance: a2 has no cleaning area and is listed as such
  await page.goto(srv.base + '/#/cleaning');
  await page.waitForSelector('[data-testid=without-areas]');
  const names = await page.textContent('[data-testid=without-areas]');
  assert(names.includes(a2.name) && !names.includes(a1.name), 'enterprises without areas: ' + names);
  const n = await page.textContent('[data-stat=without-areas] .v');
  assert(n.trim() === '1', 'without-areas count ' + n);
  const rate = await page.$eval('[data-testid=compliance-table]', t => t.textContent);
  assert(/100\.0%/.test(rate), 'a1 checked in today and its rate is not 100%: ' + rate);
  await shot(page, 'compliance');
  await context.close();
}

// Item 5: the 接口密钥 tab says what its keys are for and issues dwa_… keys;
// the 设备与接入 tab's credentials say they are for gateways.
async function test_api_keys_and_ingest_credentials_explained() {
  const ent = ents[0];
  const { context, page } = await login('a1.manager');
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=keys`);
  await page.waitForSelector('[data-testid=keys-what]');
  const what = await page.textContent('[data-testid=keys-what]');
  assert(what.includes('dwa_') && what.includes('dwk_') && what.includes('不能上传'), 'keys tab explanation: ' + what);
  await page.click('[data-action=new-key]');
  await page.fill('.modal input[name=label]', 'ERP');
  await page.click('.modal .ft .btn.primary');
  await page.waitForSelector('[data-testid=new-key]');
  const key = (await page.textContent('[data-testid=new-key]')).trim();
  assert(/^dwa_[A-Za-z0-9_-]{43}$/.test(key), 'new API key ' + key);
  await shot(page, 'api-key');
  await context.close();
  const b = await login('baoshan.admin');
  await b.page.goto(srv.base + `/#/enterprises/${ent.id}?tab=assets`);
  await b.page.waitForSelector('[data-testid=creds-what]');
  const cw = await b.page.textContent('[data-testid=creds-what]');
  assert(cw.includes('dwk_') && cw.includes('网关'), 'credentials explanation: ' + cw);
  await b.context.close();
}

// Item 7: a video alarm's snapshot shows on the alarm and in the video-alarm
// list; the camera list shows status and the playback link.
async function test_video_snapshot_shown_and_camera_status() {
  const ent = ents[0];
  db.sql(`SET dw.scope = 'system'; INSERT INTO cameras (enterprise_id, code, name, stream_url) VALUES (${ent.id}, 'CAM01', '1号车间摄像头', 'https://video.example.gov.cn/play/CAM01');
    INSERT INTO cameras (enterprise_id, code, name, created_at) VALUES (${ent.id}, 'CAM02', '2号车间摄像头', now() - interval '3 days')`);
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
  const r = await fetch(`http://127.0.0.1:${srv.ingestPort}/ingest/v1/videos`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Api-Key': ent.apiKey },
    body: JSON.stringify({ videos: [{ camera: 'CAM01', ts: new Date(Date.now() - 60000).toISOString(), alarm_type: 'SJ02001', content: '烟火识别', image_base64: png }] }) });
  assert(r.status === 200, 'video ingest ' + r.status + ' ' + await r.text());
  const { context, page } = await login('a1.manager');
  await page.goto(srv.base + '/#/alarms');
  await page.click('[data-action=video-alarms]');
  await page.waitForSelector('[data-testid=snapshot-thumb]', { timeout: 15000 });
  await page.waitForFunction(() => { const i = document.querySelector('[data-testid=snapshot-thumb]'); return i && i.complete && i.naturalWidth > 0; }, null, { timeout: 10000 });
  const kinds = await page.$$eval('[data-alarm-id] [data-kind]', els => els.map(e => e.dataset.kind));
  assert(kinds.length >= 1 && kinds.every(k => k === 'video'), 'video list shows ' + kinds);
  await shot(page, 'video-alarms');
  await page.click('[data-testid=snapshot-thumb]');
  await page.waitForSelector('[data-testid=alarm-snapshot]');
  await page.waitForFunction(() => { const i = document.querySelector('[data-testid=alarm-snapshot]'); return i.complete && i.naturalWidth > 0; }, null, { timeout: 10000 });
  await shot(page, 'video-alarm-detail');
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=assets`);
  await page.waitForSelector('[data-camera-code=CAM01] [data-camera-status]');
  const s1 = await page.getAttribute('[data-camera-code=CAM01] [data-camera-status]', 'data-camera-status');
  const s2 = await page.getAttribute('[data-camera-code=CAM02] [data-camera-status]', 'data-camera-status');
  assert(s1 === 'online' && s2 === 'offline', `camera status ${s1} / ${s2}`);
  const play = await page.getAttribute('[data-camera-code=CAM01] [data-action=playback]', 'href');
  assert(play === 'https://video.example.gov.cn/play/CAM01', 'playback link ' + play);
  await context.close();
}

// Item 1: headline figures agree with the data: an enterprise reporting now
// is counted as connected (its archive still says not_connected), and a
// gateway's 最近上报 shows when data from its enterprise arrived.
async function test_headline_figures_agree_with_data() {
  const ent = ents[0];
  db.sql(`SET dw.scope = 'system'; UPDATE enterprises SET connection_status = 'not_connected';
    INSERT INTO gateways (enterprise_id, code, name) VALUES (${ent.id}, 'GW-A1', '1号网关')`);
  await srv.ingest(ent, [{ point: ent.points.pressure_diff.code, ts: new Date(Date.now() - 1000).toISOString(), value: 800 }]);
  const { context, page } = await login('baoshan.admin');
  await page.goto(srv.base + '/#/overview');
  await page.waitForSelector('[data-stat=online] .v');
  await page.waitForFunction(() => +document.querySelector('[data-stat=online] .v').firstChild.textContent >= 1, null, { timeout: 10000 });
  const num = async k => +(await page.$eval(`[data-stat=${k}] .v`, e => e.firstChild.textContent));
  const online = await num('online'), connected = await num('connected');
  assert(online >= 1 && connected >= online, `已接入 ${connected} < 当前在线 ${online}`);
  await page.goto(srv.base + `/#/enterprises/${ent.id}?tab=assets`);
  await page.waitForSelector('[data-gateway-code=GW-A1]');
  const seen = await page.$('[data-gateway-code=GW-A1] [data-gateway-seen]');
  assert(seen, 'gateway 最近上报 is "—" while its enterprise reports: ' + await page.textContent('[data-gateway-code=GW-A1]'));
  await context.close();
}

// Item 10: an enterprise deleting its gateway reaches the district's
// overview live (toast + notice card) and the district marks it seen.
async function test_district_sees_enterprise_deleting_its_gateway() {
  const ent = ents[0];
  const gw = db.scalar(`SET dw.scope = 'system'; INSERT INTO gateways (enterprise_id, code, name) VALUES (${ent.id}, 'GW-DEL', '待删网关') RETURNING id`);
  const d = await login('baoshan.staff');
  await d.page.goto(srv.base + '/#/overview');
  await d.page.waitForSelector('[data-testid=notices-card]');
  await d.page.waitForFunction(() => document.querySelector('.live-dot.on'), null, { timeout: 10000 });
  const tok = await srv.token('a1.manager');
  const r = await srv.api('DELETE', `/api/v1/gateways/${gw}`, undefined, tok);
  assert(r.status === 200, 'delete ' + r.status + ' ' + r.text);
  await d.page.waitForSelector('[data-notice-kind=gateway_deleted]', { timeout: 10000 });
  const text = await d.page.textContent('[data-notice-kind=gateway_deleted]');
  assert(text.includes('GW-DEL') && text.includes(ent.name), 'notice: ' + text);
  assert((await d.page.textContent('[data-testid=notices-open]')).trim() === '1', 'open count');
  await shot(d.page, 'notice');
  await d.page.click('[data-notice-kind=gateway_deleted] [data-action=notice-seen]');
  await d.page.waitForFunction(() => document.querySelector('[data-testid=notices-open]').textContent.trim() === '0');
  await d.context.close();
}

// Item 6: boundaries from the offline GeoJSON (labelled schematic), markers
// clustered when zoomed out and single when zoomed in.
async function test_map_boundaries_and_clusters() {
  const { context, page } = await login('city.admin');
  await page.goto(srv.base + '/#/overview');
  await page.waitForSelector('[data-testid=map] .leaflet-tooltip.area-label.district', { timeout: 15000 });
  const labels = await page.$$eval('[data-testid=map] .leaflet-tooltip.area-label.district', els => els.map(e => e.textContent));
  assert(labels.some(l => l.includes('宝山区') && l.includes('示意')) && labels.some(l => l.includes('嘉定区')), 'district outlines: ' + labels);
  assert(!labels.some(l => l.includes('浦东')), 'a district without enterprises is drawn: ' + labels);
  const zoomTo = async z => { await page.evaluate(z => document.querySelector('[data-testid=map]')._dwMap.setZoom(z, { animate: false }), z); await sleep(400); };
  await zoomTo(8);
  const clusters = await page.$$eval('.cluster[data-cluster]', els => els.map(e => +e.dataset.cluster));
  assert(clusters.length >= 1 && clusters.reduce((a, b) => a + b, 0) >= 2, 'no clusters at zoom 8: ' + clusters);
  await shot(page, 'map-clustered');
  await zoomTo(15);
  assert((await page.$$('.cluster[data-cluster]')).length === 0, 'still clustered at zoom 15');
  await context.close();
}

// Item 6: the 大屏 wall display: dark, no navigation, refreshes itself in
// place (here every second) without growing the page.
async function test_wall_display_refreshes_itself() {
  const { context, page } = await login('city.admin', { viewport: { width: 1920, height: 1080 } });
  await page.goto(srv.base + '/#/wall?refresh=1');
  await page.waitForSelector('[data-wall-stat=enterprises] b');
  await page.waitForFunction(() => document.querySelector('[data-wall-stat=enterprises] b').textContent === '3', null, { timeout: 15000 });
  assert(!(await page.isVisible('.topbar')) && !(await page.isVisible('.sidenav')), 'navigation shown on the wall');
  const bg = await page.$eval('.wall', e => getComputedStyle(e).backgroundImage + getComputedStyle(document.body).backgroundColor);
  assert(/rgb\(6, 18, 43\)/.test(bg), 'not dark: ' + bg);
  const refreshes = () => page.$eval('[data-testid=wall-updated]', e => +(e.dataset.refreshes || 0));
  await page.waitForFunction(() => +(document.querySelector('[data-testid=wall-updated]').dataset.refreshes || 0) >= 3, null, { timeout: 20000 });
  await page.waitForSelector('[data-testid=wall-map] .leaflet-tooltip.area-label.district');
  const census = () => page.evaluate(() => { const c = {}; for (const e of document.getElementsByTagName('*')) { const k = e.tagName + '.' + (e.className && e.className.baseVal === undefined ? String(e.className).split(' ')[0] : ''); c[k] = (c[k] || 0) + 1; } return c; });
  await sleep(1500);
  const c0 = await census();
  const nodes0 = Object.values(c0).reduce((a, b) => a + b, 0);
  const r0 = await refreshes();
  await page.waitForFunction(r => +(document.querySelector('[data-testid=wall-updated]').dataset.refreshes || 0) >= r + 8, r0, { timeout: 40000 });
  const c1 = await census();
  const nodes1 = Object.values(c1).reduce((a, b) => a + b, 0);
  const grew = Object.keys(c1).filter(k => (c1[k] || 0) > (c0[k] || 0)).map(k => `${k} ${c0[k] || 0}->${c1[k]}`);
  // a leak grows with every refresh; new data (an alarm raised meanwhile) adds one list item of a
  // few elements once (seen in CI on a loaded machine: DIV.wall-item 0->1)
  assert(nodes1 <= nodes0 + 12, `page grew from ${nodes0} to ${nodes1} elements over 8 refreshes: ${grew}`);
  await shot(page, 'wall');
  await page.click('[data-action=wall-exit]');
  await page.waitForSelector('.topbar');
  assert(await page.isVisible('.sidenav'), 'navigation not back after leaving the wall');
  await context.close();
}

// Item 8: the archive edit form (district) and the contacts form (enterprise).
async function test_archive_and_contacts_forms() {
  const ent = ents[1];
  const d = await login('baoshan.admin');
  await d.page.goto(srv.base + `/#/enterprises/${ent.id}`);
  await d.page.click('[data-action=edit-archive]');
  await d.page.waitForSelector('[data-testid=archive-form]');
  // connected / not connected come from data: the form offers the current status and a suspension
  const conn = await d.page.$$eval('.modal select[name=connection_status] option', os => os.map(o => o.value).join());
  const now = db.scalar(`SET dw.scope = 'system'; SELECT connection_status FROM enterprises WHERE id = ${ent.id}`);
  assert(conn === `${now},suspended`, 'connection_status options: ' + conn);
  await d.page.fill('.modal input[name=address]', '罗店镇美文路88号');
  await d.page.selectOption('.modal select[name=status]', 'overhaul');
  await d.page.fill('.modal input[name=dust_workers]', '12');
  await d.page.check('.modal input[name=dust_kinds][value=wood]');
  await d.page.check('.modal input[name=dust_kinds][value=paper]');
  await d.page.fill('.modal input[name=longitude]', '500');
  expectedConsole.push(/status of 422/);
  await d.page.click('.modal .ft .btn.primary');
  await d.page.waitForSelector('.modal .err', { timeout: 10000 });  // refused, shown in the form
  assert(db.scalar(`SET dw.scope = 'system'; SELECT address FROM enterprises WHERE id = ${ent.id}`) === '测试路1号', 'a refused edit changed the archive');
  await d.page.fill('.modal input[name=longitude]', '121.351');
  await d.page.click('.modal .ft .btn.primary');
  await d.page.waitForSelector('.modal', { state: 'detached', timeout: 10000 });
  const row = db.sql(`SET dw.scope = 'system'; SELECT address, status, dust_workers, array_to_string(dust_kinds, '|'), longitude FROM enterprises WHERE id = ${ent.id}`)[0];
  assert(row.join(',') === '罗店镇美文路88号,overhaul,12,paper|wood,121.351', 'archive after the edit: ' + row);
  await d.page.waitForFunction(() => document.querySelector('[data-tab-body=base]')?.textContent.includes('美文路88号'), null, { timeout: 10000 });
  await d.context.close();
  const m = await login('a2.manager');
  await m.page.goto(srv.base + `/#/enterprises/${ent.id}`);
  await m.page.click('[data-action=edit-archive]');
  await m.page.waitForSelector('[data-testid=archive-form]');
  const names = await m.page.$$eval('[data-testid=archive-form] [name]', els => els.map(e => e.name).sort());
  assert(names.join() === 'principal_name,principal_phone,safety_manager_name,safety_manager_phone', 'enterprise form fields: ' + names);
  await m.page.fill('.modal input[name=safety_manager_name]', '王安全');
  await m.page.fill('.modal input[name=safety_manager_phone]', '13800138000');
  await m.page.click('.modal .ft .btn.primary');
  await m.page.waitForSelector('.modal', { state: 'detached', timeout: 10000 });
  const c = db.sql(`SET dw.scope = 'system'; SELECT safety_manager_name, safety_manager_phone FROM enterprises WHERE id = ${ent.id}`)[0];
  assert(c.join(',') === '王安全,13800138000', 'contacts after the edit: ' + c);
  await m.context.close();
}

// every role's side navigation names each page once (two merged branches had
// each added 审批报备 and 隐患治理)
async function test_navigation_lists_each_page_once() {
  for (const user of ['city.admin', 'baoshan.admin', 'baoshan.staff', 'a1.manager', 'a1.staff']) {
    const u = await login(user);
    const navs = await u.page.$$eval('[data-nav]', els => els.map(e => e.getAttribute('href')));
    const dups = navs.filter((n, i) => navs.indexOf(n) !== i);
    assert(navs.length > 3 && dups.length === 0, `${user}: navigation entries twice: ${dups.join(', ')}`);
    await u.context.close();
  }
}

async function test_no_script_errors() {
  assert(errors.length === 0, 'errors in the pages:\n' + errors.join('\n'));
}

// ---------------------------------------------------------------------------
const tests = [test_chart_times_follow_display_zone_not_browser, test_units_shown_and_degree_celsius_visible,
  test_enterprise_pages_usable_on_a_phone, test_picker_states_export_filters_and_arealess_enterprises,
  test_api_keys_and_ingest_credentials_explained, test_video_snapshot_shown_and_camera_status,
  test_headline_figures_agree_with_data, test_district_sees_enterprise_deleting_its_gateway,
  test_map_boundaries_and_clusters, test_wall_display_refreshes_itself, test_archive_and_contacts_forms,
  test_navigation_lists_each_page_once, test_no_script_errors];
const only = (process.env.DW_BROWSER_ONLY || '').split(',').filter(Boolean);
const selected = only.length ? tests.filter(f => f === test_no_script_errors || only.some(w => f.name.includes(w))) : tests;
let passed = 0, failed = 0;
try {
  await setup();
  for (const t of selected) {
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
