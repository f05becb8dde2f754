package deploy

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/manifest"
)

func (w *Work) rehash(paths []string) error {
	if w.Manifest == nil {
		w.Manifest = &manifest.Manifest{}
	}
	var live map[string]*manifest.Entry
	if w.LiveManifest != nil {
		live = w.LiveManifest.BySHA256()
	}
	idx := make(map[string]int, len(w.Manifest.Entries))
	for i, e := range w.Manifest.Entries {
		idx[e.Path] = i
	}
	var gone = map[string]bool{}
	for _, p := range paths {
		if !manifest.ValidPath(p) {
			return fmt.Errorf("rehash: invalid path %q", p)
		}
		full := filepath.Join(w.Dir, filepath.FromSlash(p))
		fi, err := os.Lstat(full)
		if errors.Is(err, fs.ErrNotExist) {
			gone[p] = true
			continue
		}
		if err != nil {
			return err
		}
		var e manifest.Entry
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(full)
			if err != nil {
				return err
			}
			e = manifest.Entry{Path: p, Link: t, Mode: 0o777}
		case fi.Mode().IsRegular():
			f, err := os.Open(full)
			if err != nil {
				return err
			}
			sum, n, err := manifest.HashFile(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			mode := manifest.NormalMode(fi.Mode())
			e = manifest.Entry{Path: p, Size: n, SHA256: sum, Mode: mode}
			if fi.Mode().Perm() != mode {
				if err := os.Chmod(full, mode); err != nil {
					return err
				}
			}
			if le := live[sum]; le != nil && le.Mode == mode && w.LiveDir != "" {
				linked, err := relink(filepath.Join(w.LiveDir, filepath.FromSlash(le.Path)), full)
				if err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
				if linked {
					// Pages that equal live only after hashing rewrote them.
					w.Record.LinkedFiles++
					w.Record.LinkedBytes += n
				}
			}
		default:
			continue // directories are not in manifests
		}
		if i, ok := idx[p]; ok {
			e.Carried = w.Manifest.Entries[i].Carried
			w.Manifest.Entries[i] = e
		} else {
			idx[p] = len(w.Manifest.Entries)
			w.Manifest.Entries = append(w.Manifest.Entries, e)
		}
	}
	if len(gone) > 0 {
		kept := w.Manifest.Entries[:0]
		for _, e := range w.Manifest.Entries {
			if !gone[e.Path] {
				kept = append(kept, e)
			}
		}
		w.Manifest.Entries = kept
	}
	w.Manifest.Sort()
	return nil
}

// update sets the manifest entries of es (by path), keeping their Carried
// marks: the digests are the caller's, nothing is read.
func (w *Work) update(es []manifest.Entry) {
	if w.Manifest == nil {
		w.Manifest = &manifest.Manifest{}
	}
	idx := make(map[string]int, len(w.Manifest.Entries))
	for i, e := range w.Manifest.Entries {
		idx[e.Path] = i
	}
	for _, e := range es {
		if i, ok := idx[e.Path]; ok {
			e.Carried = w.Manifest.Entries[i].Carried
			w.Manifest.Entries[i] = e
		} else {
			idx[e.Path] = len(w.Manifest.Entries)
			w.Manifest.Entries = append(w.Manifest.Entries, e)
		}
	}
	w.Manifest.Sort()
}

// reuseLive returns the hashassets.Options.Reuse function that, instead of
// writing a rewritten page, hardlinks the live release's file with the
// same bytes and mode (the page did not change since the live release),
// counting it in the record's linked files. Nil if there is no live
// release.
func (w *Work) reuseLive() func(name string, sum [32]byte, size int64, mode fs.FileMode) (bool, error) {
	if w.LiveManifest == nil || w.LiveDir == "" {
		return nil
	}
	live := w.LiveManifest.BySHA256()
	var mu sync.Mutex
	return func(name string, sum [32]byte, size int64, mode fs.FileMode) (bool, error) {
		le := live[hex.EncodeToString(sum[:])]
		if le == nil || le.Mode != manifest.NormalMode(mode) || le.Size != size {
			return false, nil
		}
		linked, err := relink(filepath.Join(w.LiveDir, filepath.FromSlash(le.Path)), filepath.Join(w.Dir, filepath.FromSlash(name)))
		if err != nil {
			return false, err
		}
		if linked {
			mu.Lock()
			w.Record.LinkedFiles++
			w.Record.LinkedBytes += size
			mu.Unlock()
		}
		return true, nil
	}
}

// relink replaces dst by a hardlink of src, atomically (fsatomic.Link,
// without fsync: the deploy's syncfs makes the staged tree durable), and
// reports whether it did. Already the same file: nothing to do.
func relink(src, dst string) (bool, error) {
	a, err1 := os.Stat(src)
	b, err2 := os.Stat(dst)
	if err1 == nil && err2 == nil && os.SameFile(a, b) {
		return false, nil
	}
	if err := (fsatomic.Replacer{NoSync: true}).Link(src, dst); err != nil {
		return false, err
	}
	return true, nil
}
