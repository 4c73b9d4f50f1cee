// `lxd-helper file`: file transfer inside a running container.
//
//   lxd-helper file --pidfd N get PATH
//   lxd-helper file --pidfd N put PATH TYPE WRITE UID GID MODE   (content or link target on stdin)
//   lxd-helper file --pidfd N delete PATH
//   lxd-helper file --root N ...                                 (the same on a stopped instance)
//
// Joins the container's user and mount namespaces and chroots to its init's root, then works as
// container root: the kernel resolves every path and symlink inside the container, with the
// (unprivileged) rights of its root, and ids are container ids. A stopped instance has no
// namespaces: with --root, fd N is its root filesystem (mounted by the daemon) and the helper
// chroots there as host root, so paths, `..` and symlinks (absolute ones included) still resolve
// inside it; ids need no mapping, the rootfs keeps container ids on disk (idmapped at start). The first line on stdout is
// "error ERRNO MESSAGE" or "ok"; for get it is "ok TYPE UID GID MODE MTIME_SEC MTIME_NSEC SIZE",
// followed by the file's bytes, a symlink's target or a directory's entry names (each ended by
// a NUL). Only regular files, directories and symlinks are handled: device nodes, fifos and
// sockets are refused (never opened for I/O, so nothing can block or have side effects).
#include "helper.h"
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

// Set once the "ok" line is out: a later failure can only cut the transfer short (non-zero exit).
static int answered;

static int ok_line(const char *line, size_t len)
{
	answered = 1;
	return write_all(1, line, len) < 0 ? fail(errno, "write") : 0;
}

static const char *file_kind(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "directory" : S_ISLNK(m) ? "symlink" : NULL;
}

static int copy_fd(int from, int to)
{
	static char buf[1 << 17];
	for (;;) {
		ssize_t n = read(from, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "read");
		if (n == 0)
			return 0;
		if (write_all(to, buf, n) < 0)
			return fail(errno, "write");
	}
}

static int get_symlink(int pfd, const struct stat *st)
{
	char target[PATH_MAX], header[256];
	ssize_t n = readlinkat(pfd, "", target, sizeof(target));
	if (n < 0)
		return fail(errno, "readlink");
	int h = snprintf(header, sizeof(header), "ok symlink %u %u %o %lld %ld %zd\n", st->st_uid, st->st_gid,
			 st->st_mode & 07777, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, n);
	if (ok_line(header, h) < 0 || write_all(1, target, n) < 0)
		return fail(errno, "write");
	return 0;
}

static int list_dir(int fd)
{
	DIR *dir = fdopendir(fd);
	if (!dir)
		return fail(errno, "opendir");
	struct dirent *e;
	errno = 0;
	while ((e = readdir(dir))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (write_all(1, e->d_name, strlen(e->d_name) + 1) < 0)
			break;
	}
	int err = errno;
	closedir(dir);
	return err ? fail(err, "readdir") : 0;
}

static int file_get(const char *path)
{
	// O_PATH never opens the object itself: a fifo cannot block, a device sees no open().
	_cleanup_close_ int pfd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	struct stat st, st2;
	if (pfd < 0 || fstat(pfd, &st) < 0)
		return fail(errno, "%s", "");
	const char *kind = file_kind(st.st_mode);
	if (!kind)
		return failx(EINVAL, "not a regular file, directory or symlink");
	if (S_ISLNK(st.st_mode))
		return get_symlink(pfd, &st);
	// Reopened for reading: it must still be the object checked above (no swap in between).
	_cleanup_close_ int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC | (S_ISDIR(st.st_mode) ? O_DIRECTORY : 0));
	if (fd < 0 || fstat(fd, &st2) < 0)
		return fail(errno, "open");
	if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || (st2.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
		return failx(EAGAIN, "changed while being opened");
	char header[256];
	int h = snprintf(header, sizeof(header), "ok %s %u %u %o %lld %ld %lld\n", kind, st2.st_uid, st2.st_gid,
			 st2.st_mode & 07777, (long long)st2.st_mtim.tv_sec, st2.st_mtim.tv_nsec,
			 S_ISREG(st2.st_mode) ? (long long)st2.st_size : 0LL);
	if (ok_line(header, h) < 0)
		return -1;
	if (S_ISDIR(st2.st_mode))
		return list_dir(take_fd(&fd));
	fcntl(fd, F_SETFL, 0);
	return copy_fd(fd, 1);
}

static int set_owner_mode(int fd, long uid, long gid, long mode)
{
	if ((uid >= 0 || gid >= 0) && fchown(fd, uid, gid) < 0)
		return fail(errno, "chown %ld:%ld", uid, gid);
	if (mode >= 0 && fchmod(fd, mode) < 0)
		return fail(errno, "chmod %lo", mode);
	return 0;
}

static int put_directory(const char *path, int exists, long uid, long gid, long mode)
{
	// As LXD: an existing directory (or anything else there) is left as it is.
	if (!exists) {
		if (mkdir(path, 0700) < 0)
			return fail(errno, "mkdir");
		_cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return fail(errno, "open");
		if (set_owner_mode(fd, uid, gid, mode >= 0 ? mode : 0750) < 0)
			return -1;
	}
	return ok_line("ok\n", 3);
}

