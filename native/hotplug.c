// Devices of a running container, named by a pidfd of its init (target.c).
//
//   lxd-helper device --pidfd N add PATH c|b MAJOR MINOR UID GID MODE   (UID, GID: host ids)
//   lxd-helper device --pidfd N remove PATH
//     unix-char and unix-block nodes. Stays host root (container root may not create device
//     nodes) but joins only the container's mount namespace and root, so every path resolves
//     inside the container. Nodes live on the container's /dev tmpfs; symlinks are never followed
//     for the node itself. Prints "ok" or "error MESSAGE".
//
//   lxd-helper mount --pidfd N SOURCE /PATH ro|rw
//   lxd-helper umount --pidfd N /PATH
//     disk devices. A host path (a directory or a storage volume) is cloned as a detached tree in
//     the host's mount namespace, idmapped to the container's user namespace (files owned by host
//     root appear owned by container root, nothing is chowned), then attached at PATH from inside
//     the container's mount namespace as container root, who also creates the mount point.
//     Prints "ok" or "error ERRNO MESSAGE" (as `file`).
#include "helper.h"
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

int report_file_error(void);

static int device_add(const char *path, char **a)
{
	if (strcmp(a[0], "c") && strcmp(a[0], "b"))
		return fail(0, "bad device type %s", a[0]);
	mode_t type = !strcmp(a[0], "c") ? S_IFCHR : S_IFBLK;
	long major = parse_long(a[1], 10, 0, 0xfff), minor = parse_long(a[2], 10, 0, 0xfffff);
	long uid = parse_long(a[3], 10, 0, UINT32_MAX - 1), gid = parse_long(a[4], 10, 0, UINT32_MAX - 1);
	long mode = parse_long(a[5], 8, 0, 07777);
	if (major < 0 || minor < 0 || uid < 0 || gid < 0 || mode < 0)
		return fail(0, "bad device numbers, owner or mode");
	// Missing parents, as root-owned directories.
	char dir[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + 5; (p = strchr(p, '/')); p++) {
		*p = 0;
		if (ensure_dir(dir, 0755) < 0)
			return fail(errno, "mkdir %s", dir);
		*p = '/';
	}
	// An existing node of the same kind is replaced (a restart of the device), anything else kept.
	struct stat st;
	if (lstat(path, &st) == 0 && ((st.st_mode & S_IFMT) != type || unlink(path) < 0))
		return fail(0, "%s already exists", path);
	if (mknod(path, type | mode, makedev(major, minor)) < 0)
		return fail(errno, "mknod %s", path);
	if (lchown(path, uid, gid) < 0)
		return fail(errno, "chown %s", path);
	return 0;
}

static int device_run(int argc, char **argv)
{
	if (argc < 6 || strcmp(argv[2], "--pidfd"))
		return fail(0, "usage: lxd-helper device --pidfd N add|remove PATH ...");
	const char *op = argv[4], *path = argv[5];
	if (strncmp(path, "/dev/", 5) || strstr(path, "/../") || strstr(path, "/./"))
		return fail(0, "device path %s must be under /dev", path);
	int pidfd = target_pidfd(argv[3]);
	if (pidfd < 0 || target_enter(pidfd, CLONE_NEWNS) < 0)
		return -1;
	umask(0);
	struct stat st;
	if (!strcmp(op, "remove") && argc == 6) {
		if (lstat(path, &st) == 0 && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)) && unlink(path) < 0)
			return fail(errno, "remove %s", path);
		return 0;
	}
	if (strcmp(op, "add") || argc != 12)
		return fail(0, "bad device operation");
	return device_add(path, argv + 6);
}

int cmd_device(int argc, char **argv)
{
	prctl(PR_SET_DUMPABLE, 0);
	if (device_run(argc, argv) < 0) {
		printf("error %s\n", herr.msg);
		return 1;
	}
	printf("ok\n");
	return 0;
}

static int mount_run(int argc, char **argv)
{
	if (argc != 7 || strcmp(argv[2], "--pidfd") || argv[5][0] != '/')
		return failx(EINVAL, "usage: lxd-helper mount --pidfd N SOURCE /PATH ro|rw");
	const char *source = argv[4];
	int pidfd = target_pidfd(argv[3]);
	if (pidfd < 0)
		return -1;
	struct stat st;
	if (stat(source, &st) < 0)
		return fail(errno, "source %s", source);
	_cleanup_close_ int tree = clone_tree(source);
	if (tree < 0)
		return fail(errno, "open_tree %s", source);
	// Privileged containers (the host's user namespace) need no idmapping, only the read-only flag.
	int host = target_same_userns(pidfd);
	_cleanup_close_ int userns = host ? -1 : target_open(pidfd, "ns/user", O_RDONLY);
	if (host < 0 || (!host && userns < 0))
		return -1;
	if (idmap_tree(tree, userns, !strcmp(argv[6], "ro")) < 0)
		return fail(errno, "idmap %s (the filesystem may not support idmapped mounts)", source);
	if (target_enter(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0 || become_root() < 0)
		return -1;
	umask(022);
	char *target = argv[5];
	if (make_mountpoint(target, S_ISDIR(st.st_mode)) < 0)
		return fail(errno, "create mount point %s", target);
	if (syscall(SYS_move_mount, tree, "", AT_FDCWD, target, H_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return fail(errno, "attach at %s", target);
	return 0;
}

int cmd_mount(int argc, char **argv)
{
	prctl(PR_SET_DUMPABLE, 0);
	if (mount_run(argc, argv) < 0)
		return report_file_error();
	return write_all(1, "ok\n", 3) < 0;
}

static int umount_run(int argc, char **argv)
{
	if (argc != 5 || strcmp(argv[2], "--pidfd") || argv[4][0] != '/')
		return failx(EINVAL, "usage: lxd-helper umount --pidfd N /PATH");
	int pidfd = target_pidfd(argv[3]);
	if (pidfd < 0 || target_enter(pidfd, CLONE_NEWUSER | CLONE_NEWNS) < 0 || become_root() < 0)
		return -1;
	if (umount2(argv[4], MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
		return fail(errno, "unmount %s", argv[4]);
	return 0;
}

int cmd_umount(int argc, char **argv)
{
	prctl(PR_SET_DUMPABLE, 0);
	if (umount_run(argc, argv) < 0)
		return report_file_error();
	return write_all(1, "ok\n", 3) < 0;
}
