// lxd-helper: the only code that makes namespace syscalls (Bun is multithreaded and must not).
//
//   lxd-helper start   config on stdin; launches a container and becomes its monitor
//   lxd-helper exec    runs a command inside a running container
//   lxd-helper file    reads, writes or deletes one path inside a running container
//   lxd-helper proxy   forwards a proxy device's connections (lxd-proxy.c)
//   lxd-helper mount   attaches a host path (idmapped) inside a running container; umount detaches it
//
// Single-threaded, glibc. Newer kernel calls go through syscall(2) so the binary runs on hosts
// whose glibc predates their wrappers.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <net/if.h>
#include <linux/filter.h>
#include <linux/capability.h>
#include <linux/seccomp.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_fsconfig
#define SYS_fsconfig 431
#endif
#ifndef SYS_fsmount
#define SYS_fsmount 432
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_pivot_root
#define SYS_pivot_root 155
#endif

#define H_OPEN_TREE_CLONE 1
#define H_AT_RECURSIVE 0x8000
#define H_MOVE_MOUNT_F_EMPTY_PATH 0x4
#define H_MOVE_MOUNT_T_EMPTY_PATH 0x40
#define H_FSOPEN_CLOEXEC 1
#define H_FSMOUNT_CLOEXEC 1
#define H_FSCONFIG_SET_STRING 1
#define H_FSCONFIG_CMD_CREATE 6
#define H_MOUNT_ATTR_IDMAP 0x00100000
#define H_MOUNT_ATTR_RDONLY 0x00000001
#define H_CLOSE_RANGE_CLOEXEC (1U << 2)
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// Same layout as the kernel's struct mount_attr (named differently: glibc may define it too).
struct h_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define MAX_LIST 64
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ---- small utilities ---------------------------------------------------------------------

// Writes all of buf; returns 0 or -1.
static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

static int write_file(const char *path, const char *data)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = write_all(fd, data, strlen(data));
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

// Reads a whole fd into a NUL-terminated malloc'd buffer.
static char *read_all(int fd, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return NULL;
		if (len + 1 >= cap) {
			cap *= 2;
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			free(buf);
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	if (len_out)
		*len_out = len;
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

// Decodes a hex string into a classic BPF program; 0 on success.
static int parse_bpf(const char *hex, struct sock_fprog *prog)
{
	size_t n = strlen(hex);
	if (n == 0 || n % 16)
		return -1;
	unsigned char *bytes = malloc(n / 2);
	if (!bytes)
		return -1;
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			free(bytes);
			return -1;
		}
		bytes[i] = hi << 4 | lo;
	}
	prog->len = n / 16;
	prog->filter = (struct sock_filter *)bytes;
	return 0;
}

static int install_seccomp(struct sock_fprog *prog)
{
	if (!prog->filter)
		return 0;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
}

// Marks every fd above 2 close-on-exec (the error pipe must survive until execve).
static void cloexec_from(int first)
{
	if (syscall(SYS_close_range, first, ~0U, H_CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = first; fd < 65536; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
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

// Whether namespace fd `fd` is this process's own namespace of `kind`.
static int same_ns(int fd, const char *kind)
{
	char path[64];
	struct stat a, b;
	snprintf(path, sizeof(path), "/proc/self/ns/%s", kind);
	return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// ---- `start`: configuration --------------------------------------------------------------

// A disk device attached before init runs: a host path cloned by the monitor, idmapped, then
// attached by the child once it is inside its new root.
struct launch_mount {
	const char *source, *path;
	int ro, is_dir, fd;
};

struct config {
	char *name, *hostname, *rundir;
	char *lower, *upper, *work, *bind;
	char *layers[MAX_LIST]; // frozen overlay layers above `lower`, newest first
	int nlayers;
	char *lxcfs; // LXCFS mount on the host whose files replace /proc's, or NULL
	char *uidmap[MAX_LIST], *gidmap[MAX_LIST], *cgroups[MAX_LIST], *env[256], *argv[MAX_LIST];
	int nuid, ngid, ncg, nenv, cgroup2;
	int privileged; // no user namespace: container root is host root (minus dropped capabilities)
	int nesting;    // unmasked proc and sysfs at /dev/.lxc, so nested containers may mount their own
	long root_uid, root_gid; // host ids of container root (owner of /dev)
	struct sock_fprog seccomp;
	struct launch_mount mounts[MAX_LIST];
	int nmounts;
};

// "ro|rw<TAB>SOURCE<TAB>/PATH" -> c->mounts.
static const char *parse_launch_mount(struct config *c, char *val)
{
	if (c->nmounts >= MAX_LIST)
		return "too many mounts";
	char *src = strchr(val, '\t');
	char *path = src ? strchr(src + 1, '\t') : NULL;
	if (!path)
		return "mount needs ro|rw, SOURCE and PATH separated by tabs";
	*src++ = 0;
	*path++ = 0;
	if (path[0] != '/' || src[0] != '/')
		return "mount SOURCE and PATH must be absolute";
	c->mounts[c->nmounts++] = (struct launch_mount){.source = src, .path = path, .ro = !strcmp(val, "ro"), .fd = -1};
	return NULL;
}

static int add(char **list, int *n, int max, char *v)
{
	if (*n >= max - 1)
		return -1;
	list[(*n)++] = v;
	list[*n] = NULL;
	return 0;
}

// The host id that "NS HOST RANGE" lines map container id 0 to; 0 when found.
static int map_root(char **lines, int n, long *host)
{
	for (int i = 0; i < n; i++) {
		long ns, h, r;
		if (sscanf(lines[i], "%ld %ld %ld", &ns, &h, &r) == 3 && ns == 0 && r > 0) {
			*host = h;
			return 0;
		}
	}
	return -1;
}

// Parses "key value" lines; returns NULL or a message.
static const char *parse_config(char *text, struct config *c)
{
	memset(c, 0, sizeof(*c));
	int nargv = 0;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char *val = strchr(line, ' ');
		if (!val)
			continue;
		*val++ = 0;
		int bad = 0;
		if (!strcmp(line, "name"))
			c->name = val;
		else if (!strcmp(line, "hostname"))
			c->hostname = val;
		else if (!strcmp(line, "rundir"))
			c->rundir = val;
		else if (!strcmp(line, "rootfs_bind"))
			c->bind = val;
		else if (!strcmp(line, "rootfs_layer"))
			bad = add(c->layers, &c->nlayers, MAX_LIST, val);
		else if (!strcmp(line, "rootfs_overlay")) {
			c->lower = val;
			c->upper = strchr(val, ':');
			c->work = c->upper ? strchr(c->upper + 1, ':') : NULL;
			if (!c->work)
				return "rootfs_overlay needs LOWER:UPPER:WORK";
			*c->upper++ = 0;
			*c->work++ = 0;
		} else if (!strcmp(line, "mount")) {
			const char *err = parse_launch_mount(c, val);
			if (err)
				return err;
		} else if (!strcmp(line, "uidmap"))
			bad = add(c->uidmap, &c->nuid, MAX_LIST, val);
		else if (!strcmp(line, "gidmap"))
			bad = add(c->gidmap, &c->ngid, MAX_LIST, val);
		else if (!strcmp(line, "cgroup"))
			bad = add(c->cgroups, &c->ncg, MAX_LIST, val);
		else if (!strcmp(line, "cgroup2"))
			c->cgroup2 = !strcmp(val, "1");
		else if (!strcmp(line, "privileged"))
			c->privileged = !strcmp(val, "1");
		else if (!strcmp(line, "nesting"))
			c->nesting = !strcmp(val, "1");
		else if (!strcmp(line, "lxcfs"))
			c->lxcfs = val;
		else if (!strcmp(line, "env"))
			bad = add(c->env, &c->nenv, 256, val);
		else if (!strcmp(line, "seccomp")) {
			if (parse_bpf(val, &c->seccomp))
				return "seccomp: invalid program";
		} else if (!strcmp(line, "init")) {
			for (char *save, *a = strtok_r(val, " ", &save); a; a = strtok_r(NULL, " ", &save))
				if (add(c->argv, &nargv, MAX_LIST, a))
					return "init: too many arguments";
		}
		if (bad)
			return "too many entries";
	}
	if (!c->name || !c->rundir || !c->argv[0])
		return "name, rundir and init are required";
	if (!c->bind && !c->lower)
		return "rootfs_overlay or rootfs_bind is required";
	if (c->privileged && (c->nuid || c->ngid))
		return "a privileged container takes no uidmap or gidmap";
	if (!c->privileged && (!c->nuid || !c->ngid))
		return "uidmap and gidmap are required";
	if (!c->privileged && (map_root(c->uidmap, c->nuid, &c->root_uid) || map_root(c->gidmap, c->ngid, &c->root_gid)))
		return "uidmap and gidmap must map container id 0";
	if (!c->hostname)
		c->hostname = c->name;
	return NULL;
}

// ---- `start`: the container's first process --------------------------------------------------

static int clone_tree(const char *path)
{
	return syscall(SYS_open_tree, AT_FDCWD, path, H_OPEN_TREE_CLONE | O_CLOEXEC | H_AT_RECURSIVE);
}

struct child_ctx {
	struct config *cfg;
	int sync_fd, err_fd;
	// init <-> builder (a socketpair): the rootfs mount goes to the builder, the locked mount
	// namespace comes back.
	int sock_fd;
	int rw_fd, root_fd; // detached (idmapped) mount trees, -1 if unused
	// Read-only overlay layers, newest first: the frozen layers, then the image (`lower`).
	int lower_fds[MAX_LIST + 1], nlower;
	const char *upper_rel, *work_rel; // UPPER and WORK relative to the rw layer
	const char *console_path;         // host path of the console pty's secondary side
};

static __attribute__((noreturn)) void child_fail(int err_fd, const char *step)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "%s: %s", step, strerror(errno));
	write_all(err_fd, msg, n > 0 ? (size_t)n : 0);
	_exit(1);
}

#define CHECK(ctx, cond, ...)                                                   \
	do {                                                                    \
		if (!(cond)) {                                                  \
			char step_[320];                                        \
			int e_ = errno;                                         \
			snprintf(step_, sizeof(step_), __VA_ARGS__);            \
			errno = e_;                                             \
			child_fail((ctx)->err_fd, step_);                       \
		}                                                               \
	} while (0)

static int ensure_dir(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

static int ensure_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

static int send_fd(int sock, int fd)
{
	char byte = 0, cbuf[CMSG_SPACE(sizeof(int))] = {0};
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

// -1 when the peer went away without sending (it reported its own error).
static int recv_fd(int sock)
{
	char byte, cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = &byte, .iov_len = 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
	ssize_t n;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	struct cmsghdr *cm = n == 1 ? CMSG_FIRSTHDR(&msg) : NULL;
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	int fd;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
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

// Puts a private tmpfs over the root-only rundir (in this mount namespace only) and enters it.
// `rundir_fd` was opened while still host uid 0.
static void enter_staging(struct child_ctx *x, int rundir_fd)
{
	CHECK(x, mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0, "make / private");
	int fs = syscall(SYS_fsopen, "tmpfs", H_FSOPEN_CLOEXEC);
	CHECK(x, fs >= 0, "fsopen tmpfs");
	CHECK(x, syscall(SYS_fsconfig, fs, H_FSCONFIG_SET_STRING, "mode", "0700", 0) == 0 &&
		     syscall(SYS_fsconfig, fs, H_FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0,
	      "create staging tmpfs");
	int staging = syscall(SYS_fsmount, fs, H_FSMOUNT_CLOEXEC, 0);
	CHECK(x, staging >= 0, "fsmount staging tmpfs");
	CHECK(x, syscall(SYS_move_mount, staging, "", rundir_fd, "", H_MOVE_MOUNT_F_EMPTY_PATH | H_MOVE_MOUNT_T_EMPTY_PATH) == 0,
	      "attach staging tmpfs");
	CHECK(x, fchdir(staging) == 0, "chdir staging tmpfs");
	close(fs);
	close(staging);
	close(rundir_fd);
}

// Mounts the overlay rootfs at ./root (cwd being the staging tmpfs). Done by init, inside the
// container's user namespace: overlayfs then works with container root's credentials, which
// the idmapped layers map.
static void setup_overlay(struct child_ctx *x)
{
	CHECK(x, ensure_dir("root", 0755) == 0, "mkdir staging root");
	CHECK(x, ensure_dir("rw", 0700) == 0, "mkdir staging layers");
	// Each layer is its own idmapped tree, attached at a short name (l0, l1, ...) so that the
	// options of 65 layers stay well inside the page mount(2) takes.
	char opts[4096] = "lowerdir=";
	for (int i = 0; i < x->nlower; i++) {
		char name[16];
		snprintf(name, sizeof(name), "l%d", i);
		const char *what = i < x->cfg->nlayers ? x->cfg->layers[i] : x->cfg->lower;
		CHECK(x, ensure_dir(name, 0700) == 0, "mkdir staging layer %s", name);
		CHECK(x, syscall(SYS_move_mount, x->lower_fds[i], "", AT_FDCWD, name, H_MOVE_MOUNT_F_EMPTY_PATH) == 0,
		      "attach lower layer %s", what);
		strcat(opts, i ? ":" : "");
		strcat(opts, name);
	}
	CHECK(x, syscall(SYS_move_mount, x->rw_fd, "", AT_FDCWD, "rw", H_MOVE_MOUNT_F_EMPTY_PATH) == 0,
	      "attach upper layer %s", x->cfg->upper);
	strcat(opts, ",upperdir=rw/");
	append_escaped(opts, sizeof(opts), x->upper_rel);
	strcat(opts, ",workdir=rw/");
	append_escaped(opts, sizeof(opts), x->work_rel);
	// userxattr: overlay metadata in user.overlay.* (trusted.* needs host CAP_SYS_ADMIN).
	size_t base = strlen(opts);
	strcat(opts, ",userxattr");
	if (mount("overlay", "root", "overlay", 0, opts) == 0)
		return;
	opts[base] = 0;
	CHECK(x, mount("overlay", "root", "overlay", 0, opts) == 0, "mount overlay rootfs");
}

// ---- `start`: the console, inside ------------------------------------------------------------

// The console pty's secondary side (a host pty, as LXC does) is bind-mounted over the container's
// /dev/console (cwd = the new root, before pivot_root).
static void console_bind(struct child_ctx *x)
{
	CHECK(x, ensure_file("dev/console") == 0, "create /dev/console");
	CHECK(x, mount(x->console_path, "dev/console", NULL, MS_BIND, NULL) == 0, "bind /dev/console");
}

// init's stdin, stdout and stderr are the console. O_NOCTTY: like the kernel's /dev/console it is
// nobody's controlling terminal, so the shell or getty init starts in its own session can take it.
static void console_stdio(struct child_ctx *x)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY | O_CLOEXEC);
	CHECK(x, fd >= 0, "open /dev/console");
	CHECK(x, dup2(fd, 0) == 0 && dup2(fd, 1) == 1 && dup2(fd, 2) == 2, "redirect stdio to /dev/console");
}

static const char *const dev_nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
static const char *const masked_files[] = {"proc/sysrq-trigger", "proc/kcore", "proc/kallsyms"};

static void bind_remount(struct child_ctx *x, const char *path, unsigned long flags)
{
	CHECK(x, mount(path, path, NULL, MS_BIND, NULL) == 0 && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | flags, NULL) == 0,
	      "bind /%s", path);
}

// /proc and /sys with what leaks or changes host state masked or read-only. The builder mounts
// them as host root before the container's mount namespace is copied from this one, so in
// the container they are locked: container root can neither unmount nor remount them.
static void setup_proc_sys(struct child_ctx *x)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	CHECK(x, ensure_dir("proc", 0555) == 0 && ensure_dir("sys", 0555) == 0, "mkdir /proc, /sys");
	CHECK(x, mount("proc", "proc", "proc", nse, NULL) == 0, "mount /proc");
	CHECK(x, mount("sysfs", "sys", "sysfs", nse | MS_RDONLY, NULL) == 0, "mount /sys");
	for (size_t i = 0; i < sizeof(masked_files) / sizeof(*masked_files); i++)
		if (access(masked_files[i], F_OK) == 0)
			CHECK(x, mount("/dev/null", masked_files[i], NULL, MS_BIND, NULL) == 0, "mask /%s", masked_files[i]);
	// Sysctls are read-only but for the container's own network namespace's.
	bind_remount(x, "proc/sys", nse | MS_RDONLY);
	bind_remount(x, "proc/sys/net", nse);
	if (access("sys/firmware", F_OK) == 0)
		CHECK(x, mount("tmpfs", "sys/firmware", "tmpfs", MS_RDONLY | nse, "mode=755,size=0") == 0, "mask /sys/firmware");
}

// The kernel lets a user namespace mount a new proc or sysfs only where one is already fully
// visible (no locked mount over a file in it). As LXD, nesting provides such copies at
// /dev/.lxc/{proc,sys}; without it the masks above refuse nested containers their /proc.
static void setup_nesting(struct child_ctx *x)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	CHECK(x, ensure_dir("dev/.lxc", 0755) == 0 && ensure_dir("dev/.lxc/proc", 0555) == 0 &&
		     ensure_dir("dev/.lxc/sys", 0555) == 0,
	      "mkdir /dev/.lxc");
	CHECK(x, mount("proc", "dev/.lxc/proc", "proc", nse, NULL) == 0, "mount /dev/.lxc/proc");
	CHECK(x, mount("sysfs", "dev/.lxc/sys", "sysfs", nse | MS_RDONLY, NULL) == 0, "mount /dev/.lxc/sys");
}

