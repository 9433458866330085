package runner

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// The work account's defaults, as upstream's entrypoint has them.
const (
	WorkUserName   = "work"
	DefaultWorkUID = 9001
	DefaultWorkGID = 9001
)

// WorkUser is the account that user code runs as: upstream's "work" user,
// numbered by the agent through LOCAL_USER_ID, LOCAL_GROUP_ID and
// ADDITIONAL_GIDS. UID 0 is root mode: no account is made and nothing is
// dropped.
type WorkUser struct {
	UID, GID int
	// Groups are the supplementary groups (ADDITIONAL_GIDS).
	Groups []int
	// Home is the home directory (the work dir) and Shell the login shell
	// SetupAccounts picked.
	Home, Shell string
}

// Root reports whether user code runs as root (LOCAL_USER_ID=0).
func (u WorkUser) Root() bool { return u.UID == 0 }

// WorkUserFromEnv reads LOCAL_USER_ID and LOCAL_GROUP_ID (9001 when unset,
// as upstream) and ADDITIONAL_GIDS (comma-separated) through getenv.
func WorkUserFromEnv(getenv func(string) string, home string) (WorkUser, error) {
	u := WorkUser{UID: DefaultWorkUID, GID: DefaultWorkGID, Home: home, Shell: "/bin/sh"}
	id := func(key string, dst *int) error {
		v := strings.TrimSpace(getenv(key))
		if v == "" {
			return nil
		}
		n, err := strconv.ParseUint(v, 10, 31)
		if err != nil {
			return fmt.Errorf("runner: %s=%q is not a user or group id", key, v)
		}
		*dst = int(n)
		return nil
	}
	if err := id("LOCAL_USER_ID", &u.UID); err != nil {
		return u, err
	}
	if err := id("LOCAL_GROUP_ID", &u.GID); err != nil {
		return u, err
	}
	for _, f := range strings.Split(getenv("ADDITIONAL_GIDS"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.ParseUint(f, 10, 31)
		if err != nil {
			return u, fmt.Errorf("runner: ADDITIONAL_GIDS holds %q, not a group id", f)
		}
		if g := int(n); g != u.GID && !slices.Contains(u.Groups, g) {
			u.Groups = append(u.Groups, g)
		}
	}
	return u, nil
}

// SetupAccounts makes the work user and its groups known in root's
// /etc/passwd and /etc/group, editing the files directly as upstream's
// entrypoint does (no useradd in most images, and no recursive chown of
// the home): the group with GID keeps its name, or a group "work" is made
// or renumbered; a user "work" is made or renumbered with home u.Home and
// the first of bash, ash and sh in the image as its shell; the user
// becomes a member of each supplementary group, made as "work<gid>" when
// the image has none with that id. It sets u.Shell (also in root mode,
// which edits nothing else).
func SetupAccounts(root string, u *WorkUser) error {
	if u.Shell == "" {
		u.Shell = "/bin/sh"
	}
	for _, sh := range []string{"/bin/bash", "/bin/ash", "/bin/sh"} {
		if st, err := os.Stat(filepath.Join(root, sh)); err == nil && !st.IsDir() {
			u.Shell = sh
			break
		}
	}
	if u.Root() {
		return nil
	}
	groupPath := filepath.Join(root, "etc", "group")
	groups, err := readDB(groupPath)
	if err != nil {
		return err
	}
	// The primary group: one with GID already, else "work" made or
	// renumbered.
	if i := findDB(groups, 2, strconv.Itoa(u.GID)); i < 0 {
		if j := findDB(groups, 0, WorkUserName); j >= 0 {
			groups[j][2] = strconv.Itoa(u.GID)
		} else {
			groups = append(groups, []string{WorkUserName, "x", strconv.Itoa(u.GID), ""})
		}
	}
	for _, g := range u.Groups {
		i := findDB(groups, 2, strconv.Itoa(g))
		if i < 0 {
			groups = append(groups, []string{WorkUserName + strconv.Itoa(g), "x", strconv.Itoa(g), ""})
			i = len(groups) - 1
		}
		for len(groups[i]) < 4 {
			groups[i] = append(groups[i], "")
		}
		members := strings.FieldsFunc(groups[i][3], func(r rune) bool { return r == ',' })
		if !slices.Contains(members, WorkUserName) {
			groups[i][3] = strings.Join(append(members, WorkUserName), ",")
		}
	}
	if err := writeDB(groupPath, groups); err != nil {
		return err
	}

	passwdPath := filepath.Join(root, "etc", "passwd")
	users, err := readDB(passwdPath)
	if err != nil {
		return err
	}
	entry := []string{WorkUserName, "x", strconv.Itoa(u.UID), strconv.Itoa(u.GID), "User", u.Home, u.Shell}
	if i := findDB(users, 0, WorkUserName); i >= 0 {
		users[i] = entry
	} else {
		users = append(users, entry)
	}
	return writeDB(passwdPath, users)
}

// readDB reads a colon-separated account file; a missing one is empty.
func readDB(path string) ([][]string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("runner: accounts: %w", err)
	}
	var out [][]string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" {
			out = append(out, strings.Split(line, ":"))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("runner: accounts: read %s: %w", path, err)
	}
	return out, nil
}

// findDB returns the first entry whose field col is v, or -1.
func findDB(db [][]string, col int, v string) int {
	for i, e := range db {
		if len(e) > col && e[col] == v {
			return i
		}
	}
	return -1
}

// writeDB replaces path by the entries, through a file renamed over it.
func writeDB(path string, db [][]string) error {
	var b strings.Builder
	for _, e := range db {
		b.WriteString(strings.Join(e, ":"))
		b.WriteByte('\n')
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("runner: accounts: %w", err)
	}
	tmp := path + ".bai-krunner"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("runner: accounts: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("runner: accounts: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("runner: accounts: %w", err)
	}
	return nil
}

// OwnHome gives the work directory itself (not what is under it: vfolders
// there may hold millions of files) to the work user.
func OwnHome(u WorkUser) error {
	if u.Root() {
		return nil
	}
	if err := os.Lchown(u.Home, u.UID, u.GID); err != nil {
		return fmt.Errorf("runner: own %s: %w", u.Home, err)
	}
	return nil
}

// DropPrivileges makes the calling process (every thread) the work user
// with its groups; the capabilities go with root. Root mode keeps root.
func DropPrivileges(u WorkUser) error {
	if u.Root() {
		return nil
	}
	if err := syscall.Setgroups(append([]int{u.GID}, u.Groups...)); err != nil {
		return fmt.Errorf("runner: setgroups: %w", err)
	}
	if err := syscall.Setresgid(u.GID, u.GID, u.GID); err != nil {
		return fmt.Errorf("runner: setresgid %d: %w", u.GID, err)
	}
	if err := syscall.Setresuid(u.UID, u.UID, u.UID); err != nil {
		return fmt.Errorf("runner: setresuid %d: %w", u.UID, err)
	}
	return nil
}

// Env is what the user's processes see of the account: USER, LOGNAME,
// HOME and SHELL.
func (u WorkUser) Env() []string {
	name := WorkUserName
	if u.Root() {
		name = "root"
	}
	return []string{"USER=" + name, "LOGNAME=" + name, "HOME=" + u.Home, "SHELL=" + u.Shell}
}
