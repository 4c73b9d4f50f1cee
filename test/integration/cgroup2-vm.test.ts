// The real daemon on a pure cgroup v2 host: most users run one, this machine (and CI) is hybrid
// v1, so the v2 path runs inside a QEMU guest booted with cgroup_no_v1=all (see test/vm/). One
// boot runs the whole flow through the CLI and prints `RESULT key=value` lines asserted below.
import { beforeAll, describe, expect, test } from "bun:test";
import { debianImage } from "../helpers/debian-image.ts";
import { busyboxImage } from "../helpers/image.ts";
import { lxdBinary } from "../helpers/run.ts";
import { runInVm, vmUnavailable, type VmResult } from "../vm/vm.ts";

// POSIX sh, run by the guest's /bin/sh (the host's dash over 9p) with cwd /work (the share).
const SCRIPT = `
export LXD_DIR=/var/lib/lxd-vm
say() { echo "RESULT $1=$2"; }
t0=$(cut -d' ' -f1 /proc/uptime)
elapsed() { awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { printf "%.1f", b - a }'; }
# Runs one step and records its exit code; the first failure ends the script with the daemon's log.
step() {
  name=$1; shift
  out=$("$@" 2>&1); rc=$?
  echo "== $name ($(elapsed) s): $*"
  [ -n "$out" ] && echo "$out"
  say "rc.$name" "$rc"
  if [ "$rc" != 0 ]; then
    echo "--- daemon log (tail) ---"; tail -n 80 "$LXD_DIR/lxd.log"; cat "$LXD_DIR/daemon.out"
    exit 1
  fi
}
# A local copy: every run of the binary from the 9p share would read it again through the host.
lxd=/run/lxd
cp /work/lxd "$lxd"
say host.controllers "$(tr ' ' , < /sys/fs/cgroup/cgroup.controllers)"
mkdir -p "$LXD_DIR" && chmod 0711 "$LXD_DIR"
"$lxd" serve --debug --logfile "$LXD_DIR/lxd.log" > "$LXD_DIR/daemon.out" 2>&1 &
daemon=$!
step waitready "$lxd" waitready --timeout 120
say daemon.cgroup "$(sed -n 's/^0:://p' /proc/$daemon/cgroup)"
step init "$lxd" init --auto
step import "$lxd" image import /work/busybox.tar.xz --alias busybox
say cgroup.dirs "$(cd /sys/fs/cgroup && find . -mindepth 1 -maxdepth 1 -type d | sort | tr '\\n' ' ')"
say root.subtree_control "$(tr ' ' , < /sys/fs/cgroup/cgroup.subtree_control)"
for d in /sys/fs/cgroup/lxd.payload.*; do say payload.subtree_control "$(tr ' ' , < "$d/cgroup.subtree_control")"; done

step launch "$lxd" launch busybox c1 -c limits.memory=64MiB -c limits.processes=50
step exec "$lxd" exec c1 -- sh -c 'echo $$; hostname'
say exec "$(echo "$out" | tr '\\n' ' ')"
pid=$("$lxd" info c1 | sed -n 's/^PID: //p')
cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
say container.cgroup "$cg"
say memory.max "$(cat "/sys/fs/cgroup$cg/memory.max")"
say pids.max "$(cat "/sys/fs/cgroup$cg/pids.max")"
step inside "$lxd" exec c1 -- sh -c 'cat /proc/self/cgroup /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max'
say inside "$(echo "$out" | tr '\\n' ' ')"

# Device access (an eBPF program on the container's cgroup): privileged root may create a node
# for /dev/kmsg but not open it; /dev/null works; a hot-added unix-char device opens at once.
step priv "$lxd" launch busybox p1 -c security.privileged=true
step devices "$lxd" exec p1 -- sh -c 'mknod /tmp/kmsg c 1 11 && echo mknod-ok; echo probe > /tmp/kmsg && echo open-ok; echo x > /dev/null && echo null-ok; true'
say devices "$(echo "$out" | tr '\\n' ' ')"
step devices.add "$lxd" config device add p1 kmsg unix-char path=/dev/kmsg
step devices.hot "$lxd" exec p1 -- sh -c 'echo probe > /dev/kmsg && echo probe > /tmp/kmsg && echo hot-ok'
say devices.hot "$out"
step devices.remove "$lxd" config device remove p1 kmsg
step devices.removed "$lxd" exec p1 -- sh -c 'echo probe > /tmp/kmsg && echo open-ok; true'
say devices.removed "$(echo "$out" | tr '\\n' ' ')"
step priv.delete "$lxd" delete p1 --force

# Enforcement: a 100 MiB buffer under a 64 MiB limit; 60 sleepers under 50 pids.
echo "== enforcement ($(elapsed) s)"
"$lxd" exec c1 -- dd if=/dev/zero of=/dev/null bs=100M count=1 > /dev/null 2>&1
say memory.oom_kill "$(sed -n 's/^oom_kill //p' "/sys/fs/cgroup$cg/memory.events")"
"$lxd" exec c1 -- sh -c 'i=0; while [ $i -lt 60 ]; do sleep 60 & i=$((i+1)); done' > /dev/null 2>&1
echo "== enforcement done ($(elapsed) s)"
say pids.events.max "$(sed -n 's/^max //p' "/sys/fs/cgroup$cg/pids.events")"

# lxd info reads v2 counters (memory.peak saw the 64 MiB reached above); the console works.
step info "$lxd" info c1
say info.processes "$(echo "$out" | sed -n 's/^  Processes: //p')"
say info.memory.peak "$(echo "$out" | sed -n 's/^    Memory (peak): //p')"
say info.memory.peak.file "$(cat "/sys/fs/cgroup$cg/memory.peak" 2>/dev/null || echo none)"
say info.cpu "$(echo "$out" | grep -c '^    CPU usage (in seconds): ')"
step console sh -c "printf 'echo v2-\\$((2*3))\\n' | $lxd console c1"
say console "$(echo "$out" | grep -c 'v2-6')"

step config "$lxd" config set c1 limits.memory 128MiB
say memory.max.live "$(cat "/sys/fs/cgroup$cg/memory.max")"
# What systemd does with its delegated tree, in small: move every process into a child, then
# enable controllers for its children. Two execs, as an exec joins init's cgroup: the second one
# then starts below the root, which must be empty for the controllers. The 60 sleepers above
# still hold every pid the limit allows: raise it first.
step pids "$lxd" config set c1 limits.processes 500
step delegate "$lxd" exec c1 -- sh -c 'cd /sys/fs/cgroup && mkdir init.scope && for p in $(cat cgroup.procs); do echo $p > init.scope/cgroup.procs 2>/dev/null; done; true'
step delegate2 "$lxd" exec c1 -- sh -c 'echo "+memory +pids" > /sys/fs/cgroup/cgroup.subtree_control && cat /sys/fs/cgroup/cgroup.subtree_control'
say delegate "$out"
step stop "$lxd" stop c1 --force
say cgroup.after_stop "$([ -d "/sys/fs/cgroup$cg" ] && echo present || echo removed)"
step delete "$lxd" delete c1
say instances.left "$("$lxd" list --format csv | wc -l)"
say log.errors "$(grep -c 'level=error' "$LXD_DIR/lxd.log")"
grep 'level=error' "$LXD_DIR/lxd.log"

# Phase 2, the way systemd runs lxd.service (Delegate=yes): the daemon starts alone in
# /system.slice/lxd.service, and the slices above it have the controllers enabled.
step shutdown "$lxd" shutdown --timeout 60
i=0; while kill -0 "$daemon" 2>/dev/null && [ $i -lt 60 ]; do sleep 0.5; i=$((i+1)); done
say daemon.exited "$(kill -0 "$daemon" 2>/dev/null && echo no || echo yes)"
say cgroup.dirs.after_shutdown "$(cd /sys/fs/cgroup && find . -mindepth 1 -type d | sort | tr '\n' ' ')"
unit=/sys/fs/cgroup/system.slice/lxd.service
mkdir -p "$unit"
echo "+cpu +memory +pids +io" > /sys/fs/cgroup/cgroup.subtree_control
echo "+cpu +memory +pids +io" > /sys/fs/cgroup/system.slice/cgroup.subtree_control
export LXD_DIR=/var/lib/lxd-unit
mkdir -p "$LXD_DIR" && chmod 0711 "$LXD_DIR"
sh -c 'echo $$ > "$1/cgroup.procs" && exec "$0" serve --logfile "$LXD_DIR/lxd.log"' "$lxd" "$unit" > "$LXD_DIR/daemon.out" 2>&1 &
daemon=$!
step unit.waitready "$lxd" waitready --timeout 120
say unit.daemon.cgroup "$(sed -n 's/^0:://p' /proc/$daemon/cgroup)"
step unit.init "$lxd" init --auto
step unit.import "$lxd" image import /work/busybox.tar.xz --alias busybox
step unit.launch "$lxd" launch busybox c2 -c limits.memory=96MiB
pid=$("$lxd" info c2 | sed -n 's/^PID: //p')
cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
say unit.container.cgroup "$cg"
say unit.memory.max "$(cat "/sys/fs/cgroup$cg/memory.max")"
say unit.subtree_control "$(tr ' ' , < "$unit/cgroup.subtree_control")"
step unit.stop "$lxd" stop c2 --force
step unit.delete "$lxd" delete c2
say flow.seconds "$(elapsed)"
`;

