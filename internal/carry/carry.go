// Package carry keeps content-hashed assets reachable across releases, so
// that a page loaded from one release can still fetch its lazily loaded
// assets after current has moved to another (the "ChunkLoadError after
// deploy" problem).
//
// Link adds files of one release tree to another under the same paths, by
// link(2): no byte is copied, and a hashed name embeds its content hash,
// so an existing path is never replaced. OnSwitch is the releases.Hook
// that does it before current moves (rollback, activate).
//
// The package depends only on the store and the standard library: it is
// on releasectl's rollback path, whose start-up time is part of the
// rollback's.
package carry

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/example/release-agent/internal/jsonlite"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
)

// ErrUnsafePath is returned (wrapped, naming the path) when a path to
// carry is not a clean relative path ("../x", "/x", "a/./b").
var ErrUnsafePath = errors.New("unsafe path in asset manifest")

// Link hard-links into the tree dst every file of paths that exists in
// the tree src and is missing from dst, creating missing directories, and
// returns the paths it linked, in order. Both trees are accessed through
// os.Root, so no symlink can lead outside them. A path missing from src
// (pruned by hand) or not a regular file there is skipped; a path present
// in dst is left alone, and so is the whole of paths when the tree src
// does not exist (deleted by hand): Link returns nothing linked and no
// error, and callers that care say so (see OnSwitchWarn). Not durable
// until the caller syncs the file system. Safe to call concurrently on
// different dst trees.
//
// dst and src themselves must be directories, not symlinks to one:
// Link refuses (ErrSymlinkTree) rather than write through, or read
// from, a link it did not make.
func Link(ctx context.Context, dst, src string, paths []string) ([]string, error) {
	droot, err := openTree(dst)
	if err != nil {
		return nil, fmt.Errorf("carry-over: %w", err)
	}
	defer droot.Close()
	sroot, err := openTree(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("carry-over from %s: %w", src, err)
	}
	defer sroot.Close()
	var linked []string
	for _, p := range paths {
		if err := ctx.Err(); err != nil {
			return linked, err
		}
		ok, err := linkOne(droot, sroot, p)
		if err != nil {
			return linked, fmt.Errorf("carry-over of %s from %s: %w", p, src, err)
		}
		if ok {
			linked = append(linked, p)
		}
	}
	return linked, nil
}

// ErrSymlinkTree is returned (wrapped, naming it) when a tree given to
// Link is a symlink, or not a directory.
var ErrSymlinkTree = errors.New("not a directory (a symlink?): refusing")

// openTree opens dir as an os.Root if dir is a directory and not a
// symlink; the Lstat before and the Stat of the opened root must agree,
// so a link swapped in between is refused too.
func openTree(dir string) (*os.Root, error) {
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("%s is %v, %w", dir, fi.Mode().Type(), ErrSymlinkTree)
	}
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	if ri, err := r.Stat("."); err != nil || !os.SameFile(fi, ri) {
		r.Close()
		return nil, fmt.Errorf("%s changed while it was opened: %w", dir, ErrSymlinkTree)
	}
	return r, nil
}

func linkOne(droot, sroot *os.Root, p string) (bool, error) {
	if !manifest.ValidPath(p) {
		return false, ErrUnsafePath
	}
	if _, err := droot.Lstat(p); err == nil {
		return false, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	info, err := sroot.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !info.Mode().IsRegular() {
		return false, nil
	}
	dir, base := path.Split(p)
	if dir != "" {
		if err := droot.MkdirAll(dir, 0o755); err != nil {
			return false, err
		}
	} else {
		dir = "."
	}
	sd, err := sroot.Open(dir)
	if err != nil {
		return false, err
	}
	defer sd.Close()
	dd, err := droot.Open(dir)
	if err != nil {
		return false, err
	}
	defer dd.Close()
	err = unix.Linkat(int(sd.Fd()), base, int(dd.Fd()), base, 0)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return false, &os.LinkError{Op: "link", Old: filepath.Join(sroot.Name(), p), New: filepath.Join(droot.Name(), p), Err: err}
	}
	return true, nil
}