// /dev: a tmpfs owned by container root with the standard nodes bound from the host.
static void setup_dev(struct child_ctx *x)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	char opts[128];
	snprintf(opts, sizeof(opts), "mode=755,size=65536k,uid=%ld,gid=%ld", x->cfg->root_uid, x->cfg->root_gid);
	CHECK(x, ensure_dir("dev", 0755) == 0, "mkdir /dev");
	CHECK(x, mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, opts) == 0, "mount /dev");
	for (size_t i = 0; i < sizeof(dev_nodes) / sizeof(*dev_nodes); i++) {
		char host[64], inside[64];
		snprintf(host, sizeof(host), "/dev/%s", dev_nodes[i]);
		snprintf(inside, sizeof(inside), "dev/%s", dev_nodes[i]);
		CHECK(x, ensure_file(inside) == 0, "create /%s", inside);
		CHECK(x, mount(host, inside, NULL, MS_BIND, NULL) == 0, "bind /%s", inside);
	}
	console_bind(x);
	CHECK(x, ensure_dir("dev/pts", 0755) == 0, "mkdir /dev/pts");
	CHECK(x, symlink("pts/ptmx", "dev/ptmx") == 0, "symlink /dev/ptmx");
	CHECK(x, symlink("/proc/self/fd", "dev/fd") == 0 && symlink("/proc/self/fd/0", "dev/stdin") == 0 &&
		     symlink("/proc/self/fd/1", "dev/stdout") == 0 && symlink("/proc/self/fd/2", "dev/stderr") == 0,
	      "symlink /dev/fd");
	CHECK(x, ensure_dir("dev/shm", 01777) == 0, "mkdir /dev/shm");
	CHECK(x, mount("tmpfs", "dev/shm", "tmpfs", nse, "mode=1777") == 0, "mount /dev/shm");
}

// Filesystems init mounts itself once in the container's mount namespace: they belong to the
// container (its devpts, its cgroup namespace's view).
static void setup_inner_mounts(struct child_ctx *x)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	CHECK(x, mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5") == 0,
	      "mount /dev/pts");
	if (x->cfg->cgroup2)
		CHECK(x, mount("cgroup2", "/sys/fs/cgroup", "cgroup2", nse, NULL) == 0, "mount /sys/fs/cgroup");
}

// LXD drops these from every container, privileged or not.
static const int dropped_caps[] = {25 /* sys_time */, 16 /* sys_module */, 17 /* sys_rawio */, 33 /* mac_admin */,
				   32 /* mac_override */};

