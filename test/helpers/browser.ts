// Debian's chromium, headless, driven by playwright-core, signed in to a test daemon's web console
// the way a person would be: with a client certificate made by `lxd ui certificate`.
//
// How the browser gets its certificate: playwright's `clientCertificates` (a .pfx and its
// password) — playwright then makes the TLS connections to that origin itself, presenting the
// certificate, so the daemon sees an ordinary client certificate. The alternative, the .pfx
// imported into an NSS database in the browser's $HOME (pk12util), makes headless Chromium wait
// forever for a certificate choice it cannot show, unless the AutoSelectCertificateForUrls policy
// is installed under /etc/chromium/policies — a host-wide change tests must not make.
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { TestDaemon } from "./daemon.ts";

export const CHROMIUM = "/usr/bin/chromium";

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** A port nothing listens on right now (the kernel's pick, released at once). */
export function freePort(): number {
  const l = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const p = l.port;
  l.stop(true);
  return p;
}

export interface ConsoleBrowser {
  browser: Browser;
  context: BrowserContext;
  /** https://127.0.0.1:PORT */
  origin: string;
  /** The .pfx the browser presents (made by `lxd ui certificate`). */
  pfx: string;
  close(): Promise<void>;
}

/** Turns on the daemon's HTTPS listener, makes a browser certificate and starts chromium with it
 *  (not yet trusted: the caller redeems a token, as a user would). */
export async function openBrowser(d: TestDaemon, viewport = { width: 1280, height: 800 }): Promise<ConsoleBrowser> {
  const port = freePort();
  await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
  const dir = mkdtempSync("/tmp/lxd-ui-browser-");
  const pfx = join(dir, "browser.pfx");
  await d.ok("ui", "certificate", "--password", "correct horse", "--name", "test-browser", pfx);
  const origin = `https://127.0.0.1:${port}`;
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, env: { ...process.env, HOME: dir } });
    const context = await browser.newContext({
      ignoreHTTPSErrors: true, viewport, clientCertificates: [{ origin, pfxPath: pfx, passphrase: "correct horse" }],
    });
    return {
      browser, context, origin, pfx,
      close: async () => {
        await browser?.close().catch(() => {});
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await browser?.close().catch(() => {});
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/**
 * page.goto, again when Chromium aborted it because the host's addresses changed
 * (ERR_NETWORK_CHANGED: test daemons make bridges and veths all the time on this host).
 */
export async function goto(page: Page, url: string) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await page.goto(url);
    } catch (err) {
      if (attempt >= 4 || !/ERR_NETWORK_CHANGED/.test(String(err))) throw err;
      await page.waitForTimeout(300);
    }
  }
}

/** Redeems a fresh `lxd config trust add` token on the login page. */
export async function signIn(d: TestDaemon, page: Page, origin: string): Promise<void> {
  const out = await d.ok("config", "trust", "add", "--name", "browser");
  const token = out.trim().split("\n").at(-1)!;
  await goto(page, `${origin}/ui/`);
  await page.getByLabel("Trust token").fill(token);
  await page.getByRole("button", { name: "Trust this browser" }).click();
  await page.getByRole("heading", { name: "Instances", level: 1 }).waitFor();
}
