// Package spec builds the OCI runtime spec of a Backend.AI kernel: what
// upstream's Docker container config holds (process, hostname, namespaces,
// mounts, capabilities, seccomp, rlimits, masked paths, cgroup resources),
// written for runc's libcontainer, which converts it with specconv.
//
// Build is pure: it validates its Input, touches no file and returns a new
// spec each time. DefaultCapabilities and DefaultSeccomp give the security
// defaults it applies, for callers that want to inspect or extend them.
package spec