// HashesExtra is the kind of the store extra (releases.Store.Extra) that
// holds a release's asset manifest, written by the hash stage.
const HashesExtra = "hashes"

// CarriedExtra is the kind of the store extra that lists the paths
// carried into a release on a switch, so they are known not to be its own.
const CarriedExtra = "carried"

// Hashed returns the hashed paths of release id's own assets, read from
// its "hashes" extra; ok is false if id was not hashed (or the extra is
// gone with a pruned release).
func Hashed(s *releases.Store, id string) (paths []string, ok bool) {
	var m hashesDoc
	if err := releases.ExtraFast(s, id, HashesExtra, &m, decodeHashes); err != nil {
		return nil, false
	}
	paths = make([]string, len(m.Assets))
	for i, a := range m.Assets {
		paths[i] = a.Hashed
	}
	return paths, true
}

// OnSwitch returns the hook that, before current moves from one release
// to another (rollback, activate), makes the hashed assets of the release
// being left reachable in the one being activated, so tabs opened on it
// keep working. Files are added by link(2) under their hashed names, which
// never collide; they are listed in the target's "carried" extra before
// they are linked, so a crash in between leaves only listed names
// missing, never unlisted files present. It runs under the store's lock.
func OnSwitch(ctx context.Context, s *releases.Store) releases.Hook {
	return OnSwitchWarn(ctx, s, nil)
}

// OnSwitchWarn is OnSwitch, calling warn (if not nil) with what it could
// not carry: when the tree of the release being left is gone (deleted by
// hand), there is nothing to carry, and the switch goes on without it,
// so that a rollback away from a damaged release always works.
func OnSwitchWarn(ctx context.Context, s *releases.Store, warn func(string)) releases.Hook {
	return func(from, to string) error {
		if from == "" {
			return nil
		}
		hashed, ok := Hashed(s, from)
		if !ok {
			return nil
		}
		if err := s.CheckTree(to); err != nil {
			return err
		}
		if err := s.CheckTree(from); err != nil {
			// A tree deleted by hand, or one the store did not make (a
			// symlink): nothing is read from it, and leaving it (a
			// rollback away from it) must still work.
			if warn != nil && errors.Is(err, fs.ErrNotExist) {
				warn(fmt.Sprintf("carry-over skipped: the tree of %s (%s) is missing, so pages still open on it cannot load its assets from %s", from, s.Dir(from), to))
			}
			return nil
		}
		dst := s.Dir(to)
		var missing []string
		for _, p := range hashed {
			if _, err := os.Lstat(filepath.Join(dst, filepath.FromSlash(p))); err != nil {
				missing = append(missing, p)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		var carried []string
		s.Extra(to, CarriedExtra, &carried)
		if err := s.PutExtra(to, CarriedExtra, append(carried, missing...)); err != nil {
			return err
		}
		_, err := Link(ctx, dst, s.Dir(from), missing)
		return err
	}
}

// hashesDoc is the part of a release's hashes extra (a hashassets.Manifest)
// that carrying reads.
type hashesDoc struct {
	Assets []manifest.Asset `json:"assets"`
}

var hashesKeys = []string{"assets"}
var assetKeys = []string{"logical", "hashed", "sha256", "size", "integrity"}

// decodeHashes is the jsonlite decoder of hashesDoc (see
// releases.ExtraFast); FuzzDecodeHashes compares it with encoding/json.
func decodeHashes(r *jsonlite.Reader, m *hashesDoc) {
	r.Object(hashesKeys, func(k []byte) {
		if string(k) != "assets" {
			r.Skip()
			return
		}
		if r.Null() {
			m.Assets = nil
			return
		}
		m.Assets = []manifest.Asset{}
		r.Array(func() {
			var a manifest.Asset
			r.Object(assetKeys, func(k []byte) {
				if r.Null() {
					return
				}
				switch string(k) {
				case "logical":
					a.Logical = r.Str()
				case "hashed":
					a.Hashed = r.Str()
				case "sha256":
					a.SHA256 = r.Str()
				case "size":
					a.Size = r.Int()
				case "integrity":
					a.Integrity = r.Str()
				default:
					r.Skip()
				}
			})
			m.Assets = append(m.Assets, a)
		})
	})
}
