package ingest

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// OpenLocal opens a local artifact: a directory, or an archive file whose
// format is known by its extension (archive.Detect). A missing path wraps
// ErrNotFound.
//
// # Checksums
//
// The expected sha256 of an archive file comes from opts.SHA256 and from a
// FILE.sha256 next to it (sha256sum format: "HEX  NAME", or a bare HEX);
// if both are present both must match. The file is hashed completely
// before the first entry reaches the sink, so a mismatch stages nothing;
// this costs one extra read of the file. The bytes extracted are hashed
// again while they stream and compared, so a file replaced between the two
// reads fails too (after staging, which the caller discards on error).
// Info.SHA256 is always filled for a file. A directory has no checksum:
// opts.SHA256 with a directory is an error.
func OpenLocal(ctx context.Context, path string, opts Options) (Source, error) {
	stat := os.Stat
	if opts.File != nil {
		stat = func(string) (os.FileInfo, error) { return opts.File.Stat() }
	}
	fi, err := stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source %s: %w: %w", path, ErrNotFound, err)
		}
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	if fi.IsDir() && opts.File == nil {
		if opts.SHA256 != "" {
			return nil, fmt.Errorf("source %s: a directory has no sha256 to check (--sha256 is for archive files)", path)
		}
		return &dirSource{path: path}, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source %s: not a regular file or directory (%v)", path, fi.Mode().Type())
	}
	format, err := archive.Detect(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	want, err := expectedSums(path, opts.SHA256, opts.File != nil)
	if err != nil {
		return nil, err
	}
	return &fileSource{path: path, format: format, want: want, file: opts.File}, nil
}

// expectedSums returns the sha256 sums the artifact at path must have:
// sha (the --sha256 flag) if not empty, then the one its FILE.sha256
// names, if there is one (see readSHA256File for nofollow).
func expectedSums(path, sha string, nofollow bool) ([]string, error) {
	var want []string
	if sha != "" {
		s, err := checkHex(sha)
		if err != nil {
			return nil, fmt.Errorf("source %s: expected sha256: %w", path, err)
		}
		want = append(want, s)
	}
	if s, err := readSHA256File(path+".sha256", filepath.Base(path), nofollow); err == nil {
		want = append(want, s)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return want, nil
}

func checkHex(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) != 64 {
		return "", fmt.Errorf("%q is not 64 hex digits", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("%q is not hex: %w", s, err)
	}
	return s, nil
}

// readSHA256File reads a sha256sum-style file and returns the hash for
// base: the line naming it (any directory part ignored), or a single line
// with a bare hash.
//
// With nofollow (the daemon reading an inbox, whose entries others may
// plant), a symlink or anything but a regular file is refused rather than
// followed. Errors never quote the file's content, so a checksum file
// cannot be used to read another file through the error messages.
func readSHA256File(path, base string, nofollow bool) (string, error) {
	flag := os.O_RDONLY
	if nofollow {
		flag |= syscall.O_NOFOLLOW | syscall.O_NONBLOCK
	}
	f, err := os.OpenFile(path, flag, 0)
	if err != nil {
		if nofollow && errors.Is(err, syscall.ELOOP) {
			return "", fmt.Errorf("source %s: checksum file is a symlink: refusing", path)
		}
		return "", err // ErrNotExist is not an error for the caller
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Errorf("source %s: checksum file is not a regular file", path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err != nil {
		return "", fmt.Errorf("source %s: %w", path, err)
	}
	if len(b) > 1<<20 {
		return "", fmt.Errorf("source %s: checksum file over 1 MiB", path)
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	lines, found := 0, ""
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines++
		hexPart, name, hasName := strings.Cut(line, " ")
		sum, err := checkHex(hexPart)
		if err != nil {
			return "", fmt.Errorf("source %s: line %d: not a sha256 (64 hex digits)", path, lines)
		}
		name = strings.TrimPrefix(strings.TrimSpace(name), "*")
		if !hasName || name == "" || filepath.Base(name) == base {
			if found != "" && found != sum {
				return "", fmt.Errorf("source %s: two different sums for %s", path, base)
			}
			found = sum
		}
	}
	if found == "" {
		return "", fmt.Errorf("source %s: no sha256 for %s in it", path, base)
	}
	return found, nil
}

type fileSource struct {
	path   string
	format archive.Format
	want   []string
	file   *os.File // opened by the caller, or nil

	// size and read feed Progress while Fetch runs.
	size atomic.Int64
	read atomic.Pointer[countReader]
}

// Progress implements Progresser: the archive's bytes read so far (in the
// current pass: a zip or a file with an expected sum is read twice) and
// its size.
func (s *fileSource) Progress() (read, total int64) {
	return s.read.Load().N(), s.size.Load()
}

// Fetch verifies the expected checksums (if any), then extracts.
func (s *fileSource) Fetch(ctx context.Context, sink safewrite.Sink) (Info, error) {
	info := Info{Spec: s.path, Kind: string(s.format)}
	f := s.file
	if f == nil {
		var err error
		if f, err = os.Open(s.path); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return info, fmt.Errorf("source %s: %w: %w", s.path, ErrNotFound, err)
			}
			return info, fmt.Errorf("source %s: %w", s.path, err)
		}
		defer f.Close()
	} else if _, err := f.Seek(0, io.SeekStart); err != nil {
		return info, fmt.Errorf("source %s: %w", s.path, err)
	}
	if fi, err := f.Stat(); err == nil {
		s.size.Store(fi.Size())
	}
	pre := ""
	if len(s.want) > 0 || s.format == archive.Zip {
		// Zip is read by random access, so hash it in a pass of its own.
		hr := &countReader{r: f}
		s.read.Store(hr)
		sum, _, err := hashReader(ctx, hr)
		if err != nil {
			return info, fmt.Errorf("source %s: hash: %w", s.path, err)
		}
		for _, w := range s.want {
			if w != sum {
				return info, fmt.Errorf("source %s: %w: sha256 %s, want %s", s.path, ErrChecksum, sum, w)
			}
		}
		pre = sum
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return info, fmt.Errorf("source %s: %w", s.path, err)
		}
	}
	if s.format == archive.Zip {
		fi, err := f.Stat()
		if err != nil {
			return info, fmt.Errorf("source %s: %w", s.path, err)
		}
		info.SHA256, info.Size = pre, fi.Size()
		if err := archive.ExtractZip(ctx, f, fi.Size(), sink); err != nil {
			return info, fmt.Errorf("source %s: %w", s.path, err)
		}
		return info, nil
	}
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(f, h)}
	s.read.Store(cr)
	if err := archive.Extract(ctx, cr, s.format, sink); err != nil {
		return info, fmt.Errorf("source %s: %w", s.path, err)
	}
	// The decompressor may stop before the end of the file: hash the rest
	// so that the sum covers the whole artifact.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return info, fmt.Errorf("source %s: %w", s.path, err)
	}
	info.SHA256, info.Size = hex.EncodeToString(h.Sum(nil)), cr.N()
	if pre != "" && pre != info.SHA256 {
		return info, fmt.Errorf("source %s: %w: the file changed while it was read (sha256 %s, then %s)", s.path, ErrChecksum, pre, info.SHA256)
	}
	return info, nil
}

