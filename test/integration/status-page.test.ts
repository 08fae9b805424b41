import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type TestBroker } from '../helpers/broker.js';

/** Debian's chromium package; the test is skipped (and says so) where it is not installed. */
const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`status page browser test skipped: ${CHROMIUM} is missing (apt-get install chromium)`);

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

describe.skipIf(!hasChromium)('status page in headless Chromium', () => {
  let t: TestBroker;
  let browser: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    t = await startBroker({ httpPort: 0 });
    profile = mkdtempSync(path.join(tmpdir(), 'midge-chromium-'));
    // Without the background-networking flags Debian's chromium has its connections refused here
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      timeout: 15_000,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  it('shows the broker figures and, live over WebSocket, a reading a TCP sensor publishes at QoS 0', async () => {
    const page = browser.pages()[0] ?? (await browser.newPage());
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.goto(`http://127.0.0.1:${t.broker.addresses().http?.port}/`, { timeout: 10_000 });
    await page.locator('#state', { hasText: 'up' }).waitFor({ timeout: 5000 });
    expect(await page.locator('#version').textContent()).toMatch(/^v\d+\.\d+\.\d+/);
    expect(await page.locator('#store').textContent()).toContain('memory');

    await page.fill('#filter', 'sensors/#');
    await page.click('#subscribe');
    await page.locator('#live-state', { hasText: 'subscribed to sensors/#' }).waitFor({ timeout: 5000 });
    expect(t.broker.clientCount).toBe(1); // the page's own MQTT.js client, over the WebSocket listener
    await page.locator('#sessions', { hasText: /^1 session$/ }).waitFor({ timeout: 5000 }); // not "1 sessions"

    const sensor = await t.client(); // plain TCP
    await sensor.publishAsync('sensors/kitchen/temperature', '21.5 °C', { qos: 0 });
    const row = page.locator('#messages tr', { hasText: 'sensors/kitchen/temperature' });
    await row.waitFor({ timeout: 5000 });
    expect(await row.locator('td').allTextContents()).toEqual([expect.any(String), 'sensors/kitchen/temperature', '0', '21.5 °C']);

    // The next poll shows both clients and a message rate
    await page.locator('#clients', { hasText: '2' }).waitFor({ timeout: 5000 });
    await page.locator('#sessions', { hasText: /^2 sessions$/ }).waitFor({ timeout: 5000 });
    expect(Number(await page.locator('#rate-in').textContent())).toBeGreaterThanOrEqual(0);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, 'status-page.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
