// The running container a subcommand acts on, named by a pidfd of its init that the daemon
// passes as an inherited fd (`--pidfd N`). Namespaces are joined with setns(pidfd, ...), which
// joins all of them at once and can never reach another process. The few things only /proc has
// (the root directory, the cgroup file, the user namespace to compare) are opened through the pid
// the pidfd names, then checked: the pidfd still refers to a live process afterwards, so the pid
// was not recycled in between.
#include "helper.h"
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

// The fd given on the command line, if it is a pidfd.
int target_pidfd(const char *arg)
{
	long fd = arg ? parse_long(arg, 10, 0, 1 << 20) : -1;
	char path[64];
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0)
		return fail(EBADF, "--pidfd %s", arg ? arg : "(missing)");
	// The kernel names a pidfd's file "anon_inode:[pidfd]" (or "pidfd:" with pidfs).
	char link[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%ld", fd);
	ssize_t n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = 0;
	if (!strstr(link, "pidfd"))
		return fail(EBADF, "--pidfd %ld is not a pidfd", fd);
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	return fd;
}

// The pid the pidfd refers to in this pid namespace.
static pid_t target_pid(int pidfd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", pidfd);
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", path);
	_cleanup_free_ char *info = read_all(fd, NULL);
	const char *line = info ? strstr(info, "\nPid:") : NULL;
	int pid = -1;
	if (!line || sscanf(line + 5, "%d", &pid) != 1 || pid <= 0)
		return fail(ESRCH, "the instance's init is gone");
	return pid;
}

// Opens /proc/PID/WHAT for the pidfd's process.
int target_open(int pidfd, const char *what, int flags)
{
	pid_t pid = target_pid(pidfd);
	if (pid < 0)
		return -1;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	_cleanup_close_ int fd = open(path, flags | O_CLOEXEC);
	if (fd < 0)
		return fail(errno, "open %s", path);
	// Signal 0 to a reaped process fails: the pid was still this process's when it was opened.
	if (syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0)
		return fail(errno, "the instance's init is gone");
	return take_fd(&fd);
}

// 1 when the process shares this one's user namespace (a privileged container), 0 if not.
int target_same_userns(int pidfd)
{
	_cleanup_close_ int theirs = target_open(pidfd, "ns/user", O_RDONLY);
	struct stat a, b;
	if (theirs < 0)
		return -1;
	if (fstat(theirs, &a) < 0 || stat("/proc/self/ns/user", &b) < 0)
		return fail(errno, "stat user namespace");
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// Joins the namespaces in `flags` at once. A privileged container shares the host's user
// namespace, which setns refuses to join again: it is left out then.
int target_setns(int pidfd, int flags)
{
	if (flags & CLONE_NEWUSER) {
		int same = target_same_userns(pidfd);
		if (same < 0)
			return -1;
		if (same)
			flags &= ~CLONE_NEWUSER;
	}
	if (setns(pidfd, flags) < 0)
		return fail(errno, "join the instance's namespaces");
	return 0;
}

// Joins the namespaces in `flags` (a mount namespace among them) and the exact root directory of
// the container's init, whatever setns picked as the namespace's root.
int target_enter(int pidfd, int flags)
{
	_cleanup_close_ int root = target_open(pidfd, "root", O_PATH | O_DIRECTORY);
	if (root < 0 || target_setns(pidfd, flags) < 0)
		return -1;
	if (fchdir(root) < 0 || chroot(".") < 0 || chdir("/") < 0)
		return fail(errno, "enter the instance's root");
	return 0;
}
