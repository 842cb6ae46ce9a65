import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import express from 'express';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { AppError, toPublicError } from '../../src/errors.ts';
import { webRoutes } from '../../src/http/web.ts';
import type { TalkroomStats } from '../../web/session/media.ts';
import type { TalkroomState } from '../../web/session/session.ts';

/**
 * Real Chromium for the live-session tests: one headless browser, one context
 * per participant (its own storage, permissions and fake camera/microphone),
 * each page opened on a join link with the platform JWT in the URL fragment, as
 * the session page (web/session/) accepts from a platform that embeds it.
 */

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // Camera and microphone: allowed without a prompt, fed by Chromium's test pattern and beep.
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Remote audio plays without a click, as it would after the user's tap on the link.
  '--autoplay-policy=no-user-gesture-required',
  // More, space-separated, for experiments: CHROMIUM_EXTRA_ARGS='--enable-logging=stderr --v=1'.
  ...(process.env.CHROMIUM_EXTRA_ARGS ?? '').split(' ').filter(Boolean),
];

/** Where tests put screenshots (git-ignored; docs/screens/ holds the README's copies). */
export const SCREENSHOT_DIR = fileURLToPath(new URL('../.screenshots/', import.meta.url));

/** The page's `window.talkroom.state`. */
export type PageState = TalkroomState;
export type Phase = PageState['phase'];

/** axe-core's source, run in a page to check the screen it shows. */
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** What axe-core finds wrong on the page as it is now (WCAG 2.1 A and AA), one line per violation. */
export async function axeViolations(evaluate: (script: string) => Promise<unknown>): Promise<string[]> {
  // Evaluated, not added as a <script>: the page's CSP allows no inline scripts.
  await evaluate(`if (!window.axe) { ${AXE_SOURCE}\n }`);
  return (await evaluate(
    `window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] })
       .then((r) => r.violations.map((v) => v.id + ': ' + v.help + ' — ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`,
  )) as string[];
}

/** Fails with axe-core's findings when the screen has any. */
export async function expectAccessible(page: Page, screen: string): Promise<void> {
  const found = await axeViolations((script) => page.evaluate(script));
  if (found.length) throw new Error(`axe-core on the ${screen} screen:\n${found.join('\n')}`);
}

/** `window.talkroom.stats()`: RTP packets summed over the send and recv transports, and each one's ICE pair. */
export type MediaStats = TalkroomStats;

export interface TestBrowser {
  browser: Browser;
  /** A participant of their own: a fresh context (nothing shared with the others) and one page. */
  participant(name: string): Promise<BrowserParticipant>;
  close(): Promise<void>;
}

/** One user in a browser of either engine: its own context (nothing shared with the others) and one page. */
export interface Participant<Context, TabPage> extends SessionProbe {
  name: string;
  context: Context;
  page: TabPage;
  /** What the page logged, threw or failed to load; quoted when a wait fails. */
  logs: string[];
  /** Opens a join link as this user: the JWT goes in the fragment (`#token=`), never to the server in the URL. */
  open(joinUrl: string, jwt?: string): Promise<void>;
  /** A full-page PNG; the folder is made if needed. Answers the path. */
  screenshot(path: string): Promise<string>;
  close(): Promise<void>;
}

export type BrowserParticipant = Participant<BrowserContext, Page>;

export async function launchBrowser(): Promise<TestBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    // Every browser.newContext() is a fresh, empty profile of its own (playwright's temporary user data dir).
  });
  return withParticipants(browser, newParticipant, () => browser.close());
}

/** A launched browser with its participants: each made by `make`, all closed before the browser. */
export function withParticipants<B, P extends { close(): Promise<void> }>(
  browser: B,
  make: (browser: B, name: string) => Promise<P>,
  closeBrowser: () => Promise<unknown>,
) {
  const participants: P[] = [];
  return {
    browser,
    async participant(name: string): Promise<P> {
      const p = await make(browser, name);
      participants.push(p);
      return p;
    },
    async close(): Promise<void> {
      await Promise.allSettled(participants.map((p) => p.close()));
      await closeBrowser();
    },
  };
}