static int drop_caps(void)
{
	for (size_t i = 0; i < sizeof(dropped_caps) / sizeof(*dropped_caps); i++)
		if (prctl(PR_CAPBSET_DROP, dropped_caps[i], 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(dropped_caps) / sizeof(*dropped_caps); i++) {
		uint32_t bit = 1U << (dropped_caps[i] % 32);
		struct __user_cap_data_struct *d = &data[dropped_caps[i] / 32];
		d->effective &= ~bit;
		d->permitted &= ~bit;
		d->inheritable &= ~bit;
	}
	return syscall(SYS_capset, &hdr, data);
}

// Files LXCFS renders per container (from the reader's cgroups), bound over the kernel's.
static const char *const lxcfs_files[] = {
	"proc/cpuinfo", "proc/meminfo", "proc/stat", "proc/uptime", "proc/diskstats", "proc/swaps", "proc/loadavg",
	"sys/devices/system/cpu/online",
};

// In the builder, cwd = the new root. Mounts made here are host root's, so the tmpfs
// are given to container root explicitly.
static void setup_guest(struct child_ctx *x)
{
	const unsigned long nse = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	struct config *c = x->cfg;
	// /run and /run/lock: tmpfs, as systemd and most inits assume (a fresh /run on every boot).
	char opts[96];
	snprintf(opts, sizeof(opts), "mode=755,size=20%%,uid=%ld,gid=%ld", c->root_uid, c->root_gid);
	CHECK(x, mount("tmpfs", "run", "tmpfs", MS_NOSUID | MS_NODEV, opts) == 0, "mount /run");
	CHECK(x, ensure_dir("run/lock", 01777) == 0, "mkdir /run/lock");
	snprintf(opts, sizeof(opts), "mode=1777,size=5120k,uid=%ld,gid=%ld", c->root_uid, c->root_gid);
	CHECK(x, mount("tmpfs", "run/lock", "tmpfs", nse, opts) == 0, "mount /run/lock");
	if (c->lxcfs) {
		for (size_t i = 0; i < sizeof(lxcfs_files) / sizeof(*lxcfs_files); i++) {
			char src[PATH_MAX];
			snprintf(src, sizeof(src), "%s/%s", c->lxcfs, lxcfs_files[i]);
			// Only what this LXCFS serves and this kernel has; anything else (a mountpoint
			// that cannot be read) is an error, not a silent fallback to the host's files.
			int have = access(src, R_OK);
			CHECK(x, have == 0 || errno == ENOENT, "LXCFS %s", src);
			if (have == 0 && access(lxcfs_files[i], F_OK) == 0)
				CHECK(x, mount(src, lxcfs_files[i], NULL, MS_BIND, NULL) == 0, "bind LXCFS %s", src);
		}
	}
}

// mkdir -p for a mount point's parents; the last component becomes a directory or, for a file
// source, an empty file. Returns -1 with errno set on failure.
static int make_mountpoint(char *path, int is_dir)
{
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		int r = mkdir(path, 0755);
		*p = '/';
		if (r < 0 && errno != EEXIST)
			return -1;
	}
	if (is_dir)
		return mkdir(path, 0755) == 0 || errno == EEXIST ? 0 : -1;
	return ensure_file(path);
}

// In the new root, after pivot_root: paths resolve inside the container only.
static void attach_launch_mounts(struct child_ctx *x)
{
	struct config *c = x->cfg;
	mode_t old = umask(022);
	for (int i = 0; i < c->nmounts; i++) {
		struct launch_mount *m = &c->mounts[i];
		char *path = strdup(m->path);
		CHECK(x, path && make_mountpoint(path, m->is_dir) == 0, "create mount point %s", m->path);
		CHECK(x, syscall(SYS_move_mount, m->fd, "", AT_FDCWD, path, H_MOVE_MOUNT_F_EMPTY_PATH) == 0,
		      "attach %s at %s", m->source, m->path);
		free(path);
	}
	umask(old);
}

// The builder: host root, in the container's pid and network namespaces (so proc and sysfs show
// the container's), in a mount namespace of its own. It assembles the container's tree, then
// enters the container's user namespace and copies its mount namespace: every mount made here
// is locked in the copy. Sends the copy to init.
static __attribute__((noreturn)) void builder_main(struct child_ctx *x, int userns_fd)
{
	struct config *c = x->cfg;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	int rootfs = recv_fd(x->sock_fd);
	if (rootfs < 0)
		_exit(1); // init failed and said why
	CHECK(x, unshare(CLONE_NEWNS) == 0, "unshare builder mount namespace");
	int rundir_fd = open(c->rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(x, rundir_fd >= 0, "open %s", c->rundir);
	enter_staging(x, rundir_fd);
	CHECK(x, ensure_dir("root", 0755) == 0, "mkdir staging root");
	CHECK(x, syscall(SYS_move_mount, rootfs, "", AT_FDCWD, "root", H_MOVE_MOUNT_F_EMPTY_PATH) == 0, "attach rootfs");
	close(rootfs);
	CHECK(x, chdir("root") == 0, "chdir rootfs");
	setup_proc_sys(x);
	setup_dev(x);
	setup_guest(x);
	if (c->nesting)
		setup_nesting(x);
	CHECK(x, syscall(SYS_pivot_root, ".", ".") == 0, "pivot_root");
	CHECK(x, umount2(".", MNT_DETACH) == 0, "detach old root");
	CHECK(x, chdir("/") == 0, "chdir /");
	if (userns_fd >= 0)
		CHECK(x, setns(userns_fd, CLONE_NEWUSER) == 0, "join the container's user namespace");
	CHECK(x, unshare(CLONE_NEWNS) == 0, "unshare the container's mount namespace");
	int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
	CHECK(x, mnt >= 0, "open /proc/self/ns/mnt");
	CHECK(x, send_fd(x->sock_fd, mnt) == 0, "send mount namespace to init");
	_exit(0);
}

// As LXD, the container's loopback is up before init runs, whatever the image does.
static void loopback_up(struct child_ctx *x)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(x, s >= 0, "socket for lo");
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, "lo", 3);
	CHECK(x, ioctl(s, SIOCGIFFLAGS, &ifr) == 0, "read the flags of lo");
	ifr.ifr_flags |= IFF_UP;
	CHECK(x, ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "bring lo up");
	close(s);
}

// The container's init before execve: hands its rootfs to the builder, joins the mount
// namespace the builder made, finishes the mounts that are its own.
static __attribute__((noreturn)) void child_main(struct child_ctx *x)
{
	struct config *c = x->cfg;
	char byte;
	// Without a monitor nobody reaps or reports: die with it.
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (read(x->sync_fd, &byte, 1) != 1)
		_exit(1);
	close(x->sync_fd);

	// Still host uid 0 (unmapped here): as owner it may open the root-only rundir; container
	// root could not.
	int rundir_fd = open(c->rundir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(x, rundir_fd >= 0, "open %s", c->rundir);
	CHECK(x, setresgid(0, 0, 0) == 0 && setgroups(0, NULL) == 0 && setresuid(0, 0, 0) == 0, "become container root");
	CHECK(x, unshare(CLONE_NEWCGROUP) == 0, "unshare cgroup namespace");
	enter_staging(x, rundir_fd);
	if (x->root_fd >= 0)
		CHECK(x, ensure_dir("root", 0755) == 0 &&
			     syscall(SYS_move_mount, x->root_fd, "", AT_FDCWD, "root", H_MOVE_MOUNT_F_EMPTY_PATH) == 0,
		      "attach rootfs %s", c->bind);
	else
		setup_overlay(x);
	// Mount points the builder needs, made by container root: host root cannot create files
	// in the (idmapped) rootfs, its ids being unmapped there.
	CHECK(x, ensure_dir("root/proc", 0555) == 0 && ensure_dir("root/sys", 0555) == 0 && ensure_dir("root/dev", 0755) == 0 &&
		     ensure_dir("root/run", 0755) == 0,
	      "mkdir /proc, /sys, /dev, /run");
	int rootfs = clone_tree("root");
	CHECK(x, rootfs >= 0, "open_tree rootfs");
	CHECK(x, send_fd(x->sock_fd, rootfs) == 0, "send rootfs to the builder");
	close(rootfs);
	int mnt = recv_fd(x->sock_fd);
	if (mnt < 0)
		_exit(1); // the builder failed and said why
	close(x->sock_fd);
	CHECK(x, setns(mnt, CLONE_NEWNS) == 0, "join the container's mount namespace");
	close(mnt);
	CHECK(x, chdir("/") == 0, "chdir /");
	setup_inner_mounts(x);
	attach_launch_mounts(x);
	CHECK(x, sethostname(c->hostname, strlen(c->hostname)) == 0, "sethostname");
	loopback_up(x);
	CHECK(x, setsid() >= 0, "setsid");
	console_stdio(x);
	reset_signals();
	cloexec_from(3);
	CHECK(x, drop_caps() == 0, "drop capabilities");
	// Container root holds CAP_SYS_ADMIN in its namespace, so no PR_SET_NO_NEW_PRIVS is needed
	// (it would break setuid programs such as sudo or ping inside the container).
	CHECK(x, install_seccomp(&c->seccomp) == 0, "install seccomp filter");
	execve(c->argv[0], c->argv, c->env);
	CHECK(x, 0, "exec %s", c->argv[0]);
	_exit(1);
}

// ---- `start`: the monitor -------------------------------------------------------------------

static void logf_(const char *fmt, ...)
{
	char buf[1024];
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	int n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ ", &tm);
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	strcat(buf, "\n");
	write_all(2, buf, strlen(buf));
}

// Writes "ns host range" lines to /proc/PID/{uid,gid}_map.
static int write_idmap(pid_t pid, const char *kind, char **lines, int n)
{
	char path[64], data[4096] = "";
	snprintf(path, sizeof(path), "/proc/%d/%s_map", pid, kind);
	for (int i = 0; i < n; i++) {
		if (strlen(data) + strlen(lines[i]) + 2 > sizeof(data))
			return errno = E2BIG, -1;
		strcat(data, lines[i]);
		strcat(data, "\n");
	}
	return write_file(path, data);
}

static int idmap_tree(int tree_fd, int userns_fd)
{
	struct h_mount_attr attr = {.attr_set = H_MOUNT_ATTR_IDMAP, .userns_fd = userns_fd};
	return syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | H_AT_RECURSIVE, &attr, sizeof(attr));
}

// Longest common directory of two absolute paths ("/a/b/upper", "/a/b/work" -> "/a/b").
static char *common_dir(const char *a, const char *b)
{
	size_t i = 0, last = 0;
	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			last = i;
		i++;
	}
	if ((!a[i] || a[i] == '/') && (!b[i] || b[i] == '/'))
		last = i;
	char *dir = strndup(a, last ? last : 1);
	return dir;
}

static void report(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = sizeof(buf) - 1;
	write_all(fd, buf, n);
}

