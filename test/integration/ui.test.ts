// The web console in a real browser (Debian's chromium, headless, via playwright-core) against a
// real daemon over HTTPS on loopback, with real busybox containers: an untrusted browser sees only
// the login page, redeems a token with its client certificate, launches a container, sees it
// running, runs `hostname` in the terminal, sees a CLI-side stop without reloading, gets the
// daemon's config error next to the field, takes and restores a snapshot, then stops, copies,
// renames and deletes the container; the console tab and the other pages are visited too.
// Screenshots of the main pages go to the folder printed at the start.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Page } from "playwright-core";
import { type ConsoleBrowser, goto, openBrowser, signIn } from "../helpers/browser.ts";
import { startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { until } from "../helpers/until.ts";

let d: TestDaemon;
let b: ConsoleBrowser;
let page: Page;
const shots = resolve(import.meta.dir, "../../test-artifacts/ui");

const shot = (name: string, p: Page = page) => p.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
const badge = (p: Page = page) => p.locator(".page-header .badge");
/** The terminal's screen as text, one string per row (xterm's DOM renderer). */
const screen = () => page.locator(".xterm-rows > div").allTextContents();

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  console.log(`[ui test] screenshots: ${shots}`);
  d = await startInitializedDaemon();
  b = await openBrowser(d);
  page = await b.context.newPage();
  // The page's own errors, in the test's output (a failing step is easier to read with them).
  page.on("pageerror", (e) => console.log(`[page error] ${e.message}`));
  page.on("console", (m) => m.type() === "error" && console.log(`[page console] ${m.text()}`));
}, 180_000);

afterAll(async () => {
  await b?.close();
  await d?.stop();
});

test("lxd ui prints the console's address; an untrusted browser gets the login page and no API", async () => {
  expect((await d.ok("ui")).trim()).toBe(`${b.origin}/ui/`);
  const res = await goto(page, `${b.origin}/ui/`);
  expect(res?.status()).toBe(200);
  expect(res?.headers()["content-security-policy"]).toContain("default-src 'self'");
  await page.getByRole("heading", { name: "LXD web console" }).waitFor();
  expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
  const status = await page.evaluate(() => fetch("/1.0/instances").then((r) => r.status));
  expect(status).toBe(403);
  // A made-up token is refused with the daemon's reason, and nothing is trusted.
  await page.getByLabel("Trust token").fill("not-a-token");
  await page.getByRole("button", { name: "Trust this browser" }).click();
  await expect(page.getByRole("alert").textContent()).resolves.toContain("join token");
  await shot("01-login");
  const trusted = await d.api("GET", "/1.0/certificates");
  expect(trusted.body.metadata).toEqual([]);
});

test("redeeming a token trusts the browser's own certificate", async () => {
  await signIn(d, page, b.origin);
  // The list (prefetched while the browser was still untrusted) is there, without an error.
  await page.getByText("No instances. Create one to begin.").waitFor();
  expect(await page.getByRole("alert").count()).toBe(0);
  const certs = (await d.api("GET", "/1.0/certificates?recursion=1")).body.metadata as { name: string; certificate: string }[];
  expect(certs.map((c) => c.name)).toEqual(["browser"]);
  // The trusted certificate is the one in the .pfx `lxd ui certificate` wrote.
  const pem = Bun.spawnSync(["openssl", "pkcs12", "-in", b.pfx, "-nokeys", "-passin", "pass:correct horse"]).stdout.toString();
  expect(pem).toContain(certs[0].certificate.trim().split("\n")[1]);
  expect(await page.evaluate(() => fetch("/1.0/instances").then((r) => r.status))).toBe(200);
});

