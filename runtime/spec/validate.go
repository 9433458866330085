package spec

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
)

// maxIDLen bounds KernelID, which is also the default hostname (at most
// 64 bytes in Linux).
const maxIDLen = 64

// invalid is the error of a bad field of Input.
func invalid(field, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", field, fmt.Sprintf(format, args...), ErrInvalidInput)
}

// validate checks in and fills its defaults; paths are cleaned. in.Mounts
// is replaced by a copy, so the caller's slice is left alone.
func validate(in *Input) error {
	if err := checkName(in.KernelID, true); err != nil {
		return invalid("KernelID", "%q: %s", in.KernelID, err)
	}
	if in.Hostname == "" {
		in.Hostname = in.KernelID
	} else if err := checkName(in.Hostname, false); err != nil {
		return invalid("Hostname", "%q: %s", in.Hostname, err)
	}
	if in.Rootfs == "" {
		return invalid("Rootfs", "required")
	}
	if in.Cwd == "" {
		in.Cwd = DefaultCwd
	}
	for _, f := range []struct {
		name string
		p    *string
	}{
		{"Rootfs", &in.Rootfs},
		{"Cwd", &in.Cwd},
		{"WorkDir", &in.WorkDir},
		{"ConfigDir", &in.ConfigDir},
		{"EtcHosts", &in.EtcHosts},
		{"EtcHostname", &in.EtcHostname},
		{"EtcResolv", &in.EtcResolv},
		{"Localtime", &in.Localtime},
		{"InitPath", &in.InitPath},
		{"StatusDir", &in.StatusDir},
		{"NetNSPath", &in.NetNSPath},
	} {
		if *f.p == "" {
			continue
		}
		clean, err := absPath(*f.p)
		if err != nil {
			return invalid(f.name, "%q: %s", *f.p, err)
		}
		*f.p = clean
	}
	if in.InitPath != "" && in.StatusDir == "" {
		return invalid("StatusDir", "required when InitPath is set")
	}
	if in.HostNetwork && in.NetNSPath != "" {
		return invalid("NetNSPath", "must be empty with HostNetwork")
	}

	if in.CgroupsPath == "" {
		return invalid("CgroupsPath", "required")
	}
	clean, err := absPath(in.CgroupsPath)
	if err != nil {
		return invalid("CgroupsPath", "%q: %s", in.CgroupsPath, err)
	}
	if clean == "/" {
		return invalid("CgroupsPath", "the root cgroup")
	}
	in.CgroupsPath = clean

	if err := validateMounts(in); err != nil {
		return err
	}
	return validateResources(in)
}

// validateMounts checks in.Mounts: absolute paths without "..", targets
// neither on the kernel filesystems nor hiding or repeating another mount.
func validateMounts(in *Input) error {
	in.Mounts = slices.Clone(in.Mounts)
	var intrinsic []string
	for _, m := range intrinsicMounts(*in) {
		intrinsic = append(intrinsic, m.Destination)
	}
	seen := map[string]int{}
	for i := range in.Mounts {
		m := &in.Mounts[i]
		field := fmt.Sprintf("Mounts[%d]", i)
		if m.Source == "" {
			return invalid(field+".Source", "required")
		}
		src, err := absPath(m.Source)
		if err != nil {
			return invalid(field+".Source", "%q: %s", m.Source, err)
		}
		if m.Target == "" {
			return invalid(field+".Target", "required")
		}
		dst, err := absPath(m.Target)
		if err != nil {
			return invalid(field+".Target", "%q: %s", m.Target, err)
		}
		for _, fs := range []string{"/proc", "/sys", "/dev"} {
			if within(dst, fs) {
				return invalid(field+".Target", "%q is on %s", m.Target, fs)
			}
		}
		for _, t := range intrinsic {
			if t == dst {
				return invalid(field+".Target", "%q is already mounted by the agent", m.Target)
			}
			if within(t, dst) {
				return invalid(field+".Target", "%q would hide %s", m.Target, t)
			}
		}
		if j, ok := seen[dst]; ok {
			return invalid(field+".Target", "%q repeats Mounts[%d]", m.Target, j)
		}
		seen[dst] = i
		m.Source, m.Target = src, dst
	}
	return nil
}

// validateResources checks the shm size and cgroup limits.
func validateResources(in *Input) error {
	if in.ShmSize < 0 {
		return invalid("ShmSize", "negative (%d)", in.ShmSize)
	}
	for i, id := range in.CPUs {
		if id < 0 {
			return invalid("CPUs", "negative id %d", id)
		}
		if slices.Contains(in.CPUs[:i], id) {
			return invalid("CPUs", "id %d given twice", id)
		}
	}
	switch q := in.CPUQuota; {
	case math.IsNaN(q) || math.IsInf(q, 0) || q < 0:
		return invalid("CPUQuota", "%v is not a positive number of cores", q)
	case q > 0 && q < 0.01:
		return invalid("CPUQuota", "%v cores is below the minimum of 0.01", q)
	}
	if in.MemoryBytes < 0 {
		return invalid("MemoryBytes", "negative (%d)", in.MemoryBytes)
	}
	if in.PidsLimit < 0 {
		return invalid("PidsLimit", "negative (%d)", in.PidsLimit)
	}
	return nil
}

// absPath returns p cleaned, or why it is not an absolute path without
// ".." elements and NUL bytes.
func absPath(p string) (string, error) {
	switch {
	case !path.IsAbs(p):
		return "", errors.New("not absolute")
	case strings.IndexByte(p, 0) >= 0:
		return "", errors.New("contains a NUL byte")
	case slices.Contains(strings.Split(p, "/"), ".."):
		return "", errors.New("contains \"..\"")
	}
	return path.Clean(p), nil
}

// within says whether the clean absolute path p is dir or lies under it.
func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// checkName says why s is not a kernel ID (id) or hostname: 1 to 64 of
// [A-Za-z0-9_.-], an ID not starting with a dot, a hostname not starting
// or ending with a dot or hyphen.
func checkName(s string, id bool) error {
	switch {
	case s == "":
		return errors.New("empty")
	case len(s) > maxIDLen:
		return fmt.Errorf("longer than %d bytes", maxIDLen)
	case id && s[0] == '.':
		return errors.New("starts with a dot")
	case !id && (strings.ContainsAny(s[:1], ".-") || strings.ContainsAny(s[len(s)-1:], ".-")):
		return errors.New("starts or ends with a dot or hyphen")
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("has %q, outside [A-Za-z0-9_.-]", c)
		}
	}
	return nil
}
