// Interactive `lxd init` for a server joining a cluster, with LXD's questions in LXD's order: the
// address this server is reached at, the join token, the warning that local data goes, then the
// member-specific keys the cluster asks for (each pool's source...). The answers become a preseed
// (printed on request) applied as `lxd init --preseed` would.
import os from "node:os";
import { LxdClient } from "../client/client.ts";
import { certFingerprint, fetchServerCertificate, httpsUrl, TlsTransport } from "../client/tls.ts";
import { asker } from "./ask.ts";
import { toYaml } from "./format.ts";
import { applyPreseed } from "./preseed.ts";

interface JoinToken { server_name: string; fingerprint: string; addresses: string[]; secret: string }
interface MemberConfigKey { entity: string; name: string; key: string; value: string; description?: string }

const decodeToken = (text: string): JoinToken | undefined => {
  try {
    const t = JSON.parse(Buffer.from(text.trim(), "base64").toString("utf8")) as JoinToken;
    return typeof t.secret === "string" && Array.isArray(t.addresses) && typeof t.fingerprint === "string" ? t : undefined;
  } catch {
    return undefined;
  }
};

/** The first global IPv4 (else IPv6) address of the host: the suggested answer, as LXD's. */
function defaultAddress(): string {
  const all = Object.values(os.networkInterfaces()).flat().filter((a) => a && !a.internal);
  return (all.find((a) => a!.family === "IPv4") ?? all.find((a) => a!.family === "IPv6" && !a!.address.startsWith("fe80")))?.address ?? "";
}

/** What the cluster needs this member to answer, asked of the first member in the token that is
 *  the one the token was issued by (its certificate fingerprint). */
async function memberConfig(token: JoinToken): Promise<MemberConfigKey[]> {
  let lastError: unknown;
  for (const address of token.addresses) {
    try {
      const url = httpsUrl(address);
      const cert = await fetchServerCertificate(url);
      if (certFingerprint(cert) !== token.fingerprint) throw new Error(`Certificate fingerprint mismatch between join token and cluster member "${address}"`);
      // The token's secret is the credential: no client certificate is needed (or trusted) yet.
      const client = new LxdClient(new TlsTransport(url, undefined, cert));
      return (await client.request<MemberConfigKey[]>("POST", "/internal/cluster/member-config", { secret: token.secret })).metadata;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error(`Failed to reach the cluster: ${(lastError as Error)?.message ?? "no address in the join token"}`);
}

export async function interactiveInit(client: LxdClient, out: (s: string) => void): Promise<void> {
  const { ask, yes } = asker(out);
  if (!(await yes("Would you like to use LXD clustering?", false))) {
    throw new Error("Interactive setup is only supported for joining a cluster; use `lxd init --auto` or `lxd init --preseed`");
  }
  const suggested = defaultAddress();
  const address = (await ask(`What IP address or DNS name should be used to reach this server? [default=${suggested}]: `)) || suggested;
  if (!(await yes("Are you joining an existing cluster?", false))) {
    throw new Error("To start a new cluster, set core.https_address and run `lxd cluster enable NAME`");
  }
  let answer = "";
  for (;;) {
    answer = await ask("Do you have a join token? (yes/no/[token]) [default=no]: ");
    if (["", "no", "n"].includes(answer.toLowerCase())) throw new Error("Joining a cluster needs a join token: run `lxd cluster add NAME` on a member");
    if (!["yes", "y"].includes(answer.toLowerCase())) break;
    answer = await ask("Please provide join token: ");
    if (decodeToken(answer)) break;
    out("Invalid join token, try again.\n\n");
  }
  const token = decodeToken(answer);
  if (!token) throw new Error("Invalid join token");
  if (!(await yes("All existing data is lost when joining a cluster, continue?", false, " "))) throw new Error("User aborted configuration");
  const keys = await memberConfig(token);
  const answers: MemberConfigKey[] = [];
  for (const k of keys) {
    const what = k.entity === "network" ? `network "${k.name}"` : `storage pool "${k.name}"`;
    answers.push({ entity: k.entity, name: k.name, key: k.key, value: await ask(`Choose "${k.key}" property for ${what}: `) });
  }
  const preseed = toYaml({
    config: {},
    cluster: {
      server_name: token.server_name, enabled: true, member_config: answers,
      cluster_address: token.addresses[0] ?? "", server_address: /:\d+$/.test(address) ? address : `${address.includes(":") ? `[${address}]` : address}:8443`,
      cluster_token: answer,
    },
  });
  if (await yes('Would you like a YAML "lxd init" preseed to be printed?', false)) out(preseed);
  await applyPreseed(client, preseed);
}
