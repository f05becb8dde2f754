// Package fetchexec fetches an artifact in another process: releasectl
// deploys s3:// sources itself (direct mode, no daemon) without linking
// the S3 client, whose package initialisation alone would make every
// rollback slower than its budget (see cmd/releasectl's deps test for the
// figures). release-agent links the S3 source; releasectl runs it as
//
//	release-agent fetch-source SPEC [SHA256]
//
// which opens SPEC as a deploy would, and streams the
// artifact's entries to its stdout as a plain tar stream, then writes one
// JSON result (the ingest.Info, or the error) to file descriptor 3.
// releasectl's side (Opener) extracts that stream through its own
// safewrite.Sink (the same path checks, limits and hardlinking as any
// archive) and trusts it only if the result says the fetch succeeded.
//
// This is not a second command line: fetch-source takes one SOURCE and an
// optional sha256, nothing else, and is not for people.
//
// # Differences from fetching in-process
//
//   - Every object of an s3://bucket/prefix/ tree is downloaded: the
//     helper cannot ask releasectl's sink which files the live release
//     already has (Sink.Existing answers false), so unchanged objects are
//     downloaded, then hardlinked by content like any archive entry.
//   - Files are written to the stream one at a time, so a prefix's
//     parallel downloads wait for each other.
//
// The daemon fetches in-process and has neither restriction.
package fetchexec

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// Verb is the first argument of the helper's command line.
const Verb = "fetch-source"

// result is what the helper writes to file descriptor 3 when it is done.
type result struct {
	Info  *ingest.Info `json:"info,omitempty"`
	Error string       `json:"error,omitempty"`
}

// Serve is the helper's side: args are what follows Verb (SPEC and an
// optional expected sha256). It returns the exit status: 0 if the
// artifact was streamed completely, 1 if not, 2 for a bad command line.
// SPEC is opened with openers (release-agent gives it its S3 source, with
// the settings of the environment).
func Serve(ctx context.Context, openers ingest.Openers, args []string, stdout io.Writer, stderr io.Writer) int {
	res := os.NewFile(3, "result")
	if _, err := res.Stat(); len(args) < 1 || len(args) > 2 || err != nil {
		fmt.Fprintf(stderr, "usage: release-agent %s SPEC [SHA256] (with a result pipe on fd 3); it is run by releasectl\n", Verb)
		return 2
	}
	defer res.Close()
	opts := ingest.Options{}
	if len(args) == 2 {
		opts.SHA256 = args[1]
	}
	info, err := fetch(ctx, openers, args[0], opts, stdout)
	r := result{}
	if err != nil {
		r.Error = err.Error()
	} else {
		r.Info = &info
	}
	if err := json.NewEncoder(res).Encode(r); err != nil || r.Error != "" {
		return 1
	}
	return 0
}

func fetch(ctx context.Context, openers ingest.Openers, spec string, opts ingest.Options, w io.Writer) (ingest.Info, error) {
	src, err := openers.Open(ctx, spec, opts)
	if err != nil {
		return ingest.Info{}, err
	}
	tw := &tarSink{tw: tar.NewWriter(w)}
	info, err := src.Fetch(ctx, tw)
	if err != nil {
		return info, err
	}
	return info, tw.tw.Close() // the end-of-archive marker: only after a complete fetch
}

// tarSink writes what a Source delivers as tar entries, one at a time.
type tarSink struct {
	mu sync.Mutex
	tw *tar.Writer
}

func (s *tarSink) header(h *tar.Header) error {
	h.Format = tar.FormatPAX
	h.ModTime = time.Time{}
	return s.tw.WriteHeader(h)
}

func (s *tarSink) Dir(name string, mode fs.FileMode) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: int64(mode.Perm())})
}

