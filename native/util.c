// Small utilities shared by the subcommands: the error record, whole-buffer I/O, fd passing,
// detached mount trees, capabilities and seccomp.
#include "helper.h"
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <linux/seccomp.h>

struct helper_error herr;

static int record(int err, int with_text, const char *fmt, va_list ap)
{
	char msg[sizeof(herr.msg)];
	int n = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (!with_text || !err)
		snprintf(herr.msg, sizeof(herr.msg), "%s", msg);
	else if (n <= 0)
		snprintf(herr.msg, sizeof(herr.msg), "%s", strerror(err));
	else
		snprintf(herr.msg, sizeof(herr.msg), "%.900s: %s", msg, strerror(err));
	for (char *p = herr.msg; *p; p++)
		if (*p == '\n')
			*p = ' ';
	herr.err = err;
	return -1;
}

int fail(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(err, 1, fmt, ap);
	va_end(ap);
	return -1;
}

int failx(int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	record(err, 0, fmt, ap);
	va_end(ap);
	return -1;
}

int write_all(int fd, const void *buf, size_t len)
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

int write_file(const char *path, const char *data)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	return write_all(fd, data, strlen(data));
}

// Reads a whole fd into a NUL-terminated malloc'd buffer; NULL with errno set on failure.
char *read_all(int fd, size_t *len_out)
{
	size_t cap = 4096, len = 0;
	_cleanup_free_ char *buf = malloc(cap);
	for (;;) {
		if (!buf)
			return NULL;
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb)
				return NULL;
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return NULL;
		if (n == 0)
			break;
		len += n;
	}
	buf[len] = 0;
	if (len_out)
		*len_out = len;
	char *out = buf;
	buf = NULL;
	return out;
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

// Decodes a hex string into a classic BPF program (8 bytes per instruction).
int parse_bpf(const char *hex, struct sock_fprog *prog)
{
	size_t n = strlen(hex);
	if (n == 0 || n % 16 || n / 16 > USHRT_MAX)
		return fail(0, "invalid seccomp program");
	_cleanup_free_ unsigned char *bytes = malloc(n / 2);
	if (!bytes)
		return fail(ENOMEM, "seccomp program");
	for (size_t i = 0; i < n / 2; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return fail(0, "invalid seccomp program");
		bytes[i] = hi << 4 | lo;
	}
	prog->len = n / 16;
	prog->filter = (struct sock_filter *)bytes;
	bytes = NULL;
	return 0;
}

// A raw syscall: safe between vfork and execve.
int install_seccomp(const struct sock_fprog *prog)
{
	if (!prog->filter)
		return 0;
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog);
}

// Marks every fd from `first` up close-on-exec (an error pipe must survive until execve).
// Raw syscalls only: safe between vfork and execve.
void cloexec_from(int first)
{
	if (syscall(SYS_close_range, first, ~0U, H_CLOSE_RANGE_CLOEXEC) == 0)
		return;
	for (int fd = first; fd < 65536; fd++)
		fcntl(fd, F_SETFD, FD_CLOEXEC);
}

int ensure_dir(const char *path, mode_t mode)
{
	return mkdir(path, mode) == 0 || errno == EEXIST ? 0 : -1;
}

int ensure_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return errno == EEXIST ? 0 : -1;
	close(fd);
	return 0;
}

// mkdir -p for a mount point's parents; the last component becomes a directory or, for a file
// source, an empty file. -1 with errno set on failure.
int make_mountpoint(char *path, int is_dir)
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
	return is_dir ? ensure_dir(path, 0755) : ensure_file(path);
}

int send_fd(int sock, int fd)
{
	return send_fds(sock, 0, &fd, 1, 0);
}

// -1 when the peer went away without sending (it reported its own error).
int recv_fd(int sock)
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

// A detached copy of the mount tree at `path`.
int clone_tree(const char *path)
{
	return syscall(SYS_open_tree, AT_FDCWD, path, H_OPEN_TREE_CLONE | O_CLOEXEC | H_AT_RECURSIVE);
}

// Idmaps a detached tree to a user namespace (userns_fd < 0: none, a privileged container) and
// optionally makes it read-only.
int idmap_tree(int tree_fd, int userns_fd, int readonly)
{
	struct h_mount_attr attr = {.attr_set = (userns_fd >= 0 ? H_MOUNT_ATTR_IDMAP : 0) | (readonly ? H_MOUNT_ATTR_RDONLY : 0),
				    .userns_fd = userns_fd >= 0 ? (uint64_t)userns_fd : 0};
	if (!attr.attr_set)
		return 0;
	return syscall(SYS_mount_setattr, tree_fd, "", AT_EMPTY_PATH | H_AT_RECURSIVE, &attr, sizeof(attr));
}

// LXD drops these from every container, privileged or not.
static const int dropped_caps[] = {25 /* sys_time */, 16 /* sys_module */, 17 /* sys_rawio */, 33 /* mac_admin */,
				   32 /* mac_override */};

int drop_caps(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(dropped_caps); i++)
		if (prctl(PR_CAPBSET_DROP, dropped_caps[i], 0, 0, 0) < 0 && errno != EINVAL)
			return -1;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (size_t i = 0; i < ARRAY_SIZE(dropped_caps); i++) {
		uint32_t bit = 1U << (dropped_caps[i] % 32);
		struct __user_cap_data_struct *d = &data[dropped_caps[i] / 32];
		d->effective &= ~bit;
		d->permitted &= ~bit;
		d->inheritable &= ~bit;
	}
	return syscall(SYS_capset, &hdr, data);
}

// Appends to a NULL-terminated list of at most max-1 entries; -1 when full.
int add_item(char **list, int *n, int max, char *v)
{
	if (*n >= max - 1)
		return -1;
	list[(*n)++] = v;
	list[*n] = NULL;
	return 0;
}

// A whole-string integer in [min, max]; min - 1 when it is not one.
long parse_long(const char *s, int base, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, base);
	if (!*s || *end || errno || v < min || v > max)
		return min - 1;
	return v;
}

// Container root (uid and gid 0 of the user namespace just joined), without supplementary groups.
int become_root(void)
{
	if (setresgid(0, 0, 0) < 0 || setgroups(0, NULL) < 0 || setresuid(0, 0, 0) < 0)
		return fail(errno, "become container root");
	return 0;
}
