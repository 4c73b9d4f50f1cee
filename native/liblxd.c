// liblxd.so: the few syscalls the daemon makes in-process through bun:ffi. Nothing here may touch
// namespaces (Bun is multithreaded: that is lxd-helper's job). Every function returns -errno on
// failure so the caller never races another thread for errno.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "fdpass.h"
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

static __thread int last_errno;

static int result(long rc)
{
	if (rc < 0) {
		last_errno = errno;
		return -errno;
	}
	return (int)rc;
}

int lxd_mount(const char *src, const char *target, const char *fstype, unsigned long flags, const char *data)
{
	return result(mount(src, target, fstype, flags, data));
}

int lxd_umount(const char *target, int flags)
{
	return result(umount2(target, flags));
}

int lxd_pidfd_open(int pid)
{
	return result(syscall(SYS_pidfd_open, pid, 0));
}

int lxd_pidfd_send_signal(int pidfd, int sig)
{
	return result(syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0));
}

// bpf(2): the daemon loads and attaches cgroup device programs for containers on cgroup v2.
int lxd_bpf(int cmd, void *attr, unsigned int size)
{
	return result(syscall(SYS_bpf, cmd, attr, size));
}

// errno of this thread's last failed call above.
int lxd_errno(void)
{
	return last_errno;
}

// ---- btrfs subvolumes: one ioctl each instead of a `btrfs` process ----------------------------

// Opens the directory that holds `path` and points *name at its last component.
static int open_parent(const char *path, char *buf, size_t cap, const char **name)
{
	size_t len = strlen(path);
	if (len == 0 || len >= cap)
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = 0;
	char *slash = strrchr(buf, '/');
	*name = slash ? slash + 1 : buf;
	if (strlen(*name) >= BTRFS_SUBVOL_NAME_MAX)
		return -ENAMETOOLONG;
	if (!slash)
		return result(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	*slash = 0;
	return result(open(slash == buf ? "/" : buf, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

int lxd_btrfs_subvol_create(const char *path)
{
	char buf[4096];
	const char *name;
	int dir = open_parent(path, buf, sizeof(buf), &name);
	if (dir < 0)
		return dir;
	struct btrfs_ioctl_vol_args args = {0};
	strncpy(args.name, name, sizeof(args.name) - 1);
	int rc = result(ioctl(dir, BTRFS_IOC_SUBVOL_CREATE, &args));
	close(dir);
	return rc;
}

// Snapshots subvolume `from` as `to` (read-only when `readonly`).
int lxd_btrfs_snapshot(const char *from, const char *to, int readonly)
{
	int src = result(open(from, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (src < 0)
		return src;
	char buf[4096];
	const char *name;
	int dir = open_parent(to, buf, sizeof(buf), &name);
	if (dir < 0) {
		close(src);
		return dir;
	}
	struct btrfs_ioctl_vol_args_v2 args = {.fd = src, .flags = readonly ? BTRFS_SUBVOL_RDONLY : 0};
	strncpy(args.name, name, sizeof(args.name) - 1);
	int rc = result(ioctl(dir, BTRFS_IOC_SNAP_CREATE_V2, &args));
	close(src);
	close(dir);
	return rc;
}

// Deletes subvolume `path` (which must hold no other subvolume).
int lxd_btrfs_subvol_delete(const char *path)
{
	char buf[4096];
	const char *name;
	int dir = open_parent(path, buf, sizeof(buf), &name);
	if (dir < 0)
		return dir;
	struct btrfs_ioctl_vol_args_v2 args = {0};
	strncpy(args.name, name, sizeof(args.name) - 1);
	int rc = result(ioctl(dir, BTRFS_IOC_SNAP_DESTROY_V2, &args));
	close(dir);
	return rc;
}

int lxd_btrfs_set_readonly(const char *path, int readonly)
{
	int fd = result(open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (fd < 0)
		return fd;
	__u64 flags;
	int rc = result(ioctl(fd, BTRFS_IOC_SUBVOL_GETFLAGS, &flags));
	if (rc == 0) {
		flags = readonly ? flags | BTRFS_SUBVOL_RDONLY : flags & ~BTRFS_SUBVOL_RDONLY;
		rc = result(ioctl(fd, BTRFS_IOC_SUBVOL_SETFLAGS, &flags));
	}
	close(fd);
	return rc;
}

// ---- xattrs (overlay metadata), without following symlinks ----------------------------------

// Length of the value of `name` on `path` (copied into buf up to cap), or -errno (-ENODATA: none).
int lxd_lgetxattr(const char *path, const char *name, char *buf, unsigned long cap)
{
	return result(lgetxattr(path, name, buf, cap));
}

// CLOCK_MONOTONIC in milliseconds: the clock lxd-helper's traces use, so the daemon's phase marks
// and the helper's share one timeline.
double lxd_monotonic_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

// A pipe (kind 0) or a unix stream socketpair (kind 1), both ends close-on-exec; the end at index
// `nonblock` (0 or 1, -1: neither) is made non-blocking for the daemon's event loop.
int lxd_channel(int kind, int *fds, int nonblock)
{
	int rc = kind ? socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) : pipe2(fds, O_CLOEXEC);
	if (rc < 0)
		return result(rc);
	if (nonblock >= 0 && fcntl(fds[nonblock], F_SETFL, O_NONBLOCK) < 0) {
		int err = errno;
		close(fds[0]);
		close(fds[1]);
		errno = err;
		return result(-1);
	}
	return 0;
}

static int send_all(int sock, const char *p, size_t len)
{
	while (len) {
		ssize_t n = send(sock, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

// Hands an exec request to a container's monitor (lxd-helper's monitor.sock): one byte carrying
// `nfds` fds (SCM_RIGHTS), then "LEN\n" and LEN bytes of NUL-separated arguments. The monitor
// forks a runner that reads the rest; the connection is closed here once everything is queued
// (a local stream socket: connect and these small writes do not wait on the monitor).
int lxd_monitor_exec(const char *sock_path, const char *args, int len, const int *fds, int nfds)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(sock_path) >= sizeof(addr.sun_path) || nfds < 1 || nfds > 8 || len < 0)
		return -EINVAL;
	int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		return result(sock);
	strcpy(addr.sun_path, sock_path);
	char header[32];
	int hlen = snprintf(header, sizeof(header), "%d\n", len);
	int rc = connect(sock, (struct sockaddr *)&addr, sizeof(addr));
	if (rc == 0)
		rc = send_fds(sock, 'x', fds, nfds, 0);
	if (rc == 0)
		rc = send_all(sock, header, hlen);
	if (rc == 0)
		rc = send_all(sock, args, len);
	rc = result(rc);
	close(sock);
	return rc;
}