// ---- `start`: the console, as the monitor serves it --------------------------------------------
//
// The monitor holds the console's primary side, keeps its last CONSOLE_RING bytes of output (saved
// to console.log when init exits) and serves console.sock. A client first sends one line:
//   "log"               gets the buffered output, then EOF
//   "clear"             empties the buffer, gets "ok\n"
//   "attach COLS ROWS"  then sends frames (a type byte: 'd' data or 'r' "COLS ROWS"; a 2-byte
//                       big-endian payload length; the payload) and receives the output as it comes.
// The monitor never blocks on the console: input the container does not read and output an
// attached client does not take in time are dropped (the buffer still has the output).

#define CONSOLE_RING (128 * 1024)
#define CONSOLE_CLIENTS 16
#define CONSOLE_FRAME 4096

struct console_client {
	int fd, attached;
	size_t len;
	unsigned char buf[3 + CONSOLE_FRAME];
};

static struct {
	int master, peer, listen_fd, readable;
	char path[64];
	char ring[CONSOLE_RING];
	size_t head, len; // the buffered output: `len` bytes ending just before `head`
	int nclients;
	struct console_client clients[CONSOLE_CLIENTS];
} con = {.master = -1, .peer = -1, .listen_fd = -1};

// The host id of the container's root in "NS HOST RANGE" idmap lines.
static long mapped_root(char **lines, int n)
{
	for (int i = 0; i < n; i++) {
		long ns, host, range;
		if (sscanf(lines[i], "%ld %ld %ld", &ns, &host, &range) == 3 && ns == 0 && range > 0)
			return host;
	}
	return -1;
}