const unavailable = vmUnavailable();
if (unavailable) console.warn(`[cgroup2-vm] skipped: ${unavailable}`);

describe.skipIf(!!unavailable)("the daemon on a pure cgroup v2 host (QEMU guest)", () => {
  let vm: VmResult;
  const results = new Map<string, string>();
  const result = (key: string) => results.get(key);

  beforeAll(async () => {
    const files = { lxd: lxdBinary(), "busybox.tar.xz": await busyboxImage() };
    vm = await runInVm({ script: SCRIPT, files, timeoutSec: 420 });
    for (const m of vm.output.matchAll(/^RESULT ([^=]+)=(.*)$/gm)) results.set(m[1], m[2].trim());
    console.log(`[cgroup2-vm] script exit ${vm.code}; guest booted in ${vm.bootSec} s; flow ${result("flow.seconds") ?? "?"} s; QEMU ran ${vm.wallSec.toFixed(1)} s`);
    if (vm.code !== 0 || process.env.LXD_TEST_VM_VERBOSE) console.log(`[cgroup2-vm] guest output:\n${vm.output}\n[cgroup2-vm] console:\n${vm.console}`);
  }, 660_000);

  test("the guest is a pure cgroup v2 host", () => {
    expect(result("host.controllers")?.split(",")).toEqual(expect.arrayContaining(["cpu", "memory", "pids"]));
  });

  test("every CLI step succeeds", () => {
    const steps = ["waitready", "init", "import", "launch", "exec", "inside", "config", "pids", "delegate", "delegate2", "stop", "delete"];
    expect(Object.fromEntries(steps.map((s) => [s, result(`rc.${s}`)]))).toEqual(Object.fromEntries(steps.map((s) => [s, "0"])));
    expect(vm.code).toBe(0);
  });

  test("the daemon moves to its own leaf and delegates controllers to the payload subtree", () => {
    const tag = /^\/lxd\.daemon\.([a-z0-9_-]+)$/i.exec(result("daemon.cgroup") ?? "")?.[1];
    expect(tag).toBeDefined();
    expect(result("cgroup.dirs")?.split(" ").filter(Boolean).sort()).toEqual([`./lxd.daemon.${tag}`, `./lxd.payload.${tag}`]);
    for (const key of ["root.subtree_control", "payload.subtree_control"]) {
      expect(result(key)?.split(",")).toEqual(expect.arrayContaining(["cpu", "memory", "pids"]));
    }
  });

  test("exec runs in the container's namespaces", () => {
    const [pid, hostname] = (result("exec") ?? "").split(" ");
    expect(Number(pid)).toBeLessThan(100);
    expect(hostname).toBe("c1");
  });

  test("limits land in the container's cgroup, which it sees as its root", () => {
    expect(result("container.cgroup")).toMatch(/^\/lxd\.payload\.[^/]+\/c1$/);
    expect(result("memory.max")).toBe("67108864");
    expect(result("pids.max")).toBe("50");
    expect(result("inside")).toBe("0::/ 67108864 50");
  });

  test("limits are enforced", () => {
    expect(Number(result("memory.oom_kill"))).toBeGreaterThan(0);
    expect(Number(result("pids.events.max"))).toBeGreaterThan(0);
  });

  test("lxd info shows processes, CPU and the memory peak from v2 counters; the console answers", () => {
    expect(Number(result("info.processes"))).toBeGreaterThanOrEqual(2);
    expect(result("info.cpu")).toBe("1");
    // memory.peak (Linux 5.19+) holds the 64 MiB the limit allowed; older kernels show the current value.
    if (result("info.memory.peak.file") !== "none") expect(result("info.memory.peak")).toMatch(/^6\d(\.\d+)?MiB$/);
    expect(result("rc.console")).toBe("0");
    expect(result("console")).toBe("1");
  });

  test("a privileged container can create but not open host devices; hot-added ones open until removed", () => {
    expect(result("rc.devices")).toBe("0");
    expect(result("devices")).toContain("mknod-ok");
    expect(result("devices")).toContain("null-ok");
    expect(result("devices")).not.toContain("open-ok");
    expect(result("devices")).toContain("Operation not permitted");
    expect(result("devices.hot")).toBe("hot-ok");
    // Removed again: the replaced program is detached, so the node no longer opens.
    expect(result("devices.removed")).toContain("Operation not permitted");
    expect(result("devices.removed")).not.toContain("open-ok");
  });

  test("the container's root can manage its cgroup2 subtree as systemd does", () => {
    expect(result("rc.delegate")).toBe("0");
    expect(result("delegate")?.split(" ")).toEqual(expect.arrayContaining(["memory", "pids"]));
  });

  test("limits.memory applies live; stop and delete clean up", () => {
    expect(result("memory.max.live")).toBe("134217728");
    expect(result("cgroup.after_stop")).toBe("removed");
    expect(result("instances.left")).toBe("0");
  });

  test("lxd shutdown ends the daemon", () => {
    expect(result("rc.shutdown")).toBe("0");
    expect(result("daemon.exited")).toBe("yes");
  });

  test("in a delegated systemd-style unit cgroup, everything stays below the unit", () => {
    const steps = ["waitready", "init", "import", "launch", "stop", "delete"];
    expect(Object.fromEntries(steps.map((s) => [s, result(`rc.unit.${s}`)]))).toEqual(Object.fromEntries(steps.map((s) => [s, "0"])));
    expect(result("unit.daemon.cgroup")).toMatch(/^\/system\.slice\/lxd\.service\/lxd\.daemon\.[^/]+$/);
    expect(result("unit.container.cgroup")).toMatch(/^\/system\.slice\/lxd\.service\/lxd\.payload\.[^/]+\/c2$/);
    expect(result("unit.subtree_control")?.split(",")).toEqual(expect.arrayContaining(["cpu", "memory", "pids"]));
    expect(result("unit.memory.max")).toBe("100663296");
  });
});