async function newParticipant(browser: Browser, name: string): Promise<BrowserParticipant> {
  const context = await browser.newContext({
    permissions: ['camera', 'microphone'],
    viewport: { width: 1000, height: 800 },
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  const page = await context.newPage();
  const logs: string[] = [];
  const keep = (line: string) => {
    logs.push(`[${name}] ${line}`);
    if (logs.length > 200) logs.shift();
  };
  page.on('console', (m) => keep(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => keep(`requestfailed: ${r.url()} ${r.failure()?.errorText ?? ''}`));

  const probe = sessionProbe(name, (js) => page.evaluate(js), logs);

  return {
    name,
    context,
    page,
    logs,
    async open(joinUrl, jwt) {
      const url = jwt ? `${joinUrl}#token=${encodeURIComponent(jwt)}` : joinUrl;
      await page.goto(url, { waitUntil: 'domcontentloaded' });
    },
    ...probe,
    async screenshot(path) {
      mkdirSync(dirname(path), { recursive: true });
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      await context.close().catch(() => {});
    },
  };
}

/** What any engine's driver offers to read the session page (`window.talkroom`). */
export interface SessionProbe {
  state(): Promise<PageState>;
  /** Waits until the page is in one of the phases; fails early (with the page's error) on an unexpected 'error'. */
  waitForPhase(phase: Phase | Phase[], timeoutMs?: number): Promise<PageState>;
  /** Polls the state until the predicate holds. */
  waitForState(pred: (s: PageState) => boolean, what: string, timeoutMs?: number): Promise<PageState>;
  stats(): Promise<MediaStats>;
  /** Polls stats until the predicate holds (media takes a moment: ICE, DTLS, the first key frame). */
  waitForStats(pred: (s: MediaStats) => boolean, what: string, timeoutMs?: number): Promise<MediaStats>;
}

/** The session page's state and stats through an engine's `evaluate`; a failed wait quotes the page's state and logs. */
export function sessionProbe(
  name: string,
  evaluate: (js: string) => Promise<unknown>,
  logs: string[],
): SessionProbe {
  const state = () => evaluate('window.talkroom ? window.talkroom.state : null') as Promise<PageState>;
  async function poll<T>(read: () => Promise<T>, pred: (v: T) => boolean, what: string, timeoutMs: number) {
    const until = Date.now() + timeoutMs;
    let last: T | undefined;
    for (;;) {
      last = await read();
      if (last && pred(last)) return last;
      if (Date.now() > until) {
        const s = await state().catch(() => null);
        throw new Error(
          `${name}: ${what} not reached within ${timeoutMs} ms\nlast: ${JSON.stringify(last)}\n` +
            `state: ${JSON.stringify(s)}\nlogs:\n${logs.slice(-30).join('\n')}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const stats = () => evaluate('window.talkroom.stats()') as Promise<MediaStats>;
  return {
    state,
    waitForPhase(phase, timeoutMs = 15_000) {
      const want = Array.isArray(phase) ? phase : [phase];
      return poll(
        async () => {
          const s = await state();
          if (s?.phase === 'error' && !want.includes('error')) {
            throw new Error(
              `${name}: page failed: ${JSON.stringify(s.error)}\nlogs:\n${logs.slice(-30).join('\n')}`,
            );
          }
          return s;
        },
        (s) => want.includes(s.phase),
        `phase ${want.join('|')}`,
        timeoutMs,
      );
    },
    waitForState: (pred, what, timeoutMs = 15_000) => poll(state, pred, what, timeoutMs),
    stats,
    waitForStats: (pred, what, timeoutMs = 20_000) => poll(stats, pred, what, timeoutMs),
  };
}

/**
 * The built web pages (web/dist, as scripts/setup.sh builds them) on a tiny
 * HTTP server of their own, served by the same routes as the real server
 * (src/http/web.ts: /join/:token, /app, /assets/…) with no talkroom behind them.
 * `routes` answers anything else (e.g. a fake GET /v1/join/…); unanswered
 * paths get a 404 in the PROTOCOL.md error shape.
 */
export async function serveWebClient(
  routes: Record<string, (res: ServerResponse) => void> = {},
): Promise<{ url: string; close(): Promise<void> }> {
  const app = express();
  app.use(webRoutes({ config: { frameAncestors: [] } }));
  app.use((req, res) => {
    const route = Object.entries(routes).find(([prefix]) => req.path.startsWith(prefix));
    if (route) return route[1](res);
    res.status(404).json({ error: { code: 'not_found', message: 'no such route' } });
  });
  app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const e = toPublicError(err);
    res.status(err instanceof AppError ? err.httpStatus : 500).json({ error: e });
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
