// Package hashfs computes manifests by reading files: the sha256 of one
// file, or the manifest of a whole tree. It is apart from package manifest
// so that what only reads and writes manifests (the store, releasectl)
// does not link crypto/sha256, whose FIPS module's init is part of every
// process start.
package hashfs

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"

	"github.com/example/release-agent/manifest"
)

// File returns the hex sha256 and size of r's content.
func File(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// Manifest walks fsys and returns the manifest of every regular file and
// symlink in it. It reads every byte; producers that already know the
// hashes (stage) do not need it. Other file types are an error.
func Manifest(fsys fs.FS) (*manifest.Manifest, error) {
	m := &manifest.Manifest{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			rl, ok := fsys.(fs.ReadLinkFS)
			if !ok {
				return fmt.Errorf("manifest: %s: symlink in a file system that cannot read links", p)
			}
			t, err := rl.ReadLink(p)
			if err != nil {
				return err
			}
			m.Entries = append(m.Entries, manifest.Entry{Path: p, Link: t, Mode: 0o777})
		case d.Type().IsRegular():
			f, err := fsys.Open(p)
			if err != nil {
				return err
			}
			sum, n, err := File(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("manifest: %s: %w", p, err)
			}
			m.Entries = append(m.Entries, manifest.Entry{Path: p, Size: n, SHA256: sum, Mode: manifest.NormalMode(info.Mode())})
		default:
			return fmt.Errorf("manifest: %s: unsupported file type %v", p, d.Type())
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	m.Sort()
	return m, nil
}
