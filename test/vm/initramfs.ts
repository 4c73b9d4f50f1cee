// The guest's initramfs: static busybox, the kernel modules the guest needs and two init stages.
// Built once per kernel/module set/init script and kept in the kernel's cache directory.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cpioArchive, type CpioEntry } from "./cpio.ts";
import { type Kernel, unpackKernel } from "./kernel.ts";
import { resolveModules } from "./modules.ts";

const BUSYBOX = "/bin/busybox";

/**
 * virtio + 9p for the shares, virtio_blk + ext4 for /var/lib; the rest is what a container host
 * uses. Dependencies are added;
 * soft dependencies are not (they name crypto aliases), hence crc32c_generic for libcrc32c.
 */
export const DEFAULT_MODULES = [
  "virtio_pci", "9pnet_virtio", "9p", "virtio_blk", "ext4", "overlay", "veth", "bridge", "tun",
  "crc32c_generic", "nf_tables", "nft_chain_nat", "nft_masq", "nft_ct",
];

/** The share layout both sides agree on: the work share is /work, harness files under /work/.vm. */
export const GUEST_WORK = "/work";
export const VM_DIR = ".vm";

// Stage 1 runs from the initramfs. pivot_root(2), which container runtimes use, refuses to move
// away from the initramfs rootfs, so after loading modules it switches to a tmpfs root.
const STAGE1 = `#!/bb/busybox sh
/bb/busybox --install -s /bb
export PATH=/bb
while read -r m; do
  insmod "/modules/$m.ko" || echo "vm: insmod $m failed" >&2
done < /modules/order
mkdir /newroot
mount -t tmpfs -o mode=0755 rootfs /newroot
cp -a /bb /newroot/bb
cp /stage2 /newroot/init
exec switch_root /newroot /init
`;

// Stage 2 builds a host like systemd leaves it on a pure cgroup v2 machine: cgroup2 at
// /sys/fs/cgroup (nsdelegate), everything rshared, merged /usr (the host's, read-only, over 9p),
// tmpfs for /tmp, /run and /var, except /var/lib: ext4 on the scratch disk, since tmpfs in this
// kernel (6.1) supports neither idmapped mounts nor user xattrs, which container storage needs. Then it runs the script with a timeout and powers off.
const STAGE2 = `#!/bb/busybox sh
bb=/bb/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/bb HOME=/root TERM=dumb
fail() { echo "vm: $*" >&2; $bb sync; $bb poweroff -f; }
must() { "$@" || fail "\\\`$*\\\` failed"; }
for d in proc sys dev usr ${GUEST_WORK} tmp run var etc root; do $bb mkdir -p "/$d"; done
must $bb mount -t proc -o nosuid,nodev,noexec proc /proc
must $bb mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
must $bb mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm /dev/mqueue
must $bb mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0000 devpts /dev/pts
must $bb mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /dev/shm
must $bb mount -t mqueue -o nosuid,nodev,noexec mqueue /dev/mqueue
$bb ln -sf /proc/self/fd /dev/fd
$bb ln -sf /proc/self/fd/0 /dev/stdin
$bb ln -sf /proc/self/fd/1 /dev/stdout
$bb ln -sf /proc/self/fd/2 /dev/stderr
must $bb mount -t cgroup2 -o nosuid,nodev,noexec,nsdelegate,memory_recursiveprot cgroup2 /sys/fs/cgroup
p9="trans=virtio,version=9p2000.L,msize=262144"
must $bb mount -t 9p -o "ro,cache=loose,$p9" usr /usr
must $bb mount -t 9p -o "$p9" work ${GUEST_WORK}
for l in bin sbin lib lib64; do $bb ln -s "usr/$l" "/$l"; done
must $bb mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
must $bb mount -t tmpfs -o nosuid,nodev,mode=0755 tmpfs /run
must $bb mount -t tmpfs -o mode=0755 tmpfs /var
$bb mkdir -p /var/lib /var/log /var/cache /var/tmp /run/lock
must $bb mount -t ext4 -o noinit_itable /dev/vda /var/lib
$bb chmod 1777 /var/tmp
echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
echo "root:x:0:" > /etc/group
printf '127.0.0.1 localhost lxd-vm\\n::1 localhost\\n' > /etc/hosts
printf 'passwd: files\\ngroup: files\\nhosts: files\\n' > /etc/nsswitch.conf
: > /etc/resolv.conf
$bb ln -s ../usr/lib/os-release /etc/os-release
# Without /etc/localtime, ICU (Intl in Bun) hunts for the zone through /usr/share/zoneinfo: slow over 9p.
$bb ln -s ../usr/share/zoneinfo/Etc/UTC /etc/localtime
echo Etc/UTC > /etc/timezone
$bb ln -s ../proc/self/mounts /etc/mtab
$bb hostname lxd-vm
$bb ip link set lo up
must mount --make-rshared /
h=${GUEST_WORK}/${VM_DIR}
$bb cat /proc/uptime > $h/boot-uptime
cd ${GUEST_WORK}
$bb timeout -s KILL "$($bb cat $h/timeout)" /bin/sh $h/script.sh < /dev/null > $h/output 2>&1
echo $? > $h/exit-code
$bb sync
$bb poweroff -f
`;

/** Path of the initramfs for `kernel` with `modules` (and their dependencies), built if missing. */
export function initramfsFor(kernel: Kernel, modules: string[]): string {
  const busybox = readFileSync(BUSYBOX);
  const key = new Bun.CryptoHasher("sha256")
    .update(STAGE1).update(STAGE2).update(modules.join(",")).update(busybox)
    .digest("hex").slice(0, 16);
  const file = join(kernel.dir, `initramfs-${key}.cpio`);
  if (existsSync(file) && existsSync(kernel.vmlinuz)) return file;

  const unpacked = unpackKernel(kernel);
  try {
    const loadable = resolveModules(unpacked.modulesDir, modules);
    const entries: CpioEntry[] = [
      { kind: "dir", path: "dev" },
      { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
      { kind: "dir", path: "bb" },
      { kind: "file", path: "bb/busybox", data: busybox, mode: 0o755 },
      { kind: "file", path: "init", data: STAGE1, mode: 0o755 },
      { kind: "file", path: "stage2", data: STAGE2, mode: 0o755 },
      { kind: "dir", path: "modules" },
      ...loadable.map((m): CpioEntry => ({ kind: "file", path: `modules/${m.name}.ko`, data: m.data })),
      { kind: "file", path: "modules/order", data: loadable.map((m) => `${m.name}\n`).join("") },
    ];
    // Written beside the target and renamed: concurrent test processes never see half a file.
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, cpioArchive(entries));
    renameSync(tmp, file);
    return file;
  } finally {
    unpacked.dispose();
  }
}
