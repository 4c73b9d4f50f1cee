// Debian's chromium, headless, driven by playwright-core, signed in to a test daemon's web console
// the way a person would be: the .pfx from `lxd ui certificate` imported into the browser's own
// certificate store (an NSS database in its $HOME, with pk12util), and the browser presenting it
// to the daemon itself. Two things make that work headless on a shared host, both confined to
// namespaces of the browser (chromium-isolated.sh): the AutoSelectCertificateForUrls policy (else
// Chromium waits for a certificate choice it cannot show), and a network namespace of its own
// (else every bridge or veth another test creates aborts its requests with ERR_NETWORK_CHANGED).
// (playwright's own `clientCertificates` option works too, but runs TLS in playwright's proxy
// and still suffers the second problem.)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import type { TestDaemon } from "./daemon.ts";
import { serveUnixToTcp } from "./forward.ts";
import { freePort } from "./net.ts";

export const CHROMIUM = "/usr/bin/chromium";

const ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

export interface ConsoleBrowser {
  browser: Browser;
  context: BrowserContext;
  /** https://127.0.0.1:PORT */
  origin: string;
  /** The .pfx the browser presents (made by `lxd ui certificate`). */
  pfx: string;
  close(): Promise<void>;
}

const run = (cmd: string[]) => {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${r.stderr.toString()}${r.stdout.toString()}`);
};

/** Turns on the daemon's HTTPS listener, makes a browser certificate with `lxd ui certificate`,
 *  imports it into a fresh browser profile and starts chromium (not yet trusted by the daemon:
 *  the caller redeems a token, as a user would). */
export async function openBrowser(d: TestDaemon, viewport = { width: 1280, height: 800 }): Promise<ConsoleBrowser> {
  const port = freePort();
  await d.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
  const home = mkdtempSync("/tmp/lxd-ui-browser-");
  const pfx = join(home, "browser.pfx");
  const password = "correct horse";
  await d.ok("ui", "certificate", "--password", password, "--name", "test-browser", pfx);
  const nssdb = join(home, ".pki/nssdb");
  mkdirSync(nssdb, { recursive: true });
  run(["certutil", "-N", "-d", `sql:${nssdb}`, "--empty-password"]);
  run(["pk12util", "-i", pfx, "-d", `sql:${nssdb}`, "-W", password]);
  const origin = `https://127.0.0.1:${port}`;
  const policy = join(home, "policy.json");
  writeFileSync(policy, JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: origin, filter: {} })] }));
  const socket = join(home, "https.sock");
  const stopForward = serveUnixToTcp(socket, port);
  let browser: Browser | undefined;
  const cleanup = async () => {
    await browser?.close().catch(() => {});
    stopForward();
    rmSync(home, { recursive: true, force: true });
  };
  try {
    browser = await chromium.launch({
      executablePath: join(import.meta.dir, "chromium-isolated.sh"),
      args: ARGS,
      env: {
        ...process.env, HOME: home, LXD_UI_POLICY: policy, LXD_UI_SOCKET: socket, LXD_UI_PORT: String(port),
        LXD_UI_BUN: process.execPath, LXD_UI_FORWARDER: join(import.meta.dir, "forward.ts"),
      },
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
    return { browser, context, origin, pfx, close: cleanup };
  } catch (e) {
    await cleanup();
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
