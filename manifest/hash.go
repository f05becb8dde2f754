package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
)

// HashFile returns the hex sha256 and size of r's content.
func HashFile(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		return "", n, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// FromFS walks fsys and returns the manifest of every regular file and
// symlink in it. It reads every byte; producers that already know the
// hashes (stage) do not need it. Other file types are an error.
func FromFS(fsys fs.FS) (*Manifest, error) {
	m := &Manifest{}
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
			m.Entries = append(m.Entries, Entry{Path: p, Link: t, Mode: 0o777})
		case d.Type().IsRegular():
			f, err := fsys.Open(p)
			if err != nil {
				return err
			}
			sum, n, err := HashFile(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("manifest: %s: %w", p, err)
			}
			m.Entries = append(m.Entries, Entry{Path: p, Size: n, SHA256: sum, Mode: NormalMode(info.Mode())})
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
