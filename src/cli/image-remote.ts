// Images on other servers, seen from the client: `REMOTE:ALIAS` arguments of launch/init and
// `image copy` become a pull source for the target daemon (server, protocol, certificate from
// the client's config), and `image list REMOTE:` on a simplestreams remote reads the tree here.
import type { InstancesPost } from "../api/instance.ts";
import { confDir, loadConfig, readServerCert, selectedRemoteName, type ClientConfig, type Remote } from "../client/config.ts";
import type { Image } from "../api/image.ts";
import { getJson } from "../image/download.ts";
import { INDEX_PATH, parseProducts, productsPath } from "../image/simplestreams.ts";

export type ImageSource = InstancesPost["source"];

/** "images:alpine" -> {remote: "images", name: "alpine"} when `images` is a configured remote. */
export function splitImageRef(arg: string, config: ClientConfig = loadConfig()): { remote?: string; name: string } {
  const m = /^([A-Za-z0-9_.-]+):(.*)$/s.exec(arg);
  if (m && config.remotes[m[1]]) return { remote: m[1], name: m[2] };
  return { name: arg };
}

/** The image server a remote's address names (its https/http URL, without a trailing slash). */
function serverUrl(name: string, remote: Remote): string {
  if (!/^https?:\/\//.test(remote.addr)) throw new Error(`Remote "${name}" (${remote.addr}) is not an image server reachable from the daemon`);
  return remote.addr.replace(/\/+$/, "");
}

/**
 * The POST source for an image on another remote, or undefined when the image lives on the
 * daemon the command talks to (no prefix, or that daemon's own remote).
 */
export function remoteImageSource(arg: string, dir = confDir()): ImageSource | undefined {
  const config = loadConfig(dir);
  const { remote, name } = splitImageRef(arg, config);
  if (!remote || remote === selectedRemoteName(dir)) return undefined;
  const r = config.remotes[remote];
  if (!name) throw new Error(`Missing the image name after "${remote}:"`);
  const source: ImageSource = { type: "image", mode: "pull", server: serverUrl(remote, r), protocol: r.protocol || "lxd" };
  if (/^[0-9a-f]{8,64}$/.test(name)) source.fingerprint = name;
  else source.alias = name;
  const cert = readServerCert(remote, dir);
  if (cert) source.certificate = cert;
  return source;
}

/** Whether the command's remote is a simplestreams server (listed by reading its tree). */
export function selectedStreamsRemote(dir = confDir()): { name: string; remote: Remote } | undefined {
  const config = loadConfig(dir);
  const name = selectedRemoteName(dir);
  const remote = config.remotes[name];
  return remote?.protocol === "simplestreams" ? { name, remote } : undefined;
}

/** "20261127_0538" -> RFC 3339, or "" when the serial is no date. */
const serialDate = (v: string) => {
  const m = /^(\d{4})(\d{2})(\d{2})(?:_(\d{2}):?(\d{2}))?/.exec(v);
  return m ? `${m[1]}-${m[2]}-${m[3]}T${m[4] ?? "00"}:${m[5] ?? "00"}:00Z` : "";
};

/** The images a simplestreams remote offers, in the API's Image shape (for `image list`). */
export async function streamsImages(name: string, remote: Remote, dir = confDir()): Promise<Image[]> {
  const server = serverUrl(name, remote);
  const opts = { certificate: readServerCert(name, dir) };
  const products = await getJson(`${server}/${productsPath(await getJson(`${server}/${INDEX_PATH}`, opts))}`, opts);
  return parseProducts(products).map((i) => ({
    aliases: i.aliases.map((a) => ({ name: a, description: "" })),
    architecture: i.architecture,
    auto_update: false,
    cached: false,
    created_at: serialDate(i.version),
    expires_at: "",
    filename: "",
    fingerprint: i.fingerprint,
    last_used_at: "",
    profiles: [],
    properties: i.properties,
    public: true,
    size: i.size,
    type: "container",
    uploaded_at: serialDate(i.version),
  }) as Image);
}
