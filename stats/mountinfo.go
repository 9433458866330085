package stats

import (
	"fmt"
	"io"
	"strings"
)

// mount is one line of /proc/self/mountinfo, reduced to what disk
// selection needs.
type mount struct {
	// point is the mount point, source the mounted device or other
	// source ("/dev/sda1", "none"), fstype the filesystem type; all
	// unescaped.
	point, source, fstype string
}

// parseMountinfo reads /proc/<pid>/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw
//
// Fields are separated by single spaces; the optional fields end at a
// lone "-", after which come the type, the source and the super block
// options. The kernel escapes space, tab, newline and backslash in paths
// as octal ("\040").
func parseMountinfo(r io.Reader) ([]mount, error) {
	lines, err := readLines(r)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	var mounts []mount
	for i, line := range lines {
		if line == "" {
			continue
		}
		// Split on single spaces: an empty source shows as two spaces
		// in a row, which strings.Fields would merge away.
		fields := strings.Split(line, " ")
		sep := -1
		for j := 6; j < len(fields); j++ {
			if fields[j] == "-" {
				sep = j
				break
			}
		}
		if sep < 0 || sep+2 >= len(fields) {
			return nil, malformed(i+1, "no separator, type and source", line)
		}
		mounts = append(mounts, mount{
			point:  unescapeOctal(fields[4]),
			fstype: unescapeOctal(fields[sep+1]),
			source: unescapeOctal(fields[sep+2]),
		})
	}
	return mounts, nil
}

// unescapeOctal replaces each backslash followed by three octal digits
// (a byte value, \000 to \377) with that byte, undoing the kernel's
// escapes; any other backslash stays.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] >= '0' && s[i+1] <= '3' && isOctal(s[i+2]) && isOctal(s[i+3]) {
			v := (s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0')
			b.WriteByte(v)
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isOctal reports whether c is an octal digit.
func isOctal(c byte) bool { return c >= '0' && c <= '7' }

// parseFilesystems reads /proc/filesystems and returns the filesystem
// types backed by a block device: those the kernel does not mark
// "nodev". Like psutil, it also counts zfs, which is marked nodev but
// holds real data.
func parseFilesystems(r io.Reader) (map[string]bool, error) {
	lines, err := readLines(r)
	if err != nil {
		return nil, fmt.Errorf("read filesystems: %w", err)
	}
	types := make(map[string]bool)
	for _, line := range lines {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 1:
			types[fields[0]] = true
		case len(fields) == 2 && fields[0] == "nodev" && fields[1] == "zfs":
			types["zfs"] = true
		}
	}
	return types, nil
}
