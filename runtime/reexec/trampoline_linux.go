// Package reexec makes libcontainer's re-exec of the calling binary cheap.
//
// libcontainer starts a container by running the calling binary again as
// "<exe> init"; for the agent that would start its whole Go runtime and
// every package initializer of a large binary once per kernel. Importing
// this package (for its side effect, in the agent and in the test binaries
// that start containers) adds a C constructor that runs before nsenter's
// and, in that re-exec, execs backendai-container-init (nsenter and
// libcontainer.Init only) from the sealed memfd that the runtime passes as
// an extra descriptor (runtime.Options.ContainerInit, made by Seal). The
// constructor is the re-exec dispatch's first step, the only start-up side
// effect besides libcontainer's own (see docs/ARCHITECTURE.md).
package reexec

/*
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

// containerInitName is in the name of the sealed memfd that holds
// backendai-container-init (libcontainer's exeseal names it
// "runc_cloned:<name>").
static const char containerInitName[] = "backendai-container-init";

// bai_container_init_trampoline runs before nsenter's constructor (priority
// 101 comes before the default) in every start of the agent binary. In
// libcontainer's re-exec ("<exe> init", with its init pipe in the
// environment) it looks among the first descriptors for the sealed memfd
// of backendai-container-init that the runtime passed, and execs it: the
// agent's Go runtime and package initializers never run in the child.
// Anything unexpected returns, and the agent's own init path runs as
// before. The descriptor is made close-on-exec first, so that the kernel
// never inherits it.
__attribute__((constructor(101))) static void bai_container_init_trampoline(int argc, char **argv, char **envp) {
	if (argc < 2 || argv == NULL || strcmp(argv[1], "init") != 0 || getenv("_LIBCONTAINER_INITPIPE") == NULL)
		return;
	for (int fd = 3; fd < 32; fd++) {
		char path[64], target[256];
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n <= 0)
			continue;
		target[n] = '\0';
		if (strncmp(target, "/memfd:", 7) != 0 || strstr(target, containerInitName) == NULL)
			continue;
		if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
			return;
		syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH);
		return; // failed: the agent's own init path runs
	}
}
*/
import "C"