test("launch a container from the create form and see it running", async () => {
  await page.getByRole("button", { name: "Create instance" }).click();
  const dialog = page.getByRole("dialog", { name: "Create instance" });
  await dialog.getByLabel("Name", { exact: true }).fill("web1");
  await dialog.getByLabel("Memory limit (limits.memory)").fill("128MiB");
  await shot("02-create-instance");
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.waitForURL(/\/ui\/instances\/web1$/, { timeout: 60_000 });
  await expect(badge().filter({ hasText: "Running" }).waitFor({ timeout: 30_000 })).resolves.toBeUndefined();
  const inst = (await d.api("GET", "/1.0/instances/web1")).body.metadata;
  expect(inst.status).toBe("Running");
  expect(inst.config["limits.memory"]).toBe("128MiB");
  await page.getByText("CPU:").waitFor();
  await page.waitForTimeout(4500); // a few samples for the graphs in the screenshot
  await shot("03-instance-overview");
});

test("type hostname in the terminal and read the answer", async () => {
  await page.getByRole("link", { name: "Terminal" }).click();
  await page.locator(".xterm-rows").waitFor();
  // The shell's prompt ends in "# " (root); then the command and its answer.
  await until(async () => /#\s*$/m.test((await screen()).join("\n")), "a shell prompt", 20_000);
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type("hostname\n");
  await until(async () => (await screen()).map((l) => l.trim()).includes("web1"), "hostname's answer");
  // UTF-8 both ways: what is typed comes back byte for byte.
  await page.keyboard.type("echo héllo→wörld\n");
  await until(async () => (await screen()).map((l) => l.trim()).includes("héllo→wörld"), "the UTF-8 echo");
  await page.waitForTimeout(300); // xterm paints on the next frame
  await shot("04-terminal");
  // The console: busybox init runs a shell on /dev/console.
  await page.getByRole("link", { name: "Console" }).click();
  await page.getByLabel("Console of web1").locator(".xterm-rows").waitFor();
  await page.locator(".xterm-helper-textarea").focus();
  await page.keyboard.type("\necho console-$((6*7))\n");
  await until(async () => (await screen()).map((l) => l.trim()).includes("console-42"), "the console's answer")
    .catch(async (e) => { throw new Error(`${e.message}; screen:\n${(await screen()).join("\n").trim()}`); });
  await page.waitForTimeout(300);
  await shot("04b-console");
});

test("a stop from the CLI shows on the open page through the events websocket, within 1 s", async () => {
  await page.getByRole("link", { name: "Instances" }).first().click();
  const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: "web1" }) });
  await row.getByText("Running").waitFor();
  await shot("05-instances");
  // The list refreshes usage figures only every 15 s: a change within 1 s came from an event.
  await d.ok("stop", "web1", "--force");
  await row.getByText("Stopped").waitFor({ timeout: 1000 });
  await d.ok("start", "web1");
  await row.getByText("Running").waitFor({ timeout: 1000 });
});

test("the daemon's config error is shown next to the key", async () => {
  await page.getByRole("link", { name: "web1" }).click();
  await page.getByRole("link", { name: "Configuration" }).click();
  const value = page.getByLabel("Value of limits.memory");
  await value.fill("lots");
  await page.getByRole("button", { name: "Save" }).click();
  await until(async () => (await value.getAttribute("aria-invalid")) === "true", "the field marked invalid");
  const error = await page.locator("tr.invalid .error").textContent();
  expect(error).toContain("lots");
  await shot("06-config-error");
  expect((await d.api("GET", "/1.0/instances/web1")).body.metadata.config["limits.memory"]).toBe("128MiB");
  await value.fill("192MiB");
  await page.getByRole("button", { name: "Save" }).click();
  await until(async () => (await d.api("GET", "/1.0/instances/web1")).body.metadata.config["limits.memory"] === "192MiB", "the saved value");
});

