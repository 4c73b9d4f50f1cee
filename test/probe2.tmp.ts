import { RealLxd } from "./helpers/real-lxd.ts";
const l = new RealLxd();
await l.start();
const out: string[] = [];
const c = async (...a: string[]) => { const r = await l.lxc(...a); out.push(`$ lxc ${a.join(" ")}\n[${r.code}] ${r.stdout}${r.stderr}`); };
try {
  await c("project", "create", "pn", "-c", "features.networks=true");
  await c("--project", "pn", "network", "create", "br9");
  await c("--project", "pn", "network", "list");
  await c("project", "create", "pi");
  await c("--project", "pi", "storage", "volume", "create", "default", "v1");
  await c("--project", "pi", "storage", "volume", "list", "default");
  await c("storage", "volume", "list", "default");
  await c("query", "/1.0/storage-pools/default/volumes?project=pi");
  await c("query", "/1.0/projects/pi");
  await c("--project", "pi", "image", "list");
  await c("--project", "pi", "profile", "create", "web");
  await c("query", "/1.0/profiles/web?project=pi");
  await c("project", "set", "pi", "limits.networks", "0");
  await c("project", "create", "p_x");
  await c("project", "rename", "pi", "p2");
  await c("query", "/1.0/events?project=nope");
  await c("query", "-X", "DELETE", "/1.0/projects/nope");
} finally {
  await Bun.write("/tmp/projprobe/out3.txt", out.join("\n"));
  await l.stop();
}