static int put_symlink(const char *path, long uid, long gid)
{
	char target[PATH_MAX + 1], current[PATH_MAX];
	size_t len = 0;
	for (ssize_t n; len < sizeof(target) && (n = read(0, target + len, sizeof(target) - len)) != 0;) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(errno, "read link target");
		len += n;
	}
	if (len == 0 || len > PATH_MAX - 1 || memchr(target, 0, len))
		return failx(EINVAL, "invalid symlink target");
	target[len] = 0;
	ssize_t cur = readlink(path, current, sizeof(current) - 1);
	if (cur >= 0 && (size_t)cur == len && !memcmp(current, target, len))
		return ok_line("ok\n", 3);
	if (symlink(target, path) < 0)
		return fail(errno, "symlink");
	if ((uid >= 0 || gid >= 0) && fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
		return fail(errno, "chown %ld:%ld", uid, gid);
	return ok_line("ok\n", 3);
}

static int file_put(const char *path, const char *type, const char *how, long uid, long gid, long mode)
{
	struct stat st;
	int exists = stat(path, &st) == 0;
	if (!strcmp(type, "directory"))
		return put_directory(path, exists, uid, gid, mode);
	if (!strcmp(type, "symlink"))
		return put_symlink(path, uid, gid);
	if (strcmp(type, "file"))
		return failx(EINVAL, "bad file type %s", type);
	if (exists && !S_ISREG(st.st_mode))
		return failx(S_ISDIR(st.st_mode) ? EISDIR : EINVAL, "not a regular file");
	// Symlinks are followed, resolved by the kernel inside the container. O_NONBLOCK: a fifo
	// swapped in meanwhile fails (ENXIO) or is refused below instead of blocking.
	int flags = O_WRONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC;
	flags |= !strcmp(how, "append") ? O_APPEND : O_CREAT | O_TRUNC;
	_cleanup_close_ int fd = open(path, flags, mode >= 0 ? mode : 0644);
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(errno, "open");
	if (!S_ISREG(st.st_mode))
		return failx(EINVAL, "not a regular file");
	fcntl(fd, F_SETFL, flags & O_APPEND);
	// As LXD: owner and mode only apply to a file this request creates.
	if (!exists && set_owner_mode(fd, uid, gid, mode) < 0)
		return -1;
	if (copy_fd(0, fd) < 0)
		return -1;
	if (close(take_fd(&fd)) < 0)
		return fail(errno, "close");
	return ok_line("ok\n", 3);
}

static int enter_running(const char *arg)
{
	int pidfd = target_pidfd(arg);
	if (pidfd < 0 || target_enter(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0 || become_root() < 0)
		return -1;
	close(pidfd);
	return 0;
}

// The helper keeps no other descriptor of the host's tree and never chroots again, so nothing
// leads back out of the new root.
static int enter_root(const char *arg)
{
	long fd = parse_long(arg, 10, 0, 1 << 20);
	if (fd < 0)
		return failx(EBADF, "bad root descriptor %s", arg);
	if (fchdir(fd) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return fail(errno, "enter the instance's root");
	close(fd);
	return 0;
}

static int file_run(int argc, char **argv)
{
	int stopped = argc >= 6 && !strcmp(argv[2], "--root");
	if (argc < 6 || (!stopped && strcmp(argv[2], "--pidfd")))
		return failx(EINVAL, "usage: lxd-helper file --pidfd N|--root N get|put|delete PATH [TYPE WRITE UID GID MODE]");
	const char *op = argv[4], *path = argv[5];
	// Failures entering are the daemon's problem, not the path's: reported with errno 0.
	if (stopped ? enter_root(argv[3]) < 0 : enter_running(argv[3]) < 0)
		return failx(0, "%s", herr.msg);
	umask(0);
	if (!strcmp(op, "get") && argc == 6)
		return file_get(path);
	if (!strcmp(op, "put") && argc == 11)
		return file_put(path, argv[6], argv[7], strtol(argv[8], NULL, 10), strtol(argv[9], NULL, 10), strtol(argv[10], NULL, 8));
	if (!strcmp(op, "delete") && argc == 6) {
		if (unlink(path) < 0 && (errno != EISDIR || rmdir(path) < 0))
			return fail(errno, "%s", "");
		return ok_line("ok\n", 3);
	}
	return failx(EINVAL, "bad file operation %s", op);
}

// "error ERRNO MESSAGE": what `file`, `mount` and `umount` answer on failure.
int report_file_error(void)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "error %d %s\n", herr.err, herr.msg);
	write_all(1, line, n);
	return 1;
}

int cmd_file(int argc, char **argv)
{
	// Before anything else: container root must never ptrace or /proc-inspect this process.
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	if (file_run(argc, argv) == 0)
		return 0;
	return answered ? 1 : report_file_error();
}
