package gpu

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The ld cache (/etc/ld.so.cache) as glibc's ldconfig writes it
// (elf/cache.c, sysdeps/generic/dl-cache.h). Since glibc 2.32 ldconfig
// writes only the "new" format; older ones wrote the "old" libc5 format
// with the new one hidden in its string table. Both are read; only
// little-endian caches are accepted, since the agent runs on x86-64.
const (
	ldCacheMagicOld = "ld.so-1.7.0"
	ldCacheMagicNew = "glibc-ld.so.cache1.1"

	// Old format: magic, padded to 12, then nlibs; entries are
	// {flags int32, key, value uint32}.
	ldCacheOldHeaderSize = 16
	ldCacheOldEntrySize  = 12
	// New format: magic+version (20), nlibs, len_strings, flags byte,
	// 3 padding, extension_offset, 3 unused words; entries add
	// osversion uint32 and hwcap uint64 to the old ones.
	ldCacheNewHeaderSize = 48
	ldCacheNewEntrySize  = 24

	// Header flags byte of the new format, low two bits: the endianness.
	ldCacheEndianMask   = 3
	ldCacheEndianUnset  = 0
	ldCacheEndianLittle = 2

	// Entry flags: the low byte is the library type, the high byte the
	// ABI the library requires. x86-64 libraries are libc6 ELF with the
	// x86-64 requirement; 32-bit i386 ones have no requirement bits, and
	// x32 ones have their own.
	ldFlagTypeMask     = 0x00ff
	ldFlagRequiredMask = 0xff00
	ldFlagELFLibc6     = 0x0003
	ldFlagX8664Lib64   = 0x0300
)

// LDCacheEntry is one entry of the ld cache.
type LDCacheEntry struct {
	// Key is the name the loader looks up: the library's SONAME
	// ("libcuda.so.1") or a development link name ("libcuda.so").
	Key string
	// Path is the file the loader opens, as ldconfig recorded it: usually
	// the SONAME link, not the versioned file behind it.
	Path string
	// Flags tell the library's type and ABI; see X8664.
	Flags int32
}

// X8664 reports whether the entry is a 64-bit x86-64 glibc library. Only
// those are bound into kernels: the agent runs x86-64 images, and 32-bit
// (compat32) libraries are not offered.
func (e LDCacheEntry) X8664() bool {
	return e.Flags&ldFlagTypeMask == ldFlagELFLibc6 && e.Flags&ldFlagRequiredMask == ldFlagX8664Lib64
}

// ParseLDCache decodes an ld cache file's bytes into its entries, in file
// order (ldconfig's order, which is the loader's preference order for a
// key that appears more than once).
func ParseLDCache(data []byte) ([]LDCacheEntry, error) {
	if bytes.HasPrefix(data, []byte(ldCacheMagicNew)) {
		return parseLDCacheNew(data, 0)
	}
	if !bytes.HasPrefix(data, []byte(ldCacheMagicOld)) {
		return nil, errors.New("ld cache: unknown format")
	}
	if len(data) < ldCacheOldHeaderSize {
		return nil, errors.New("ld cache: truncated old header")
	}
	n := int(binary.LittleEndian.Uint32(data[12:16]))
	end := ldCacheOldHeaderSize + n*ldCacheOldEntrySize
	if n < 0 || end > len(data) || end < ldCacheOldHeaderSize {
		return nil, fmt.Errorf("ld cache: %d old entries overrun the file", n)
	}
	// A compat cache carries the new format right after the old entries,
	// aligned to 8; prefer it, as the loader does.
	if newAt := (end + 7) &^ 7; newAt < len(data) && bytes.HasPrefix(data[newAt:], []byte(ldCacheMagicNew)) {
		return parseLDCacheNew(data, newAt)
	}
	// Old format only: string offsets count from the end of the entries.
	entries := make([]LDCacheEntry, 0, n)
	for i := range n {
		e := data[ldCacheOldHeaderSize+i*ldCacheOldEntrySize:]
		key, err := ldCacheString(data, end, binary.LittleEndian.Uint32(e[4:8]))
		if err != nil {
			return nil, fmt.Errorf("ld cache: old entry %d key: %w", i, err)
		}
		val, err := ldCacheString(data, end, binary.LittleEndian.Uint32(e[8:12]))
		if err != nil {
			return nil, fmt.Errorf("ld cache: old entry %d value: %w", i, err)
		}
		entries = append(entries, LDCacheEntry{Key: key, Path: val, Flags: int32(binary.LittleEndian.Uint32(e[0:4]))})
	}
	return entries, nil
}