// Opens the console pty on the host's devpts; con.path is its secondary side.
static int console_open(struct config *c)
{
	int unlock = 0;
	con.master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (con.master < 0 || ioctl(con.master, TIOCSPTLCK, &unlock) < 0)
		return -1;
	// Kept open here, so the primary side never reads EIO while nothing inside has it open.
	con.peer = ioctl(con.master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (con.peer < 0)
		return -1;
	char fdpath[64];
	snprintf(fdpath, sizeof(fdpath), "/proc/self/fd/%d", con.peer);
	ssize_t n = readlink(fdpath, con.path, sizeof(con.path) - 1);
	if (n <= 0 || n >= (ssize_t)sizeof(con.path) - 1)
		return -1;
	con.path[n] = 0;
	// Owned by the container's root, as its console should be.
	if (fchown(con.peer, mapped_root(c->uidmap, c->nuid), mapped_root(c->gidmap, c->ngid)) < 0 ||
	    fchmod(con.peer, 0620) < 0)
		return -1;
	struct winsize ws = {.ws_row = 24, .ws_col = 80};
	ioctl(con.master, TIOCSWINSZ, &ws);
	con.readable = 1;
	return 0;
}

static int console_listen(const char *rundir)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/console.sock", rundir) >= (int)sizeof(addr.sun_path))
		return errno = ENAMETOOLONG, -1;
	unlink(addr.sun_path);
	con.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (con.listen_fd < 0 || bind(con.listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return -1;
	return listen(con.listen_fd, 16);
}

static void console_record(const char *data, size_t n)
{
	if (n > CONSOLE_RING) {
		data += n - CONSOLE_RING;
		n = CONSOLE_RING;
	}
	size_t first = CONSOLE_RING - con.head < n ? CONSOLE_RING - con.head : n;
	memcpy(con.ring + con.head, data, first);
	memcpy(con.ring, data + first, n - first);
	con.head = (con.head + n) % CONSOLE_RING;
	con.len = con.len + n > CONSOLE_RING ? CONSOLE_RING : con.len + n;
}

// Writes the buffered output, oldest first.
static int console_dump(int fd)
{
	size_t start = (con.head + CONSOLE_RING - con.len) % CONSOLE_RING;
	size_t first = CONSOLE_RING - start < con.len ? CONSOLE_RING - start : con.len;
	return write_all(fd, con.ring + start, first) < 0 || write_all(fd, con.ring, con.len - first) < 0 ? -1 : 0;
}

static void console_output(void)
{
	static char buf[16384];
	ssize_t n = read(con.master, buf, sizeof(buf));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		con.readable = 0;
		return;
	}
	console_record(buf, n);
	for (int i = 0; i < con.nclients; i++)
		if (con.clients[i].attached)
			(void)send(con.clients[i].fd, buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void console_resize(int cols, int rows)
{
	if (cols <= 0 || rows <= 0 || cols > 65535 || rows > 65535)
		return;
	struct winsize ws = {.ws_row = rows, .ws_col = cols};
	ioctl(con.master, TIOCSWINSZ, &ws);
}

// Answers a client's first line; 1 when it stays (attached).
static int console_command(struct console_client *cl, const char *line)
{
	int cols, rows;
	if (!strcmp(line, "log")) {
		// The whole buffer in one go; a client that does not read within 2 s loses the rest.
		struct timeval tv = {.tv_sec = 2};
		fcntl(cl->fd, F_SETFL, 0);
		setsockopt(cl->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		console_dump(cl->fd);
		return 0;
	}
	if (!strcmp(line, "clear")) {
		con.len = 0;
		write_all(cl->fd, "ok\n", 3);
		return 0;
	}
	if (sscanf(line, "attach %d %d", &cols, &rows) == 2) {
		console_resize(cols, rows);
		cl->attached = 1;
		return 1;
	}
	write_all(cl->fd, "error unknown command\n", 22);
	return 0;
}

// Consumes what a client sent; 0 when it is gone or must go.
static int console_input(struct console_client *cl)
{
	ssize_t n = read(cl->fd, cl->buf + cl->len, sizeof(cl->buf) - cl->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0)
		return 0;
	cl->len += n;
	if (!cl->attached) {
		unsigned char *nl = memchr(cl->buf, '\n', cl->len);
		if (!nl)
			return cl->len < 64;
		*nl = 0;
		if (!console_command(cl, (const char *)cl->buf))
			return 0;
		cl->len -= nl + 1 - cl->buf;
		memmove(cl->buf, nl + 1, cl->len);
	}
	size_t off = 0;
	while (cl->len - off >= 3) {
		unsigned char *f = cl->buf + off;
		size_t plen = (size_t)f[1] << 8 | f[2];
		if (plen > CONSOLE_FRAME)
			return 0;
		if (cl->len - off < 3 + plen)
			break;
		if (f[0] == 'd') {
			(void)!write(con.master, f + 3, plen);
		} else if (f[0] == 'r') {
			char arg[32];
			int cols, rows;
			snprintf(arg, sizeof(arg), "%.*s", (int)plen, f + 3);
			if (sscanf(arg, "%d %d", &cols, &rows) == 2)
				console_resize(cols, rows);
		}
		off += 3 + plen;
	}
	cl->len -= off;
	memmove(cl->buf, cl->buf + off, cl->len);
	return 1;
}

// Adds the console's fds to a poll set (primary side, listener, clients); returns how many.
static int console_pollfds(struct pollfd *pfd)
{
	int n = 0;
	pfd[n++] = (struct pollfd){.fd = con.readable ? con.master : -1, .events = POLLIN};
	pfd[n++] = (struct pollfd){.fd = con.listen_fd, .events = POLLIN};
	for (int i = 0; i < con.nclients; i++)
		pfd[n++] = (struct pollfd){.fd = con.clients[i].fd, .events = POLLIN};
	return n;
}

// Handles what poll reported on the fds console_pollfds added.
static void console_serve(struct pollfd *pfd)
{
	if (pfd[0].revents)
		console_output();
	for (int i = con.nclients - 1; i >= 0; i--) {
		if (pfd[2 + i].revents && !console_input(&con.clients[i])) {
			close(con.clients[i].fd);
			con.clients[i] = con.clients[--con.nclients];
		}
	}
	if (pfd[1].revents & POLLIN) {
		int c = accept4(con.listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c >= 0 && con.nclients < CONSOLE_CLIENTS) {
			memset(&con.clients[con.nclients], 0, sizeof(struct console_client));
			con.clients[con.nclients++].fd = c;
		} else if (c >= 0) {
			close(c);
		}
	}
}

// When init is gone: the last output goes to console.log (cwd = rundir) for a stopped container.
static void console_close(void)
{
	if (con.readable)
		console_output();
	int fd = open("console.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		console_dump(fd);
		close(fd);
	}
	unlink("console.sock");
	for (int i = 0; i < con.nclients; i++)
		close(con.clients[i].fd);
}

#define MAX_CLIENTS 1024

// Serves monitor.sock until init exits; never returns.
static __attribute__((noreturn)) void monitor_loop(pid_t init, int listen_fd, int sig_fd, const char *sock_path)
{
	struct pollfd pfd[2 + MAX_CLIENTS + 2 + CONSOLE_CLIENTS];
	int clients[MAX_CLIENTS], nclients = 0, code = -1;
	char line[64];
	for (;;) {
		int status;
		pid_t w;
		while ((w = waitpid(-1, &status, WNOHANG)) > 0)
			if (w == init)
				code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
		if (code >= 0)
			break;
		pfd[0] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		pfd[1] = (struct pollfd){.fd = listen_fd, .events = POLLIN};
		for (int i = 0; i < nclients; i++)
			pfd[2 + i] = (struct pollfd){.fd = clients[i], .events = POLLIN};
		int console_at = 2 + nclients, nfds = console_at + console_pollfds(pfd + console_at);
		if (poll(pfd, nfds, -1) < 0)
			continue;
		console_serve(pfd + console_at);
		if (pfd[0].revents) {
			struct signalfd_siginfo si;
			while (read(sig_fd, &si, sizeof(si)) > 0)
				;
		}
		// Disconnected clients go; what they send is ignored.
		for (int i = nclients - 1; i >= 0; i--) {
			if (!pfd[2 + i].revents)
				continue;
			char junk[256];
			ssize_t n = read(clients[i], junk, sizeof(junk));
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(clients[i]);
				clients[i] = clients[--nclients];
			}
		}
		if (pfd[1].revents & POLLIN) {
			int c = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (c >= 0 && nclients < MAX_CLIENTS) {
				int n = snprintf(line, sizeof(line), "running %d\n", init);
				if (write_all(c, line, n) == 0)
					clients[nclients++] = c;
				else
					close(c);
			} else if (c >= 0) {
				close(c);
			}
		}
	}
	console_close();
	unlink(sock_path);
	unlink("init.pid");
	int n = snprintf(line, sizeof(line), "exit %d\n", code);
	for (int i = 0; i < nclients; i++) {
		write_all(clients[i], line, n);
		close(clients[i]);
	}
	logf_("init %d exited: %d", init, code);
	_exit(0);
}

// Forks the builder into init's pid and network namespaces (through a short-lived parent: setns
// into a pid namespace applies to children only). Its failures go to the error pipe.
static pid_t spawn_builder(struct child_ctx *x, pid_t init, int userns_fd)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	static const char *const kinds[] = {"net", "pid"};
	for (size_t i = 0; i < sizeof(kinds) / sizeof(*kinds); i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", init, kinds[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		CHECK(x, fd >= 0 && setns(fd, 0) == 0, "join %s", path);
		close(fd);
	}
	pid_t builder = fork();
	CHECK(x, builder >= 0, "fork builder");
	if (builder == 0)
		builder_main(x, userns_fd);
	int status;
	while (waitpid(builder, &status, 0) < 0 && errno == EINTR)
		;
	_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
}

// Clones each disk device's host path (in the host's mount namespace); NULL or what failed.
static const char *open_launch_mounts(struct config *c)
{
	static char err[320];
	for (int i = 0; i < c->nmounts; i++) {
		struct launch_mount *m = &c->mounts[i];
		struct stat st;
		if (stat(m->source, &st) < 0 || (m->fd = clone_tree(m->source)) < 0) {
			snprintf(err, sizeof(err), "disk source %s", m->source);
			return err;
		}
		m->is_dir = S_ISDIR(st.st_mode);
	}
	return NULL;
}

static int idmap_launch_mount(struct launch_mount *m, int userns_fd)
{
	// userns_fd < 0: a privileged container, nothing to idmap; only the read-only flag.
	struct h_mount_attr attr = {.attr_set = (userns_fd >= 0 ? H_MOUNT_ATTR_IDMAP : 0) | (m->ro ? H_MOUNT_ATTR_RDONLY : 0),
				    .userns_fd = userns_fd >= 0 ? userns_fd : 0};
	return attr.attr_set ? syscall(SYS_mount_setattr, m->fd, "", AT_EMPTY_PATH | H_AT_RECURSIVE, &attr, sizeof(attr)) : 0;
}

// The detached monitor: launches init, reports "ok PID" or "error MSG" on report_fd.
static __attribute__((noreturn)) void run_monitor(struct config *c, int report_fd)
{
	pid_t init = -1;
	char err[512] = "";
	int sync_fds[2] = {-1, -1}, err_fds[2] = {-1, -1}, sock_fds[2] = {-1, -1}, userns = -1;
	struct child_ctx x = {.cfg = c, .rw_fd = -1, .root_fd = -1};
#define FAIL(...)                                                                         \
	do {                                                                              \
		int e_ = errno;                                                           \
		char s_[320];                                                             \
		snprintf(s_, sizeof(s_), __VA_ARGS__);                                    \
		snprintf(err, sizeof(err), "%s: %s", s_, strerror(e_));                   \
		goto fail;                                                                \
	} while (0)

	setsid();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (chdir(c->rundir) < 0)
		FAIL("chdir %s", c->rundir);
	int log = open("monitor.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (log < 0 || null < 0)
		FAIL("open %s/monitor.log", c->rundir);
	dup2(null, 0);
	dup2(log, 1);
	dup2(log, 2);
	close(log);
	close(null);
	logf_("starting %s", c->name);

	if (console_open(c) < 0)
		FAIL("open the console pty");
	x.console_path = con.path;

	// Layers are cloned here, idmapped once the container's user namespace has its maps, and
	// attached by the child inside its own mount namespace.
	char *rw_dir = NULL;
	if (c->bind) {
		if ((x.root_fd = clone_tree(c->bind)) < 0)
			FAIL("open_tree %s", c->bind);
	} else {
		rw_dir = common_dir(c->upper, c->work);
		size_t n = strlen(rw_dir) == 1 ? 1 : strlen(rw_dir) + 1;
		x.upper_rel = strlen(c->upper) > n ? c->upper + n : ".";
		x.work_rel = strlen(c->work) > n ? c->work + n : ".";
		for (int i = 0; i <= c->nlayers; i++) {
			const char *layer = i < c->nlayers ? c->layers[i] : c->lower;
			if ((x.lower_fds[i] = clone_tree(layer)) < 0)
				FAIL("open_tree %s", layer);
			x.nlower = i + 1;
		}
		if ((x.rw_fd = clone_tree(rw_dir)) < 0)
			FAIL("open_tree %s", rw_dir);
	}

	const char *mount_err = open_launch_mounts(c);
	if (mount_err)
		FAIL("%s", mount_err);

	if (pipe2(sync_fds, O_CLOEXEC) < 0 || pipe2(err_fds, O_CLOEXEC) < 0)
		FAIL("pipe");
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sig_fd < 0)
		FAIL("signalfd");

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock_fds) < 0)
		FAIL("socketpair");
	init = syscall(SYS_clone, (c->privileged ? 0 : CLONE_NEWUSER) | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS |
					  CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD,
		       0, 0, 0, 0);
	if (init < 0)
		FAIL("clone");
	if (init == 0) {
		close(sync_fds[1]);
		close(err_fds[0]);
		close(sock_fds[1]);
		close(report_fd);
		x.sync_fd = sync_fds[0];
		x.err_fd = err_fds[1];
		x.sock_fd = sock_fds[0];
		child_main(&x);
	}
	close(sync_fds[0]);
	close(sock_fds[0]);

	char path[64];
	if (!c->privileged) {
		if (write_idmap(init, "uid", c->uidmap, c->nuid) < 0)
			FAIL("write uid_map");
		if (write_idmap(init, "gid", c->gidmap, c->ngid) < 0)
			FAIL("write gid_map");
		snprintf(path, sizeof(path), "/proc/%d/ns/user", init);
		if ((userns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			FAIL("open %s", path);
		if (x.root_fd >= 0 && idmap_tree(x.root_fd, userns) < 0)
			FAIL("idmap %s", c->bind);
		for (int i = 0; i < x.nlower; i++)
			if (idmap_tree(x.lower_fds[i], userns) < 0)
				FAIL("idmap %s", i < c->nlayers ? c->layers[i] : c->lower);
		if (x.rw_fd >= 0 && idmap_tree(x.rw_fd, userns) < 0)
			FAIL("idmap %s", rw_dir);
	}
	for (int i = 0; i < c->nmounts; i++)
		if (idmap_launch_mount(&c->mounts[i], c->privileged ? -1 : userns) < 0)
			FAIL("idmap %s", c->mounts[i].source);
	char pidstr[32];
	snprintf(pidstr, sizeof(pidstr), "%d", init);
	for (int i = 0; i < c->ncg; i++)
		if (write_file(c->cgroups[i], pidstr) < 0)
			FAIL("join cgroup %s", c->cgroups[i]);
	if (write_all(sync_fds[1], "x", 1) < 0)
		FAIL("release child");
	close(sync_fds[1]);
	sync_fds[1] = -1;
	x.err_fd = err_fds[1];
	x.sock_fd = sock_fds[1];
	if (spawn_builder(&x, init, userns) < 0)
		FAIL("fork builder");
	if (userns >= 0)
		close(userns);
	close(sock_fds[1]);
	close(err_fds[1]);
	err_fds[1] = -1;
	int trees[] = {x.rw_fd, x.root_fd};
	for (size_t i = 0; i < sizeof(trees) / sizeof(*trees); i++)
		if (trees[i] >= 0)
			close(trees[i]);
	for (int i = 0; i < x.nlower; i++)
		close(x.lower_fds[i]);
	for (int i = 0; i < c->nmounts; i++)
		close(c->mounts[i].fd);

	// EOF on the close-on-exec error pipe means execve succeeded.
	size_t len = 0;
	char *childerr = read_all(err_fds[0], &len);
	close(err_fds[0]);
	if (childerr && len) {
		snprintf(err, sizeof(err), "%s", childerr);
		goto fail;
	}

	int pf = open("init.pid", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (pf < 0 || write_all(pf, pidstr, strlen(pidstr)) < 0)
		FAIL("write init.pid");
	close(pf);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *sock_path = "monitor.sock";
	if (strlen(c->rundir) + strlen(sock_path) + 2 > sizeof(addr.sun_path)) {
		errno = ENAMETOOLONG;
		FAIL("%s/%s", c->rundir, sock_path);
	}
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/%s", c->rundir, sock_path);
	unlink(addr.sun_path);
	int listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(listen_fd, 64) < 0)
		FAIL("listen on %s", addr.sun_path);
	if (console_listen(c->rundir) < 0)
		FAIL("listen on %s/console.sock", c->rundir);
	logf_("init %d running", init);
	report(report_fd, "ok %d\n", init);
	close(report_fd);
	monitor_loop(init, listen_fd, sig_fd, addr.sun_path);

fail:
	if (init > 0) {
		kill(init, SIGKILL);
		waitpid(init, NULL, 0);
	}
	logf_("start failed: %s", err);
	report(report_fd, "error %s\n", err);
	_exit(1);
#undef FAIL
}

static int cmd_start(void)
{
	char *text = read_all(0, NULL);
	struct config cfg;
	const char *bad = text ? parse_config(text, &cfg) : "cannot read config";
	if (bad) {
		printf("error config: %s\n", bad);
		return 1;
	}
	int rep[2];
	if (pipe2(rep, O_CLOEXEC) < 0) {
		printf("error pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	pid_t mon = fork();
	if (mon < 0) {
		printf("error fork: %s\n", strerror(errno));
		return 1;
	}
	if (mon == 0) {
		close(rep[0]);
		run_monitor(&cfg, rep[1]);
	}
	// The spawner sees this process exit as soon as the monitor has reported.
	close(rep[1]);
	char *msg = read_all(rep[0], NULL);
	if (!msg || strncmp(msg, "ok ", 3)) {
		if (!msg || !*msg) {
			waitpid(mon, NULL, 0);
			printf("error monitor died during start\n");
		} else {
			fputs(msg, stdout);
		}
		return 1;
	}
	fputs(msg, stdout);
	return 0;
}

// ---- `exec` ---------------------------------------------------------------------------------

struct exec_opts {
	pid_t pid;
	const char *cwd;
	uid_t uid;
	gid_t gid;
	char *env[256];
	int nenv, pty, cols, rows;
	struct sock_fprog seccomp;
	char **argv;
};

static int ctl_fd = -1;

static __attribute__((noreturn)) void exec_fail(const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	char line[700];
	int n = snprintf(line, sizeof(line), "error %s\n", msg);
	if (ctl_fd >= 0)
		write_all(ctl_fd, line, n);
	fprintf(stderr, "lxd-helper exec: %s\n", msg);
	exit(255);
}

static const char *getenv_in(char **env, const char *key)
{
	size_t k = strlen(key);
	for (; *env; env++)
		if (!strncmp(*env, key, k) && (*env)[k] == '=')
			return *env + k + 1;
	return NULL;
}

// execve with a PATH search; returns the exit code to use when nothing could run.
static int exec_path(char **argv, char **env)
{
	if (strchr(argv[0], '/')) {
		execve(argv[0], argv, env);
		return errno == ENOENT || errno == ENOTDIR ? 127 : 126;
	}
	const char *path = getenv_in(env, "PATH");
	if (!path)
		path = DEFAULT_PATH;
	int denied = 0;
	char full[PATH_MAX];
	for (const char *p = path; *p;) {
		const char *end = strchrnul(p, ':');
		int n = snprintf(full, sizeof(full), "%.*s%s%s", (int)(end - p), p, end > p ? "/" : "", argv[0]);
		if (n > 0 && n < (int)sizeof(full)) {
			execve(full, argv, env);
			if (errno != ENOENT && errno != ENOTDIR)
				denied = 1;
		}
		p = *end ? end + 1 : end;
	}
	return denied ? 126 : 127;
}

// Joins every cgroup the container's init is in (before leaving the host's user namespace).
static void join_cgroups(pid_t pid)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int sfd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
	int mfd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || sfd < 0 || mfd < 0)
		exec_fail("read cgroups of %d: %s", pid, strerror(errno));
	char *groups = read_all(fd, NULL), *mine = read_all(sfd, NULL), *mounts = read_all(mfd, NULL);
	close(fd);
	close(sfd);
	close(mfd);
	if (!groups || !mine || !mounts)
		exec_fail("read cgroups of %d", pid);
	char self[32];
	snprintf(self, sizeof(self), "%d", getpid());
	for (char *gs, *g = strtok_r(groups, "\n", &gs); g; g = strtok_r(NULL, "\n", &gs)) {
		// Hierarchies where we already share init's cgroup need no move.
		char line[PATH_MAX + 300];
		snprintf(line, sizeof(line), "\n%s\n", g);
		if (!strncmp(mine, line + 1, strlen(line + 1)) || strstr(mine, line))
			continue;
		// "ID:controllers:/path"
		char *ctrls = strchr(g, ':'), *cpath = ctrls ? strchr(ctrls + 1, ':') : NULL;
		if (!cpath)
			continue;
		*ctrls++ = 0;
		*cpath++ = 0;
		int v2 = !strcmp(g, "0") && !*ctrls;
		// mountinfo: "id parent maj:min root mountpoint opts ... - fstype source superopts"
		char *copy = strdup(mounts);
		for (char *ms, *m = strtok_r(copy, "\n", &ms); m; m = strtok_r(NULL, "\n", &ms)) {
			char root[PATH_MAX], mnt[PATH_MAX], fstype[32], super[512];
			char *dash = strstr(m, " - ");
			if (!dash || sscanf(m, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
			    sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2)
				continue;
			int match = v2 ? !strcmp(fstype, "cgroup2") : !strcmp(fstype, "cgroup");
			if (match && !v2) {
				// Every controller of this hierarchy must be among the mount's options.
				char wanted[256];
				snprintf(wanted, sizeof(wanted), "%s", ctrls);
				for (char *ws, *w = strtok_r(wanted, ",", &ws); w && match; w = strtok_r(NULL, ",", &ws)) {
					char needle[300];
					snprintf(needle, sizeof(needle), ",%s,", w);
					char hay[520];
					snprintf(hay, sizeof(hay), ",%s,", super);
					match = strstr(hay, needle) != NULL;
				}
			}
			size_t rl = strlen(root);
			if (!match || strncmp(cpath, root, rl) || (rl > 1 && cpath[rl] && cpath[rl] != '/'))
				continue;
			char procs[2 * PATH_MAX + 16];
			snprintf(procs, sizeof(procs), "%s%s/cgroup.procs", mnt, rl > 1 ? cpath + rl : cpath);
			if (write_file(procs, self) < 0)
				exec_fail("join cgroup %s: %s", procs, strerror(errno));
			break;
		}
		free(copy);
	}
	free(groups);
	free(mine);
	free(mounts);
}

static void parse_exec_args(int argc, char **argv, struct exec_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->pid = -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--")) {
			o->argv = argv + i + 1;
			break;
		}
		if (!v)
			exec_fail("option %s needs a value", a);
		if (!strcmp(a, "--pid"))
			o->pid = atoi(v);
		else if (!strcmp(a, "--cwd"))
			o->cwd = v;
		else if (!strcmp(a, "--uid"))
			o->uid = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--gid"))
			o->gid = strtoul(v, NULL, 10);
		else if (!strcmp(a, "--env")) {
			if (add(o->env, &o->nenv, 256, argv[i + 1]))
				exec_fail("too many --env");
		} else if (!strcmp(a, "--pty")) {
			if (sscanf(v, "%dx%d", &o->cols, &o->rows) != 2)
				exec_fail("--pty wants COLSxROWS");
			o->pty = 1;
		} else if (!strcmp(a, "--seccomp")) {
			if (parse_bpf(v, &o->seccomp))
				exec_fail("--seccomp: invalid program");
		} else
			exec_fail("unknown option %s", a);
		i++;
	}
	if (o->pid <= 0 || !o->argv || !o->argv[0])
		exec_fail("usage: lxd-helper exec --pid PID [options] -- CMD [ARGS...]");
}

static __attribute__((noreturn)) void exec_child(struct exec_opts *o, int master, int err_fd)
{
	char msg[600];
#define CFAIL(...)                                                     \
	do {                                                           \
		int e_ = errno, n_ = snprintf(msg, sizeof(msg), __VA_ARGS__); \
		n_ += snprintf(msg + n_, sizeof(msg) - n_, ": %s", strerror(e_)); \
		write_all(err_fd, msg, n_);                            \
		_exit(255);                                            \
	} while (0)
	if (setsid() < 0)
		CFAIL("setsid");
	if (o->pty) {
		int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (slave < 0)
			CFAIL("open pty slave");
		if (ioctl(slave, TIOCSCTTY, 0) < 0)
			CFAIL("set controlling terminal");
		if (o->uid && fchown(slave, o->uid, -1) < 0)
			CFAIL("chown pty");
		if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
			CFAIL("dup pty");
	}
	reset_signals();
	cloexec_from(3);
	if (drop_caps() < 0)
		CFAIL("drop capabilities");
	// Installed while still privileged in the container's namespace: no NO_NEW_PRIVS needed.
	if (install_seccomp(&o->seccomp) < 0)
		CFAIL("install seccomp filter");
	if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0)
		CFAIL("setgid %u", o->gid);
	if (setresuid(o->uid, o->uid, o->uid) < 0)
		CFAIL("setuid %u", o->uid);
	if (o->cwd) {
		if (chdir(o->cwd) < 0)
			CFAIL("chdir %s", o->cwd);
	} else if (o->uid != 0 || chdir("/root") < 0) {
		const char *home = getenv_in(o->env, "HOME");
		if (!home || chdir(home) < 0)
			chdir("/");
	}
	_exit(exec_path(o->argv, o->env));
#undef CFAIL
}