test("take a snapshot", async () => {
  await page.getByRole("link", { name: "Snapshots" }).click();
  await page.getByRole("button", { name: "Take snapshot" }).click();
  const dialog = page.getByRole("dialog", { name: "Take snapshot" });
  await dialog.getByLabel("Name", { exact: true }).fill("before-upgrade");
  await dialog.getByRole("button", { name: "Take snapshot" }).click();
  await page.getByRole("cell", { name: "before-upgrade", exact: true }).waitFor();
  const snaps = (await d.api("GET", "/1.0/instances/web1/snapshots")).body.metadata;
  expect(snaps).toEqual(["/1.0/instances/web1/snapshots/before-upgrade"]);
  await shot("07-snapshots");

  // A schedule, kept in the instance's config.
  await page.getByLabel("Schedule (snapshots.schedule)").fill("@daily");
  await page.getByLabel("Keep for (snapshots.expiry)").fill("1w");
  await page.getByRole("button", { name: "Save schedule" }).click();
  await until(async () => (await d.api("GET", "/1.0/instances/web1")).body.metadata.config["snapshots.schedule"] === "@daily", "the schedule saved");
  expect((await d.api("GET", "/1.0/instances/web1")).body.metadata.config["snapshots.expiry"]).toBe("1w");

  // Restore: a file made after the snapshot is gone afterwards.
  await d.ok("exec", "web1", "--", "touch", "/root/after");
  await page.getByRole("button", { name: "Restore before-upgrade" }).click();
  await page.getByRole("dialog", { name: "Restore snapshot before-upgrade?" }).getByRole("button", { name: "Restore" }).click();
  await page.getByRole("dialog").waitFor({ state: "detached" });
  expect((await d.lxd("exec", "web1", "--", "test", "-e", "/root/after")).code).toBe(1);
});

test("profiles, storage volumes and image aliases: create and delete from their pages", async () => {
  await goto(page, `${b.origin}/ui/profiles`);
  await page.getByRole("button", { name: "Create profile" }).click();
  let dialog = page.getByRole("dialog", { name: "Create profile" });
  await dialog.getByLabel("Name", { exact: true }).fill("small");
  await dialog.getByLabel("Configuration (key=value, one per line)").fill("limits.memory=64MiB");
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.getByRole("cell", { name: "small", exact: true }).waitFor();
  expect((await d.api("GET", "/1.0/profiles/small")).body.metadata.config).toEqual({ "limits.memory": "64MiB" });
  await page.getByRole("button", { name: "Delete small" }).click();
  await page.getByRole("dialog", { name: "Delete profile small?" }).getByRole("button", { name: "Delete" }).click();
  await page.getByRole("cell", { name: "small", exact: true }).waitFor({ state: "detached" });
  expect((await d.api("GET", "/1.0/profiles/small")).status).toBe(404);

  await goto(page, `${b.origin}/ui/storage/default`);
  await page.getByRole("button", { name: "Create volume" }).click();
  dialog = page.getByRole("dialog", { name: "Create volume" });
  await dialog.getByLabel("Name", { exact: true }).fill("data");
  await dialog.getByRole("button", { name: "Create" }).click();
  await page.getByRole("cell", { name: "data", exact: true }).waitFor();
  expect((await d.api("GET", "/1.0/storage-pools/default/volumes/custom/data")).status).toBe(200);
  await page.getByRole("button", { name: "Delete data" }).click();
  await page.getByRole("dialog", { name: "Delete volume data?" }).getByRole("button", { name: "Delete" }).click();
  await page.getByRole("cell", { name: "data", exact: true }).waitFor({ state: "detached" });

  await goto(page, `${b.origin}/ui/images`);
  const fp = ((await d.api("GET", "/1.0/images")).body.metadata as string[])[0].split("/").pop()!;
  await page.getByRole("button", { name: `Add alias ${fp}` }).click();
  dialog = page.getByRole("dialog", { name: "Add alias" });
  await dialog.getByLabel("Alias").fill("bb2");
  await dialog.getByRole("button", { name: "Add" }).click();
  await page.getByRole("cell", { name: /\bbb2\b/ }).waitFor();
  expect((await d.api("GET", "/1.0/images/aliases/bb2")).body.metadata.target).toBe(fp);
});

