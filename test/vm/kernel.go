package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// EnvCacheDir names the environment variable that overrides
// [DefaultCacheDirPath] as the kernel cache.
const EnvCacheDir = "AGENT_VM_CACHE"

// DefaultCacheDirPath is the kernel cache when EnvCacheDir is not set.
const DefaultCacheDirPath = "/var/cache/backendai-agent-test/vm"

// KernelMetaPackage is the Debian package whose first dependency is the
// current kernel image package.
const KernelMetaPackage = "linux-image-amd64"

// Names inside a cached kernel entry, cacheDir/<package>/.
const (
	vmlinuxName = "vmlinux"
	modulesName = "modules"
	tmpPrefix   = ".tmp-"
)

// DefaultCacheDir returns the kernel cache directory: $AGENT_VM_CACHE, or
// DefaultCacheDirPath.
func DefaultCacheDir() string {
	if d := os.Getenv(EnvCacheDir); d != "" {
		return d
	}
	return DefaultCacheDirPath
}

// Kernel returns an uncompressed, PVH-bootable vmlinux of the current Debian
// kernel package and the directory of its modules (lib/modules/<version>,
// so overlay.ko is at kernel/fs/overlayfs/overlay.ko under it).
//
// cacheDir "" means DefaultCacheDir(). Each kernel package gets its own
// entry cacheDir/<package>; a cached entry costs one apt-cache call. A new
// one is built under a temporary name and renamed into place at the end, so
// an interrupted attempt leaves nothing that looks complete; leftovers of
// such attempts are removed after an hour. When a new entry is complete,
// the entries of older kernel packages are deleted. Building an entry needs
// root, apt-get (the Debian mirrors) and dpkg; about 70 MB are downloaded
// and 400 MB are kept, most of it modules.
//
// When apt-cache cannot name the package (no package lists, no apt) or the
// package cannot be fetched (no mirror), the newest complete entry in the
// cache is used, with a warning, if there is one.
func Kernel(ctx context.Context, cacheDir string) (vmlinuxPath string, modulesDir string, err error) {
	if cacheDir == "" {
		cacheDir = DefaultCacheDir()
	}
	pkg, resolveErr := resolveKernelPackage(ctx)
	if resolveErr != nil {
		entry, ok := newestEntry(cacheDir)
		if !ok {
			return "", "", fmt.Errorf("find kernel package: %w", resolveErr)
		}
		slog.Warn("vm: cannot resolve the kernel package; using the cached one", "entry", entry, "err", resolveErr)
		return entryPaths(entry)
	}
	entry := filepath.Join(cacheDir, pkg)
	if _, err := os.Stat(filepath.Join(entry, vmlinuxName)); err == nil {
		return entryPaths(entry)
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", "", fmt.Errorf("create kernel cache: %w", err)
	}
	removeStaleAttempts(cacheDir, time.Hour)
	if err := buildEntry(ctx, cacheDir, pkg); err != nil {
		old, ok := newestEntry(cacheDir)
		if !ok || ctx.Err() != nil {
			return "", "", err
		}
		slog.Warn("vm: cannot fetch the current kernel package; using the cached one", "package", pkg, "entry", old, "err", err)
		return entryPaths(old)
	}
	pruneOtherEntries(cacheDir, pkg)
	return entryPaths(entry)
}

// entryPaths returns the vmlinux and modules dir of a complete entry.
func entryPaths(entry string) (string, string, error) {
	vmlinux := filepath.Join(entry, vmlinuxName)
	if _, err := os.Stat(vmlinux); err != nil {
		return "", "", fmt.Errorf("cached kernel: %w", err)
	}
	versions, err := os.ReadDir(filepath.Join(entry, modulesName))
	if err != nil {
		return "", "", fmt.Errorf("cached kernel modules: %w", err)
	}
	for _, v := range versions {
		if v.IsDir() {
			return vmlinux, filepath.Join(entry, modulesName, v.Name()), nil
		}
	}
	return "", "", fmt.Errorf("cached kernel modules: no version directory in %s", filepath.Join(entry, modulesName))
}

// resolveKernelPackage names the current kernel image package, running
// apt-get update once when apt-cache does not know the meta package.
func resolveKernelPackage(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", KernelMetaPackage).Output()
	if err == nil {
		if pkg, ok := parseFirstDepends(string(out)); ok {
			return pkg, nil
		}
	}
	slog.Info("vm: apt-cache does not know the kernel package; running apt-get update", "package", KernelMetaPackage)
	if out, err := exec.CommandContext(ctx, "apt-get", "update", "-q").CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get update: %w: %s", err, tail(out, 2000))
	}
	out, err = exec.CommandContext(ctx, "apt-cache", "depends", KernelMetaPackage).Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends %s: %w", KernelMetaPackage, err)
	}
	pkg, ok := parseFirstDepends(string(out))
	if !ok {
		return "", fmt.Errorf("apt-cache depends %s names no dependency", KernelMetaPackage)
	}
	return pkg, nil
}