// Relays stdin -> pty master and master -> stdout, and serves the control channel, until the
// child is gone. Returns the child's exit code.
static int exec_loop(pid_t child, int master)
{
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	int sig_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	char ctl_buf[256], in_buf[4096], out_buf[16384];
	size_t ctl_len = 0, in_len = 0, in_off = 0;
	int code = -1, stdin_open = master >= 0, ctl_open = ctl_fd >= 0, master_open = master >= 0;
	struct timespec exited_at = {0};
	for (;;) {
		int status;
		if (code < 0 && waitpid(child, &status, WNOHANG) == child) {
			code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
			clock_gettime(CLOCK_MONOTONIC, &exited_at);
			stdin_open = 0;
		}
		if (code >= 0 && !master_open)
			return code;
		struct pollfd pfd[4];
		int n = 0, i_sig = n++, i_ctl = -1, i_in = -1, i_master = -1;
		pfd[i_sig] = (struct pollfd){.fd = sig_fd, .events = POLLIN};
		if (ctl_open) {
			i_ctl = n++;
			pfd[i_ctl] = (struct pollfd){.fd = ctl_fd, .events = POLLIN};
		}
		if (stdin_open && in_len == 0) {
			i_in = n++;
			pfd[i_in] = (struct pollfd){.fd = 0, .events = POLLIN};
		}
		if (master_open) {
			i_master = n++;
			pfd[i_master] = (struct pollfd){.fd = master, .events = POLLIN | (in_len ? POLLOUT : 0)};
		}
		// After the child exits, output still queued in the pty is drained until EIO or until
		// it stays quiet briefly: a background process may hold the pty open forever.
		int timeout = -1;
		if (code >= 0) {
			struct timespec now;
			clock_gettime(CLOCK_MONOTONIC, &now);
			long ms = (now.tv_sec - exited_at.tv_sec) * 1000 + (now.tv_nsec - exited_at.tv_nsec) / 1000000;
			if (ms > 2000)
				return code;
			timeout = 30;
		}
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && code >= 0)
			return code;
		if (pfd[i_sig].revents) {
			struct signalfd_siginfo si;
			while (read(sig_fd, &si, sizeof(si)) > 0)
				;
		}
		if (i_ctl >= 0 && pfd[i_ctl].revents) {
			ssize_t got = read(ctl_fd, ctl_buf + ctl_len, sizeof(ctl_buf) - 1 - ctl_len);
			if (got <= 0) {
				ctl_open = 0;
			} else {
				ctl_len += got;
				ctl_buf[ctl_len] = 0;
				char *nl;
				while ((nl = strchr(ctl_buf, '\n'))) {
					*nl = 0;
					int a, b;
					if (sscanf(ctl_buf, "resize %d %d", &a, &b) == 2 && master >= 0) {
						struct winsize ws = {.ws_row = b, .ws_col = a};
						ioctl(master, TIOCSWINSZ, &ws);
					} else if (sscanf(ctl_buf, "signal %d", &a) == 1 && code < 0) {
						kill(child, a);
					}
					ctl_len -= nl + 1 - ctl_buf;
					memmove(ctl_buf, nl + 1, ctl_len + 1);
				}
				if (ctl_len == sizeof(ctl_buf) - 1)
					ctl_len = 0; // an overlong line is dropped
			}
		}
		if (i_in >= 0 && pfd[i_in].revents) {
			ssize_t got = read(0, in_buf, sizeof(in_buf));
			if (got > 0) {
				in_len = got;
				in_off = 0;
			} else if (got == 0 || errno != EINTR) {
				// End of input on a terminal: the EOF character, as a typed ^D would send.
				struct termios t;
				in_buf[0] = tcgetattr(master, &t) == 0 ? t.c_cc[VEOF] : 4;
				in_len = 1;
				in_off = 0;
				stdin_open = 0;
			}
		}
		if (i_master >= 0 && (pfd[i_master].revents & POLLOUT) && in_len) {
			ssize_t put = write(master, in_buf + in_off, in_len);
			if (put > 0) {
				in_off += put;
				in_len -= put;
			}
		}
		if (i_master >= 0 && (pfd[i_master].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t got = read(master, out_buf, sizeof(out_buf));
			if (got > 0) {
				// A failed write means the reader went away; keep serving until the child exits.
				(void)write_all(1, out_buf, got);
			} else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
				master_open = 0; // EIO: every slave fd is closed and the data drained
			}
		}
	}
}