// countReader counts the bytes read through it; N may be called
// concurrently with Read (the progress line reads it).
type countReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// N returns the bytes read so far.
func (c *countReader) N() int64 {
	if c == nil {
		return 0
	}
	return c.n.Load()
}

func hashReader(ctx context.Context, r io.Reader) (string, int64, error) {
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return "", total, err
		}
		n, err := r.Read(buf)
		h.Write(buf[:n])
		total += int64(n)
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), total, nil
		}
		if err != nil {
			return "", total, err
		}
	}
}

type dirSource struct {
	path string
}

// Fetch walks the directory through an os.Root (nothing outside it is
// read, symlinks are staged as symlinks, never followed) and feeds every
// directory, regular file and symlink to sink in lexical order. Other file
// types are refused with safewrite.ErrUnsupported.
func (s *dirSource) Fetch(ctx context.Context, sink safewrite.Sink) (Info, error) {
	info := Info{Spec: s.path, Kind: "dir"}
	root, err := os.OpenRoot(s.path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return info, fmt.Errorf("source %s: %w: %w", s.path, ErrNotFound, err)
		}
		return info, fmt.Errorf("source %s: %w", s.path, err)
	}
	defer root.Close()
	fsys := root.FS()
	err = fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		switch t := d.Type(); {
		case t.IsDir():
			return sink.Dir(p, 0o755)
		case t&fs.ModeSymlink != 0:
			target, err := root.Readlink(p)
			if err != nil {
				return err
			}
			return sink.Symlink(p, target)
		case t.IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			f, err := root.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			cr := &countReader{r: f}
			if err := sink.File(ctx, p, fi.Mode(), fi.Size(), "", cr); err != nil {
				return err
			}
			info.Size += cr.N()
			return nil
		default:
			return &safewrite.EntryError{Entry: p, Err: fmt.Errorf("%w: %v", safewrite.ErrUnsupported, t)}
		}
	})
	if err != nil {
		return info, fmt.Errorf("source %s: %w", s.path, err)
	}
	return info, nil
}
