import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser as PwBrowser, type Page as PwPage } from 'playwright-core';
import type { Page as PpPage } from 'puppeteer-core';
import { axeViolations, CHROMIUM_ARGS, CHROMIUM_PATH, SCREENSHOT_DIR } from '../helpers/browser.ts';
import { launchFirefox, type TestFirefox } from '../helpers/firefox.ts';

/**
 * The web app (/app) in two real engines behind one small driver: Chromium
 * through playwright-core and Firefox ESR through puppeteer-core over
 * WebDriver BiDi. Pages are phone-sized (390×844). Everything a test asks of a
 * page is a JavaScript expression evaluated in it, so both engines run the
 * same steps; waits poll a condition (never a fixed sleep).
 */

export type Engine = 'chromium' | 'firefox';

/** Two browsers and a server on a busy two-core machine: a bound that catches a hang, never a slow run. */
export const SLOW = 300_000;

/** A provider who works around the clock: open slots whenever a test runs. */
export const ALL_WEEK = Object.fromEntries(
  ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, [['00:00', '24:00']]]),
) as Record<string, [string, string][]>;

/** A plan period that holds today. */
export const firstOfMonth = (): string => `${new Date().toISOString().slice(0, 7)}-01`;
const PHONE = { width: 390, height: 844 };

export interface AppPage {
  name: string;
  engine: Engine;
  /** Opens /app signed in with the platform token in the fragment. */
  open(baseUrl: string, token: string): Promise<void>;
  /** The value of an expression in the page (a string of JavaScript, the same in both engines). */
  eval<T = unknown>(expr: string): Promise<T>;
  /** Polls an expression until it is truthy; fails with what the page logged. */
  waitFor<T = unknown>(expr: string, what: string, timeoutMs?: number): Promise<T>;
  /** Waits for a visible button (or link) whose text contains `text` within `scope`, and clicks it. */
  click(text: string, scope?: string): Promise<void>;
  /** Types into the element the selector names (its value is replaced). */
  fill(selector: string, value: string): Promise<void>;
  press(key: string): Promise<void>;
  /** axe-core's violations on the page as it is now (rule id and the first target of each). */
  axe(): Promise<string[]>;
  screenshot(name: string): Promise<string>;
  logs: string[];
}

export interface Engines {
  page(engine: Engine, name: string): Promise<AppPage>;
  close(): Promise<void>;
}

export async function launchEngines(): Promise<Engines> {
  let pw: PwBrowser | undefined;
  let ff: TestFirefox | undefined;
  const closers: (() => Promise<unknown>)[] = [];
  return {
    async page(engine, name) {
      if (engine === 'chromium') {
        pw ??= await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
        const context = await pw.newContext({
          viewport: PHONE,
          permissions: ['camera', 'microphone'],
          locale: 'en-US',
        });
        closers.push(() => context.close());
        return wrapPlaywright(await context.newPage(), name);
      }
      // The shared launcher's browser (fake devices, autoplay, UTC, en-US); contexts of our own, phone-sized.
      ff ??= await launchFirefox();
      const context = await ff.browser.createBrowserContext();
      closers.push(() => context.close());
      const page = await context.newPage();
      await page.setViewport(PHONE);
      return wrapPuppeteer(page, name);
    },
    async close() {
      await Promise.allSettled(closers.map((c) => c()));
      await Promise.allSettled([pw?.close(), ff?.close()]);
    },
  };
}

/** What both engines' pages share, as far as the driver uses them. */
interface RawPage {
  goto(url: string): Promise<unknown>;
  evaluate(expr: string): Promise<unknown>;
  press(key: string): Promise<void>;
  screenshot(path: string): Promise<unknown>;
}

function wrapPlaywright(page: PwPage, name: string): AppPage {
  const logs: string[] = [];
  page.on('console', (m) => keep(logs, name, `console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(logs, name, `pageerror: ${e.message}`));
  return driver(
    {
      goto: (url) => page.goto(url, { waitUntil: 'domcontentloaded' }),
      evaluate: (expr) => page.evaluate(expr),
      press: (key) => page.keyboard.press(key),
      screenshot: (path) => page.screenshot({ path, fullPage: false }),
    },
    name,
    'chromium',
    logs,
  );
}

function wrapPuppeteer(page: PpPage, name: string): AppPage {
  const logs: string[] = [];
  page.on('console', (m) => keep(logs, name, `console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(logs, name, `pageerror: ${(e as Error).message}`));
  return driver(
    {
      goto: (url) => page.goto(url, { waitUntil: 'domcontentloaded' }),
      evaluate: (expr) => page.evaluate(expr),
      press: (key) => page.keyboard.press(key as Parameters<PpPage['keyboard']['press']>[0]),
      screenshot: (path) => page.screenshot({ path: path as `${string}.png` }),
    },
    name,
    'firefox',
    logs,
  );
}

function keep(logs: string[], name: string, line: string): void {
  logs.push(`[${name}] ${line}`);
  if (logs.length > 200) logs.shift();
}

function driver(raw: RawPage, name: string, engine: Engine, logs: string[]): AppPage {
  const self: AppPage = {
    name,
    engine,
    logs,
    async open(baseUrl, token) {
      await raw.goto(`${baseUrl}/app#token=${encodeURIComponent(token)}`);
    },
    eval: <T>(expr: string) => raw.evaluate(expr) as Promise<T>,
    async waitFor<T>(expr: string, what: string, timeoutMs = 30_000): Promise<T> {
      const until = Date.now() + timeoutMs;
      for (;;) {
        // An element is not a value both engines hand back: it counts as found.
        const probe = `(() => { const v = (${expr}); return v instanceof Node ? true : v; })()`;
        const v = (await raw.evaluate(probe).catch(() => undefined)) as T;
        if (v) return v;
        if (Date.now() > until) {
          const text = await raw.evaluate('document.body.innerText').catch(() => '');
          throw new Error(
            `${name} (${engine}): ${what} not seen within ${timeoutMs} ms\npage text:\n${String(text).slice(0, 2000)}\nlogs:\n${logs.slice(-20).join('\n')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async click(text, scope = 'body') {
      const find = `(() => {
        const scope = document.querySelector(${JSON.stringify(scope)});
        if (!scope) return null;
        return [...scope.querySelectorAll('button, a')].find(
          (b) => b.textContent.includes(${JSON.stringify(text)}) && !b.disabled && b.offsetParent !== null) ?? null;
      })()`;
      await self.waitFor(`!!${find}`, `a "${text}" button in ${scope}`);
      await raw.evaluate(`${find}.click()`);
    },
    async fill(selector, value) {
      await self.waitFor(`!!document.querySelector(${JSON.stringify(selector)})`, selector);
      // Preact listens to input events: set the value as a person's typing would, then say so.
      await raw.evaluate(`(() => {
        const el = document.querySelector(${JSON.stringify(selector)});
        el.focus();
        const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype : HTMLInputElement.prototype;
        Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, ${JSON.stringify(value)});
        el.dispatchEvent(new Event('input', { bubbles: true }));
      })()`);
    },
    press: (key) => raw.press(key),
    axe: () => axeViolations((script) => raw.evaluate(script)),
    async screenshot(file) {
      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      const path = join(SCREENSHOT_DIR, `${file}.png`);
      await raw.screenshot(path);
      return path;
    },
  };
  return self;
}