// systemd on a pure cgroup v2 host: the Debian image's container gets a delegated cgroup2 tree
// with the controllers enabled above it. Slow under TCG (no KVM): the import hashes and unpacks
// ~180 MB and systemd boots in an emulated CPU. Measured on the 2-core CI kind of host: quiet,
// import 22 s, launch to running 50 s, stop 3 s, 110 s of QEMU; busy, 73 s, 208 s, 9 s and 6
// minutes. It runs in every full run (and CI), as the cgroup v2 proof of systemd guests;
// LXD_TEST_VM_SYSTEMD=0 skips it for quick local runs (the busybox flow above still checks the
// delegation systemd relies on).
const systemdVm = process.env.LXD_TEST_VM_SYSTEMD !== "0";
const SYSTEMD_SCRIPT = `
export LXD_DIR=/var/lib/lxd-vm
say() { echo "RESULT $1=$2"; }
now() { cut -d' ' -f1 /proc/uptime; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
lxd=/run/lxd
cp /work/lxd "$lxd"
mkdir -p "$LXD_DIR" && chmod 0711 "$LXD_DIR"
"$lxd" serve --logfile "$LXD_DIR/lxd.log" > "$LXD_DIR/daemon.out" 2>&1 &
"$lxd" waitready --timeout 120 && "$lxd" init --auto || { cat "$LXD_DIR/daemon.out"; exit 1; }
t=$(now)
"$lxd" image import /work/debian.tar --alias debian || exit 1
say import.seconds "$(since "$t")"
t=$(now)
"$lxd" launch debian d1 || { tail -n 40 "$LXD_DIR/lxd.log"; exit 1; }
i=0
while [ $i -lt 1200 ]; do
  state=$("$lxd" exec d1 -- systemctl is-system-running 2>/dev/null)
  case "$state" in running|degraded) break ;; esac
  sleep 0.25; i=$((i + 1))
done
say boot.seconds "$(since "$t")"
say state "$state"
say failed "$("$lxd" exec d1 -- systemctl --failed --no-legend --plain | tr '\n' ' ')"
say init.cgroup "$("$lxd" exec d1 -- cat /proc/1/cgroup)"
say inside.controllers "$("$lxd" exec d1 -- cat /sys/fs/cgroup/cgroup.controllers | tr ' ' ,)"
pid=$("$lxd" info d1 | sed -n 's/^PID: //p')
say host.cgroup "$(sed -n 's/^0:://p' "/proc/$pid/cgroup")"
t=$(now)
"$lxd" stop d1
say stop.rc "$?"
say stop.seconds "$(since "$t")"
"$lxd" delete d1
`;