// parseLDCacheNew decodes the new format starting at base. Its string
// offsets count from base.
func parseLDCacheNew(data []byte, base int) ([]LDCacheEntry, error) {
	h := data[base:]
	if len(h) < ldCacheNewHeaderSize {
		return nil, errors.New("ld cache: truncated header")
	}
	switch h[28] & ldCacheEndianMask {
	case ldCacheEndianUnset, ldCacheEndianLittle:
	default:
		return nil, errors.New("ld cache: not a little-endian cache")
	}
	n := int(binary.LittleEndian.Uint32(h[20:24]))
	if n < 0 || n > (len(h)-ldCacheNewHeaderSize)/ldCacheNewEntrySize {
		return nil, fmt.Errorf("ld cache: %d entries overrun the file", n)
	}
	entries := make([]LDCacheEntry, 0, n)
	for i := range n {
		e := h[ldCacheNewHeaderSize+i*ldCacheNewEntrySize:]
		key, err := ldCacheString(data, base, binary.LittleEndian.Uint32(e[4:8]))
		if err != nil {
			return nil, fmt.Errorf("ld cache: entry %d key: %w", i, err)
		}
		val, err := ldCacheString(data, base, binary.LittleEndian.Uint32(e[8:12]))
		if err != nil {
			return nil, fmt.Errorf("ld cache: entry %d value: %w", i, err)
		}
		entries = append(entries, LDCacheEntry{Key: key, Path: val, Flags: int32(binary.LittleEndian.Uint32(e[0:4]))})
	}
	return entries, nil
}

// ldCacheString returns the NUL-terminated string at base+off.
func ldCacheString(data []byte, base int, off uint32) (string, error) {
	start := uint64(base) + uint64(off)
	if start >= uint64(len(data)) {
		return "", fmt.Errorf("string offset %d out of range", off)
	}
	s := data[start:]
	end := bytes.IndexByte(s, 0)
	if end < 0 {
		return "", fmt.Errorf("string at offset %d not terminated", off)
	}
	return string(s[:end]), nil
}

// LookupLDCache returns the real file the loader would open for the
// library key (e.g. "libnvidia-ml.so.1") from the ld cache at path: the
// first x86-64 entry's path with its symlinks resolved; ok is false when
// no entry's file exists. Only that key's entries are resolved (the whole
// cache, a few hundred symlinks, costs ~25 ms).
func LookupLDCache(path, key string) (resolved string, ok bool, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", false, fmt.Errorf("read ld cache: %w", err)
	}
	entries, err := ParseLDCache(data)
	if err != nil {
		return "", false, fmt.Errorf("%s: %w", path, err)
	}
	for _, e := range entries {
		if e.Key != key || !e.X8664() {
			continue
		}
		if r, err := filepath.EvalSymlinks(e.Path); err == nil {
			return r, true, nil
		}
	}
	return "", false, nil
}

// DriverLibrary is one user-space library of the host's NVIDIA driver.
type DriverLibrary struct {
	// Name is the file name, ending in the driver version:
	// "libcuda.so.550.54.15".
	Name string
	// Path is the host path of the real file (symlinks resolved).
	Path string
	// SONAME is the name programs link against ("libcuda.so.1"): the
	// ELF DT_SONAME, or, for a file that is not ELF, the name up to its
	// first version number ("libcuda.so.550").
	SONAME string
	// Capability is the NVIDIA_DRIVER_CAPABILITIES group that brings the
	// library in: utility, compute, video, graphics or ngx.
	Capability string
}

// driverLibraryGroups maps library stems (the file name before ".so.") to
// their capability group, as libnvidia-container groups them
// (src/nvc_info.c). A stem ending in "*" matches by prefix.
var driverLibraryGroups = [...]struct{ stem, capability string }{
	{"libnvidia-ml", CapUtility},
	{"libnvidia-cfg", CapUtility},
	{"libnvidia-nscq", CapUtility},

	{"libcuda", CapCompute},
	{"libcudadebugger", CapCompute},
	{"libnvidia-ptxjitcompiler", CapCompute},
	{"libnvidia-nvvm", CapCompute},
	{"libnvidia-gpucomp", CapCompute},
	{"libnvidia-allocator", CapCompute},
	{"libnvidia-opencl", CapCompute},
	{"libnvidia-pkcs11*", CapCompute},

	{"libnvcuvid", CapVideo},
	{"libnvidia-encode", CapVideo},
	{"libnvidia-opticalflow", CapVideo},
	{"libvdpau_nvidia", CapVideo},

	{"libnvidia-glcore", CapGraphics},
	{"libnvidia-tls", CapGraphics},
	{"libnvidia-glsi", CapGraphics},
	{"libnvidia-rtcore", CapGraphics},
	{"libnvoptix", CapGraphics},
	{"libGLX_nvidia", CapGraphics},
	{"libEGL_nvidia", CapGraphics},
	{"libGLESv2_nvidia", CapGraphics},
	{"libGLESv1_CM_nvidia", CapGraphics},
	{"libnvidia-eglcore", CapGraphics},
	{"libnvidia-fbc", CapGraphics},
	{"libnvidia-glvkspirv", CapGraphics},
	{"libnvidia-vulkan-producer", CapGraphics},

	{"libnvidia-ngx", CapNGX},
}

