// lxd-helper's shared declarations: one error idiom, cleanup helpers, kernel calls newer than glibc.
//
// Error idiom (everywhere): a function that can fail returns 0 (or a non-negative result) on
// success, and on failure records what failed with `fail(errno, "what %s", ...)`, which returns
// -1; callers pass that -1 up unchanged. Each subcommand's entry point reports `herr` once, in its
// own protocol. Resources are released by `_cleanup_close_` / `_cleanup_free_` variables, so every
// return path is the cleanup path. Code that runs between vfork and execve uses none of this (it
// is async-signal-safe only; see exec.c).
#ifndef LXD_HELPER_H
#define LXD_HELPER_H
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/filter.h>
#include "fdpass.h"

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
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
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
#define H_CLONE_PIDFD 0x00001000
#define H_CLONE_INTO_CGROUP 0x200000000ULL
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif
#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef TIOCGPTPEER
#define TIOCGPTPEER _IO('T', 0x41)
#endif

// Same layout as the kernel's struct mount_attr (named differently: glibc may define it too).
struct h_mount_attr {
	uint64_t attr_set, attr_clr, propagation, userns_fd;
};

#define MAX_LIST 64
#define ARRAY_SIZE(a) (sizeof(a) / sizeof(*(a)))

// ---- errors (util.c) ----
struct helper_error {
	int err;        // errno of the failure (0: not the system's fault)
	char msg[1024]; // "what failed: strerror(err)"
};
extern struct helper_error herr;
// Records a failure (the message, then ": strerror(err)" when err != 0); returns -1.
int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The same, keeping err as the failure's errno without appending its text.
int failx(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// ---- cleanup ----
static inline void close_p(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
static inline void free_p(void *p)
{
	free(*(void **)p);
}
#define _cleanup_close_ __attribute__((cleanup(close_p)))
#define _cleanup_free_ __attribute__((cleanup(free_p)))
// Hands an fd out of a _cleanup_close_ variable.
static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

// ---- util.c ----
int write_all(int fd, const void *buf, size_t len);
int write_file(const char *path, const char *data);
char *read_all(int fd, size_t *len_out);
int parse_bpf(const char *hex, struct sock_fprog *prog);
int install_seccomp(const struct sock_fprog *prog);
void cloexec_from(int first);
int ensure_dir(const char *path, mode_t mode);
int ensure_file(const char *path);
int make_mountpoint(char *path, int is_dir);
int send_fd(int sock, int fd);
int recv_fd(int sock);
int clone_tree(const char *path);
int idmap_tree(int tree_fd, int userns_fd, int readonly);
int drop_caps(void);
int add_item(char **list, int *n, int max, char *v);
long parse_long(const char *s, int base, long min, long max);
int become_root(void);

// ---- trace.c: phases and CPU time of `lxd-helper start` (LXD_HELPER_TRACE=1), no-ops otherwise ----
void trace_init(void);
void trace_mark(const char *name);
// Adds getrusage(who)'s user and system time to the start's total.
void trace_cpu(int who);
// " NAME=MSms ... cpu_user=MSms cpu_sys=MSms" into buf; its length.
int trace_format(char *buf, size_t cap);
// Unmaps the page (the monitor, once it reported: what it forks later has no use for it).
void trace_done(void);

// ---- target.c: the container a subcommand acts on, named by an inherited pidfd ----
int target_pidfd(const char *arg);
int target_open(int pidfd, const char *what, int flags);
int target_same_userns(int pidfd);
int target_setns(int pidfd, int flags);
int target_enter(int pidfd, int flags);

// ---- subcommands ----
int cmd_start(void);
int cmd_exec(int argc, char **argv);
int cmd_file(int argc, char **argv);
int cmd_device(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_proxy(int argc, char **argv);

// exec.c: an exec request handed to the monitor (stdin, stdout, stderr, control fds; the
// connection carries "LEN\n" and LEN bytes of NUL-separated `exec` arguments).
#define EXEC_FDS 4
__attribute__((noreturn)) void exec_runner(int sock, const int fds[EXEC_FDS], int init_pidfd);
// Joins every cgroup init is in (no-op where this process already is), but the cgroup2 one with
// JOIN_SKIP_UNIFIED and a v1 pids one with JOIN_SKIP_PIDS. init_unified_cgroup: an fd of init's
// cgroup2 directory when this process is elsewhere there, else -1.
#define JOIN_SKIP_UNIFIED 1
#define JOIN_SKIP_PIDS 2
int join_cgroups(int pidfd, int skip);
int init_unified_cgroup(int pidfd);
#endif