describe.skipIf(!!unavailable || !systemdVm)("systemd guests on a pure cgroup v2 host (QEMU guest)", () => {
  let vm: VmResult;
  const results = new Map<string, string>();
  const result = (key: string) => results.get(key);

  beforeAll(async () => {
    const files = { lxd: lxdBinary(), "debian.tar": await debianImage() };
    vm = await runInVm({ script: SYSTEMD_SCRIPT, files, timeoutSec: 600 });
    for (const m of vm.output.matchAll(/^RESULT ([^=]+)=(.*)$/gm)) results.set(m[1], m[2].trim());
    console.log(`[cgroup2-vm] systemd: exit ${vm.code}; import ${result("import.seconds")} s, launch to ${result("state")} ${result("boot.seconds")} s, stop ${result("stop.seconds")} s; QEMU ran ${vm.wallSec.toFixed(1)} s`);
    if (vm.code !== 0 || process.env.LXD_TEST_VM_VERBOSE) console.log(`[cgroup2-vm] guest output:\n${vm.output}\n[cgroup2-vm] console:\n${vm.console}`);
  }, 900_000);

  test("Debian's systemd reaches running with no failed unit", () => {
    expect(vm.code).toBe(0);
    expect(result("failed")).toBe("");
    expect(result("state")).toBe("running");
  });

  test("its cgroup2 tree is its own, with the host's controllers delegated", () => {
    expect(result("init.cgroup")).toBe("0::/init.scope");
    expect(result("host.cgroup")).toMatch(/^\/lxd\.payload\.[^/]+\/d1\/init\.scope$/);
    expect(result("inside.controllers")?.split(",")).toEqual(expect.arrayContaining(["cpu", "memory", "pids"]));
  });

  test("a clean stop works", () => {
    expect(result("stop.rc")).toBe("0");
  });
});