func (s *tarSink) File(ctx context.Context, name string, mode fs.FileMode, size int64, wantSHA256 string, r io.Reader) error {
	if size < 0 {
		// tar needs the size first: spool.
		f, err := os.CreateTemp("", "release-agent-fetch-")
		if err != nil {
			return err
		}
		defer f.Close()
		os.Remove(f.Name())
		if size, err = io.Copy(f, r); err != nil {
			return fmt.Errorf("entry %q: %w", name, err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		r = f
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode.Perm()), Size: size}); err != nil {
		return err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(s.tw, h), io.LimitReader(r, size+1))
	if errors.Is(err, tar.ErrWriteTooLong) {
		n = size + 1
	} else if err != nil {
		return fmt.Errorf("entry %q: %w", name, err)
	}
	if n != size {
		return &safewrite.EntryError{Entry: name, Err: fmt.Errorf("%w: declared %d bytes", safewrite.ErrSizeMismatch, size)}
	}
	if wantSHA256 != "" && !strings.EqualFold(hex.EncodeToString(h.Sum(nil)), wantSHA256) {
		return &safewrite.EntryError{Entry: name, Err: safewrite.ErrChecksum}
	}
	return nil
}

func (s *tarSink) Symlink(name, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

func (s *tarSink) Hardlink(name, target string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target})
}

// Existing answers false: the helper does not know the live release (see
// the package documentation).
func (s *tarSink) Existing(string, fs.FileMode, string) (bool, error) { return false, nil }

// Opener returns the opener by which releasectl opens a scheme ("s3")
// it does not link: it runs helper (a program name, looked for beside the
// running executable, then on PATH; or a path with a slash) as
// `helper fetch-source SPEC [SHA256]`.
func Opener(helper string) ingest.Opener {
	return func(ctx context.Context, spec string, opts ingest.Options) (ingest.Source, error) {
		bin, err := LookHelper(helper)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", spec, err)
		}
		return &source{bin: bin, spec: spec, opts: opts}, nil
	}
}

type source struct {
	bin, spec string
	opts      ingest.Options
}

// Fetch runs the helper and extracts its stream into sink.
func (s *source) Fetch(ctx context.Context, sink safewrite.Sink) (ingest.Info, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	args := []string{Verb, s.spec}
	if s.opts.SHA256 != "" {
		args = append(args, s.opts.SHA256)
	}
	cmd := exec.CommandContext(ctx, s.bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return ingest.Info{}, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		return ingest.Info{}, err
	}
	defer resR.Close()
	cmd.ExtraFiles = []*os.File{resW}
	if err := cmd.Start(); err != nil {
		resW.Close()
		return ingest.Info{}, fmt.Errorf("source %q: running %s: %w", s.spec, s.bin, err)
	}
	resW.Close()
	xerr := archive.ExtractTar(ctx, out, sink)
	if xerr != nil {
		cancel() // the helper stops; its result is the cause, if it has one
	}
	io.Copy(io.Discard, out)
	var r result
	derr := json.NewDecoder(resR).Decode(&r)
	werr := cmd.Wait()
	switch {
	case r.Error != "":
		return ingest.Info{}, errors.New(r.Error)
	case xerr != nil:
		return ingest.Info{}, xerr
	case derr != nil || werr != nil || r.Info == nil:
		return ingest.Info{}, fmt.Errorf("source %q: %s %s failed: %w %s", s.spec, s.bin, Verb, errors.Join(werr, derr), strings.TrimSpace(stderr.String()))
	}
	return *r.Info, nil
}

// LookHelper finds helper (a program name, looked for beside the running
// executable, then on PATH; or a path with a slash). Like os/exec.LookPath, it
// ignores relative PATH entries.
func LookHelper(helper string) (string, error) {
	if strings.Contains(helper, "/") {
		return helper, nil
	}
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), helper); isExecutable(p) {
			return p, nil
		}
	}
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if filepath.IsAbs(dir) && isExecutable(filepath.Join(dir, helper)) {
			return filepath.Join(dir, helper), nil
		}
	}
	return "", fmt.Errorf("this source needs %s, which fetches it for releasectl (they are installed together; releasectl does not link the S3 client, to keep rollbacks fast): not found beside releasectl or on PATH", helper)
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