// driverLibraryCapability returns the capability group of a library file
// name if it is a driver library of the given version: its name must be
// "<stem>.so.<version>" exactly (libnvidia-container's rule), which keeps
// out leftovers of other driver versions and libraries not of the driver.
func driverLibraryCapability(name, version string) (string, bool) {
	stem, ok := strings.CutSuffix(name, ".so."+version)
	if !ok {
		return "", false
	}
	return stemCapability(stem)
}

// stemCapability returns the capability group of a library stem.
func stemCapability(stem string) (string, bool) {
	if stem == "" {
		return "", false
	}
	for _, g := range driverLibraryGroups {
		if p, ok := strings.CutSuffix(g.stem, "*"); ok {
			if strings.HasPrefix(stem, p) {
				return g.capability, true
			}
		} else if stem == g.stem {
			return g.capability, true
		}
	}
	return "", false
}

// FindDriverLibraries returns the host's libraries of driver version,
// sorted by name: those the ld cache at ldcache names (every x86-64 entry,
// not only each key's first, so that a stale library of another version
// shadowing the current one does not hide it), then those found in
// libDirs, directories outside the ld cache where some hosts keep the
// driver (/usr/local/nvidia/lib64). A file found twice is listed once; of
// two files with the same name, the first found wins (the ld cache first).
//
// An empty ldcache, or a missing cache file (hosts such as NixOS have
// none), means libDirs only. Missing libDirs are skipped.
func FindDriverLibraries(ldcache string, libDirs []string, version string) ([]DriverLibrary, error) {
	if version == "" {
		return nil, errors.New("find driver libraries: no driver version")
	}
	seenPath := make(map[string]bool) // real paths already looked at
	seenName := make(map[string]bool) // file names already listed
	var libs []DriverLibrary
	add := func(path string) {
		resolved, err := filepath.EvalSymlinks(path)
		if err != nil || seenPath[resolved] {
			return
		}
		seenPath[resolved] = true
		name := filepath.Base(resolved)
		capability, ok := driverLibraryCapability(name, version)
		if !ok || seenName[name] {
			return
		}
		fi, err := os.Stat(resolved)
		if err != nil || !fi.Mode().IsRegular() {
			return
		}
		soname, ok := readSONAME(resolved)
		if !ok {
			return
		}
		seenName[name] = true
		libs = append(libs, DriverLibrary{Name: name, Path: resolved, SONAME: soname, Capability: capability})
	}

	if ldcache != "" {
		data, err := os.ReadFile(ldcache)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("read ld cache: %w", err)
		default:
			entries, err := ParseLDCache(data)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ldcache, err)
			}
			for _, e := range entries {
				// The key ("libcuda.so.1") tells the stem: resolving only
				// the driver's entries keeps a host cache of thousands of
				// libraries cheap.
				stem, _, _ := strings.Cut(e.Key, ".so")
				if _, ok := stemCapability(stem); ok && e.X8664() {
					add(e.Path)
				}
			}
		}
	}
	for _, dir := range libDirs {
		ents, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scan driver library dir: %w", err)
		}
		for _, de := range ents {
			// Cheap name check first: a library dir may hold hundreds of
			// files, and only the driver's are opened.
			if _, ok := driverLibraryCapability(de.Name(), version); ok {
				add(filepath.Join(dir, de.Name()))
			}
		}
	}
	slices.SortFunc(libs, func(a, b DriverLibrary) int { return strings.Compare(a.Name, b.Name) })
	return libs, nil
}

// readSONAME returns a library's SONAME. ok is false for an ELF file that
// is not an x86-64 shared object: directories outside the ld cache mix
// 64-bit and 32-bit builds (/usr/local/nvidia/lib holds the i386 ones).
// A file that is not ELF at all (a stand-in in tests) gets the name up to
// its first version number.
func readSONAME(path string) (string, bool) {
	f, err := elf.Open(path)
	if err != nil {
		return fallbackSONAME(filepath.Base(path)), true
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return "", false
	}
	if names, err := f.DynString(elf.DT_SONAME); err == nil && len(names) > 0 && names[0] != "" {
		return names[0], true
	}
	return fallbackSONAME(filepath.Base(path)), true
}

// fallbackSONAME cuts "libfoo.so.550.54.15" to "libfoo.so.550".
func fallbackSONAME(name string) string {
	i := strings.Index(name, ".so.")
	if i < 0 {
		return name
	}
	rest := name[i+len(".so."):]
	if j := strings.IndexByte(rest, '.'); j >= 0 {
		rest = rest[:j]
	}
	return name[:i] + ".so." + rest
}
