// `lxd-helper start`: the container's first process (init) and the builder that assembles its
// root. Both are forked children (never vfork): they report the first failure (herr) on the
// error pipe and exit.
#include "start.h"
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#define NSE (MS_NOSUID | MS_NODEV | MS_NOEXEC)

static __attribute__((noreturn)) void child_exit(struct child_ctx *x)
{
	write_all(x->err_fd, herr.msg, strlen(herr.msg));
	_exit(1);
}

static int attach(int tree, const char *at)
{
	return syscall(SYS_move_mount, tree, "", AT_FDCWD, at, H_MOVE_MOUNT_F_EMPTY_PATH);
}

// Puts a private tmpfs (of `mode`) over the root-only rundir (in this mount namespace only) and
// enters it. `rundir_fd` was opened while still host uid 0.
int enter_staging(int rundir_fd, const char *mode)
{
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return fail(errno, "make / private");
	_cleanup_close_ int fs = syscall(SYS_fsopen, "tmpfs", H_FSOPEN_CLOEXEC);
	if (fs < 0)
		return fail(errno, "fsopen tmpfs");
	if (syscall(SYS_fsconfig, fs, H_FSCONFIG_SET_STRING, "mode", mode, 0) < 0 ||
	    syscall(SYS_fsconfig, fs, H_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
		return fail(errno, "create staging tmpfs");
	_cleanup_close_ int staging = syscall(SYS_fsmount, fs, H_FSMOUNT_CLOEXEC, 0);
	if (staging < 0)
		return fail(errno, "fsmount staging tmpfs");
	if (syscall(SYS_move_mount, staging, "", rundir_fd, "", H_MOVE_MOUNT_F_EMPTY_PATH | H_MOVE_MOUNT_T_EMPTY_PATH) < 0)
		return fail(errno, "attach staging tmpfs");
	if (fchdir(staging) < 0)
		return fail(errno, "chdir staging tmpfs");
	return 0;
}

// Appends `path` to an overlay option, escaping the characters overlayfs splits on.
static void append_escaped(char *out, size_t cap, const char *path)
{
	size_t len = strlen(out);
	for (const char *p = path; *p && len + 2 < cap; p++) {
		if (*p == ',' || *p == ':' || *p == '\\')
			out[len++] = '\\';
		out[len++] = *p;
	}
	out[len] = 0;
}

// Mounts the overlay rootfs at ./root (cwd being the staging tmpfs). Done by init, inside the
// container's user namespace: overlayfs then works with container root's credentials, which
// the idmapped layers map.
int setup_overlay(struct child_ctx *x)
{
	if (ensure_dir("root", 0755) < 0 || ensure_dir("rw", 0700) < 0)
		return fail(errno, "mkdir staging root");
	// Each layer is its own idmapped tree, attached at a short name (l0, l1, ...) so that the
	// options of 65 layers stay well inside the page mount(2) takes.
	char opts[4096] = "lowerdir=";
	for (int i = 0; i < x->nlower; i++) {
		char name[16];
		snprintf(name, sizeof(name), "l%d", i);
		const char *what = i < x->cfg->nlayers ? x->cfg->layers[i] : x->cfg->lower;
		if (ensure_dir(name, 0700) < 0)
			return fail(errno, "mkdir staging layer %s", name);
		if (attach(x->lower_fds[i], name) < 0)
			return fail(errno, "attach lower layer %s", what);
		strcat(opts, i ? ":" : "");
		strcat(opts, name);
	}
	if (attach(x->rw_fd, "rw") < 0)
		return fail(errno, "attach upper layer %s", x->cfg->upper);
	strcat(opts, ",upperdir=rw/");
	append_escaped(opts, sizeof(opts), x->upper_rel);
	strcat(opts, ",workdir=rw/");
	append_escaped(opts, sizeof(opts), x->work_rel);
	// userxattr: overlay metadata in user.overlay.* (trusted.* needs host CAP_SYS_ADMIN).
	size_t base = strlen(opts);
	strcat(opts, ",userxattr");
	if (mount("overlay", "root", "overlay", 0, opts) == 0)
		return 0;
	opts[base] = 0;
	if (mount("overlay", "root", "overlay", 0, opts) < 0)
		return fail(errno, "mount overlay rootfs");
	return 0;
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const masked_files[] = {"proc/sysrq-trigger", "proc/kcore", "proc/kallsyms"};

static int bind_remount(const char *path, unsigned long flags)
{
	if (mount(path, path, NULL, MS_BIND, NULL) < 0 || mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL) < 0)
		return fail(errno, "bind /%s", path);
	return 0;
}

// /proc and /sys with what leaks or changes host state masked or read-only. The builder mounts
// them as host root before the container's mount namespace is copied from this one, so in
// the container they are locked: container root can neither unmount nor remount them.
static int setup_proc_sys(void)
{
	if (ensure_dir("proc", 0555) < 0 || ensure_dir("sys", 0555) < 0)
		return fail(errno, "mkdir /proc, /sys");
	if (mount("proc", "proc", "proc", NSE, NULL) < 0)
		return fail(errno, "mount /proc");
	if (mount("sysfs", "sys", "sysfs", NSE | MS_RDONLY, NULL) < 0)
		return fail(errno, "mount /sys");
	for (size_t i = 0; i < ARRAY_SIZE(masked_files); i++)
		if (access(masked_files[i], F_OK) == 0 && mount("/dev/null", masked_files[i], NULL, MS_BIND, NULL) < 0)
			return fail(errno, "mask /%s", masked_files[i]);
	// Sysctls are read-only but for the container's own network namespace's.
	if (bind_remount("proc/sys", NSE | MS_RDONLY) < 0 || bind_remount("proc/sys/net", NSE) < 0)
		return -1;
	if (access("sys/firmware", F_OK) == 0 && mount("tmpfs", "sys/firmware", "tmpfs", MS_RDONLY | NSE, "mode=755,size=0") < 0)
		return fail(errno, "mask /sys/firmware");
	return 0;
}

// The kernel lets a user namespace mount a new proc or sysfs only where one is already fully
// visible (no locked mount over a file in it). As LXD, nesting provides such copies at
// /dev/.lxc/{proc,sys}; without it the masks above refuse nested containers their /proc.
static int setup_nesting(void)
{
	if (ensure_dir("dev/.lxc", 0755) < 0 || ensure_dir("dev/.lxc/proc", 0555) < 0 || ensure_dir("dev/.lxc/sys", 0555) < 0)
		return fail(errno, "mkdir /dev/.lxc");
	if (mount("proc", "dev/.lxc/proc", "proc", NSE, NULL) < 0)
		return fail(errno, "mount /dev/.lxc/proc");
	if (mount("sysfs", "dev/.lxc/sys", "sysfs", NSE | MS_RDONLY, NULL) < 0)
		return fail(errno, "mount /dev/.lxc/sys");
	return 0;
}

// /dev: a tmpfs owned by container root with the standard nodes bound from the host. The console
// pty's secondary side (a host pty, as LXC does) is bound over /dev/console.
static int setup_dev(struct child_ctx *x)
{
	char opts[128];
	snprintf(opts, sizeof(opts), "mode=755,size=65536k,uid=%ld,gid=%ld", x->cfg->root_uid, x->cfg->root_gid);
	if (ensure_dir("dev", 0755) < 0)
		return fail(errno, "mkdir /dev");
	if (mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, opts) < 0)
		return fail(errno, "mount /dev");
	for (size_t i = 0; i < ARRAY_SIZE(dev_nodes); i++) {
		char host[64], inside[64];
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		snprintf(inside, sizeof(inside), "dev/%s", dev_nodes[i]);
		if (ensure_file(inside) < 0)
			return fail(errno, "create /%s", inside);
		if (mount(host, inside, NULL, MS_BIND, NULL) < 0)
			return fail(errno, "bind /%s", inside);
	}
	if (ensure_file("dev/console") < 0)
		return fail(errno, "create /dev/console");
	if (mount(x->console_path, "dev/console", NULL, MS_BIND, NULL) < 0)
		return fail(errno, "bind /dev/console");
	if (ensure_dir("dev/pts", 0755) < 0)
		return fail(errno, "mkdir /dev/pts");
	if (symlink("pts/ptmx", "dev/ptmx") < 0)
		return fail(errno, "symlink /dev/ptmx");
	if (symlink("/proc/self/fd", "dev/fd") < 0 || symlink("/proc/self/fd/0", "dev/stdin") < 0 ||
	    symlink("/proc/self/fd/1", "dev/stdout") < 0 || symlink("/proc/self/fd/2", "dev/stderr") < 0)
		return fail(errno, "symlink /dev/fd");
	if (ensure_dir("dev/shm", 01777) < 0)
		return fail(errno, "mkdir /dev/shm");
	if (mount("tmpfs", "dev/shm", "tmpfs", NSE, "mode=1777") < 0)
		return fail(errno, "mount /dev/shm");
	return 0;
}

// Files LXCFS renders per container (from the reader's cgroups), bound over the kernel's.
static const char *const lxcfs_files[] = {
	"proc/cpuinfo", "proc/meminfo", "proc/stat", "proc/uptime", "proc/diskstats", "proc/swaps", "proc/loadavg",
	"sys/devices/system/cpu/online",
};

// In the builder, cwd = the new root. Mounts made here are host root's, so the tmpfs
// are given to container root explicitly.
static int setup_guest(struct config *c)
{
	// /run and /run/lock: tmpfs, as systemd and most inits assume (a fresh /run on every boot).
	char opts[96];
	snprintf(opts, sizeof(opts), "mode=755,size=20%%,uid=%ld,gid=%ld", c->root_uid, c->root_gid);
	if (mount("tmpfs", "run", "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
		return fail(errno, "mount /run");
	if (ensure_dir("run/lock", 01777) < 0)
		return fail(errno, "mkdir /run/lock");
	snprintf(opts, sizeof(opts), "mode=1777,size=5120k,uid=%ld,gid=%ld", c->root_uid, c->root_gid);
	if (mount("tmpfs", "run/lock", "tmpfs", NSE, opts) < 0)
		return fail(errno, "mount /run/lock");
	for (size_t i = 0; c->lxcfs && i < ARRAY_SIZE(lxcfs_files); i++) {
		char src[PATH_MAX];
		snprintf(src, sizeof(src), "%s/%s", c->lxcfs, lxcfs_files[i]);
		// Only what this LXCFS serves and this kernel has; anything else (a mountpoint that
		// cannot be read) is an error, not a silent fallback to the host's files.
		int have = access(src, R_OK);
		if (have < 0 && errno != ENOENT)
			return fail(errno, "LXCFS %s", src);
		if (have == 0 && access(lxcfs_files[i], F_OK) == 0 && mount(src, lxcfs_files[i], NULL, MS_BIND, NULL) < 0)
			return fail(errno, "bind LXCFS %s", src);
	}
	return 0;
}

// The builder: host root, in the container's pid and network namespaces (so proc and sysfs show
// the container's), in a mount namespace of its own. It assembles the container's tree, then
// enters the container's user namespace and copies its mount namespace: every mount made here
// is locked in the copy.
static int build(struct child_ctx *x, int userns_fd)
{
	struct config *c = x->cfg;
	_cleanup_close_ int rootfs = recv_fd(x->sock_fd);
	if (rootfs < 0)
		_exit(1); // init failed and said why
	trace_mark("b_rootfs_received");
	if (unshare(CLONE_NEWNS) < 0)
		return fail(errno, "unshare builder mount namespace");
	trace_mark("b_unshare");
	_cleanup_close_ int rundir_fd = open(c->rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rundir_fd < 0)
		return fail(errno, "open %s", c->rundir);
	if (enter_staging(rundir_fd, "0700") < 0)
		return -1;
	trace_mark("b_staging");
	if (ensure_dir("root", 0755) < 0 || attach(rootfs, "root") < 0)
		return fail(errno, "attach rootfs");
	if (chdir("root") < 0)
		return fail(errno, "chdir rootfs");
	if (setup_proc_sys() < 0)
		return -1;
	trace_mark("b_proc_sys");
	if (setup_dev(x) < 0)
		return -1;
	trace_mark("b_dev");
	if (setup_guest(c) < 0 || (c->nesting && setup_nesting() < 0))
		return -1;
	trace_mark("b_guest");
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		return fail(errno, "pivot_root");
	trace_mark("b_pivot");
	if (umount2(".", MNT_DETACH) < 0)
		return fail(errno, "detach old root");
	trace_mark("b_detach");
	if (chdir("/") < 0)
		return fail(errno, "chdir /");
	if (userns_fd >= 0 && setns(userns_fd, CLONE_NEWUSER) < 0)
		return fail(errno, "join the container's user namespace");
	if (unshare(CLONE_NEWNS) < 0)
		return fail(errno, "unshare the container's mount namespace");
	_cleanup_close_ int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	if (mnt < 0)
		return fail(errno, "open /proc/self/ns/mnt");
	trace_mark("b_mntns");
	trace_cpu(RUSAGE_SELF);
	if (send_fd(x->sock_fd, mnt) < 0)
		return fail(errno, "send mount namespace to init");
	return 0;
}

void builder_main(struct child_ctx *x, int userns_fd)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (build(x, userns_fd) < 0)
		child_exit(x);
	_exit(0);
}

// In the new root, after pivot_root: paths resolve inside the container only.
static int attach_launch_mounts(struct config *c)
{
	mode_t old = umask(022);
	for (int i = 0; i < c->nmounts; i++) {
		struct launch_mount *m = &c->mounts[i];
		_cleanup_free_ char *path = strdup(m->path);
		if (!path || make_mountpoint(path, m->is_dir) < 0)
			return fail(errno, "create mount point %s", m->path);
		if (attach(m->fd, path) < 0)
			return fail(errno, "attach %s at %s", m->source, m->path);
	}
	umask(old);
	return 0;
}

// init's stdin, stdout and stderr are the console. O_NOCTTY: like the kernel's /dev/console it is
// nobody's controlling terminal, so the shell or getty init starts in its own session can take it.
// As LXD, the container's loopback is up before init runs, whatever the image does.
static int loopback_up(void)
{
	_cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return fail(errno, "socket for lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		return fail(errno, "read the flags of lo");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		return fail(errno, "bring lo up");
	return 0;
}

static int console_stdio(void)
{
	_cleanup_close_ int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open /dev/console");
	if (dup2(fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		return fail(errno, "redirect stdio to /dev/console");
	return 0;
}

static void reset_signals(void)
{
	sigset_t none;
	sigemptyset(&none);
	for (int s = 1; s < NSIG; s++)
		if (s != SIGKILL && s != SIGSTOP)
			signal(s, SIG_DFL);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

// The container's init before execve: hands its rootfs to the builder, joins the mount
// namespace the builder made, finishes the mounts that are its own.
static int init_prepare(struct child_ctx *x)
{
	struct config *c = x->cfg;
	// Still host uid 0 (unmapped here): as owner it may open the root-only rundir; container
	// root could not.
	_cleanup_close_ int rundir_fd = open(c->rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (rundir_fd < 0)
		return fail(errno, "open %s", c->rundir);
	if (become_root() < 0)
		return -1;
	if (unshare(CLONE_NEWCGROUP) < 0)
		return fail(errno, "unshare cgroup namespace");
	trace_mark("i_root");
	if (enter_staging(rundir_fd, "0700") < 0)
		return -1;
	trace_mark("i_staging");
	if (x->root_fd >= 0) {
		if (ensure_dir("root", 0755) < 0 || attach(x->root_fd, "root") < 0)
			return fail(errno, "attach rootfs %s", c->bind);
	} else if (setup_overlay(x) < 0) {
		return -1;
	}
	trace_mark("i_overlay");
	// Mount points the builder needs, made by container root: host root cannot create files
	// in the (idmapped) rootfs, its ids being unmapped there.
	if (ensure_dir("root/proc", 0555) < 0 || ensure_dir("root/sys", 0555) < 0 || ensure_dir("root/dev", 0755) < 0 ||
	    ensure_dir("root/run", 0755) < 0)
		return fail(errno, "mkdir /proc, /sys, /dev, /run");
	_cleanup_close_ int rootfs = clone_tree("root");
	if (rootfs < 0)
		return fail(errno, "open_tree rootfs");
	if (send_fd(x->sock_fd, rootfs) < 0)
		return fail(errno, "send rootfs to the builder");
	trace_mark("i_rootfs_sent");
	_cleanup_close_ int mnt = recv_fd(x->sock_fd);
	if (mnt < 0)
		_exit(1); // the builder failed and said why
	trace_mark("i_mntns_received");
	if (setns(mnt, CLONE_NEWNS) < 0)
		return fail(errno, "join the container's mount namespace");
	trace_mark("i_setns");
	if (chdir("/") < 0)
		return fail(errno, "chdir /");
	// Filesystems init mounts itself: they belong to the container (its devpts, its cgroup
	// namespace's view).
	if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") < 0)
		return fail(errno, "mount /dev/pts");
	if (c->cgroup2 && mount("cgroup2", "/sys/fs/cgroup", "cgroup2", NSE, NULL) < 0)
		return fail(errno, "mount /sys/fs/cgroup");
	if (attach_launch_mounts(c) < 0)
		return -1;
	if (sethostname(c->hostname, strlen(c->hostname)) < 0)
		return fail(errno, "sethostname");
	if (loopback_up() < 0)
		return -1;
	trace_mark("i_mounts_lo");
	if (setsid() < 0)
		return fail(errno, "setsid");
	if (console_stdio() < 0)
		return -1;
	reset_signals();
	cloexec_from(3);
	if (drop_caps() < 0)
		return fail(errno, "drop capabilities");
	// Container root holds CAP_SYS_ADMIN in its namespace, so no PR_SET_NO_NEW_PRIVS is needed
	// (it would break setuid programs such as sudo or ping inside the container).
	if (install_seccomp(&c->seccomp) < 0)
		return fail(errno, "install seccomp filter");
	trace_mark("i_seccomp");
	return 0;
}

void init_main(struct child_ctx *x)
{
	char byte;
	// Without a monitor nobody reaps or reports: die with it.
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(x->sync_fd, &byte, 1) != 1)
		_exit(1);
	close(x->sync_fd);
	trace_mark("i_released");
	if (init_prepare(x) == 0) {
		trace_cpu(RUSAGE_SELF);
		execve(x->cfg->argv[0], x->cfg->argv, x->cfg->env);
		fail(errno, "exec %s", x->cfg->argv[0]);
	}
	child_exit(x);
}
