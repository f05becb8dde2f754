// Package releases is the on-disk release store of one site.
//
// # Layout
//
//	ROOT/
//	  current -> releases/v42   relative symlink, the web server's document root
//	  releases/v41/ releases/v42/  immutable release trees (files read-only, unchanged
//	                               files hardlinked between releases)
//	  state/                    never served:
//	    lock                    flock(2) of every writer; holds the holder's description,
//	                            or "clean BOOT-ID" once the last holder finished
//	    journal.jsonl           append-only, one JSON event per line, fsynced
//	    next-id                 the next release number (monotonic, never reused)
//	    live.json               checkpoint of the live state (rollback order, activation
//	                            times, bad marks) derived from the journal
//	    records/vN.json         one record per release id ever allocated
//	    manifests/vN.json       file list (path, size, mode, sha256) of vN
//	    reports/vN.KIND.json    documents stored beside vN's record (PutExtra):
//	                            vN.report.json (validation), vN.hashes.json (asset
//	                            manifest), vN.carried.json (assets carried into vN)
//	    staging/vN/             a release being built (same filesystem as releases/)
//	    trash/                  trees being deleted
//
// # Guarantees
//
// Atomic means readers see the old or the new version, never a mix or
// nothing; durable means it survives a crash of the machine once the call
// returns.
//
//   - current changes only by symlink.Replace: rename(2) of a fresh link
//     (atomic), then fsync of ROOT (durable).
//   - Every other file is replaced with package fsatomic; a temporary
//     name it leaves when killed is removed by recovery.
//   - Every switch (Activate, Rollback) then appends one line to the
//     journal with a single write(2) (atomic: whole or absent) and fsyncs
//     it (durable). Those two fsyncs, one after the other, are all a
//     switch writes durably: the rollback order, activation times and bad
//     marks are derived from the journal (see "The live state" in
//     live.go), so they are durable with the line; their checkpoint,
//     live.json, is atomic and not fsynced (fsatomic.Replacer.NoSync).
//   - Records, manifests, extras and next-id are written atomically and
//     durably (fsatomic.WriteFile: temporary file, fsync, rename, fsync of
//     the directory).
//   - A release tree appears in releases/ only by rename from staging,
//     after a syncfs(2) made its data durable, and before its record is
//     written; a tree without a record is a leftover of a killed process
//     and is removed by recovery.
//   - Release ids come from next-id, which is written durably before the id
//     is used, so an id is never handed out twice, even across crashes and
//     pruning.
//   - Recovery (under the lock) runs when the previous holder did not
//     finish cleanly, which includes every crash of the machine (see Lock).
//
// # Concurrency
//
// Every method that changes the store requires the caller to hold the lock
// (Lock); they return ErrNotLocked otherwise. Reads (List, Current, Record,
// Manifest, Journal) take no lock and never block: every file they read is
// replaced by rename, so they see the old or the new version. A *Store is
// safe for concurrent use by several goroutines.
package releases

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/internal/jsonlite"
	"github.com/example/release-agent/symlink"
)

// Errors callers branch on.
var (
	ErrNoRelease  = errors.New("no such release")
	ErrNotLocked  = errors.New("store lock not held")
	ErrNoPrevious = errors.New("no earlier release to roll back to")
	ErrNotStore   = errors.New("not a release root")
	// ErrNoStore: the root exists but holds no store yet (OpenExisting).
	ErrNoStore = errors.New("not a release store yet")
)

// Store is the release store rooted at Root.
type Store struct {
	Root string

	mu     sync.Mutex
	locked *Lock
}

// Names inside ROOT.
const (
	CurrentName  = "current"
	ReleasesDir  = "releases"
	StateDir     = "state"
	journalName  = "journal.jsonl"
	nextIDName   = "next-id"
	liveName     = "live.json"
	recordsDir   = "records"
	manifestsDir = "manifests"
	reportsDir   = "reports"
	stagingDir   = "staging"
	trashDir     = "trash"
)

// Open returns the store at root, creating releases/ and state/ if root
// exists but has none yet. It fails if root does not exist, if
// ROOT/current is a regular file, and, with a *NotAdoptedError, on a root
// laid out by another tool (a plain current/ directory, Capistrano's or
// Deployer's releases/NAME/) or holding an interrupted adoption, creating
// nothing: Adopt imports those.
func Open(root string) (*Store, error) { return open(root, true) }

// OpenExisting is Open for readers: it creates nothing, and fails with an
// error wrapping ErrNoStore when root exists but has no store in it yet
// (no state/ directory).
func OpenExisting(root string) (*Store, error) { return open(root, false) }

