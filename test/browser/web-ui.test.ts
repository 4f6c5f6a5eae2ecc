// An operator's first look: the Temporal Web UI of `extauth dev --demo` in headless Chromium (Debian's,
// driven by playwright-core; no browser download), searching for the links that need re-authentication.
import { existsSync, mkdtempSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevProcess, type DevProcess } from '../support/dev-process.js';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = fileURLToPath(new URL('../../docs/web-ui-reauth-required.png', import.meta.url));

let dev: DevProcess;
let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: install Debian's (apt-get install chromium) or set CHROMIUM_PATH`);
  const dataDir = mkdtempSync(join(tmpdir(), 'extauth-ui-'));
  chmodSync(dataDir, 0o755); // embedded Postgres runs as "postgres" when we are root
  dev = await startDevProcess(['--demo'], { EXTAUTH_DATA_DIR: join(dataDir, 'data'), EXTAUTH_METRICS_PORT: '0' });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}, 180_000);

afterAll(async () => {
  await browser?.close();
  if (dev) expect(await dev.stop()).toBe(0);
});

describe('Temporal Web UI', () => {
  it('finds exactly the failing demo link with ExtauthState="reauth_required"; its payloads decoded by the codec server', async () => {
    const uiUrl = dev.ready.uiUrl;
    expect(uiUrl).toBeTruthy();
    const page = await browser.newPage({ viewport: { width: 1400, height: 800 } });
    const query = encodeURIComponent('ExtauthState="reauth_required"');
    const rows = page.locator('table tbody tr');
    // The demo's agents reach the revoked link within seconds; visibility follows shortly after.
    const deadline = Date.now() + 90_000;
    for (;;) {
      await page.goto(`${uiUrl}/namespaces/default/workflows?query=${query}`, { waitUntil: 'networkidle' });
      if ((await page.getByText('extauth-link:demo-github:mallory').count()) > 0 || Date.now() > deadline) break;
      await page.waitForTimeout(2_000);
    }
    await expect.poll(() => page.getByText('extauth-link:demo-github:mallory').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const texts = await rows.allInnerTexts();
    const linkRows = texts.filter((t) => t.includes('extauth-link:'));
    expect(linkRows).toHaveLength(1);
    expect(linkRows[0]).toContain('mallory');
    await page.screenshot({ path: SCREENSHOT, fullPage: false });

    // The run's page: input and activity summaries are encrypted payloads, so reading them proves the codec server works.
    await page.locator('table a', { hasText: 'extauth-link:demo-github:mallory' }).first().click();
    await page.waitForLoadState('networkidle');
    await page.screenshot({ path: SCREENSHOT.replace('.png', '-run.png'), fullPage: false });
    await expect.poll(() => page.getByText('exchange refresh token').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByText('"mallory"').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const html = await page.content();
    expect(html).not.toMatch(/gh[ur]_[A-Za-z0-9]{30,}/);
  }, 180_000);

  it("the demo's unattended link (frank) is refreshed ahead of expiry by its run, with no agent asking", async () => {
    // frank's 40 s token is refreshed 20 s before it expires; the demo's summary line counts those exchanges.
    const refreshed = () => Math.max(0, ...[...dev.output().matchAll(/frank_refreshed_unasked=(\d+)/g)].map((m) => Number(m[1])));
    await expect.poll(refreshed, { timeout: 90_000, interval: 1_000 }).toBeGreaterThanOrEqual(1);
    // Meanwhile every token the demo's agents held lived until the expiresAt they were told (the GitHub-style fake ends
    // the old token at each refresh; test/told-expiry.test.ts shows the same check failing under the old rule).
    const diedEarly = [...dev.output().matchAll(/died_before_told_expiry=(\d+)/g)].map((m) => Number(m[1]));
    expect(diedEarly.length).toBeGreaterThan(0);
    expect(Math.max(...diedEarly)).toBe(0);
  }, 120_000);
});
