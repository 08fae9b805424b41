import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IDisconnectPacket } from 'mqtt';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { credentialsPath, emptyCredentials, hashAdminPassword, newToken, tokenDigest, writeCredentials } from '../../src/auth/admin-credentials.js';
import { hashPassword } from '../../src/auth/password-file.js';
import { startBroker, until, type TestBroker } from '../helpers/broker.js';

/** Debian's chromium package; the test is skipped (and says so) where it is not installed. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`dashboard browser test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe.skipIf(!hasChromium)('dashboard in headless Chromium, with an admin user and MQTT passwords', { timeout: 60_000 }, () => {
  let t: TestBroker;
  let browser: BrowserContext;
  let dir: string;
  let page: Page;
  const errors: string[] = [];
  const readToken = newToken();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'midge-dashboard-'));
    const dataDir = path.join(dir, 'data');
    const created = new Date().toISOString();
    writeCredentials(credentialsPath(dataDir), {
      ...emptyCredentials(),
      users: [{ name: 'ops', role: 'admin', password: await hashAdminPassword('ops-pass'), created }],
      tokens: [{ name: 'grafana', role: 'read', sha256: tokenDigest(readToken), created }],
    });
    const passwords = path.join(dir, 'passwd');
    writeFileSync(passwords, `sensor:${await hashPassword(Buffer.from('sensor-pass'))}\nviewer:${await hashPassword(Buffer.from('viewer-pass'))}\n`);
    t = await startBroker({ httpPort: 0, dataDir, passwordFile: passwords });
    browser = await chromium.launchPersistentContext(path.join(dir, 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 15_000,
      viewport: { width: 1280, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = browser.pages()[0] ?? (await browser.newPage());
    page.on('pageerror', (err) => errors.push(err.message));
    // Console errors too (a Content-Security-Policy refusal is one), except the browser's note of each 401 it was sent
    page.on('console', (m) => {
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
    });
    page.on('dialog', (dialog) => void dialog.accept()); // the confirmations of kick and delete
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('asks to sign in, then signs in with a user name and password', async () => {
    await page.goto(`http://127.0.0.1:${t.broker.addresses().http?.port}/`, { timeout: 10_000 });
    await page.locator('#state', { hasText: 'sign in required' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#notice').textContent()).toContain('Sign in');
    await page.click('#sign-in-open');
    await page.fill('#sign-in-user', 'ops');
    await page.fill('#sign-in-password', 'wrong');
    await page.click('#sign-in-submit');
    await page.locator('#sign-in-error', { hasText: 'Bad user name' }).waitFor({ timeout: 10_000 });
    await page.fill('#sign-in-password', 'ops-pass');
    await page.click('#sign-in-submit');
    await page.locator('#who', { hasText: 'ops (admin)' }).waitFor({ timeout: 10_000 });
    await page.locator('#state', { hasText: 'up' }).waitFor({ timeout: 10_000 });
    expect(await page.locator('#notice').isHidden()).toBe(true);
  });

  it('the live view logs in with an MQTT user name and password', async () => {
    await page.fill('#filter', 'sensors/#');
    await page.fill('#live-username', 'viewer');
    await page.fill('#live-password', 'not-it');
    await page.click('#subscribe');
    await page.locator('#live-state', { hasText: /Bad User Name or Password/i }).waitFor({ timeout: 10_000 });
    await page.fill('#live-password', 'viewer-pass');
    await page.click('#subscribe');
    await page.locator('#live-state', { hasText: 'subscribed to sensors/#' }).waitFor({ timeout: 10_000 });
    const sensor = await t.client({ clientId: 'kitchen-sensor', username: 'sensor', password: 'sensor-pass' });
    await sensor.publishAsync('sensors/kitchen/temperature', '21.5 °C', { qos: 1, retain: true });
    const row = page.locator('#messages tr', { hasText: 'sensors/kitchen/temperature' });
    await row.waitFor({ timeout: 10_000 });
    expect(await row.locator('td').nth(3).textContent()).toBe('21.5 °C');
  });

  it('the clients table searches and kicks', async () => {
    const doomed = await t.client({ clientId: 'doomed-7', username: 'sensor', password: 'sensor-pass', protocolVersion: 5 });
    const disconnected = new Promise<IDisconnectPacket>((resolve) => doomed.once('disconnect', resolve));
    await page.locator('#client-rows tr[data-client-id="doomed-7"]').waitFor({ timeout: 15_000 });
    expect(await page.locator('#client-rows tr').count()).toBe(3); // the live view, the sensor, doomed-7
    await page.fill('#client-query', 'doomed');
    await page.locator('#client-count', { hasText: '1–1 of 1' }).waitFor({ timeout: 10_000 });
    const cells = await page.locator('#client-rows tr').first().locator('td').allTextContents();
    expect(cells.slice(0, 6)).toEqual(['doomed-7', 'sensor', '127.0.0.1', 'tcp', '5.0', '60 s']);
    await page.locator('#client-rows tr[data-client-id="doomed-7"] button', { hasText: 'Kick' }).click();
    expect((await disconnected).reasonCode).toBe(0x98);
    await page.locator('#client-state', { hasText: 'disconnected doomed-7' }).waitFor({ timeout: 10_000 });
    await page.locator('#client-count', { hasText: 'no clients' }).waitFor({ timeout: 10_000 });
    await page.fill('#client-query', '');
  });

  it('the retained browser lists by filter, shows one message and deletes it', async () => {
    const pub = await t.client({ username: 'sensor', password: 'sensor-pass' });
    await pub.publishAsync('config/site-1/setpoint', '22.5', { qos: 1, retain: true });
    await pub.publishAsync('config/site-2/blob', Buffer.from([0, 1, 2, 255]), { qos: 0, retain: true });
    await until(() => t.broker.retainedCount === 3, 'three retained', 10_000);
    await page.fill('#retained-filter', 'config/#');
    await page.click('#retained-search button[type=submit]');
    await page.locator('#retained-count', { hasText: '1–2 of 2' }).waitFor({ timeout: 10_000 });
    const rows = await page.locator('#retained-rows tr').evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 4).map((td) => td.textContent)));
    expect(rows).toEqual([
      ['config/site-1/setpoint', '1', '4', '22.5'],
      ['config/site-2/blob', '0', '4', 'base64: AAEC/w=='],
    ]);
    await page.locator('#retained-rows td', { hasText: 'config/site-1/setpoint' }).click();
    await page.locator('#retained-detail', { hasText: 'QoS 1, 4 bytes' }).waitFor({ timeout: 10_000 });
    await page.locator('#retained-rows tr[data-topic="config/site-2/blob"] button', { hasText: 'Delete' }).click();
    await page.locator('#retained-count', { hasText: '1–1 of 1' }).waitFor({ timeout: 10_000 });
    expect(t.broker.admin.retainedMessage('config/site-2/blob')).toBeUndefined();
    await page.fill('#retained-filter', '#');
    await page.click('#retained-search button[type=submit]');
    await page.locator('#retained-count', { hasText: '1–2 of 2' }).waitFor({ timeout: 10_000 });
  });

  it('charts the last 15 minutes with uPlot, and a screenshot shows the whole dashboard', async () => {
    const pub = await t.client({ username: 'sensor', password: 'sensor-pass' });
    for (let i = 0; i < 20; i++) await pub.publishAsync('sensors/hall/temperature', String(20 + i / 10), { qos: 0 });
    // History is sampled every 5 s, plus a point for the interval running now; the page reads it every 5 s
    const charted = () => {
      const { dataset } = (globalThis as unknown as { document: { body: { dataset: Record<string, string | undefined> } } }).document.body;
      return Number(dataset.historySamples ?? 0) >= 2 && Number(dataset.historyPeakIn) > 0;
    };
    await page.waitForFunction(charted, undefined, { timeout: 15_000 });
    expect(await page.locator('.uplot').count()).toBe(3);
    expect(await page.locator('.uplot canvas').count()).toBe(3);
    // 1 kitchen reading, 2 retained configs, 20 hall readings
    await page.locator('#total-in', { hasText: '23 total' }).waitFor({ timeout: 10_000 });
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    // Signing out leaves a page that asks to sign in again
    await page.click('#sign-out');
    await page.locator('#who', { hasText: 'signed out' }).waitFor({ timeout: 10_000 });
    await page.locator('#state', { hasText: 'sign in required' }).waitFor({ timeout: 10_000 });
  });

  it('signs in with a read token: everything shows, nothing can be kicked or deleted', async () => {
    await page.click('#sign-in-open');
    await page.fill('#sign-in-token', readToken);
    await page.click('#sign-in-submit');
    await page.locator('#who', { hasText: 'grafana (read)' }).waitFor({ timeout: 10_000 });
    await page.locator('#state', { hasText: 'up' }).waitFor({ timeout: 10_000 });
    await page.locator('#client-rows tr').first().waitFor({ timeout: 10_000 });
    await page.locator('#retained-rows tr').first().waitFor({ timeout: 10_000 });
    const buttons = page.locator('#client-rows button, #retained-rows button');
    expect(await buttons.count()).toBeGreaterThanOrEqual(3);
    for (const disabled of await buttons.evaluateAll((all) => all.map((b) => (b as unknown as { disabled: boolean }).disabled))) expect(disabled).toBe(true);
    expect(errors).toEqual([]);
  });
});
