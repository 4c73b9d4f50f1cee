// `lxd-helper start`: what config.c, rootfs.c, console.c and monitor.c share.
#ifndef LXD_START_H
#define LXD_START_H
#include "helper.h"
#include <poll.h>

// A disk device attached before init runs: a host path cloned by the monitor, idmapped, then
// attached by init once it is inside its new root.
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
	// Restore a checkpoint with CRIU instead of booting (restore.c): the program, the images
	// directory, the tty[RDEV:DEV] keys of the dumped console and /dev/tty (a console shell's
	// controlling terminal) and the daemon's further arguments.
	char *criu, *restore_dir, *restore_tty, *restore_ctty, *criu_args[MAX_LIST];
	int ncriu_args;
};

// config.c: parses "key value" lines (the text is modified and referenced).
int parse_config(char *text, struct config *c);

// What init and the builder share (rootfs.c).
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

// rootfs.c: the bodies of forked children; they report herr on err_fd and exit.
__attribute__((noreturn)) void init_main(struct child_ctx *x);
__attribute__((noreturn)) void builder_main(struct child_ctx *x, int userns_fd);
int enter_staging(int rundir_fd, const char *mode);
int setup_overlay(struct child_ctx *x);
// restore.c: runs CRIU; the restored init becomes the monitor's child.
int restore_init(struct child_ctx *x, pid_t *init, int *init_pidfd);

// console.c: the console pty and the console.sock clients the monitor serves.
#define CONSOLE_CLIENTS 16
int console_open(struct config *c);
const char *console_path(void);
int console_peer(void);
int console_listen(const char *rundir);
int console_pollfds(struct pollfd *pfd);
void console_serve(struct pollfd *pfd);
void console_close(void);

// monitor.c
void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int write_idmap(pid_t pid, const char *kind, char **lines, int n);
#endif
