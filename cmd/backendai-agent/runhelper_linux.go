//go:build !slimrun

package main

/*
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// bai_run_helper runs before the Go runtime and every package initializer
// of this binary (constructor priority 102: after the container init's
// trampoline, 101, which it never competes with: that one acts on "init").
// For `backendai-agent run`, it execs backendai-agent-run, the same agent
// built with only what `run` needs (tag slimrun), when that lies next to
// this executable: the one-shot command then does not pay the server's
// package initializers. BACKENDAI_RUN_HELPER=off keeps `run` here. Any
// failure returns, and `run` runs here as before.
__attribute__((constructor(102))) static void bai_run_helper(int argc, char **argv, char **envp) {
	if (argc < 2 || argv == NULL || strcmp(argv[1], "run") != 0)
		return;
	const char *off = getenv("BACKENDAI_RUN_HELPER");
	if (off != NULL && strcmp(off, "off") == 0)
		return;
	static const char name[] = "backendai-agent-run";
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n <= 0)
		return;
	path[n] = '\0';
	char *slash = strrchr(path, '/');
	if (slash == NULL || (size_t)(slash + 1 - path) + sizeof name > sizeof path)
		return;
	memcpy(slash + 1, name, sizeof name);
	if (access(path, X_OK) != 0)
		return;
	execve(path, argv, envp);
}
*/
import "C"
