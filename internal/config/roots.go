package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
)

// RootsUser is the account whose rights LoadHostAs checks the site roots with.
type RootsUser struct {
	Name   string
	UID    int
	GID    int   // primary group
	Groups []int // every group, the primary one included
	Group  string
}

// LookupRootsUser returns the account named name ("" = the user running
// this process) for LoadHostAs.
func LookupRootsUser(name string) (*RootsUser, error) {
	var u *user.User
	var err error
	if name == "" {
		u, err = user.LookupId(strconv.Itoa(os.Getuid()))
	} else {
		u, err = user.Lookup(name)
	}
	if err != nil {
		return nil, err
	}
	r := &RootsUser{Name: u.Username}
	if r.UID, err = strconv.Atoi(u.Uid); err != nil {
		return nil, fmt.Errorf("user %s: uid %q: %w", u.Username, u.Uid, err)
	}
	if r.GID, err = strconv.Atoi(u.Gid); err != nil {
		return nil, fmt.Errorf("user %s: gid %q: %w", u.Username, u.Gid, err)
	}
	r.Group = u.Gid
	if g, err := user.LookupGroupId(u.Gid); err == nil {
		r.Group = g.Name
	}
	ids, err := u.GroupIds()
	if err != nil {
		return nil, fmt.Errorf("user %s: groups: %w", u.Username, err)
	}
	r.Groups = append(r.Groups, r.GID)
	for _, s := range ids {
		if id, err := strconv.Atoi(s); err == nil {
			r.Groups = append(r.Groups, id)
		}
	}
	return r, nil
}

// checkRoots checks that every site root of c is a directory that u can
// reach and write (create releases/, state/ and current in), or that u can
// create, as the daemon must when it runs as u. A problem is reported on
// the root's key, wrapping ErrInvalid, and ends with the command that
// fixes it; a root whose value is already refused is skipped. It reads
// the file system only (mode bits and owners along each path; ACLs are not
// looked at) and changes nothing.
func (c *Config) checkRoots(p *problems, u *RootsUser) {
	refused := map[string]bool{}
	for _, err := range p.errs {
		var e *Error
		if errors.As(err, &e) {
			refused[e.Key] = true
		}
	}
	for i := range c.Sites {
		root := c.Sites[i].Root
		key := fmt.Sprintf("site[%d].root", i)
		if root == "" || !filepath.IsAbs(root) || refused[key] {
			continue
		}
		if msg, fix := rootProblem(root, u); msg != "" {
			p.invalid(key, "%q %s%s", root, msg, fix)
		}
	}
}

// rootProblem says what stops u from using root, or "", and how to fix
// it ("; fix: ...", or "" when a person must choose).
func rootProblem(root string, u *RootsUser) (msg, fix string) {
	install := fmt.Sprintf("; fix: install -d -o %s -g %s %s (or the tmpfiles.d line: d %s 0755 %s %s -)",
		u.Name, u.Group, root, root, u.Name, u.Group)
	// The daemon creates a missing root (mkdir -p) if it can: then the
	// deepest existing directory above it must be writable.
	dir, missing := root, false
	fi, err := os.Stat(dir)
	for errors.Is(err, fs.ErrNotExist) && dir != "/" {
		dir, missing = filepath.Dir(dir), true
		fi, err = os.Stat(dir)
	}
	if err != nil {
		return fmt.Sprintf("cannot be checked (%v)", errors.Unwrap(err)), ""
	}
	if !fi.IsDir() {
		if missing {
			return fmt.Sprintf("cannot be created: %s is not a directory", dir), ""
		}
		return "is not a directory", ""
	}
	// Every directory down to dir must be searchable.
	var parts []string
	for d := dir; ; d = filepath.Dir(d) {
		parts = append(parts, d)
		if d == "/" {
			break
		}
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if fi, err := os.Stat(parts[i]); err == nil && !allowed(fi, u, 0o1) {
			return fmt.Sprintf("cannot be reached by user %s (%s is %04o, owner %d:%d)", u.Name, parts[i], fi.Mode().Perm(), owner(fi).Uid, owner(fi).Gid),
				fmt.Sprintf("; fix: chmod a+x %s (or put the root elsewhere)", parts[i])
		}
	}
	if !allowed(fi, u, 0o3) {
		if missing {
			return fmt.Sprintf("does not exist and user %s cannot create it (%s is %04o, owner %d:%d)", u.Name, dir, fi.Mode().Perm(), owner(fi).Uid, owner(fi).Gid), install
		}
		return fmt.Sprintf("is not writable by user %s (mode %04o, owner %d:%d)", u.Name, fi.Mode().Perm(), owner(fi).Uid, owner(fi).Gid), install
	}
	return "", ""
}

// allowed reports whether u has the permission bits want (of 0o7: read
// 4, write 2, search 1) on fi, by the owner, group and other classes.
func allowed(fi fs.FileInfo, u *RootsUser, want fs.FileMode) bool {
	if u.UID == 0 {
		return true
	}
	st := owner(fi)
	perm := fi.Mode().Perm()
	switch {
	case int(st.Uid) == u.UID:
		return (perm>>6)&want == want
	case inGroup(int(st.Gid), u):
		return (perm>>3)&want == want
	}
	return perm&want == want
}

func inGroup(gid int, u *RootsUser) bool {
	for _, g := range u.Groups {
		if g == gid {
			return true
		}
	}
	return false
}

func owner(fi fs.FileInfo) *syscall.Stat_t {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st
	}
	return &syscall.Stat_t{Uid: ^uint32(0), Gid: ^uint32(0)}
}
