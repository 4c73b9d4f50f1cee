// Runs a shell script inside a throw-away QEMU guest that boots Debian's kernel as a pure cgroup v2
// host (cgroup_no_v1=all). Software emulation only: /dev/kvm on our CI machines comes from a nested
// module that stock kernels cannot use.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { findKernel } from "./kernel.ts";
import { DEFAULT_MODULES, initramfsFor, VM_DIR } from "./initramfs.ts";

const QEMU = "qemu-system-x86_64";

export interface VmOptions {
  /** POSIX shell script, run by /bin/sh with cwd = the work share (/work). */
  script: string;
  /** Name inside the work share -> host path to copy there. */
  files?: Record<string, string>;
  /** The script's own limit inside the guest (it is killed after this, and exits 137). */
  timeoutSec: number;
  /** Modules beyond DEFAULT_MODULES (names as modinfo spells them). */
  extraModules?: string[];
  /** Guest memory in MiB; default 2048. */
  memoryMiB?: number;
  /** Size of the (sparse) ext4 scratch disk mounted at /var/lib; default 4096 MiB. */
  diskMiB?: number;
}

export interface VmResult {
  /** The script's exit status. */
  code: number;
  /** The script's stdout and stderr, interleaved. */
  output: string;
  /** The serial console (kernel messages and the init stages' own errors). */
  console: string;
  /** Guest uptime when the script started, in seconds. */
  bootSec: number;
  /** Host wall time from starting QEMU to its exit, in seconds. */
  wallSec: number;
}

/** Why the VM cannot run here, or undefined when it can. */
export function vmUnavailable(): string | undefined {
  if (process.arch !== "x64") return `the VM harness boots an amd64 guest; this host is ${process.arch}`;
  if (!Bun.which(QEMU)) return `${QEMU} is missing (apt-get install --no-install-recommends qemu-system-x86)`;
  if (!existsSync("/bin/busybox")) return "/bin/busybox is missing (apt-get install busybox-static)";
  if (!Bun.which("apt-get") || !Bun.which("dpkg-deb")) return "apt-get/dpkg-deb are missing: the guest kernel comes from Debian's archive";
  if (!Bun.which("mkfs.ext4")) return "mkfs.ext4 is missing (apt-get install e2fsprogs)";
  return undefined;
}

let images: Promise<{ vmlinuz: string; initrd: string }> | undefined;
let imagesKey = "";

/** The kernel and initramfs for `modules`, resolved once per test process. */
function bootImages(modules: string[]) {
  const key = modules.join(",");
  if (!images || key !== imagesKey) {
    imagesKey = key;
    images = (async () => {
      const kernel = findKernel();
      const initrd = initramfsFor(kernel, modules);
      return { vmlinuz: kernel.vmlinuz, initrd };
    })();
  }
  return images;
}

/** A sparse raw image with a fresh ext4 (lazy init: mkfs writes only metadata). */
function makeDisk(file: string, sizeMiB: number) {
  writeFileSync(file, "");
  truncateSync(file, sizeMiB * 1024 * 1024);
  const r = Bun.spawnSync(["mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=1,lazy_journal_init=1", file], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`mkfs.ext4 ${file} failed (${r.exitCode}): ${r.stderr.toString()}`);
}

export async function runInVm(opts: VmOptions): Promise<VmResult> {
  const why = vmUnavailable();
  if (why) throw new Error(`cannot run the VM: ${why}`);
  const { vmlinuz, initrd } = await bootImages([...DEFAULT_MODULES, ...(opts.extraModules ?? [])]);

  const tmp = mkdtempSync("/tmp/lxd-test-vm-");
  let qemu: Subprocess | undefined;
  // A test process that dies half-way takes its guest and files with it.
  const abandon = () => {
    qemu?.kill("SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
  };
  process.once("exit", abandon);
  try {
    // The share is a subdirectory: the disk image beside it stays invisible to the guest.
    const work = join(tmp, "share");
    const h = join(work, VM_DIR);
    mkdirSync(h, { recursive: true });
    const disk = join(tmp, "var.img");
    makeDisk(disk, opts.diskMiB ?? 4096);
    for (const [name, src] of Object.entries(opts.files ?? {})) copyFileSync(src, join(work, name));
    writeFileSync(join(h, "script.sh"), opts.script);
    writeFileSync(join(h, "timeout"), String(opts.timeoutSec));

    const share = (tag: string, path: string, ro: boolean) =>
      ["-fsdev", `local,id=${tag},path=${path},security_model=none,multidevs=remap${ro ? ",readonly=on" : ""}`,
        "-device", `virtio-9p-pci,fsdev=${tag},mount_tag=${tag}`];
    const argv = [
      QEMU, "-nodefaults", "-no-user-config", "-accel", "tcg,thread=multi", "-cpu", "max",
      "-m", String(opts.memoryMiB ?? 2048), "-smp", "2", "-nic", "none", "-display", "none",
      "-serial", "stdio", "-monitor", "none", "-no-reboot",
      "-kernel", vmlinuz, "-initrd", initrd,
      "-append", "console=ttyS0 quiet cgroup_no_v1=all panic=-1",
      ...share("usr", "/usr", true), ...share("work", work, false),
      "-drive", `file=${disk},if=virtio,format=raw,cache=unsafe`,
    ];
    const started = performance.now();
    const vm = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    qemu = vm;
    // Boot and power-off on top of the script's own limit; software emulation is slow.
    const limitMs = (opts.timeoutSec + 120) * 1000;
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      vm.kill("SIGKILL");
    }, limitMs);
    const [stdout, stderr] = await Promise.all([new Response(vm.stdout).text(), new Response(vm.stderr).text(), vm.exited]);
    clearTimeout(timer);
    const wallSec = (performance.now() - started) / 1000;
    const consoleText = `${stdout}${stderr}`;

    const read = (f: string) => (existsSync(join(h, f)) ? readFileSync(join(h, f), "utf8") : undefined);
    const output = read("output") ?? "";
    const exit = read("exit-code");
    if (exit === undefined) {
      const reason = killed ? `QEMU was killed after ${limitMs / 1000} s` : `QEMU exited with ${vm.exitCode ?? vm.signalCode}`;
      throw new Error(`the VM script did not finish: ${reason}\n--- console ---\n${consoleText}\n--- script output ---\n${output}`);
    }
    return {
      code: Number(exit.trim()),
      output,
      console: consoleText,
      bootSec: Number(read("boot-uptime")?.split(" ")[0] ?? NaN),
      wallSec,
    };
  } finally {
    process.off("exit", abandon);
    rmSync(tmp, { recursive: true, force: true });
  }
}