// parseFirstDepends returns the first real package of a "Depends:" line
// of `apt-cache depends` output.
func parseFirstDepends(out string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimLeft(strings.TrimSpace(sc.Text()), "|")
		rest, ok := strings.CutPrefix(line, "Depends:")
		if !ok {
			continue
		}
		pkg := strings.TrimSpace(rest)
		if pkg == "" || strings.HasPrefix(pkg, "<") {
			continue
		}
		return pkg, true
	}
	return "", false
}

// buildEntry downloads and unpacks pkg into cacheDir/<pkg>.
func buildEntry(ctx context.Context, cacheDir, pkg string) (err error) {
	tmp, err := os.MkdirTemp(cacheDir, tmpPrefix+pkg+"-")
	if err != nil {
		return fmt.Errorf("create kernel temp dir: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("remove kernel temp dir: %w", rmErr)
		}
	}()
	slog.Info("vm: downloading kernel package", "package", pkg, "dir", tmp)
	dl := exec.CommandContext(ctx, "apt-get", "download", "-q", pkg)
	dl.Dir = tmp
	if out, err := dl.CombinedOutput(); err != nil {
		return fmt.Errorf("download kernel package %s: %w: %s", pkg, err, tail(out, 2000))
	}
	debs, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if err != nil || len(debs) != 1 {
		return fmt.Errorf("download kernel package %s: want one .deb in %s, found %d", pkg, tmp, len(debs))
	}
	root := filepath.Join(tmp, "root")
	if out, err := exec.CommandContext(ctx, "dpkg", "-x", debs[0], root).CombinedOutput(); err != nil {
		return fmt.Errorf("unpack kernel package: %w: %s", err, tail(out, 2000))
	}
	if err := os.Remove(debs[0]); err != nil {
		return fmt.Errorf("remove kernel package file: %w", err)
	}
	images, err := filepath.Glob(filepath.Join(root, "boot", "vmlinuz-*"))
	if err != nil || len(images) != 1 {
		return fmt.Errorf("kernel package %s: want one boot/vmlinuz-*, found %d", pkg, len(images))
	}
	if err := ExtractVmlinuxFile(ctx, images[0], filepath.Join(tmp, vmlinuxName)); err != nil {
		return err
	}
	modules := filepath.Join(root, "lib", "modules")
	if _, err := os.Stat(modules); err != nil {
		modules = filepath.Join(root, "usr", "lib", "modules")
	}
	if err := os.Rename(modules, filepath.Join(tmp, modulesName)); err != nil {
		return fmt.Errorf("keep kernel modules: %w", err)
	}
	if err := os.RemoveAll(root); err != nil {
		return fmt.Errorf("remove unpacked kernel package: %w", err)
	}
	// Readable by all: only building an entry needs root.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return fmt.Errorf("kernel cache entry: %w", err)
	}
	final := filepath.Join(cacheDir, pkg)
	if err := os.Rename(tmp, final); err != nil {
		if _, statErr := os.Stat(filepath.Join(final, vmlinuxName)); statErr == nil {
			return nil // a concurrent run finished first
		}
		return fmt.Errorf("move kernel into the cache: %w", err)
	}
	slog.Info("vm: kernel cached", "entry", final)
	return nil
}

// removeStaleAttempts deletes temporary entries older than age.
func removeStaleAttempts(cacheDir string, age time.Duration) {
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < age {
			continue
		}
		p := filepath.Join(cacheDir, e.Name())
		if err := os.RemoveAll(p); err != nil {
			slog.Warn("vm: cannot remove a stale kernel download", "path", p, "err", err)
		}
	}
}

// completeEntries lists the complete kernel entries of the cache, sorted
// by name.
func completeEntries(cacheDir string) []string {
	ents, err := os.ReadDir(cacheDir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		p := filepath.Join(cacheDir, e.Name())
		if _, err := os.Stat(filepath.Join(p, vmlinuxName)); err == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// newestEntry returns the most recently built complete entry.
func newestEntry(cacheDir string) (string, bool) {
	var best string
	var bestTime time.Time
	for _, p := range completeEntries(cacheDir) {
		info, err := os.Stat(filepath.Join(p, vmlinuxName))
		if err != nil {
			continue
		}
		if best == "" || info.ModTime().After(bestTime) {
			best, bestTime = p, info.ModTime()
		}
	}
	return best, best != ""
}

// pruneOtherEntries deletes the complete entries of kernel packages other
// than keep, so that the cache holds one kernel.
func pruneOtherEntries(cacheDir, keep string) {
	for _, p := range completeEntries(cacheDir) {
		if filepath.Base(p) == keep || !strings.HasPrefix(filepath.Base(p), "linux-image-") {
			continue
		}
		// Rename first, so that a half-deleted entry never looks complete.
		doomed := filepath.Join(cacheDir, tmpPrefix+"old-"+filepath.Base(p))
		if err := os.Rename(p, doomed); err != nil {
			slog.Warn("vm: cannot remove an old kernel", "entry", p, "err", err)
			continue
		}
		if err := os.RemoveAll(doomed); err != nil && !errors.Is(err, fs.ErrNotExist) {
			slog.Warn("vm: cannot remove an old kernel", "entry", doomed, "err", err)
		}
	}
}

// tail returns the last n bytes of b as a string, for error messages.
func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
