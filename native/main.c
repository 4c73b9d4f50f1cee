// lxd-helper: the only code that makes namespace syscalls (Bun is multithreaded and must not).
//
//   lxd-helper start    config on stdin; launches a container and becomes its monitor (monitor.c)
//   lxd-helper exec     runs a command inside a running container (exec.c)
//   lxd-helper file     reads, writes or deletes one path inside a running container (file.c)
//   lxd-helper device   adds or removes a device node in a running container (hotplug.c)
//   lxd-helper mount    attaches a host path (idmapped) inside a running container; umount
//                       detaches it (hotplug.c)
//   lxd-helper proxy    forwards a proxy device's connections (lxd-proxy.c)
//
// Every command but start acts on a running container named by a pidfd of its init, passed as an
// inherited fd (`--pidfd N`, target.c). Single-threaded, glibc, linked statically. Newer kernel
// calls go through syscall(2) so the binary runs on hosts whose glibc predates their wrappers.
#include "helper.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*run)(int argc, char **argv);
	} commands[] = {
		{"exec", cmd_exec}, {"file", cmd_file}, {"device", cmd_device}, {"mount", cmd_mount},
		{"umount", cmd_umount}, {"proxy", cmd_proxy},
	};
	if (argc >= 2 && !strcmp(argv[1], "start"))
		return cmd_start();
	for (size_t i = 0; argc >= 2 && i < ARRAY_SIZE(commands); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc, argv);
	fprintf(stderr, "usage: lxd-helper start|exec|file|device|mount|umount|proxy ...\n");
	return 2;
}
