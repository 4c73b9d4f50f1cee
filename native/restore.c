// `lxd-helper start` with `restore_dir`: the monitor brings a checkpointed container back with
// CRIU instead of cloning a fresh init, so the restored tree is its child like a booted one.
//
// CRIU runs as a child of the monitor, in a private copy of the monitor's mount namespace where
// the monitor has assembled what the dump declared external: the root (the same idmapped layers
// and overlay init mounts at boot), /dev (a fresh tmpfs with the mountpoints of the bound device
// nodes: its content cannot be dumped, see the README) and the console (a new pty, whose secondary
// side replaces the old one's fds and mount, and a console shell's /dev/tty). With
// --restore-detached CRIU exits once the tree runs; the monitor, a child subreaper, then adopts
// the restored init.
#include "start.h"
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// A user namespace with the container's maps, only to idmap the layers (CRIU makes the real
// one): a child that waits in it until its maps are written and its namespace is open.
static int mapped_userns(struct config *c)
{
	int sync[2];
	if (pipe2(sync, O_CLOEXEC) < 0)
		return fail(errno, "pipe");
	pid_t pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
	if (pid == 0) {
		char b;
		close(sync[1]);
		(void)!read(sync[0], &b, 1);
		_exit(0);
	}
	close(sync[0]);
	_cleanup_close_ int release = sync[1];
	if (pid < 0)
		return fail(errno, "clone a user namespace");
	int ns = -1;
	char path[64];
	if (write_idmap(pid, "uid", c->uidmap, c->nuid) == 0 && write_idmap(pid, "gid", c->gidmap, c->ngid) == 0) {
		snprintf(path, sizeof(path), "/proc/%d/ns/user", pid);
		if ((ns = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			fail(errno, "open %s", path);
	}
	close_p(&release);
	release = -1;
	waitpid(pid, NULL, 0);
	return ns;
}

// The overlay root, mounted as init mounts it at boot: by container root inside a user namespace
// with the container's maps (overlayfs makes its work directory with the mounter's ids, which
// host root's are not in the idmapped layers). A child does it in a mount namespace of its own
// and sends the mount back, attached here at ./root.
static int overlay_root(struct child_ctx *x, int userns_fd)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(errno, "socketpair");
	pid_t pid = fork();
	if (pid == 0) {
		close(sv[0]);
		// cwd (the staging tmpfs) follows into the new mount namespace; a tmpfs of our own goes over it.
		_cleanup_close_ int root = -1, here = -1;
		if (setns(userns_fd, CLONE_NEWUSER) < 0 || become_root() < 0 || unshare(CLONE_NEWNS) < 0 ||
		    (here = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 || enter_staging(here, "0700") < 0 ||
		    setup_overlay(x) < 0 || (root = clone_tree("root")) < 0 || send_fd(sv[1], root) < 0) {
			if (!herr.msg[0])
				fail(errno, "mount the overlay rootfs as container root");
			// The first byte is what recv_fd takes with (here: instead of) the fd.
			write_all(sv[1], "!", 1);
			write_all(sv[1], herr.msg, strlen(herr.msg));
		}
		_exit(0);
	}
	close(sv[1]);
	_cleanup_close_ int sock = sv[0];
	if (pid < 0)
		return fail(errno, "fork");
	int root = recv_fd(sock);
	if (root < 0) {
		_cleanup_free_ char *msg = read_all(sock, NULL);
		waitpid(pid, NULL, 0);
		return fail(0, "%s", msg && *msg ? msg : "mount the overlay rootfs: the child died");
	}
	waitpid(pid, NULL, 0);
	_cleanup_close_ int tree = root;
	if (ensure_dir("root", 0755) < 0 || syscall(SYS_move_mount, tree, "", AT_FDCWD, "root", H_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail(errno, "attach the overlay rootfs");
	return 0;
}

// /dev as the builder makes it, but with empty files where nodes are bound (CRIU binds them
// again) and nothing mounted: ./dev of the staging tmpfs.
static int restore_dev(struct config *c)
{
	static const char *const files[] = {"null", "zero", "full", "random", "urandom", "tty", "console"};
	static const char *const links[][2] = {{"pts/ptmx", "ptmx"}, {"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
					       {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}};
	char opts[128];
	snprintf(opts, sizeof(opts), "mode=755,size=65536k,uid=%ld,gid=%ld", c->root_uid, c->root_gid);
	if (ensure_dir("dev", 0755) < 0 || mount("tmpfs", "dev", "tmpfs", MS_NOSUID | MS_NOEXEC, opts) < 0 || chdir("dev") < 0)
		return fail(errno, "mount the restored /dev");
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		if (ensure_file(files[i]) < 0)
			return fail(errno, "create /dev/%s", files[i]);
	for (size_t i = 0; i < ARRAY_SIZE(links); i++)
		if (symlink(links[i][0], links[i][1]) < 0)
			return fail(errno, "symlink /dev/%s", links[i][1]);
	if (ensure_dir("pts", 0755) < 0 || ensure_dir("shm", 01777) < 0)
		return fail(errno, "mkdir /dev/pts, /dev/shm");
	if (lchown(".", c->root_uid, c->root_gid) < 0 || lchown("pts", c->root_uid, c->root_gid) < 0 ||
	    lchown("shm", c->root_uid, c->root_gid) < 0 || chdir("..") < 0)
		return fail(errno, "chown the restored /dev");
	return 0;
}

// CRIU's command line: the daemon's arguments (images, cgroups, network) and what the monitor made.
static int criu_argv(struct config *c, const char *staging, char **argv, char (*buf)[PATH_MAX + 64])
{
	int n = 0;
	argv[n++] = c->criu;
	argv[n++] = "restore";
	argv[n++] = "--restore-detached";
	snprintf(buf[0], sizeof(buf[0]), "%s/root", staging);
	argv[n++] = "--root";
	argv[n++] = buf[0];
	snprintf(buf[1], sizeof(buf[1]), "fd[3]:%s", c->restore_tty);
	argv[n++] = "--inherit-fd";
	argv[n++] = buf[1];
	snprintf(buf[2], sizeof(buf[2]), "mnt[console]:%s", console_path());
	argv[n++] = "--external";
	argv[n++] = buf[2];
	snprintf(buf[3], sizeof(buf[3]), "mnt[dev]:%s/dev", staging);
	argv[n++] = "--external";
	argv[n++] = buf[3];
	// On the staging tmpfs, so never a leftover (one makes CRIU kill the tree it restored).
	snprintf(buf[4], sizeof(buf[4]), "%s/restored.pid", staging);
	argv[n++] = "--pidfile";
	argv[n++] = buf[4];
	if (c->restore_ctty) {
		snprintf(buf[5], sizeof(buf[5]), "fd[4]:%s", c->restore_ctty);
		argv[n++] = "--inherit-fd";
		argv[n++] = buf[5];
	}
	for (int i = 0; i < c->ncriu_args; i++)
		argv[n++] = c->criu_args[i];
	argv[n] = NULL;
	return n;
}

// fd 4 for CRIU: /dev/tty opened with the new console as this process's controlling terminal, to
// replace a console shell's dumped /dev/tty (its own file, so the next dump finds the shell's
// session on it), then the console is given up again. Runs in CRIU's child: raw syscalls only.
static int open_ctty(int console)
{
	struct sigaction ign = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL};
	// Giving up a controlling terminal sends SIGHUP to its foreground group: ours.
	sigaction(SIGHUP, &ign, NULL);
	int tty = -1;
	if (setsid() < 0 || ioctl(console, TIOCSCTTY, 0) < 0 || (tty = open("/dev/tty", O_RDWR | O_NOCTTY)) < 0 ||
	    ioctl(console, TIOCNOTTY) < 0 || (tty != 4 && dup2(tty, 4) < 0))
		return -1;
	sigaction(SIGHUP, &dfl, NULL);
	return 0;
}

int restore_init(struct child_ctx *x, pid_t *init, int *init_pidfd)
{
	struct config *c = x->cfg;
	_cleanup_close_ int userns_fd = c->privileged ? -1 : mapped_userns(c);
	if (!c->privileged && userns_fd < 0)
		return -1;
	char staging[PATH_MAX], argbuf[6][PATH_MAX + 64], *argv[MAX_LIST + 16];
	// Beside the containers' directories (LXD_DIR/criu-restore): the restored tasks open what
	// CRIU binds from here as container root, which may not enter the root-only rundir.
	char *cut = NULL;
	if (snprintf(staging, sizeof(staging), "%s", c->rundir) >= (int)sizeof(staging) - 16)
		return fail(ENAMETOOLONG, "%s", c->rundir);
	for (int i = 0; i < 2; i++)
		if (!(cut = strrchr(staging, '/')) || cut == staging)
			return fail(EINVAL, "rundir %s is not LXD_DIR/containers/NAME", c->rundir);
		else
			*cut = 0;
	strcat(staging, "/criu-restore");
	// Everything below lives in the monitor's own mount namespace: gone with it, never the host's.
	if (unshare(CLONE_NEWNS) < 0)
		return fail(errno, "unshare the monitor's mount namespace");
	if (ensure_dir(staging, 0711) < 0)
		return fail(errno, "mkdir %s", staging);
	_cleanup_close_ int staging_fd = open(staging, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (staging_fd < 0 || enter_staging(staging_fd, "0711") < 0)
		return staging_fd < 0 ? fail(errno, "open %s", staging) : -1;
	if (!c->privileged) {
		if (x->root_fd >= 0 && idmap_tree(x->root_fd, userns_fd, 0) < 0)
			return fail(errno, "idmap %s", c->bind);
		for (int i = 0; i < x->nlower; i++)
			if (idmap_tree(x->lower_fds[i], userns_fd, 0) < 0)
				return fail(errno, "idmap a rootfs layer");
		if (x->rw_fd >= 0 && idmap_tree(x->rw_fd, userns_fd, 0) < 0)
			return fail(errno, "idmap %s", c->upper);
	}
	if (x->root_fd >= 0) {
		if (ensure_dir("root", 0755) < 0 || syscall(SYS_move_mount, x->root_fd, "", AT_FDCWD, "root", H_MOVE_MOUNT_F_EMPTY_PATH) < 0)
			return fail(errno, "attach %s", c->bind);
	} else if (c->privileged ? setup_overlay(x) : overlay_root(x, userns_fd)) {
		return -1;
	}
	if (restore_dev(c) < 0)
		return -1;
	criu_argv(c, staging, argv, argbuf);
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	pid_t criu = fork();
	if (criu == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		// fd 3: the new console's secondary side, which replaces the dumped one.
		int tty = fcntl(console_peer(), F_DUPFD, 10);
		if (tty < 0 || dup2(tty, 3) < 0 || (c->restore_ctty && open_ctty(3) < 0))
			_exit(126);
		syscall(SYS_close_range, c->restore_ctty ? 5 : 4, ~0U, 0);
		execv(c->criu, argv);
		_exit(127);
	}
	if (criu < 0)
		return fail(errno, "fork criu");
	int status = 0;
	while (waitpid(criu, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return fail(0, "criu restore failed (exit %d): see restore.log in %s", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), c->restore_dir);
	_cleanup_free_ char *pidtext = NULL;
	_cleanup_close_ int pf = open("restored.pid", O_RDONLY | O_CLOEXEC);
	if (pf < 0 || !(pidtext = read_all(pf, NULL)))
		return fail(errno, "read the restored init's pid");
	*init = atoi(pidtext);
	// The tree is ours now (CRIU exited, the subreaper inherits it): waitpid proves it.
	if (*init <= 0 || waitpid(*init, &status, WNOHANG) != 0)
		return fail(ECHILD, "the restored init %s is not the monitor's child", pidtext);
	if ((*init_pidfd = syscall(SYS_pidfd_open, *init, 0)) < 0)
		return fail(errno, "pidfd_open %d", *init);
	// The container has its own copies of these mounts; the monitor needs none of them.
	if (chdir(c->rundir) < 0 || umount2(staging, MNT_DETACH) < 0)
		logf_("restore: detach %s: %s", staging, strerror(errno));
	return 0;
}
