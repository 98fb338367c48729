// Test harness: a fresh database on the PostgreSQL tests/run-all.sh started
// (DW_PG_PORT, DW_PGBIN, DUSTWATCH_REDIS_URL), a small city, accounts made with
// `dustwatch admin`, the real server on free loopback ports, and Debian's
// Chromium through playwright-core (never a downloaded browser).
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const BIN = process.env.DW_BIN || 'build/dustwatch';
export const SRC = process.env.DW_SOURCE_ROOT || process.cwd();
const PGBIN = process.env.DW_PGBIN || '/usr/lib/postgresql/15/bin';
const PG_PORT = process.env.DW_PG_PORT;
export const PW = 'Hopper-Spark-7319#';

export function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ok(p)); });
    s.on('error', fail);
  });
}

export function psql(sql, db = 'dustwatch') {
  const r = spawnSync(PGBIN + '/psql', ['-X', '-q', '-A', '-t', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', PG_PORT, '-U', 'dwadmin', '-d', db],
    { input: sql, encoding: 'utf8' });
  if (r.status !== 0) throw new Error('psql failed: ' + r.stderr + '\nSQL: ' + sql.slice(0, 400));
  return r.stdout.split('\n').filter(Boolean).map(l => l.split('\t'));
}

export class Database {
  constructor() {
    if (!PG_PORT) throw new Error('DW_PG_PORT is not set: run through tests/run-all.sh or deploy/services.sh');
    this.name = 't_web_' + randomBytes(5).toString('hex');
    psql(`CREATE DATABASE ${this.name}`, 'postgres');
    this.owner = `postgresql://dwadmin@127.0.0.1:${PG_PORT}/${this.name}`;
    this.app = `postgresql://dw_server@127.0.0.1:${PG_PORT}/${this.name}`;
    const r = spawnSync(BIN, ['migrate'], { env: this.env(), encoding: 'utf8', timeout: 120000 });
    if (r.status !== 0) throw new Error('migrate failed: ' + r.stderr);
  }
  env(extra = {}) { return { ...process.env, DUSTWATCH_DATABASE_URL: this.app, DUSTWATCH_MIGRATE_DATABASE_URL: this.owner, ...extra }; }
  sql(q) { return psql(q, this.name); }
  scalar(q) { const r = this.sql(q); return r.length ? r[0][0] : null; }
  admin(...args) {
    const r = spawnSync(BIN, ['admin', ...args, '--password-stdin'], { input: PW + '\n', env: this.env(), encoding: 'utf8', timeout: 60000 });
    if (r.status !== 0) throw new Error('admin failed: ' + r.stderr);
    return r.stdout;
  }
  drop() { try { psql(`DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`, 'postgres'); } catch { /* best effort */ } }
}

// Two districts, three enterprises (two in 宝山区/罗店镇, one in 嘉定区), one
// dust system each with temperature / pressure / spark points, an ingest API key.
export function makeCity(db) {
  db.sql(`SET dw.scope = 'system';
    INSERT INTO regions (code, name, level, kind) VALUES ('310000', '上海市', 'city', 'city');
    INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113', '宝山区', 'district', 'district', id FROM regions WHERE code = '310000';
    INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310114', '嘉定区', 'district', 'district', id FROM regions WHERE code = '310000';
    INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310113103', '罗店镇', 'street', 'town', id FROM regions WHERE code = '310113';
    INSERT INTO regions (code, name, level, kind, parent_id) SELECT '310114102', '南翔镇', 'street', 'town', id FROM regions WHERE code = '310114';`);
  const specs = [['310113000001', '91310113MA1G000011', '上海宝罗金属制品有限公司', '310113', '310113103', 121.36, 31.41],
    ['310113000002', '91310113MA1G000022', '上海罗店木业有限公司', '310113', '310113103', 121.35, 31.42],
    ['310114000001', '91310114MA1H000013', '上海南翔粮油有限公司', '310114', '310114102', 121.32, 31.30]];
  const ents = [];
  for (const [code, uscc, name, d, s, lon, lat] of specs) {
    const id = +db.scalar(`SET dw.scope = 'system'; INSERT INTO enterprises (code, uscc, name, district_id, street_id, address, longitude, latitude, industry_code)
      SELECT '${code}', '${uscc}', '${name}', d.id, s.id, '测试路1号', ${lon}, ${lat}, 'C3360' FROM regions d, regions s WHERE d.code = '${d}' AND s.code = '${s}' RETURNING id`);
    const sys = +db.scalar(`SET dw.scope = 'system'; INSERT INTO dust_systems (enterprise_id, code, name, wet, collector_type) VALUES (${id}, '01', '1号除尘系统', false, 'bag') RETURNING id`);
    const points = {};
    for (const [kind, ind, lo, hi, hh, rmin, rmax] of [['hopper_temp', '01', 'NULL', 70, 80, -40, 200], ['pressure_diff', '02', 300, 2000, 'NULL', 0, 5000], ['spark_detected', '04', 'NULL', 'NULL', 'NULL', 0, 1]]) {
      const pcode = `${code}01${ind}001`;
      const pid = +db.scalar(`SET dw.scope = 'system'; INSERT INTO points (code, enterprise_id, system_id, kind, name, range_min, range_max, limit_low, limit_high, limit_high_high, expected_interval_s)
        VALUES ('${pcode}', ${id}, ${sys}, '${kind}', '${kind}', ${rmin}, ${rmax}, ${lo}, ${hi}, ${hh}, 10) RETURNING id`);
      points[kind] = { code: pcode, id: pid };
    }
    const key = 'dwk_' + randomBytes(32).toString('base64url');
    const hash = createHash('sha256').update(key).digest('hex');
    db.sql(`SET dw.scope = 'system'; INSERT INTO ingest_credentials (enterprise_id, kind, key_prefix, key_hash) VALUES (${id}, 'api_key', '${key.slice(0, 12)}', '\\x${hash}')`);
    ents.push({ id, code, name, district: d, apiKey: key, points });
  }
  return ents;
}

export class Server {
  async start(db, extra = {}) {
    this.apiPort = await freePort();
    this.ingestPort = await freePort();
    this.dir = mkdtempSync(join(tmpdir(), 'dw-browser-'));
    this.logFile = join(this.dir, 'serve.log');
    const fd = openSync(this.logFile, 'a');
    this.proc = spawn(BIN, ['serve', '--roles', 'ingest,api,worker'], {
      env: db.env({ DUSTWATCH_API_LISTEN: `127.0.0.1:${this.apiPort}`, DUSTWATCH_INGEST_LISTEN: `127.0.0.1:${this.ingestPort}`,
        DUSTWATCH_WEB_ROOT: join(SRC, 'web-static'), DUSTWATCH_LOG_LEVEL: 'info', ...extra }),
      stdio: ['ignore', fd, fd] });
    this.base = `http://127.0.0.1:${this.apiPort}`;
    const deadline = Date.now() + 20000;
    while (Date.now() < deadline) {
      if (this.proc.exitCode != null) throw new Error('server exited:\n' + this.log());
      try { const r = await fetch(this.base + '/readyz'); if (r.status === 200) return this; } catch { /* not yet */ }
      await sleep(100);
    }
    throw new Error('server not ready:\n' + this.log());
  }
  log() { try { return readFileSync(this.logFile, 'utf8').slice(-4000); } catch { return ''; } }
  async stop() {
    if (this.proc && this.proc.exitCode == null) {
      this.proc.kill('SIGTERM');
      await Promise.race([new Promise(r => this.proc.once('exit', r)), sleep(15000)]);
      if (this.proc.exitCode == null) this.proc.kill('SIGKILL');
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
  async api(method, path, body, token) {
    const headers = {};
    if (token) headers.Authorization = 'Bearer ' + token;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let json = null; try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, body: json, text, headers: r.headers };
  }
  async token(user, pw = PW) {
    const r = await this.api('POST', '/api/v1/auth/login', { username: user, password: pw });
    if (r.status !== 200) throw new Error(`login ${user}: ${r.status} ${r.text}`);
    return r.body.token;
  }
  async ingest(ent, readings) {
    const r = await fetch(`http://127.0.0.1:${this.ingestPort}/ingest/v1/readings`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Api-Key': ent.apiKey }, body: JSON.stringify({ readings }) });
    const t = await r.text();
    if (r.status !== 200) throw new Error(`ingest: ${r.status} ${t}`);
    return JSON.parse(t);
  }
  async routes() { return (await this.api('GET', '/api/v1/routes')).body.items; }
}

export function sleep(ms) { return new Promise(r => setTimeout(r, ms)); }

export async function launch() {
  // playwright gives every launch a fresh temporary user-data-dir
  const browser = await chromium.launch({
    executablePath: process.env.DW_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  return browser;
}

// a logged-in page in its own browser context (own cookie jar)
export async function loginPage(browser, base, user, pw = PW, errors = []) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, locale: 'zh-CN', acceptDownloads: true });
  const page = await context.newPage();
  // the first frames of the stack say which script failed (the message alone often does not)
  page.on('pageerror', e => errors.push(`${user}: ${e.message}` + (e.stack ? '\n      ' + e.stack.split('\n').slice(1, 5).map(l => l.trim()).join('\n      ') : '')));
  page.on('console', m => { if (m.type() === 'error' && !/status of (401|404|403|409)/.test(m.text())) errors.push(`${user}: console: ${m.text()}`); });
  await page.goto(base + '/');
  await page.fill('input[name=username]', user);
  await page.fill('input[name=password]', pw);
  await page.click('button[type=submit]');
  await page.waitForSelector('.shell', { timeout: 15000 });
  return { context, page };
}