func open(root string, create bool) (*Store, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("release root %s does not exist (create it first: mkdir -p %s): %w", abs, abs, err)
	}
	if err != nil {
		return nil, fmt.Errorf("release root %s: %w", abs, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("release root %s: %w: not a directory", abs, ErrNotStore)
	}
	s := &Store{Root: abs}
	if fi, err := os.Lstat(s.CurrentPath()); err == nil && fi.Mode()&fs.ModeSymlink == 0 && !fi.IsDir() {
		return nil, &symlink.NotSymlinkError{Path: s.CurrentPath(), Mode: fi.Mode()}
	}
	// A root laid out by another tool, or an interrupted adoption: Adopt
	// imports it; nothing here creates anything in it.
	if fe, err := detectForeign(abs); err != nil {
		return nil, fmt.Errorf("release root %s: %w", abs, err)
	} else if fe != nil {
		return nil, fe
	}
	// The directories are made in this order, so an existing staging/
	// means the others exist too (unless removed by hand, which the
	// operations that need them report).
	if fi, err := os.Stat(s.state(stagingDir)); err == nil && fi.IsDir() {
		return s, nil
	}
	if !create {
		if fi, err := os.Stat(s.state()); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("%s: %w (no %s/ in it; nothing was created)", abs, ErrNoStore, StateDir)
		}
		return s, nil
	}
	for _, d := range []string{ReleasesDir, StateDir, s.state(recordsDir), s.state(manifestsDir), s.state(reportsDir), s.state(stagingDir)} {
		p := d
		if !filepath.IsAbs(p) {
			p = filepath.Join(abs, d)
		}
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, fmt.Errorf("release root %s: %w", abs, err)
		}
	}
	return s, nil
}

func (s *Store) state(parts ...string) string {
	return filepath.Join(append([]string{s.Root, StateDir}, parts...)...)
}

// CurrentPath is ROOT/current.
func (s *Store) CurrentPath() string { return filepath.Join(s.Root, CurrentName) }

// Dir is the tree of release id.
func (s *Store) Dir(id string) string { return filepath.Join(s.Root, ReleasesDir, id) }

// ErrNotReleaseDir is wrapped by the error of an operation on a release
// whose releases/vN is not a real directory (a symlink planted there,
// a file): the store never follows a link it did not make.
var ErrNotReleaseDir = errors.New("not a release directory")

// CheckTree returns nil if releases/id is a directory, not a symlink to
// one; otherwise an error wrapping ErrNotReleaseDir (or the Lstat error)
// naming the path: "releases/v1 is a symlink, not a release directory:
// refusing". Callers check it before they read or write a release tree.
func (s *Store) CheckTree(id string) error {
	rel := ReleasesDir + "/" + id
	fi, err := os.Lstat(s.Dir(id))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrNoRelease, rel, err)
	}
	if fi.IsDir() {
		return nil
	}
	what := "a " + fi.Mode().Type().String()
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		what = "a symlink"
		if t, err := os.Readlink(s.Dir(id)); err == nil {
			what += " (to " + t + ")"
		}
	case fi.Mode().IsRegular():
		what = "a regular file"
	}
	return fmt.Errorf("%s is %s, %w: refusing", rel, what, ErrNotReleaseDir)
}

// StateDir is ROOT/state.
func (s *Store) StateDir() string { return s.state() }

// ParseID returns the number of a release id "vN": "v" and 1 to 18
// decimal digits without a leading zero.
func ParseID(id string) (int64, bool) {
	if len(id) < 2 || len(id) > 19 || id[0] != 'v' || id[1] == '0' {
		return 0, false
	}
	var n int64
	for _, c := range []byte(id[1:]) {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// FormatID returns "vN".
func FormatID(n int64) string { return "v" + strconv.FormatInt(n, 10) }

// CheckID returns a usage-style error if id is not of the form vN.
func CheckID(id string) error {
	if _, ok := ParseID(id); !ok {
		return fmt.Errorf("%q is not a release id (want v1, v2, ...)", id)
	}
	return nil
}

// Current returns the id that ROOT/current points to, or "" if there is no
// current link yet.
func (s *Store) Current() (string, error) {
	t, err := os.Readlink(s.CurrentPath())
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	id := filepath.Base(t)
	if filepath.ToSlash(filepath.Dir(t)) != ReleasesDir {
		return "", fmt.Errorf("%s points to %q, outside %s/", s.CurrentPath(), t, ReleasesDir)
	}
	return id, nil
}

func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return fsatomic.WriteFile(path, append(b, '\n'), 0o644)
}

// readFast is readJSON for the documents package jsonlite can decode
// (see unmarshal).
func readFast[T any](path string, v *T, fast func(*jsonlite.Reader, *T)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := unmarshal(b, v, fast); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
