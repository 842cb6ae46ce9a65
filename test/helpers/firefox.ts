import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { axeViolations, type Participant, sessionProbe, withParticipants } from './browser.ts';

/**
 * Real Firefox ESR (Debian's `firefox-esr`, installed by scripts/setup.sh) for
 * the browser tests, driven by puppeteer-core over WebDriver BiDi: headless,
 * fake camera and microphone granted without a prompt, one browser context per
 * participant. Firefox gathers no 127.0.0.1 host candidates, so on a
 * loopback-only machine it reaches the SFU through a TURN relay on 127.0.0.1
 * (test/helpers/coturn.ts); `media.peerconnection.ice.loopback` lets it use one.
 */

export const FIREFOX_PATH = process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr';

export interface FirefoxParticipant extends Participant<BrowserContext, Page> {
  click(selector: string): Promise<void>;
  fill(selector: string, text: string): Promise<void>;
  text(selector: string): Promise<string | null>;
  /** Fails with axe-core's findings when the screen has any. */
  expectAccessible(screen: string): Promise<void>;
}

export interface TestFirefox {
  browser: Browser;
  participant(name: string): Promise<FirefoxParticipant>;
  close(): Promise<void>;
}

export async function launchFirefox(): Promise<TestFirefox> {
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX_PATH,
    headless: true,
    extraPrefsFirefox: {
      'media.navigator.streams.fake': true,
      'media.navigator.permission.disabled': true,
      'media.peerconnection.ice.loopback': true,
      // Remote audio plays without a click, as it would after the user's tap on the link.
      'media.autoplay.default': 0,
      'intl.locale.requested': 'en-US',
    },
    env: { ...process.env, TZ: 'UTC' },
  });
  return withParticipants(browser, newParticipant, () => browser.close().catch(() => {}));
}

async function newParticipant(browser: Browser, name: string): Promise<FirefoxParticipant> {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1000, height: 800 });
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(`[${name}] ${line}`);
    if (logs.length > 200) logs.shift();
  };
  page.on('console', (m) => keep(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
  const evaluate = (js: string) => page.evaluate(js);
  return {
    name,
    context,
    page,
    logs,
    ...sessionProbe(name, evaluate, logs),
    async open(joinUrl, jwt) {
      await page.goto(jwt ? `${joinUrl}#token=${encodeURIComponent(jwt)}` : joinUrl, {
        waitUntil: 'domcontentloaded',
      });
    },
    async click(selector) {
      await page.locator(selector).click();
    },
    async fill(selector, text) {
      await page.locator(selector).fill(text);
    },
    async text(selector) {
      return page.$eval(selector, (el) => el.textContent);
    },
    async expectAccessible(screen) {
      const found = await axeViolations(evaluate);
      if (found.length) throw new Error(`axe-core on the ${screen} screen (Firefox):\n${found.join('\n')}`);
    },
    async screenshot(path) {
      mkdirSync(dirname(path), { recursive: true });
      await page.screenshot({ path: path as `${string}.png`, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => {});
    },
  };
}