static int cmd_exec(int argc, char **argv)
{
	// The control channel is fd 3 when the spawner passed one; check before opening anything.
	if (fcntl(3, F_GETFD) >= 0) {
		ctl_fd = 3;
		fcntl(3, F_SETFD, FD_CLOEXEC);
	}
	// Not dumpable: container root must never reach this host binary via /proc/PID/exe.
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	struct exec_opts o;
	parse_exec_args(argc, argv, &o);

	static const char *const kinds[] = {"user", "mnt", "pid", "uts", "ipc", "net", "cgroup"};
	enum { NKINDS = sizeof(kinds) / sizeof(*kinds) };
	int ns[NKINDS];
	for (int i = 0; i < NKINDS; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/ns/%s", o.pid, kinds[i]);
		if ((ns[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			exec_fail("open %s: %s", path, strerror(errno));
	}
	join_cgroups(o.pid);
	for (int i = 0; i < NKINDS; i++) {
		// A privileged container shares the host's user namespace (setns into one's own fails).
		if (!(i == 0 && same_ns(ns[i], "user")) && setns(ns[i], 0) < 0)
			exec_fail("setns %s: %s", kinds[i], strerror(errno));
		close(ns[i]);
	}
	// Container root from here on: files (such as the pty) are created as it.
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		exec_fail("become container root: %s", strerror(errno));

	int master = -1;
	if (o.pty) {
		// The container's own devpts (we are in its mount namespace), so `tty` works inside.
		master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
		int unlock = 0;
		if (master < 0 || ioctl(master, TIOCSPTLCK, &unlock) < 0)
			exec_fail("open /dev/ptmx: %s", strerror(errno));
		struct winsize ws = {.ws_row = o.rows, .ws_col = o.cols};
		ioctl(master, TIOCSWINSZ, &ws);
	}
	int err[2];
	if (pipe2(err, O_CLOEXEC) < 0)
		exec_fail("pipe: %s", strerror(errno));
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	// vfork: the child runs at once on this CPU with no copy-on-write faults (measured: about
	// 3 ms less to first output). It only touches its own stack and per-task state (ids,
	// session, fds, signal handlers are copied) before execve or _exit.
	pid_t child = vfork();
	if (child < 0)
		exec_fail("fork: %s", strerror(errno));
	if (child == 0) {
		close(err[0]);
		exec_child(&o, master, err[1]);
	}
	close(err[1]);
	size_t len = 0;
	char *msg = read_all(err[0], &len);
	close(err[0]);
	if (msg && len) {
		waitpid(child, NULL, 0);
		exec_fail("%s", msg);
	}
	int code = exec_loop(child, master);
	if (ctl_fd >= 0) {
		char line[32];
		int n = snprintf(line, sizeof(line), "exit %d\n", code);
		write_all(ctl_fd, line, n);
	}
	return code;
}

// ---- file: file transfer inside a running container -------------------------------------
//
//   lxd-helper file --pid PID get PATH
//   lxd-helper file --pid PID put PATH TYPE WRITE UID GID MODE   (content or link target on stdin)
//   lxd-helper file --pid PID delete PATH
//
// Joins the container's user and mount namespaces and chroots to its init's root, then works as
// container root: the kernel resolves every path and symlink inside the container, with the
// (unprivileged) rights of its root, and ids are container ids. The first line on stdout is
// "error ERRNO MESSAGE" or "ok"; for get it is "ok TYPE UID GID MODE MTIME_SEC MTIME_NSEC SIZE",
// followed by the file's bytes, a symlink's target or a directory's entry names (each ended by
// a NUL). Only regular files, directories and symlinks are handled: device nodes, fifos and
// sockets are refused (never opened for I/O, so nothing can block or have side effects).

static __attribute__((noreturn)) void file_fail(int err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	char line[600];
	int n = snprintf(line, sizeof(line), "error %d %s\n", err, msg);
	write_all(1, line, n);
	exit(1);
}

// Failures here are the daemon's problem, not the path's: reported with errno 0.
static void file_enter(pid_t pid)
{
	// Before anything else: container root must never ptrace or /proc-inspect this process.
	prctl(PR_SET_DUMPABLE, 0);
	syscall(SYS_close_range, 3, ~0U, 0);
	static const char *const what[] = {"ns/user", "ns/mnt", "root"};
	int fd[3];
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what[i]);
		if ((fd[i] = open(path, (i == 2 ? O_PATH | O_DIRECTORY : O_RDONLY) | O_CLOEXEC)) < 0)
			file_fail(0, "open %s: %s", path, strerror(errno));
	}
	// User namespace first: from then on host privileges are gone for good (a privileged
	// container has none other than the host's).
	if (!same_ns(fd[0], "user") && setns(fd[0], CLONE_NEWUSER) < 0)
		file_fail(0, "join user namespace: %s", strerror(errno));
	if (setns(fd[1], CLONE_NEWNS) < 0)
		file_fail(0, "join mount namespace: %s", strerror(errno));
	// The exact root of the container's init, whatever setns picked as this namespace's root.
	if (fchdir(fd[2]) < 0 || chroot(".") < 0 || chdir("/") < 0)
		file_fail(0, "enter container root: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		file_fail(0, "become container root: %s", strerror(errno));
	umask(0);
	signal(SIGPIPE, SIG_IGN);
}

static const char *file_kind(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : NULL;
}

static int file_get(const char *path)
{
	// O_PATH never opens the object itself: a fifo cannot block, a device sees no open().
	int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st, st2;
	if (pfd < 0 || fstat(pfd, &st) < 0)
		file_fail(errno, "%s", strerror(errno));
	const char *kind = file_kind(st.st_mode);
	if (!kind)
		file_fail(EINVAL, "not a regular file, directory or symlink");
	char header[256];
	if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX];
		ssize_t n = readlinkat(pfd, "", target, sizeof(target));
		if (n < 0)
			file_fail(errno, "readlink: %s", strerror(errno));
		int h = snprintf(header, sizeof(header), "ok symlink %u %u %o %lld %ld %zd\n", st.st_uid, st.st_gid,
				 st.st_mode & 07777, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, n);
		if (write_all(1, header, h) < 0 || write_all(1, target, n) < 0)
			return 1;
		return 0;
	}
	// Reopened for reading: it must still be the object checked above (no swap in between).
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &st2) < 0)
		file_fail(errno, "open: %s", strerror(errno));
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || (st2.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
		file_fail(EAGAIN, "changed while being opened");
	close(pfd);
	int h = snprintf(header, sizeof(header), "ok %s %u %u %o %lld %ld %lld\n", kind, st2.st_uid, st2.st_gid,
			 st2.st_mode & 07777, (long long)st2.st_mtim.tv_sec, st2.st_mtim.tv_nsec,
			 S_ISREG(st2.st_mode) ? (long long)st2.st_size : 0LL);
	if (write_all(1, header, h) < 0)
		return 1;
	if (S_ISDIR(st2.st_mode)) {
		DIR *dir = fdopendir(fd);
		if (!dir)
			return 1;
		struct dirent *e;
		errno = 0;
		while ((e = readdir(dir))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (write_all(1, e->d_name, strlen(e->d_name) + 1) < 0)
				return 1;
		}
		return errno ? 1 : 0;
	}
	fcntl(fd, F_SETFL, 0);
	static char buf[1 << 17];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 1; // the reader sees the non-zero exit and fails the transfer
		if (n == 0)
			return 0;
		if (write_all(1, buf, n) < 0)
			return 1;
	}
}

static void file_set_owner_mode(int fd, long uid, long gid, long mode)
{
	if ((uid >= 0 || gid >= 0) && fchown(fd, uid, gid) < 0)
		file_fail(errno, "chown %ld:%ld: %s", uid, gid, strerror(errno));
	if (mode >= 0 && fchmod(fd, mode) < 0)
		file_fail(errno, "chmod %lo: %s", mode, strerror(errno));
}

