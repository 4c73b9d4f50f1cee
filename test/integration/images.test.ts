// Image formats end to end with real files: unified tarballs (tar, tar.gz, tar.xz) and split
// images (metadata tarball + rootfs tarball or squashfs made by mksquashfs) imported through our
// CLI, the REST API and Debian's `lxc image import` (multipart), exported back byte for byte,
// launched; and bad input (truncated, tampered, escaping paths, device nodes, foreign
// architecture) refused with a clear error, leaving nothing behind.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hostArchitecture } from "../../src/image/metadata.ts";
import { busyboxImage, run, startDaemon, startInitializedDaemon, type TestDaemon } from "../helpers/daemon.ts";

let d: TestDaemon;
let work: string;
let busyboxFp: string;

const sha256 = (...files: string[]) => {
  const h = new Bun.CryptoHasher("sha256");
  for (const f of files) h.update(readFileSync(f));
  return h.digest("hex");
};
const sh = async (cmd: string, cwd = work) => {
  const r = await run(["sh", "-c", cmd], { cwd });
  if (r.code !== 0) throw new Error(`${cmd} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
};

/** A tree with metadata.yaml (for `arch`), templates/ and rootfs/ holding busybox's rootfs plus a marker. */
async function makeTree(name: string, arch = hostArchitecture(), marker = name): Promise<string> {
  const dir = join(work, name);
  mkdirSync(dir);
  await sh(`tar -xzf ${await busyboxImage()} -C ${dir}`);
  writeFileSync(join(dir, "metadata.yaml"), `architecture: ${arch}\ncreation_date: 1700000000\nproperties:\n  os: busybox\n  description: ${marker}\n`);
  writeFileSync(join(dir, "rootfs/marker"), `${marker}\n`);
  return dir;
}

const imageFiles = () => readdirSync(join(d.dir, "images"));
const imageCount = async () => (await d.api("GET", "/1.0/images")).body.metadata.length;

/** POSTs a file as a unified image; returns the final operation's error ("" on success). */
async function upload(file: string): Promise<string> {
  const r = await d.api("POST", "/1.0/images", readFileSync(file), { "Content-Type": "application/octet-stream" });
  if (r.status !== 202) return r.body.error;
  return (await d.wait(r)).body.metadata.err;
}

beforeAll(async () => {
  d = await startInitializedDaemon();
  work = mkdtempSync(join(d.dir, "work-"));
  busyboxFp = sha256(await busyboxImage());
});

afterAll(async () => {
  await d?.stop();
});

describe("image formats", () => {
  test("unified tar, tar.gz and tar.xz import, export byte for byte and launch", async () => {
    const tree = await makeTree("unified");
    await sh("tar --numeric-owner -cf u.tar -C unified metadata.yaml rootfs && gzip -k u.tar && xz -k -T1 u.tar");
    for (const [file, ext] of [["u.tar", ".tar"], ["u.tar.gz", ".tar.gz"], ["u.tar.xz", ".tar.xz"]] as const) {
      const out = await d.ok("image", "import", join(work, file), "--alias", `u-${ext.slice(1)}`);
      const fp = sha256(join(work, file));
      expect(out).toContain(fp);
      const exportDir = join(work, `export-${ext.slice(1)}`);
      mkdirSync(exportDir);
      await d.ok("image", "export", `u-${ext.slice(1)}`, exportDir);
      expect(readdirSync(exportDir)).toEqual([`${fp}${ext}`]);
      expect(sha256(join(exportDir, `${fp}${ext}`))).toBe(fp);
    }
    await d.ok("launch", "u-tar.xz", "u1");
    expect((await d.ok("exec", "u1", "--", "cat", "/marker")).trim()).toBe("unified");
    await d.ok("delete", "-f", "u1");
    rmSync(tree, { recursive: true });
  });

  test("split images through lxc image import: rootfs tarball and squashfs", async () => {
    const tree = await makeTree("split");
    await sh("tar -cJf meta.tar.xz -C split metadata.yaml && tar --numeric-owner -czf rootfs.tar.gz -C split/rootfs . && mksquashfs split/rootfs rootfs.squashfs -quiet -noappend -comp xz >/dev/null");
    for (const rootfs of ["rootfs.tar.gz", "rootfs.squashfs"]) {
      const alias = rootfs.replace(".", "-");
      const r = await d.lxc("image", "import", join(work, "meta.tar.xz"), join(work, rootfs), "--alias", alias);
      if (r.code !== 0) throw new Error(`lxc image import failed: ${r.stderr}`);
      const fp = sha256(join(work, "meta.tar.xz"), join(work, rootfs));
      const image = (await d.api("GET", `/1.0/images/${fp}`)).body.metadata;
      expect(image.aliases).toEqual([{ name: alias, description: "" }]);
      expect(image.properties.description).toBe("split");
      // Exported as two files, the same bytes, through lxc and our CLI.
      for (const [client, dir] of [["lxc", "lxc-export"], ["lxd", "lxd-export"]] as const) {
        const exportDir = join(work, `${dir}-${alias}`);
        mkdirSync(exportDir);
        const e = client === "lxc" ? await d.lxc("image", "export", alias, exportDir + "/") : await d.lxd("image", "export", alias, exportDir);
        if (e.code !== 0) throw new Error(`${client} image export failed: ${e.stderr}`);
        const files = readdirSync(exportDir).sort();
        expect(files.length).toBe(2);
        const meta = files.find((f) => f.startsWith("meta-"))!;
        const root = files.find((f) => !f.startsWith("meta-"))!;
        expect(sha256(join(exportDir, meta), join(exportDir, root))).toBe(fp);
      }
      await d.ok("launch", alias, "s1");
      expect((await d.ok("exec", "s1", "--", "cat", "/marker")).trim()).toBe("split");
      expect((await d.ok("exec", "s1", "--", "stat", "-c", "%u", "/bin/busybox")).trim()).toBe("0");
      await d.ok("delete", "-f", "s1");
    }
    rmSync(tree, { recursive: true });
  });
});

describe("bad input", () => {
  let good: string;

  beforeAll(async () => {
    await makeTree("bad");
    await sh("tar --numeric-owner -cf good.tar -C bad metadata.yaml rootfs && gzip -k good.tar");
    good = join(work, "good.tar.gz");
  });

  const refused = async (file: string, message: RegExp) => {
    const before = await imageCount();
    expect(await upload(file)).toMatch(message);
    expect(await imageCount()).toBe(before);
    expect(imageFiles().filter((f) => f.startsWith("lxd_post"))).toEqual([]);
  };

  test("truncated and tampered files", async () => {
    const bytes = readFileSync(good);
    writeFileSync(join(work, "cut.tar.gz"), bytes.subarray(0, bytes.length >> 1));
    await refused(join(work, "cut.tar.gz"), /Invalid image file: gzip data is corrupt or truncated/);
    const tampered = Buffer.from(bytes);
    tampered[tampered.length >> 1] ^= 0xff;
    writeFileSync(join(work, "tampered.tar.gz"), tampered);
    await refused(join(work, "tampered.tar.gz"), /Invalid image file: .*(corrupt|invalid)/);
    // A plain tar cut at a block boundary: no end-of-archive marker.
    await sh("cp good.tar cut.tar");
    truncateSync(join(work, "cut.tar"), 512 * 40);
    await refused(join(work, "cut.tar"), /truncated/);
    writeFileSync(join(work, "garbage.tar"), "not an image at all".repeat(100));
    await refused(join(work, "garbage.tar"), /Invalid image file/);
  });

  test("escaping paths, device nodes and symlinks out of the rootfs", async () => {
    const base = "tar --numeric-owner -cf";
    await sh(`${base} dotdot.tar -C bad metadata.yaml rootfs --transform 's,^rootfs/marker,rootfs/../../evil,'`);
    await refused(join(work, "dotdot.tar"), /'\.\.' component/);
    // A leading "/" is dropped (as LXD does), so it cannot hide a ".." either.
    await sh(`${base} absdotdot.tar -P -C bad metadata.yaml rootfs --transform 's,^rootfs/marker,/rootfs/../../evil,'`);
    await refused(join(work, "absdotdot.tar"), /'\.\.' component/);
    await sh("mknod bad/rootfs/dev/evil c 1 3");
    await sh(`${base} dev.tar -C bad metadata.yaml rootfs`);
    rmSync(join(work, "bad/rootfs/dev/evil"));
    await refused(join(work, "dev.tar"), /"rootfs\/dev\/evil" is a device node/);
    symlinkSync("../../../../../etc/shadow", join(work, "bad/rootfs/etc/escape"));
    await sh(`${base} link.tar -C bad metadata.yaml rootfs`);
    rmSync(join(work, "bad/rootfs/etc/escape"));
    await refused(join(work, "link.tar"), /symlink "rootfs\/etc\/escape" points out of the rootfs/);
    // A symlink to a host directory, then a file "inside" it: the classic write-through.
    mkdirSync(join(work, "through/rootfs/x"), { recursive: true });
    writeFileSync(join(work, "through/rootfs/x/evil"), "x");
    symlinkSync(work, join(work, "bad/rootfs/x"));
    await sh(`${base} through.tar -C bad metadata.yaml rootfs && tar -rf through.tar -C through rootfs/x/evil`);
    rmSync(join(work, "bad/rootfs/x"));
    await refused(join(work, "through.tar"), /"rootfs\/x\/evil" would be written through the symlink "rootfs\/x"/);
    expect(readdirSync(work)).not.toContain("evil");
  });

  test("another architecture, missing metadata, wrong fingerprint", async () => {
    const foreign = hostArchitecture() === "x86_64" ? "s390x" : "x86_64";
    await makeTree("foreign", foreign);
    await sh("tar -czf foreign.tar.gz -C foreign metadata.yaml rootfs && tar -czf nometa.tar.gz -C foreign rootfs");
    await refused(join(work, "foreign.tar.gz"), new RegExp(`architecture "${foreign}"`));
    await refused(join(work, "nometa.tar.gz"), /the tarball is missing metadata.yaml/);
    const r = await d.api("POST", "/1.0/images", readFileSync(good), { "Content-Type": "application/octet-stream", "X-LXD-fingerprint": "0".repeat(64) });
    expect((await d.wait(r)).body.metadata.err).toMatch(/fingerprints don't match/);
    // Our CLI prints one clean line.
    const cli = await d.lxd("image", "import", join(work, "foreign.tar.gz"));
    expect(cli.code).not.toBe(0);
    expect(cli.stderr.trim().split("\n")).toHaveLength(1);
    expect(cli.stderr).toContain("cannot run");
  });

  test("split uploads: squashfs with a device node, a metadata tarball with a rootfs, a missing part", async () => {
    mkdirSync(join(work, "sq/dev"), { recursive: true });
    await sh("mknod sq/dev/evil b 7 0 && mksquashfs sq dev.squashfs -quiet -noappend >/dev/null && tar -cf meta.tar -C bad metadata.yaml");
    const lxc = await d.lxc("image", "import", join(work, "meta.tar"), join(work, "dev.squashfs"));
    expect(lxc.code).not.toBe(0);
    expect(lxc.stderr).toContain("is a device node");
    const before = await imageCount();
    const r = await d.lxc("image", "import", join(work, "good.tar.gz"), join(work, "good.tar.gz"));
    expect(r.stderr).toContain("metadata tarball holds a rootfs");
    const form = new FormData();
    form.append("metadata", new Blob([readFileSync(join(work, "meta.tar"))]), "meta.tar");
    const res = await fetch("http://lxd/1.0/images", { unix: d.socket, method: "POST", body: form } as RequestInit);
    expect(((await res.json()) as { error: string }).error).toContain("needs a metadata part and a rootfs part");
    expect(await imageCount()).toBe(before);
    expect(imageFiles().filter((f) => f.startsWith("lxd_post"))).toEqual([]);
  });
});


describe("images made by others (as LXD accepts them)", () => {
  test("members with a leading '/' are stripped and land in the image", async () => {
    await makeTree("slash", hostArchitecture(), "slash");
    // What some builders write: "/metadata.yaml", "/rootfs/bin/busybox", hardlinks to "/rootfs/…".
    await sh("tar --numeric-owner -P -cJf slash.tar.xz -C slash metadata.yaml rootfs --transform 's,^,/,'");
    expect(await sh("tar -tPJf slash.tar.xz | head -1")).toStartWith("/");
    await d.ok("image", "import", join(work, "slash.tar.xz"), "--alias", "slash");
    await d.ok("launch", "slash", "sl1");
    expect((await d.ok("exec", "sl1", "--", "cat", "/marker")).trim()).toBe("slash");
    await d.ok("delete", "-f", "sl1");
  });

  test("a split metadata tarball with a stray empty rootfs/ entry imports; one with files there does not", async () => {
    await makeTree("stray", hostArchitecture(), "stray");
    await sh("tar --numeric-owner --no-recursion -cf stray-meta.tar -C stray metadata.yaml rootfs && tar --numeric-owner -cf stray-rootfs.tar -C stray/rootfs .");
    expect(await sh("tar -tf stray-meta.tar")).toBe("metadata.yaml\nrootfs/\n");
    await d.ok("image", "import", join(work, "stray-meta.tar"), join(work, "stray-rootfs.tar"), "--alias", "stray");
    await d.ok("launch", "stray", "st1");
    expect((await d.ok("exec", "st1", "--", "cat", "/marker")).trim()).toBe("stray");
    await d.ok("delete", "-f", "st1");
    await sh("tar --numeric-owner -cf full-meta.tar -C stray metadata.yaml rootfs/marker");
    const r = await d.lxd("image", "import", join(work, "full-meta.tar"), join(work, "stray-rootfs.tar"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("metadata tarball holds a rootfs");
  });

  test("`image build busybox -o FILE.tar.xz` writes xz", async () => {
    const file = join(work, "bb.tar.xz");
    await d.ok("image", "build", "busybox", "-o", file);
    expect([...readFileSync(file).subarray(0, 6)]).toEqual([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);
    const plain = join(work, "bb.tar");
    await d.ok("image", "build", "busybox", "-o", plain);
    expect(readFileSync(plain).subarray(257, 262).toString()).toBe("ustar");
    await d.ok("image", "import", file, "--alias", "bbxz");
    expect((await d.ok("image", "list", "bbxz", "--format", "csv", "-c", "l")).trim()).toBe("bbxz");
  });
});

describe("publish, properties and aliases", () => {
  test("publish a stopped instance and a snapshot; the image launches with the instance's files", async () => {
    await d.ok("launch", "busybox", "p1");
    // A directory removed and made again is opaque in the upper (user.overlay.opaque, as the
    // container's mount writes it): the image holds only its new content.
    await d.ok("exec", "p1", "--", "sh", "-c", "echo published > /root/note && rm /bin/vi && mkdir -p /srv/a && ln /root/note /srv/a/hard && rm -r /etc/udhcpc && mkdir /etc/udhcpc && echo mine > /etc/udhcpc/mine");
    await d.ok("snapshot", "p1", "s0");
    await d.ok("exec", "p1", "--", "sh", "-c", "echo later > /root/note");
    const running = await d.lxd("publish", "p1", "--alias", "nope");
    expect(running.code).not.toBe(0);
    expect(running.stderr).toContain("is running; stop it first");
    // --force stops it, publishes, and starts it again.
    const out = await d.ok("publish", "p1", "--force", "--alias", "pub", "--compression", "xz", "description=mine");
    const fp = /fingerprint: ([0-9a-f]{64})/.exec(out)![1]!;
    expect((await d.api("GET", "/1.0/instances/p1")).body.metadata.status).toBe("Running");
    const image = (await d.api("GET", `/1.0/images/${fp}`)).body.metadata;
    expect(image.aliases).toEqual([{ name: "pub", description: "" }]);
    expect(image.properties).toMatchObject({ os: "busybox", description: "mine" });
    const exportDir = join(work, "published");
    mkdirSync(exportDir);
    await d.ok("image", "export", "pub", exportDir);
    expect(readdirSync(exportDir)).toEqual([`${fp}.tar.xz`]);
    expect(sha256(join(exportDir, `${fp}.tar.xz`))).toBe(fp);
    await d.ok("launch", "pub", "p2");
    expect(await d.ok("exec", "p2", "--", "sh", "-c", "cat /root/note; test -e /bin/vi || echo vi-gone; stat -c %h /srv/a/hard; ls /etc/udhcpc")).toBe("later\nvi-gone\n2\nmine\n");
    // A snapshot through lxc, as lxc sends it.
    const r = await d.lxc("publish", "p1/s0", "--alias", "pub-snap");
    if (r.code !== 0) throw new Error(`lxc publish failed: ${r.stderr}`);
    await d.ok("launch", "pub-snap", "p3");
    expect((await d.ok("exec", "p3", "--", "cat", "/root/note")).trim()).toBe("published");
    // A snapshot of the stopped instance freezes its writes into a shared layer (dir pool):
    // publishing reads through it, whiteouts included.
    await d.ok("stop", "p1", "--force");
    await d.ok("snapshot", "p1", "s1");
    await d.ok("publish", "p1", "--alias", "pub-layered");
    await d.ok("launch", "pub-layered", "p4");
    expect(await d.ok("exec", "p4", "--", "sh", "-c", "cat /root/note; test -e /bin/vi || echo vi-gone; ls /etc/udhcpc")).toBe("later\nvi-gone\nmine\n");
    const bad = await d.api("POST", "/1.0/images", { source: { type: "snapshot", name: "p1/nosuch" } });
    expect(bad.status).toBe(404);
    const badComp = await d.api("POST", "/1.0/images", { source: { type: "snapshot", name: "p1/s0" }, compression_algorithm: "lz9" });
    expect(badComp.body.error).toContain('Unsupported compression algorithm "lz9"');
    await d.ok("delete", "-f", "p1", "p2", "p3", "p4");
  });

  test("an instance being published cannot be started, renamed or deleted", async () => {
    await d.ok("launch", "busybox", "held");
    await d.ok("exec", "held", "--", "sh", "-c", "head -c 30000000 /dev/urandom > /root/blob");
    await d.ok("stop", "held", "--force");
    const op = await d.api("POST", "/1.0/images", { source: { type: "instance", name: "held" }, compression_algorithm: "xz" });
    expect(op.status).toBe(202);
    const outcome = async (r: Awaited<ReturnType<typeof d.api>>) => (r.status === 202 ? (await d.wait(r)).body.metadata.err : r.body.error);
    expect(await outcome(await d.api("PUT", "/1.0/instances/held/state", { action: "start", timeout: -1 }))).toContain('Instance "held" is being published');
    expect(await outcome(await d.api("DELETE", "/1.0/instances/held"))).toContain("is being published");
    const done = await d.wait(op, 120);
    expect(done.body.metadata.status).toBe("Success");
    await d.ok("image", "delete", done.body.metadata.metadata.fingerprint);
    await d.ok("delete", "held");
  });

  test("show, edit, set-property, alias rename", async () => {
    await d.ok("image", "alias", "create", "bb2", busyboxFp);
    await d.ok("image", "set-property", "bb2", "description", "edited");
    expect((await d.ok("image", "get-property", "bb2", "description")).trim()).toBe("edited");
    await d.ok("image", "unset-property", "bb2", "description");
    expect((await d.ok("image", "show", "bb2"))).not.toContain("description");
    const edit = await d.lxdWith({ stdin: "public: true\nauto_update: true\nproperties:\n  os: renamed\nprofiles: [default]\nexpires_at: 2030-01-02T03:04:05Z\n" }, "image", "edit", "bb2");
    if (edit.code !== 0) throw new Error(edit.stderr);
    const image = (await d.api("GET", `/1.0/images/${busyboxFp}`)).body.metadata;
    expect(image).toMatchObject({ public: true, auto_update: true, properties: { os: "renamed" }, expires_at: "2030-01-02T03:04:05Z" });
    await d.ok("image", "alias", "rename", "bb2", "bb3");
    expect(await d.ok("image", "alias", "list", "--format", "csv")).toContain("bb3,");
    const missing = await d.lxd("image", "alias", "rename", "nosuch", "x");
    expect(missing.stderr.trim()).toBe('Error: Image alias "nosuch" not found');
  });

  test("split import through our CLI", async () => {
    mkdirSync(join(work, "meta2"));
    writeFileSync(join(work, "meta2/metadata.yaml"), `architecture: ${hostArchitecture()}\ncreation_date: 1700000000\n`);
    await sh("tar -cJf meta2.tar.xz -C meta2 metadata.yaml");
    await sh("mkdir -p sq2/etc && echo two > sq2/etc/two && mksquashfs sq2 two.squashfs -quiet -noappend >/dev/null");
    const out = await d.ok("image", "import", join(work, "meta2.tar.xz"), join(work, "two.squashfs"), "--alias", "two");
    expect(out).toContain(sha256(join(work, "meta2.tar.xz"), join(work, "two.squashfs")));
  });
});

describe("templates", () => {
  test("create/copy/start templates with config, properties, create_only, ownership; never outside the rootfs", async () => {
    const tree = await makeTree("tpl");
    const hostTarget = join(work, "host-side");
    mkdirSync(hostTarget);
    writeFileSync(join(tree, "metadata.yaml"), `architecture: ${hostArchitecture()}
creation_date: 1700000000
properties:
  os: busybox
templates:
  /etc/hostname:
    when: [create, copy]
    template: hostname.tpl
  /etc/greeting:
    when: [start]
    template: greeting.tpl
    properties:
      flavour: vanilla
  /etc/once:
    when: [start]
    create_only: true
    template: trigger.tpl
  /var/lib/new/owned:
    when: [create]
    uid: "1000"
    gid: "1001"
    mode: "0600"
    template: trigger.tpl
  /etc/escape-abs:
    when: [create]
    template: trigger.tpl
  /etc/escape-rel:
    when: [start]
    template: trigger.tpl
`);
    mkdirSync(join(tree, "templates"));
    writeFileSync(join(tree, "templates/hostname.tpl"), "{{ container.name }}\n");
    writeFileSync(join(tree, "templates/trigger.tpl"), "{{ trigger }} {{ instance.name }}\n");
    writeFileSync(join(tree, "templates/greeting.tpl"),
      '{{ config_get("user.greeting", "none") }} {{ properties.flavour|upper }} {% if config["user.loud"] == "yes" %}LOUD{% else %}quiet{% endif %}' +
      "{% for k, v in devices %} {{ k }}:{{ v.type }}{% endfor %}\n");
    symlinkSync(`${hostTarget}/abs`, join(tree, "rootfs/etc/escape-abs"));
    await sh("tar --numeric-owner -czf tpl.tar.gz -C tpl metadata.yaml templates rootfs");
    await d.ok("image", "import", join(work, "tpl.tar.gz"), "--alias", "tpl");

    await d.ok("launch", "tpl", "t1", "-c", "user.greeting=hello");
    const cat = (name: string, file: string) => d.ok("exec", name, "--", "cat", file);
    expect(await cat("t1", "/etc/hostname")).toBe("t1\n");
    expect(await cat("t1", "/etc/greeting")).toMatch(/^hello VANILLA quiet( \w+:\w+)* root:disk/);
    expect(await cat("t1", "/etc/once")).toBe("start t1\n");
    expect(await d.ok("exec", "t1", "--", "stat", "-c", "%u %g %a", "/var/lib/new/owned")).toBe("1000 1001 600\n");
    // The absolute symlink resolved inside the container's rootfs, not on the host.
    expect(await cat("t1", `${hostTarget}/abs`)).toBe("create t1\n");
    expect(readdirSync(hostTarget)).toEqual([]);
    // `start` templates render each start; create_only ones keep what is there. A relative
    // symlink the container makes that climbs above its root stays inside it, as in the container.
    await d.ok("exec", "t1", "--", "sh", "-c", `echo mine > /etc/once && mkdir -p ${hostTarget} && ln -sf ../../../../../../../../..${hostTarget}/rel /etc/escape-rel`);
    await d.ok("config", "set", "t1", "user.loud", "yes");
    await d.ok("restart", "t1", "--force");
    expect(await cat("t1", "/etc/greeting")).toMatch(/^hello VANILLA LOUD/);
    expect(await cat("t1", "/etc/once")).toBe("mine\n");
    expect(await cat("t1", "/etc/hostname")).toBe("t1\n");
    expect(await cat("t1", `${hostTarget}/rel`)).toBe("start t1\n");
    expect(readdirSync(hostTarget)).toEqual([]);
    expect((await d.api("GET", "/1.0/instances/t1")).body.metadata.config["volatile.apply_template"]).toBeUndefined();

    // copy renders the copy trigger for the new name.
    await d.ok("stop", "t1", "--force");
    await d.ok("copy", "t1", "t2");
    await d.ok("start", "t2");
    expect(await cat("t2", "/etc/hostname")).toBe("t2\n");
    // Publishing refuses what import would refuse (the climbing link), then keeps metadata.yaml and templates/.
    expect((await d.lxd("publish", "t1")).stderr).toContain('the symlink "rootfs/etc/escape-rel" points out of the rootfs');
    await d.ok("start", "t1");
    await d.ok("exec", "t1", "--", "rm", "/etc/escape-rel");
    await d.ok("publish", "t1", "--force", "--alias", "tpl-pub");
    await d.ok("launch", "tpl-pub", "t3");
    expect(await cat("t3", "/etc/hostname")).toBe("t3\n");
    await d.ok("delete", "-f", "t1", "t2", "t3");
  });

  test("a broken template fails the start with a clear error", async () => {
    const tree = await makeTree("tplbad");
    writeFileSync(join(tree, "metadata.yaml"), `architecture: ${hostArchitecture()}\ncreation_date: 1700000000\ntemplates:\n  /etc/x:\n    when: [create]\n    template: x.tpl\n`);
    mkdirSync(join(tree, "templates"));
    writeFileSync(join(tree, "templates/x.tpl"), "{% if %}");
    await sh("tar --numeric-owner -czf tplbad.tar.gz -C tplbad metadata.yaml templates rootfs");
    await d.ok("image", "import", join(work, "tplbad.tar.gz"), "--alias", "tplbad");
    const r = await d.lxd("launch", "tplbad", "tb");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('applying the image template for "/etc/x" (create) failed');
    await d.ok("delete", "-f", "tb");
  });
});

describe("progress", () => {
  test("publish, import and unpack report LXD-style progress in operation metadata", async () => {
    const ws = new WebSocket(`ws+unix://${d.socket}:/1.0/events?type=operation`);
    const seen: Record<string, string[]> = {};
    ws.onmessage = (m) => {
      const meta = (JSON.parse(String(m.data)).metadata?.metadata ?? {}) as Record<string, unknown>;
      for (const [k, v] of Object.entries(meta)) if (k.endsWith("_progress")) (seen[k] ??= []).push(String(v));
    };
    await new Promise((resolve) => { ws.onopen = resolve; });
    try {
      await d.ok("init", "busybox", "pr1");
      await d.ok("publish", "pr1", "--alias", "pr-img");
      await d.ok("init", "pr-img", "pr2");
      await Bun.sleep(300);
      expect(seen.create_image_from_container_pack_progress?.[0]).toMatch(/^Image pack: [\d.]+k?M?B \([\d.]+k?M?B\/s\)$/);
      expect(seen.import_progress?.at(-1)).toMatch(/^Checking image: 100% \(/);
      expect(seen.create_instance_from_image_unpack_progress?.at(-1)).toMatch(/^Unpack: 100% \(/);
    } finally {
      ws.close();
    }
    await d.ok("delete", "pr1", "pr2");
  });
});