test("screenshots of the other pages (desktop and phone widths)", async () => {
  for (const [path, heading, name] of [
    ["/ui/images", "Images", "08-images"], ["/ui/profiles", "Profiles", "09-profiles"], ["/ui/networks", "Networks", "10-networks"],
    ["/ui/networks/lxdbr0", "lxdbr0", "11-network-leases"], ["/ui/storage", "Storage pools", "12-storage"],
    ["/ui/storage/default", "Volumes in default", "13-volumes"], ["/ui/operations", "Operations", "14-operations"],
    ["/ui/events", "Events", "15-events"], ["/ui/instances/web1/log", "web1", "16-log"],
  ] as const) {
    await goto(page, `${b.origin}${path}`);
    await page.getByRole("heading", { name: heading, level: 1 }).waitFor();
    if (name === "15-events") {
      // Something happens while the page is open: it shows up in the log (again until the
      // page's websocket, opened after the heading appeared, is connected).
      let n = 0;
      await until(async () => {
        await d.ok("config", "set", "web1", "user.note", `seen${n++}`);
        return (await page.locator(".events .ev-lifecycle").count()) > 0;
      }, "a lifecycle event on the events page");
      expect(await page.locator(".events").textContent()).toContain("instance-updated /1.0/instances/web1");
    }
    await page.waitForLoadState("networkidle").catch(() => {});
    await shot(name);
  }
  const phone = await b.context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  await goto(phone, `${b.origin}/ui/`);
  await phone.getByRole("link", { name: "web1" }).waitFor();
  await shot("17-phone-instances", phone);
  await phone.close();
});

test("stop, copy, rename, and delete with a confirmation", async () => {
  await goto(page, `${b.origin}/ui/instances/web1`);
  await page.getByRole("button", { name: "Stop", exact: true }).click();
  await badge().filter({ hasText: "Stopped" }).waitFor({ timeout: 30_000 });

  await page.getByRole("button", { name: "Copy" }).click();
  await page.getByRole("dialog", { name: "Copy web1" }).getByRole("button", { name: "Copy" }).click();
  await page.waitForURL(/\/ui\/instances\/web1-copy$/);
  await page.getByRole("heading", { name: "web1-copy", level: 1 }).waitFor();
  expect((await d.api("GET", "/1.0/instances/web1-copy")).body.metadata.config["limits.memory"]).toBe("192MiB");
  await d.ok("delete", "web1-copy");

  await goto(page, `${b.origin}/ui/instances/web1`);
  await page.getByRole("button", { name: "Rename" }).click();
  const rename = page.getByRole("dialog", { name: "Rename web1" });
  await rename.getByLabel("New name").fill("web2");
  await rename.getByRole("button", { name: "Rename" }).click();
  await page.waitForURL(/\/ui\/instances\/web2$/);
  await page.getByRole("heading", { name: "web2", level: 1 }).waitFor();
  expect((await d.api("GET", "/1.0/instances")).body.metadata).toEqual(["/1.0/instances/web2"]);

  await page.getByRole("button", { name: "Delete" }).click();
  const dialog = page.getByRole("dialog", { name: "Delete web2?" });
  await shot("18-delete-confirm");
  await dialog.getByRole("button", { name: "Delete" }).click();
  await page.waitForURL(/\/ui\/$/);
  await page.getByText("No instances. Create one to begin.").waitFor();
  expect((await d.api("GET", "/1.0/instances")).body.metadata).toEqual([]);
});

test("signing out forgets the session: the console is gone until signing in again", async () => {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("heading", { name: "You signed out" }).waitFor();
  expect(await page.getByRole("navigation", { name: "Main" }).count()).toBe(0);
  // Nothing credential-like was kept by the page.
  const stored = await page.evaluate("JSON.stringify({ ...localStorage }) + document.cookie");
  expect(stored).toBe("{}");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Instances", level: 1 }).waitFor();
});
