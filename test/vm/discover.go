package vm

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
)

// Package is a package of the module that has VM-lane tests.
type Package struct {
	// ImportPath is the package's import path.
	ImportPath string
	// Dir is its source directory on the host.
	Dir string
	// RelDir is Dir relative to the module root, slash-separated ("." for
	// the root package).
	RelDir string
	// Tests are the names of its TestVM* tests (TestVMLane* excluded).
	Tests []string
}

// IsVMTestName reports whether a top-level function name is a VM-lane test
// that runs in the guest: it starts with TestVM, as testenv's gate and the
// lane's -test.run ^TestVM pattern have it, and is not a host-side
// TestVMLane test.
func IsVMTestName(name string) bool {
	return strings.HasPrefix(name, "TestVM") && !strings.HasPrefix(name, "TestVMLane")
}

// DiscoverVMPackages lists the packages under moduleRoot (`go list ./...`
// run there) whose _test.go files (internal or external) define TestVM*
// tests other than TestVMLane*. The order is go list's.
func DiscoverVMPackages(ctx context.Context, moduleRoot string) ([]Package, error) {
	const format = `{{.ImportPath}}{{"\t"}}{{.Dir}}{{"\t"}}{{join .TestGoFiles ","}}{{"\t"}}{{join .XTestGoFiles ","}}`
	cmd := goCommand(ctx, moduleRoot, nil, "list", "-f", format, "./...")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, tail(stderrOf(err), 2000))
	}
	var pkgs []Package
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		fields := strings.Split(sc.Text(), "\t")
		if len(fields) != 4 {
			return nil, fmt.Errorf("go list: unexpected line %q", sc.Text())
		}
		var files []string
		for _, list := range fields[2:] {
			for _, f := range strings.Split(list, ",") {
				if f != "" {
					files = append(files, filepath.Join(fields[1], f))
				}
			}
		}
		tests, err := ScanVMTests(files)
		if err != nil {
			return nil, err
		}
		if len(tests) == 0 {
			continue
		}
		rel, err := filepath.Rel(moduleRoot, fields[1])
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", fields[0], err)
		}
		pkgs = append(pkgs, Package{ImportPath: fields[0], Dir: fields[1], RelDir: filepath.ToSlash(rel), Tests: tests})
	}
	return pkgs, nil
}

// ScanVMTests parses Go test files and returns the names of the VM-lane
// tests they define: top-level functions without receiver named as
// IsVMTestName says, taking one parameter.
func ScanVMTests(files []string) ([]string, error) {
	var names []string
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			return nil, fmt.Errorf("parse %s: %w", f, err)
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !IsVMTestName(fn.Name.Name) {
				continue
			}
			if fn.Type.Params == nil || fn.Type.Params.NumFields() != 1 {
				continue
			}
			names = append(names, fn.Name.Name)
		}
	}
	return names, nil
}

// stderrOf returns the stderr captured in an *exec.ExitError, if any.
func stderrOf(err error) []byte {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.Stderr
	}
	return nil
}
