// GET /ui/…: the web console (src/ui), bundled by appliance/build.ts into build/ui and embedded in
// the executable. Every path under /ui/ that is not an asset answers the page shell, so the
// console's own routes (/ui/instances/c1) survive a reload. Reachable without a client
// certificate (trust.ts): an untrusted browser gets the page and, from the API, only its login.
import { Elysia } from "elysia";
import { RawResponse } from "./response.ts";

interface Asset { path: string; type: string }

let assets: Record<string, Asset> | undefined;
try {
  // Build artifacts without type declarations; `type: "file"` imports resolve to a path
  // (inside the executable once compiled).
  // @ts-ignore
  const js: { default: string } = await import("../../build/ui/app.js", { with: { type: "file" } });
  // @ts-ignore
  const css: { default: string } = await import("../../build/ui/app.css", { with: { type: "file" } });
  assets = {
    "app.js": { path: js.default, type: "text/javascript; charset=utf-8" },
    "app.css": { path: css.default, type: "text/css; charset=utf-8" },
  };
} catch {
  // Running from source without `npm run build`: the page says so.
}

/** Gzipped bytes and an ETag per asset, made on first request and kept (they never change). */
const cache = new Map<string, { gz: Uint8Array; raw: Uint8Array; etag: string }>();

async function load(name: string) {
  let entry = cache.get(name);
  if (!entry && assets?.[name]) {
    const raw = new Uint8Array(await Bun.file(assets[name].path).arrayBuffer());
    entry = { raw, gz: Bun.gzipSync(raw), etag: `"${Bun.hash(raw).toString(16)}"` };
    cache.set(name, entry);
  }
  return entry;
}

const SHELL = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>LXD</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/ui/assets/app.css">
<script type="module" src="/ui/assets/app.js"></script>
</head>
<body><div id="app"><noscript>The LXD web console needs JavaScript.</noscript></div></body>
</html>
`;

const NOT_BUILT = "The web console was not built into this lxd (run `npm run build`).\n";

// The console talks only to this origin; nothing may frame it or load scripts from elsewhere.
const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

function page() {
  if (!assets) return new RawResponse(NOT_BUILT, { status: 503, headers: { "content-type": "text/plain; charset=utf-8" } });
  return new RawResponse(SHELL, { headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-cache", ...SECURITY_HEADERS } });
}

export const uiRoutes = () =>
  new Elysia({ name: "ui" })
    // The router also sends "/ui/" here: only the bare "/ui" is redirected.
    .get("/ui", ({ request }) => (new URL(request.url).pathname === "/ui"
      ? new RawResponse(null, { status: 308, headers: { location: "/ui/" } })
      : page()), { detail: { hide: true } })
    .get("/ui/assets/:name", async ({ params, request }) => {
      const entry = await load(params.name);
      if (!entry) return new RawResponse("not found\n", { status: 404, headers: { "content-type": "text/plain" } });
      const headers: Record<string, string> = {
        "content-type": assets![params.name].type, "cache-control": "no-cache", etag: entry.etag, vary: "accept-encoding", ...SECURITY_HEADERS,
      };
      if (request.headers.get("if-none-match") === entry.etag) return new RawResponse(null, { status: 304, headers });
      if (/\bgzip\b/.test(request.headers.get("accept-encoding") ?? "")) {
        return new RawResponse(entry.gz, { headers: { ...headers, "content-encoding": "gzip" } });
      }
      return new RawResponse(entry.raw, { headers });
    }, { detail: { hide: true } })
    .get("/ui/*", () => page(), { detail: { hide: true } });
