// `lxd-helper start`: the launch configuration, "key value" lines on stdin.
#include "start.h"
#include <stdio.h>
#include <string.h>

// "ro|rw<TAB>SOURCE<TAB>/PATH" -> c->mounts.
static int parse_launch_mount(struct config *c, char *val)
{
	if (c->nmounts >= MAX_LIST)
		return fail(0, "too many mounts");
	char *src = strchr(val, '\t');
	char *path = src ? strchr(src + 1, '\t') : NULL;
	if (!path)
		return fail(0, "mount needs ro|rw, SOURCE and PATH separated by tabs");
	*src++ = 0;
	*path++ = 0;
	if (path[0] != '/' || src[0] != '/')
		return fail(0, "mount SOURCE and PATH must be absolute");
	c->mounts[c->nmounts++] = (struct launch_mount){.source = src, .path = path, .ro = !strcmp(val, "ro"), .fd = -1};
	return 0;
}

// The host id that "NS HOST RANGE" lines map container id 0 to.
static int map_root(char **lines, int n, long *host)
{
	for (int i = 0; i < n; i++) {
		long ns, h, r;
		if (sscanf(lines[i], "%ld %ld %ld", &ns, &h, &r) == 3 && ns == 0 && r > 0) {
			*host = h;
			return 0;
		}
	}
	return fail(0, "uidmap and gidmap must map container id 0");
}

static int parse_line(struct config *c, const char *key, char *val, int *nargv)
{
	int full = 0;
	if (!strcmp(key, "name"))
		c->name = val;
	else if (!strcmp(key, "hostname"))
		c->hostname = val;
	else if (!strcmp(key, "rundir"))
		c->rundir = val;
	else if (!strcmp(key, "rootfs_bind"))
		c->bind = val;
	else if (!strcmp(key, "rootfs_layer"))
		full = add_item(c->layers, &c->nlayers, MAX_LIST, val);
	else if (!strcmp(key, "rootfs_overlay")) {
		c->lower = val;
		c->upper = strchr(val, ':');
		c->work = c->upper ? strchr(c->upper + 1, ':') : NULL;
		if (!c->work)
			return fail(0, "rootfs_overlay needs LOWER:UPPER:WORK");
		*c->upper++ = 0;
		*c->work++ = 0;
	} else if (!strcmp(key, "mount"))
		return parse_launch_mount(c, val);
	else if (!strcmp(key, "uidmap"))
		full = add_item(c->uidmap, &c->nuid, MAX_LIST, val);
	else if (!strcmp(key, "gidmap"))
		full = add_item(c->gidmap, &c->ngid, MAX_LIST, val);
	else if (!strcmp(key, "cgroup"))
		full = add_item(c->cgroups, &c->ncg, MAX_LIST, val);
	else if (!strcmp(key, "cgroup2"))
		c->cgroup2 = !strcmp(val, "1");
	else if (!strcmp(key, "privileged"))
		c->privileged = !strcmp(val, "1");
	else if (!strcmp(key, "nesting"))
		c->nesting = !strcmp(val, "1");
	else if (!strcmp(key, "criu"))
		c->criu = val;
	else if (!strcmp(key, "restore_dir"))
		c->restore_dir = val;
	else if (!strcmp(key, "restore_tty"))
		c->restore_tty = val;
	else if (!strcmp(key, "restore_ctty"))
		c->restore_ctty = val;
	else if (!strcmp(key, "criu_arg"))
		full = add_item(c->criu_args, &c->ncriu_args, MAX_LIST, val);
	else if (!strcmp(key, "lxcfs"))
		c->lxcfs = val;
	else if (!strcmp(key, "env"))
		full = add_item(c->env, &c->nenv, 256, val);
	else if (!strcmp(key, "seccomp"))
		return parse_bpf(val, &c->seccomp);
	else if (!strcmp(key, "init")) {
		for (char *save, *a = strtok_r(val, " ", &save); a; a = strtok_r(NULL, " ", &save))
			if (add_item(c->argv, nargv, MAX_LIST, a))
				return fail(0, "init: too many arguments");
	}
	return full ? fail(0, "too many %s entries", key) : 0;
}

int parse_config(char *text, struct config *c)
{
	memset(c, 0, sizeof(*c));
	int nargv = 0;
	for (char *save, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');
		if (!val)
			continue;
		*val++ = 0;
		if (parse_line(c, line, val, &nargv) < 0)
			return -1;
	}
	if (!c->name || !c->rundir || !c->argv[0])
		return fail(0, "name, rundir and init are required");
	if (!c->bind && !c->lower)
		return fail(0, "rootfs_overlay or rootfs_bind is required");
	if (c->privileged && (c->nuid || c->ngid))
		return fail(0, "a privileged container takes no uidmap or gidmap");
	if (!c->privileged && (!c->nuid || !c->ngid))
		return fail(0, "uidmap and gidmap are required");
	if (!c->privileged && (map_root(c->uidmap, c->nuid, &c->root_uid) < 0 || map_root(c->gidmap, c->ngid, &c->root_gid) < 0))
		return -1;
	if (c->restore_dir && (!c->criu || !c->restore_tty))
		return fail(0, "restore_dir needs criu and restore_tty");
	if (!c->hostname)
		c->hostname = c->name;
	return 0;
}
