package ingest

import (
	"archive/tar"
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

	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// IsLocal reports whether spec names a local path (no "scheme://"), the
// way Openers.Open decides.
func IsLocal(spec string) bool { return strings.Index(spec, "://") <= 0 }

// StreamOptions configure OpenStream.
type StreamOptions struct {
	// SHA256, if set, is the expected sha256 (hex) of the streamed bytes.
	SHA256 string
	// From says what the caller made the stream from ("dir", "file",
	// "stdin"; the caller's claim, recorded in Info.Meta["from"]).
	From string
	// SpoolDir is where a zip stream is spooled (zip needs random access):
	// the store's staging area, on the same file system as the release.
	SpoolDir string
	// Limits are the deploy's extraction limits; a zip spool may hold at
	// most MaxBytes plus room for the headers of MaxFiles entries.
	Limits safewrite.Limits
}

// OpenStream returns the Source of an artifact that arrives as a stream of
// bytes (a request body, standard input) rather than a path: a tar,
// tar.gz, tar.zst or zip archive, its format known by its first bytes
// (archive.Sniff). spec is only a label (the path the caller typed, or
// "-"): nothing is opened by that name. Entries go through the sink like
// those of a file, with the same checks and limits.
//
// # Checksums
//
// A tar stream is hashed as it is extracted and the sum compared at the
// end, so a mismatch fails after staging (the caller discards the staging
// tree on error). A zip stream is spooled to a temporary file in SpoolDir
// (removed before Fetch returns) and checked before its first entry is
// staged.
//
// Info has Kind "stream:FORMAT" and Meta "streamed": "true" (and "from"),
// so a record says the bytes came from the caller, not from a path the
// daemon read.
func OpenStream(spec string, r io.Reader, opts StreamOptions) (Source, error) {
	if r == nil {
		return nil, errors.New("source: no stream")
	}
	s := &streamSource{spec: spec, r: r, opts: opts}
	if opts.SHA256 != "" {
		sum, err := checkHex(opts.SHA256)
		if err != nil {
			return nil, fmt.Errorf("source %s: expected sha256: %w", spec, err)
		}
		s.want = sum
	}
	return s, nil
}

type streamSource struct {
	spec string
	r    io.Reader
	opts StreamOptions
	want string
	read atomic.Pointer[countReader]
}

// Progress implements Progresser: the bytes read so far; a stream's size
// is not known.
func (s *streamSource) Progress() (read, total int64) { return s.read.Load().N(), 0 }

// maxSpool is how many bytes of a zip stream are spooled at most.
func (s *streamSource) maxSpool() int64 {
	l := s.opts.Limits
	if l.MaxBytes <= 0 {
		l.MaxBytes = safewrite.DefaultMaxBytes
	}
	if l.MaxFiles <= 0 {
		l.MaxFiles = safewrite.DefaultMaxFiles
	}
	if l.MaxPathLen <= 0 {
		l.MaxPathLen = safewrite.DefaultMaxPathLen
	}
	// Local and central headers of every entry, with its name twice.
	return l.MaxBytes + int64(l.MaxFiles)*int64(128+2*l.MaxPathLen) + 1<<20
}

func (s *streamSource) Fetch(ctx context.Context, sink safewrite.Sink) (Info, error) {
	info := Info{Spec: s.spec, Kind: "stream", Meta: map[string]string{"streamed": "true"}}
	if s.opts.From != "" {
		info.Meta["from"] = s.opts.From
	}
	h := sha256.New()
	cr := &countReader{r: io.TeeReader(s.r, h)}
	s.read.Store(cr)
	br := bufio.NewReaderSize(cr, 64<<10)
	head, err := br.Peek(4)
	if err != nil && len(head) == 0 {
		if err == io.EOF {
			return info, fmt.Errorf("source %s: the stream is empty", s.spec)
		}
		return info, fmt.Errorf("source %s: %w", s.spec, err)
	}
	format := archive.Sniff(head)
	info.Kind = "stream:" + string(format)
	if format == archive.Zip {
		return s.fetchZip(ctx, br, cr, h, info, sink)
	}
	if err := archive.Extract(ctx, br, format, sink); err != nil {
		return info, fmt.Errorf("source %s: %w", s.spec, err)
	}
	// Hash what follows the archive (padding, a decompressor's tail),
	// bounded: the sum covers the whole stream.
	n, err := io.Copy(io.Discard, io.LimitReader(br, archive.MaxTrailing+1))
	if err != nil {
		return info, fmt.Errorf("source %s: %w", s.spec, err)
	}
	if n > archive.MaxTrailing {
		return info, fmt.Errorf("source %s: %w (more than %d bytes)", s.spec, archive.ErrTrailingData, archive.MaxTrailing)
	}
	info.SHA256, info.Size = hex.EncodeToString(h.Sum(nil)), cr.N()
	if s.want != "" && s.want != info.SHA256 {
		return info, fmt.Errorf("source %s: %w: sha256 %s, want %s", s.spec, ErrChecksum, info.SHA256, s.want)
	}
	return info, nil
}

func (s *streamSource) fetchZip(ctx context.Context, br *bufio.Reader, cr *countReader, h interface{ Sum([]byte) []byte }, info Info, sink safewrite.Sink) (Info, error) {
	if s.opts.SpoolDir == "" {
		return info, fmt.Errorf("source %s: a zip stream needs a spool directory", s.spec)
	}
	f, err := os.CreateTemp(s.opts.SpoolDir, "spool-*.zip")
	if err != nil {
		return info, fmt.Errorf("source %s: spooling the zip: %w", s.spec, err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	max := s.maxSpool()
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: io.LimitReader(br, max+1)})
	if err != nil {
		return info, fmt.Errorf("source %s: spooling the zip: %w", s.spec, err)
	}
	if n > max {
		return info, fmt.Errorf("source %s: %w: zip stream over %d bytes", s.spec, safewrite.ErrLimit, max)
	}
	info.SHA256, info.Size = hex.EncodeToString(h.Sum(nil)), cr.N()
	if s.want != "" && s.want != info.SHA256 {
		return info, fmt.Errorf("source %s: %w: sha256 %s, want %s", s.spec, ErrChecksum, info.SHA256, s.want)
	}
	if err := archive.ExtractZip(ctx, f, n, sink); err != nil {
		return info, fmt.Errorf("source %s: %w", s.spec, err)
	}
	return info, nil
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// LocalStream is a local artifact read with the caller's rights, to be
// sent as a stream (see StreamLocal).
type LocalStream struct {
	io.ReadCloser
	// SHA256 is the expected sum of the stream ("" if none): the one asked
	// for, or the one of a FILE.sha256 beside the file.
	SHA256 string
	// From is "dir" or "file".
	From string
}

// StreamLocal opens the local artifact path, as the calling process, for
// sending to a daemon that must not read it itself: an archive file is
// streamed as it is; a directory becomes a tar stream made on the fly
// (directories, regular files and symlinks as links; symlinks are never
// followed; any other file type fails, naming the path). A file's format
// is checked by its extension as OpenLocal does, and its expected sha256
// comes from opts.SHA256 and FILE.sha256 (two different sums fail at
// once). Errors that happen while the directory is walked (a
// subdirectory the caller cannot read) end the stream with that error.
// The caller must Close the stream.
func StreamLocal(ctx context.Context, path string, opts Options) (*LocalStream, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("source %s: %w: %w", path, ErrNotFound, err)
		}
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	if fi.IsDir() {
		if opts.SHA256 != "" {
			return nil, fmt.Errorf("source %s: a directory has no sha256 to check (--sha256 is for archive files)", path)
		}
		root, err := os.OpenRoot(path)
		if err != nil {
			return nil, fmt.Errorf("source %s: %w", path, err)
		}
		// Read the top directory now, so that an unreadable one fails
		// before anything is sent.
		if _, err := fs.ReadDir(root.FS(), "."); err != nil {
			root.Close()
			return nil, fmt.Errorf("source %s: %w", path, err)
		}
		pr, pw := io.Pipe()
		go func() {
			defer root.Close()
			pw.CloseWithError(writeTar(ctx, path, root, pw))
		}()
		return &LocalStream{ReadCloser: pr, From: "dir"}, nil
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("source %s: not a regular file or directory (%v)", path, fi.Mode().Type())
	}
	if _, err := archive.Detect(path); err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	sums, err := expectedSums(path, opts.SHA256, false)
	if err != nil {
		return nil, err
	}
	want := ""
	if len(sums) > 0 {
		want = sums[0]
	}
	if opts.SHA256 != "" && len(sums) == 2 && sums[0] != sums[1] {
		return nil, fmt.Errorf("source %s: %w: --sha256 %s, but %s.sha256 says %s", path, ErrChecksum, sums[0], path, sums[1])
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	return &LocalStream{ReadCloser: f, SHA256: want, From: "file"}, nil
}

// writeTar writes the tree of root as a tar stream to w, in lexical order.
func writeTar(ctx context.Context, path string, root *os.Root, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 256<<10)
	tw := tar.NewWriter(bw)
	err := fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		hdr := &tar.Header{Name: p, Mode: int64(fi.Mode().Perm()), ModTime: fi.ModTime().Truncate(1e9)}
		switch t := d.Type(); {
		case t.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, p+"/"
			return tw.WriteHeader(hdr)
		case t&fs.ModeSymlink != 0:
			target, err := root.Readlink(p)
			if err != nil {
				return err
			}
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, target
			return tw.WriteHeader(hdr)
		case t.IsRegular():
			f, err := root.Open(p)
			if err != nil {
				return err
			}
			defer f.Close()
			hdr.Typeflag, hdr.Size = tar.TypeReg, fi.Size()
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if _, err := io.CopyN(tw, f, fi.Size()); err != nil {
				if errors.Is(err, io.EOF) {
					err = fmt.Errorf("%s: the file shrank while it was read", p)
				}
				return err
			}
			return nil
		default:
			return fmt.Errorf("%s: %w: %v", filepath.Join(path, p), safewrite.ErrUnsupported, t)
		}
	})
	if err == nil {
		err = tw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return fmt.Errorf("source %s: %w", path, err)
	}
	return nil
}
