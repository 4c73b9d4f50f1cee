// liblxd.so: the few syscalls the daemon makes in-process through bun:ffi. Nothing here may touch
// namespaces (Bun is multithreaded: that is lxd-helper's job). Every function returns -errno on
// failure so the caller never races another thread for errno.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/syscall.h>
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
