package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// rootsUser is who the root checks are made for: this process's user, or
// nobody when that is root (root may write anywhere).
func rootsUser(t *testing.T) *RootsUser {
	t.Helper()
	name := ""
	if os.Geteuid() == 0 {
		name = "nobody"
	}
	u, err := LookupRootsUser(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRootsWritable: LoadHostAs lists each root the service user cannot
// use, with the command that fixes it, among the file's other problems.
func TestRootsWritable(t *testing.T) {
	u := rootsUser(t)
	// A directory every user can reach (t.TempDir is 0700).
	dir, err := os.MkdirTemp("", "ra-roots-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mk := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Owned by this user, or by root when root runs the test (and the
	// checks are for nobody).
	ok := mk("ok", 0o777)
	ro := mk("ro", 0o555)
	closed := mk("closed", 0o600)
	if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	site := func(name, root string) string { return fmt.Sprintf("[[site]]\nname = %q\nroot = %q\n", name, root) }
	body := site("ok", ok) + // root on line 3
		site("new", filepath.Join(mk("okparent", 0o777), "new", "www")) + // 6: the daemon creates it
		site("ro", ro) + // 9
		site("ronew", filepath.Join(mk("roparent", 0o555), "www")) + // 12
		site("behind", filepath.Join(closed, "www")) + // 15
		site("file", filepath.Join(dir, "file")) + // 18
		"keep = 0\n" // 19
	path := filepath.Join(dir, "c.toml")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = LoadHostAs(path, u)
	if err == nil {
		t.Fatal("accepted")
	}
	fix := func(root string) string {
		return fmt.Sprintf("; fix: install -d -o %s -g %s %s (or the tmpfiles.d line: d %s 0755 %s %s -)", u.Name, u.Group, root, root, u.Name, u.Group)
	}
	want := []string{
		fmt.Sprintf(`%s:9: key "site[2].root": invalid value: %q is not writable by user %s (mode 0555, owner `, path, ro, u.Name),
		fmt.Sprintf(`%s:12: key "site[3].root": invalid value: %q does not exist and user %s cannot create it (%s is 0555, owner `, path, filepath.Join(dir, "roparent", "www"), u.Name, filepath.Join(dir, "roparent")),
		fmt.Sprintf(`%s:15: key "site[4].root": invalid value: %q cannot be reached by user %s (%s is 0600, owner `, path, filepath.Join(closed, "www"), u.Name, closed),
		fmt.Sprintf(`%s:18: key "site[5].root": invalid value: %q is not a directory`, path, filepath.Join(dir, "file")),
		fmt.Sprintf(`%s:19: key "site[5].keep": invalid value`, path),
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if i < len(lines) && !strings.HasPrefix(lines[i], w) {
			t.Errorf("problem %d:\n got %s\nwant %s...", i, lines[i], w)
		}
	}
	if !strings.HasSuffix(lines[0], fix(ro)) {
		t.Errorf("no fix in %q", lines[0])
	}
	if len(lines) > 1 && !strings.HasSuffix(lines[1], fix(filepath.Join(dir, "roparent", "www"))) {
		t.Errorf("no fix in %q", lines[1])
	}
	if len(lines) > 2 && !strings.HasSuffix(lines[2], "; fix: chmod a+x "+closed+" (or put the root elsewhere)") {
		t.Errorf("no fix in %q", lines[2])
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v is not ErrInvalid", err)
	}
	// Fixed as it says (for a user that may: the owner), it passes.
	if os.Geteuid() == 0 {
		for _, d := range []string{ro, closed, filepath.Join(dir, "roparent")} {
			if err := os.Chown(d, u.UID, u.GID); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, d := range []string{ro, closed, filepath.Join(dir, "roparent")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	body = site("ok", ok) + site("new", filepath.Join(dir, "okparent", "new", "www")) + site("ro", ro) +
		site("ronew", filepath.Join(dir, "roparent", "www")) + site("behind", filepath.Join(closed, "www"))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHostAs(path, u); err != nil {
		t.Errorf("after the fix: %v", err)
	}
	// Load and LoadHost do not look at the roots.
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadHost(path); err != nil && strings.Contains(err.Error(), "writable") {
		t.Errorf("LoadHost checked the roots: %v", err)
	}
}