test("a squashfs rootfs without unsquashfs on the daemon's host: a clear error, nothing stored", async () => {
  // A PATH with every host tool but squashfs-tools.
  const bin = join(work, "bin-without-squashfs");
  mkdirSync(bin);
  for (const dir of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    for (const n of existsSync(dir) ? readdirSync(dir) : []) {
      if (!n.endsWith("squashfs") && !existsSync(join(bin, n))) symlinkSync(join(dir, n), join(bin, n));
    }
  }
  const bare = await startDaemon({ env: { PATH: bin } });
  try {
    const r = await bare.lxc("image", "import", join(work, "meta2.tar.xz"), join(work, "two.squashfs"));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("squashfs images need unsquashfs on the host: install squashfs-tools");
    expect((await bare.api("GET", "/1.0/images")).body.metadata).toEqual([]);
    expect(readdirSync(join(bare.dir, "images"))).toEqual([]);
  } finally {
    await bare.stop();
  }
});

test("a restarted daemon removes uploads and publish mounts a killed one left behind", async () => {
  writeFileSync(join(d.dir, "images", "lxd_post_01LEFTOVER"), "half an upload");
  mkdirSync(join(d.dir, "images", "lxd_publish_01LEFTOVER"));
  await d.kill();
  await d.start();
  expect(imageFiles().filter((f) => f.startsWith("lxd_"))).toEqual([]);
  expect((await d.api("GET", "/1.0/images")).body.metadata.length).toBeGreaterThan(0);
});
