// Web console rows of `npm run bench` (`-- --only ui`): first paint of the instances page with
// 100 running instances in headless Chromium on loopback (the target: 300 ms), and how
// long a CLI-side stop takes to show on the open page through the events websocket.
import { openBrowser, signIn } from "../helpers/browser.ts";
import type { TestDaemon } from "../helpers/daemon.ts";
import { cliOf } from "./timing.ts";

export interface UiRow { key: string; what: string; times: number[] }

export async function uiTimings(d: TestDaemon, runs: number, instances: number): Promise<UiRow[]> {
  const cli = cliOf(d);
  const names = Array.from({ length: instances }, (_, i) => `ui${i}`);
  for (const n of names) await cli("init", "busybox", n);
  await cli("start", ...names);
  const b = await openBrowser(d);
  const rows = { paint: [] as number[], listed: [] as number[], event: [] as number[] };
  try {
    const login = await b.context.newPage();
    await signIn(d, login, b.origin);
    await login.close();
    for (let i = 0; i < runs; i++) {
      // A fresh page each time (cached assets, as on a second visit): navigation start to the
      // first contentful paint, and to the table holding every instance.
      const page = await b.context.newPage();
      await page.goto(`${b.origin}/ui/`);
      // The predicate returns the page's clock at the first frame with every row (a function,
      // not a string: the console's CSP forbids eval).
      const seen = await page.waitForFunction((n) => {
        const g = globalThis as unknown as { document: { querySelectorAll(s: string): { length: number } }; performance: { now(): number } };
        return g.document.querySelectorAll("tbody tr").length >= n && g.performance.now();
      }, instances, { polling: "raf", timeout: 60_000 });
      rows.listed.push(await seen.jsonValue() as number);
      if (process.env.LXD_BENCH_UI_TRACE) {
        console.log(await page.evaluate(`performance.getEntries().map((e) => [e.name.replace(location.origin, ""), e.entryType, Math.round(e.startTime), Math.round(e.duration), e.responseStart ? Math.round(e.responseStart) : ""].join(" ")).join("\\n")`));
      }
      rows.paint.push(await page.evaluate(`performance.getEntriesByName("first-contentful-paint")[0]?.startTime ?? NaN`) as number);
      const row = page.getByRole("row").filter({ has: page.getByRole("link", { name: names[0], exact: true }) });
      await row.getByText("Running").waitFor();
      const t0 = performance.now();
      const stopped = row.getByText("Stopped").waitFor({ timeout: 30_000 }).then(() => performance.now());
      await cli("stop", names[0], "--force");
      rows.event.push((await stopped) - t0);
      await cli("start", names[0]);
      await page.close();
    }
  } finally {
    await b.close();
    await cli("delete", "--force", ...names);
  }
  return [
    { key: "ui-fcp", what: `web console: first contentful paint, ${instances} running instances`, times: rows.paint },
    { key: "ui-listed", what: `web console: all ${instances} instances listed (navigation to table)`, times: rows.listed },
    { key: "ui-event", what: "web console: `lxd stop` issued to the row showing Stopped (events websocket)", times: rows.event },
  ];
}
