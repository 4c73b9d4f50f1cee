// Launching from an image on another server: a second daemon on loopback publishes busybox over
// HTTPS; the first launch downloads (and verifies) it, the second comes from the cache. Beside
// them, the bare transfer of the same file over the same listener.
import { mkdtempSync, rmSync } from "node:fs";
import { importBusybox, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";
import { freePort } from "../helpers/net.ts";

export interface RemoteImageRow { key: string; what: string; times: number[]; floor: number[] }

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

export async function remoteImageTimings(d: TestDaemon, runs: number): Promise<RemoteImageRow[]> {
  const srv = await startInitializedDaemon();
  const conf = mkdtempSync("/tmp/lxd-bench-images-");
  try {
    const port = freePort();
    await srv.ok("config", "set", "core.https_address", `127.0.0.1:${port}`);
    const fp = (await srv.api("GET", "/1.0/images/aliases/busybox")).body.metadata.target as string;
    await srv.api("PATCH", `/1.0/images/${fp}`, { public: true });
    const cli = async (...args: string[]) => {
      const r = await d.lxdWith({ env: { LXD_CONF: conf } }, ...args);
      if (r.code !== 0) throw new Error(`lxd ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
    };
    await cli("remote", "add", "bench-images", `127.0.0.1:${port}`, "--public", "--accept-certificate");
    // d imported the same busybox (same fingerprint): without removing it the first launch would
    // find it here and download nothing. It is imported again at the end for the rows after these.
    await d.ok("image", "delete", fp);
    const first: number[] = [], cached: number[] = [], transfer: number[] = [];
    for (let i = 0; i < runs; i++) {
      transfer.push(await timed(async () => {
        const res = await fetch(`https://127.0.0.1:${port}/images/${fp}/lxd_combined.tar.gz`, { tls: { rejectUnauthorized: false } } as RequestInit);
        await res.arrayBuffer();
      }));
      first.push(await timed(() => cli("launch", "bench-images:busybox", `ri${i}`)));
      cached.push(await timed(() => cli("launch", "bench-images:busybox", `rc${i}`)));
      await cli("delete", "--force", `ri${i}`, `rc${i}`);
      await cli("image", "delete", fp);
    }
    return [
      { key: "launch-remote", what: "launch REMOTE:busybox, first (download over HTTPS from a 2nd daemon)", times: first, floor: transfer },
      { key: "launch-cached", what: "launch REMOTE:busybox, again (image cached)", times: cached, floor: [] },
    ];
  } finally {
    rmSync(conf, { recursive: true, force: true });
    await srv.stop();
    if ((await d.api("GET", "/1.0/images/aliases/busybox")).status !== 200) await importBusybox(d);
  }
}
