// `lxd ui`: where the web console is (and `--open` to open it), and `lxd ui certificate FILE`,
// which makes a browser's client identity: a new key and self-signed certificate in a
// password-protected PKCS#12 file to import into the browser. The browser then redeems a
// `lxd config trust add` token on the console's login page.
import { existsSync, writeFileSync } from "node:fs";
import os from "node:os";
import { Command, Option } from "clipanion";
import { writePkcs12 } from "../tls/pkcs12.ts";
import { fromPem, generateCertificate } from "../tls/x509.ts";
import { LxdCommand, isTerminal } from "./base.ts";

/** A listen address ("[::]:8443", "0.0.0.0:8443", ":8443", "10.0.0.5:8443") as a URL host a
 *  browser on this machine can use: wildcards become loopback. */
export function localHost(address: string): string {
  const m = /^(?:\[([^\]]*)\]|([^:]*))(?::(\d+))?$/.exec(address.trim());
  const host = m?.[1] ?? m?.[2] ?? "";
  const port = m?.[3] ?? "8443";
  if (host === "" || host === "::" || host === "0.0.0.0") return `127.0.0.1:${port}`;
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

export class UiCommand extends LxdCommand {
  static override paths = [["ui"]];
  static override usage = Command.Usage({
    category: "Other",
    description: "Print the address of the web console",
    details: "The daemon serves its web console at https://HOST:PORT/ui/ once core.https_address is set. A browser signs in with a client certificate: make one with `lxd ui certificate FILE`, import it into the browser, then paste a `lxd config trust add` token on the console's login page.",
    examples: [["Print the URL", "$0 ui"], ["Open it in the desktop's browser", "$0 ui --open"]],
  });

  open = Option.Boolean("--open", false, { description: "Open the console with xdg-open" });

  protected async run(): Promise<number> {
    const server = await this.client.server();
    const address = server.config["core.https_address"];
    if (!address) {
      throw new Error("The web console is served over HTTPS, which is off: enable it with `lxd config set core.https_address 127.0.0.1:8443`");
    }
    const url = `https://${localHost(address)}/ui/`;
    this.print(url);
    if (!this.open) return 0;
    const opener = Bun.which("xdg-open");
    if (!opener) throw new Error("xdg-open is not installed: open the URL above in a browser");
    const r = Bun.spawnSync([opener, url], { stdout: "ignore", stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`xdg-open failed: ${r.stderr.toString().trim() || `exit ${r.exitCode}`}`);
    return 0;
  }
}

/** Reads the .pfx password: from the terminal without echo (asked twice), else the first line of stdin. */
async function readPassword(stderr: NodeJS.WritableStream): Promise<string> {
  const lines = console[Symbol.asyncIterator]();
  const next = async () => ((await lines.next()).value as string | undefined) ?? "";
  if (!isTerminal(0)) return next();
  const stty = (arg: string) => Bun.spawnSync(["stty", arg], { stdin: "inherit", stdout: "ignore", stderr: "ignore" });
  stty("-echo");
  try {
    stderr.write("Password for the certificate file: ");
    const first = await next();
    stderr.write("\nAgain: ");
    const second = await next();
    stderr.write("\n");
    if (first !== second) throw new Error("The passwords differ");
    return first;
  } finally {
    stty("echo");
  }
}

export class UiCertificateCommand extends LxdCommand {
  static override paths = [["ui", "certificate"]];
  static override usage = Command.Usage({
    category: "Other",
    description: "Make a client certificate for a browser, as a PKCS#12 (.pfx) file",
    details: "Writes a new key and a self-signed client certificate (ECDSA P-384, valid 1000 days) into FILE, encrypted with the password (AES-256). Import FILE into the browser (Chromium: Settings › Privacy and security › Security › Manage certificates; Firefox: Settings › Certificates › Your Certificates › Import), then redeem a `lxd config trust add` token on the console's login page. No server is contacted.",
    examples: [
      ["Make one, asking for the password", "$0 ui certificate lxd-ui.pfx"],
      ["In a script", "echo \"$PASSWORD\" | $0 ui certificate lxd-ui.pfx"],
    ],
  });

  name = Option.String("--name", { description: "Common name of the certificate (default: lxd-ui@HOSTNAME)" });
  password = Option.String("--password", { description: "Password of the file (default: asked, or read from stdin)" });
  force = Option.Boolean("-f,--force", false, { description: "Overwrite FILE if it exists" });
  file = Option.String({ name: "file" });

  protected async run(): Promise<void> {
    if (existsSync(this.file) && !this.force) throw new Error(`${this.file} already exists (use --force to overwrite it)`);
    const password = this.password ?? await readPassword(this.context.stderr);
    if (!password) throw new Error("A password is required: it protects the key in the file");
    const name = this.name ?? `lxd-ui@${os.hostname()}`;
    const pair = await generateCertificate({ client: true, commonName: name, validDays: 1000 });
    const pfx = await writePkcs12(pair.der, fromPem(pair.key, "PRIVATE KEY"), password, name);
    writeFileSync(this.file, pfx, { mode: 0o600 });
    this.print(`Wrote ${this.file} (certificate fingerprint ${pair.fingerprint}).`);
    this.print("Import it into the browser, open the console (`lxd ui`) and paste a token from `lxd config trust add --name browser`.");
  }
}