static int file_put(const char *path, const char *type, const char *how, long uid, long gid, long mode)
{
	struct stat st;
	int exists = stat(path, &st) == 0;
	if (!strcmp(type, "directory")) {
		// As LXD: an existing directory (or anything else there) is left as it is.
		if (exists)
			return write_all(1, "ok\n", 3) < 0;
		if (mkdir(path, 0700) < 0)
			file_fail(errno, "mkdir: %s", strerror(errno));
		int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			file_fail(errno, "open: %s", strerror(errno));
		file_set_owner_mode(fd, uid, gid, mode >= 0 ? mode : 0750);
		return write_all(1, "ok\n", 3) < 0;
	}
	if (!strcmp(type, "symlink")) {
		char target[PATH_MAX + 1], current[PATH_MAX];
		size_t len = 0;
		for (ssize_t n; len < sizeof(target) && (n = read(0, target + len, sizeof(target) - len)) != 0;) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				file_fail(errno, "read link target: %s", strerror(errno));
			len += n;
		}
		if (len == 0 || len > PATH_MAX - 1 || memchr(target, 0, len))
			file_fail(EINVAL, "invalid symlink target");
		target[len] = 0;
		ssize_t cur = readlink(path, current, sizeof(current) - 1);
		if (cur >= 0 && (size_t)cur == len && !memcmp(current, target, len))
			return write_all(1, "ok\n", 3) < 0;
		if (symlink(target, path) < 0)
			file_fail(errno, "symlink: %s", strerror(errno));
		if ((uid >= 0 || gid >= 0) && fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			file_fail(errno, "chown %ld:%ld: %s", uid, gid, strerror(errno));
		return write_all(1, "ok\n", 3) < 0;
	}
	if (strcmp(type, "file"))
		file_fail(EINVAL, "bad file type %s", type);
	if (exists && !S_ISREG(st.st_mode))
		file_fail(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "not a regular file");
	// Symlinks are followed, resolved by the kernel inside the container. O_NONBLOCK: a fifo
	// swapped in meanwhile fails (ENXIO) or is refused below instead of blocking.
	int flags = O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	flags |= !strcmp(how, "append") ? O_APPEND : O_CREAT | O_TRUNC;
	int fd = open(path, flags, mode >= 0 ? mode : 0644);
	if (fd < 0 || fstat(fd, &st) < 0)
		file_fail(errno, "open: %s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		file_fail(EINVAL, "not a regular file");
	fcntl(fd, F_SETFL, flags & O_APPEND);
	// As LXD: owner and mode only apply to a file this request creates.
	if (!exists)
		file_set_owner_mode(fd, uid, gid, mode);
	static char buf[1 << 17];
	for (;;) {
		ssize_t n = read(0, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			file_fail(errno, "read content: %s", strerror(errno));
		if (n == 0)
			break;
		if (write_all(fd, buf, n) < 0)
			file_fail(errno, "write: %s", strerror(errno));
	}
	if (close(fd) < 0)
		file_fail(errno, "close: %s", strerror(errno));
	return write_all(1, "ok\n", 3) < 0;
}

static int cmd_file(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[2], "--pid") || atoi(argv[3]) <= 0)
		file_fail(EINVAL, "usage: lxd-helper file --pid PID get|put|delete PATH [TYPE WRITE UID GID MODE]");
	const char *op = argv[4], *path = argv[5];
	file_enter(atoi(argv[3]));
	if (!strcmp(op, "get") && argc == 6)
		return file_get(path);
	if (!strcmp(op, "put") && argc == 11)
		return file_put(path, argv[6], argv[7], strtol(argv[8], NULL, 10), strtol(argv[9], NULL, 10),
				strtol(argv[10], NULL, 8));
	if (!strcmp(op, "delete") && argc == 6) {
		if (unlink(path) < 0 && (errno != EISDIR || rmdir(path) < 0))
			file_fail(errno, "%s", strerror(errno));
		return write_all(1, "ok\n", 3) < 0;
	}
	file_fail(EINVAL, "bad file operation %s", op);
}

// ---- device: unix-char and unix-block device nodes in a running container -------------------
//
//   lxd-helper device --pid PID add PATH c|b MAJOR MINOR UID GID MODE   (UID, GID: host ids)
//   lxd-helper device --pid PID remove PATH
//
// Stays host root (container root may not create device nodes) but joins only the container's
// mount namespace and root, so every path resolves inside the container. Nodes live on the
// container's /dev tmpfs; symlinks are never followed for the node itself. Prints "ok" or
// "error MESSAGE".

static __attribute__((noreturn)) void device_fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("error %s\n", msg);
	exit(1);
}

static int cmd_device(int argc, char **argv)
{
	prctl(PR_SET_DUMPABLE, 0);
	if (argc < 6 || strcmp(argv[2], "--pid") || atoi(argv[3]) <= 0)
		device_fail("usage: lxd-helper device --pid PID add|remove PATH ...");
	const char *op = argv[4], *path = argv[5];
	if (strncmp(path, "/dev/", 5) || strstr(path, "/../") || strstr(path, "/./"))
		device_fail("device path %s must be under /dev", path);
	char ns[64], root[64];
	snprintf(ns, sizeof(ns), "/proc/%s/ns/mnt", argv[3]);
	snprintf(root, sizeof(root), "/proc/%s/root", argv[3]);
	int nsfd = open(ns, O_RDONLY | O_CLOEXEC), rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (nsfd < 0 || rootfd < 0)
		device_fail("open %s: %s", nsfd < 0 ? ns : root, strerror(errno));
	if (setns(nsfd, CLONE_NEWNS) < 0 || fchdir(rootfd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		device_fail("enter the container: %s", strerror(errno));
	umask(0);
	struct stat st;
	if (!strcmp(op, "remove") && argc == 6) {
		if (lstat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && unlink(path) < 0)
			device_fail("remove %s: %s", path, strerror(errno));
		printf("ok\n");
		return 0;
	}
	if (strcmp(op, "add") || argc != 12 || (strcmp(argv[6], "c") && strcmp(argv[6], "b")))
		device_fail("bad device operation");
	mode_t type = !strcmp(argv[6], "c") ? S_IFCHR : S_IFBLK;
	dev_t dev = makedev(strtoul(argv[7], NULL, 10), strtoul(argv[8], NULL, 10));
	uid_t uid = strtoul(argv[9], NULL, 10);
	gid_t gid = strtoul(argv[10], NULL, 10);
	mode_t mode = strtoul(argv[11], NULL, 8) & 07777;
	// Missing parents, as root-owned directories.
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 5; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (ensure_dir(dir, 0755) < 0)
			device_fail("mkdir %s: %s", dir, strerror(errno));
		*p = '/';
	}
	// An existing node of the same kind is replaced (a restart of the device), anything else kept.
	if (lstat(path, &st) == 0) {
		if ((st.st_mode & S_IFMT) != type || unlink(path) < 0)
			device_fail("%s already exists", path);
	}
	if (mknod(path, type | mode, dev) < 0)
		device_fail("mknod %s: %s", path, strerror(errno));
	if (lchown(path, uid, gid) < 0)
		device_fail("chown %s: %s", path, strerror(errno));
	printf("ok\n");
	return 0;
}
int cmd_proxy(int argc, char **argv); /* lxd-proxy.c */

// ---- `mount` / `umount`: disk devices of a running container ---------------------------------
//
// A host path (a directory or a storage volume) is cloned as a detached tree in the host's mount
// namespace, idmapped to the container's user namespace (files owned by host root appear owned
// by container root, nothing is chowned), then attached at PATH from inside the container's mount
// namespace as container root, who also creates the mount point. Output: "ok" or "error ERRNO MSG"
// (file_fail: the same protocol as `file`).

// Joins the container of `pid` as its root, at its root directory (after opening what is needed
// from the host side: the caller does that first).
static void disk_enter(pid_t pid)
{
	static const char *const what[] = {"ns/user", "ns/mnt", "root"};
	int fd[3];
	for (int i = 0; i < 3; i++) {
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what[i]);
		if ((fd[i] = open(path, (i == 2 ? O_PATH | O_DIRECTORY : O_RDONLY) | O_CLOEXEC)) < 0)
			file_fail(errno, "open %s: %s", path, strerror(errno));
	}
	// A privileged container shares the host's user namespace, which cannot be joined again.
	if ((!same_ns(fd[0], "user") && setns(fd[0], CLONE_NEWUSER) < 0) || setns(fd[1], CLONE_NEWNS) < 0)
		file_fail(errno, "join the container's namespaces: %s", strerror(errno));
	if (fchdir(fd[2]) < 0 || chroot(".") < 0 || chdir("/") < 0)
		file_fail(errno, "enter container root: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		close(fd[i]);
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		file_fail(errno, "become container root: %s", strerror(errno));
}

static int cmd_mount(int argc, char **argv)
{
	if (argc != 7 || strcmp(argv[2], "--pid") || atoi(argv[3]) <= 0 || argv[5][0] != '/')
		file_fail(EINVAL, "usage: lxd-helper mount --pid PID SOURCE /PATH ro|rw");
	pid_t pid = atoi(argv[3]);
	const char *source = argv[4];
	int ro = !strcmp(argv[6], "ro");
	prctl(PR_SET_DUMPABLE, 0);
	struct stat st;
	if (stat(source, &st) < 0)
		file_fail(errno, "source %s: %s", source, strerror(errno));
	int tree = clone_tree(source);
	if (tree < 0)
		file_fail(errno, "open_tree %s: %s", source, strerror(errno));
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
	int userns = open(path, O_RDONLY | O_CLOEXEC);
	if (userns < 0)
		file_fail(errno, "open %s: %s", path, strerror(errno));
	// Privileged containers (the host's user namespace) need no idmapping, only the read-only flag.
	int host = same_ns(userns, "user");
	struct h_mount_attr attr = {.attr_set = (host ? 0 : H_MOUNT_ATTR_IDMAP) | (ro ? H_MOUNT_ATTR_RDONLY : 0),
				    .userns_fd = host ? 0 : userns};
	if (attr.attr_set && syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH | H_AT_RECURSIVE, &attr, sizeof(attr)) < 0)
		file_fail(errno, "idmap %s: %s (the filesystem may not support idmapped mounts)", source, strerror(errno));
	close(userns);
	disk_enter(pid);
	umask(022);
	char *target = strdup(argv[5]);
	if (make_mountpoint(target, S_ISDIR(st.st_mode)) < 0)
		file_fail(errno, "create mount point %s: %s", target, strerror(errno));
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, H_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		file_fail(errno, "attach at %s: %s", target, strerror(errno));
	return write_all(1, "ok\n", 3) < 0;
}

static int cmd_umount(int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[2], "--pid") || atoi(argv[3]) <= 0 || argv[4][0] != '/')
		file_fail(EINVAL, "usage: lxd-helper umount --pid PID /PATH");
	prctl(PR_SET_DUMPABLE, 0);
	disk_enter(atoi(argv[3]));
	if (umount2(argv[4], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		file_fail(errno, "unmount %s: %s", argv[4], strerror(errno));
	return write_all(1, "ok\n", 3) < 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "device"))
		return cmd_device(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "start"))
		return cmd_start();
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return cmd_exec(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "file"))
		return cmd_file(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "proxy"))
		return cmd_proxy(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "mount"))
		return cmd_mount(argc, argv);
	if (argc >= 2 && !strcmp(argv[1], "umount"))
		return cmd_umount(argc, argv);
	fprintf(stderr, "usage: lxd-helper start < config | lxd-helper exec --pid PID [options] -- CMD...\n");
	return 2;
}
