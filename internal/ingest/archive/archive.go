// Package archive reads artifact archives (tar, tar.gz, tar.zst, zip) as a
// stream of entries into a safewrite.Sink.
//
// The readers here only translate archive entries into Sink calls; all the
// safety checks on names, link targets, sizes and limits are the Sink's
// (safewrite.Writer). What the readers decide themselves: device, fifo and
// socket entries are refused with safewrite.ErrUnsupported, encrypted zip
// entries likewise, and metadata entries (pax headers, GNU long names,
// volume labels) are skipped. Every error names the entry at fault.
//
// Decompression is streaming with bounded memory: gzip uses
// klauspost/compress/gzip, zstd uses klauspost/compress/zstd with a window
// of at most MaxZstdWindow and a single decoder goroutine.
package archive

//go:generate go run ./internal/gen -out testdata

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/example/release-agent/internal/ingest/safewrite"
)

// Format is an archive format.
type Format string

// The formats Detect knows.
const (
	Tar    Format = "tar"
	TarGz  Format = "tar.gz"
	TarZst Format = "tar.zst"
	Zip    Format = "zip"
)

// ErrUnknownFormat is returned (wrapped) by Detect for a name without a
// known archive extension.
var ErrUnknownFormat = errors.New("unknown archive format")

// ErrTrailingData is returned (wrapped) when a compressed tar has more than
// MaxTrailing bytes after the end of the tar archive.
var ErrTrailingData = errors.New("data after the end of the archive")

// MaxZstdWindow bounds the memory a zstd stream may ask for.
const MaxZstdWindow = 64 << 20

// MaxTrailing is how much data after the tar end-of-archive marker is read
// (and discarded) so that the compressed stream's own checksum is verified.
const MaxTrailing = 1 << 20

// Detect returns the format of an archive named name, by its extension
// (.tar, .tar.gz, .tgz, .tar.zst, .tzst, .zip; case-insensitive).
func Detect(name string) (Format, error) {
	l := strings.ToLower(name)
	switch {
	case strings.HasSuffix(l, ".tar"):
		return Tar, nil
	case strings.HasSuffix(l, ".tar.gz"), strings.HasSuffix(l, ".tgz"):
		return TarGz, nil
	case strings.HasSuffix(l, ".tar.zst"), strings.HasSuffix(l, ".tzst"):
		return TarZst, nil
	case strings.HasSuffix(l, ".zip"):
		return Zip, nil
	}
	return "", fmt.Errorf("%s: %w (want .tar, .tar.gz, .tgz, .tar.zst, .tzst or .zip)", name, ErrUnknownFormat)
}

// Extract reads an archive of format f from r into sink. A zip needs
// random access: r must then be an io.ReaderAt with a Stat or Size method
// (an *os.File is), otherwise use ExtractZip.
func Extract(ctx context.Context, r io.Reader, f Format, sink safewrite.Sink) error {
	switch f {
	case Tar:
		return ExtractTar(ctx, r, sink)
	case TarGz:
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 64<<10))
		if err != nil {
			return fmt.Errorf("archive: gzip: %w", err)
		}
		defer zr.Close()
		ar := newAheadReader(zr)
		defer ar.Close()
		if err := ExtractTar(ctx, ar, sink); err != nil {
			return err
		}
		return drain(ar, "gzip")
	case TarZst:
		zr, err := zstd.NewReader(r,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxWindow(MaxZstdWindow),
			zstd.WithDecoderMaxMemory(safewrite.DefaultMaxBytes),
			zstd.WithDecoderLowmem(true))
		if err != nil {
			return fmt.Errorf("archive: zstd: %w", err)
		}
		defer zr.Close()
		ar := newAheadReader(zr)
		defer ar.Close()
		if err := ExtractTar(ctx, ar, sink); err != nil {
			return err
		}
		return drain(ar, "zstd")
	case Zip:
		ra, ok := r.(io.ReaderAt)
		if !ok {
			return errors.New("archive: zip needs random access (io.ReaderAt); use ExtractZip")
		}
		var size int64
		switch s := r.(type) {
		case interface{ Size() int64 }:
			size = s.Size()
		case interface{ Stat() (os.FileInfo, error) }:
			fi, err := s.Stat()
			if err != nil {
				return fmt.Errorf("archive: zip: %w", err)
			}
			size = fi.Size()
		default:
			return errors.New("archive: zip needs the archive size; use ExtractZip")
		}
		return ExtractZip(ctx, ra, size, sink)
	}
	return fmt.Errorf("archive: %w %q", ErrUnknownFormat, f)
}

// drain reads what follows the tar end marker so that the decompressor
// verifies its checksum, refusing more than MaxTrailing bytes.
func drain(r io.Reader, what string) error {
	n, err := io.Copy(io.Discard, io.LimitReader(r, MaxTrailing+1))
	if err != nil {
		return fmt.Errorf("archive: %s stream after the tar end: %w", what, err)
	}
	if n > MaxTrailing {
		return fmt.Errorf("archive: %s: %w (more than %d bytes)", what, ErrTrailingData, MaxTrailing)
	}
	return nil
}

func entryErr(name string, err error) error {
	return &safewrite.EntryError{Entry: name, Err: err}
}

// ExtractTar reads a plain (uncompressed) tar stream into sink. Callers
// wrap compressed streams (see Extract). Directories, regular files,
// symlinks and hardlinks are staged; pax and GNU metadata entries are
// skipped; character and block devices and fifos are refused with
// safewrite.ErrUnsupported. ctx is checked between entries (and by the sink
// while a file streams).
func ExtractTar(ctx context.Context, r io.Reader, sink safewrite.Sink) error {
	tt := &tailReader{r: r}
	tr := tar.NewReader(tt)
	prev := ""
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("archive: tar: %w", err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			// archive/tar also reports a stream cut at a block boundary
			// (or in the padding after a file) as a clean end: insist on
			// the end-of-archive marker, so that a truncated download is
			// not staged as a smaller site.
			if !tt.endMarker() {
				return fmt.Errorf("archive: tar: truncated after entry %q (no end-of-archive marker): %w", prev, io.ErrUnexpectedEOF)
			}
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			if prev == "" {
				return fmt.Errorf("archive: tar: first header: %w", err)
			}
			return fmt.Errorf("archive: tar: header after entry %q: %w", prev, err)
		}
		if err != nil { // ErrInsecurePath (GODEBUG=tarinsecurepath=0)
			return entryErr(hdr.Name, fmt.Errorf("%w: %w", safewrite.ErrUnsafePath, err))
		}
		prev = hdr.Name
		if err := tarEntry(ctx, tr, hdr, sink); err != nil {
			return err
		}
	}
}

// tailReader remembers the last block read, to check the end marker.
type tailReader struct {
	r     io.Reader
	total int64
	tail  [512]byte
}

func (t *tailReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n >= len(t.tail) {
		copy(t.tail[:], p[n-len(t.tail):n])
	} else if n > 0 {
		copy(t.tail[:], t.tail[n:])
		copy(t.tail[len(t.tail)-n:], p[:n])
	}
	t.total += int64(n)
	return n, err
}

// endMarker reports whether the stream ended on a block boundary with a
// zero block (archive/tar accepts one or two).
func (t *tailReader) endMarker() bool {
	if t.total < 512 || t.total%512 != 0 {
		return false
	}
	for _, b := range t.tail {
		if b != 0 {
			return false
		}
	}
	return true
}

func tarEntry(ctx context.Context, tr *tar.Reader, hdr *tar.Header, sink safewrite.Sink) error {
	switch hdr.Typeflag {
	case tar.TypeDir:
		return sink.Dir(hdr.Name, hdr.FileInfo().Mode().Perm())
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		return sink.File(ctx, hdr.Name, hdr.FileInfo().Mode(), hdr.Size, "", tr)
	case tar.TypeSymlink:
		return sink.Symlink(hdr.Name, hdr.Linkname)
	case tar.TypeLink:
		return sink.Hardlink(hdr.Name, hdr.Linkname)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		return entryErr(hdr.Name, fmt.Errorf("%w: %s", safewrite.ErrUnsupported, typeName(hdr.Typeflag)))
	case tar.TypeXGlobalHeader, tar.TypeXHeader, tar.TypeGNULongName, tar.TypeGNULongLink, 'V':
		return nil // metadata (the reader consumes most of it itself)
	}
	return entryErr(hdr.Name, fmt.Errorf("%w: tar type flag %q", safewrite.ErrUnsupported, hdr.Typeflag))
}

func typeName(f byte) string {
	switch f {
	case tar.TypeChar:
		return "character device"
	case tar.TypeBlock:
		return "block device"
	case tar.TypeFifo:
		return "fifo"
	}
	return fmt.Sprintf("type %q", f)
}

// MaxZipSymlink bounds the target of a zip symlink entry (stored as the
// entry's content).
const MaxZipSymlink = 4096

// ExtractZip reads the zip archive in ra (size bytes) into sink.
// Directories, regular files and symlinks (Unix mode bits in the external
// attributes) are staged; encrypted entries, devices, fifos and sockets are
// refused with safewrite.ErrUnsupported. Compressed data is checked against the
// entry's CRC-32 and declared size. ctx is checked between entries.
func ExtractZip(ctx context.Context, ra io.ReaderAt, size int64, sink safewrite.Sink) error {
	zr, err := zip.NewReader(ra, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return fmt.Errorf("archive: zip: %w", err)
	}
	zr.RegisterDecompressor(zip.Deflate, func(r io.Reader) io.ReadCloser { return flate.NewReader(r) })
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("archive: zip: %w", err)
		}
		if err := zipEntry(ctx, f, sink); err != nil {
			return err
		}
	}
	return nil
}

func zipEntry(ctx context.Context, f *zip.File, sink safewrite.Sink) error {
	if f.Flags&0x1 != 0 {
		return entryErr(f.Name, fmt.Errorf("%w: encrypted zip entry", safewrite.ErrUnsupported))
	}
	mode := f.Mode()
	switch {
	case mode.IsDir():
		return sink.Dir(f.Name, mode.Perm())
	case mode&fs.ModeSymlink != 0:
		if f.UncompressedSize64 > MaxZipSymlink {
			return entryErr(f.Name, fmt.Errorf("%w: symlink target of %d bytes", safewrite.ErrLimit, f.UncompressedSize64))
		}
		rc, err := f.Open()
		if err != nil {
			return entryErr(f.Name, fmt.Errorf("open: %w", err))
		}
		defer rc.Close()
		b, err := io.ReadAll(io.LimitReader(rc, MaxZipSymlink+1))
		if err != nil {
			return entryErr(f.Name, fmt.Errorf("read symlink target: %w", err))
		}
		if len(b) > MaxZipSymlink {
			return entryErr(f.Name, fmt.Errorf("%w: symlink target over %d bytes", safewrite.ErrLimit, MaxZipSymlink))
		}
		return sink.Symlink(f.Name, string(b))
	case mode.IsRegular():
		if f.UncompressedSize64 > 1<<62 {
			return entryErr(f.Name, fmt.Errorf("%w: declared size %d", safewrite.ErrLimit, f.UncompressedSize64))
		}
		rc, err := f.Open()
		if err != nil {
			return entryErr(f.Name, fmt.Errorf("open: %w", err))
		}
		defer rc.Close()
		return sink.File(ctx, f.Name, mode, int64(f.UncompressedSize64), "", zipData{rc})
	}
	return entryErr(f.Name, fmt.Errorf("%w: zip entry of type %v", safewrite.ErrUnsupported, mode.Type()))
}

// zipData reports archive/zip's "more data than the declared size"
// (zip.ErrFormat while reading an entry) as safewrite.ErrSizeMismatch.
type zipData struct{ r io.Reader }

func (z zipData) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if errors.Is(err, zip.ErrFormat) {
		err = fmt.Errorf("%w: %w", safewrite.ErrSizeMismatch, err)
	}
	return n, err
}

// Sniff returns the format of an archive from its first bytes (at least 4
// are needed to tell them apart): gzip (1f 8b) is TarGz, zstd (28 b5 2f fd)
// TarZst, a zip local file header (PK 03 04) or the end record of an empty
// zip (PK 05 06) Zip, and anything else Tar (a tar has no magic at its
// start; its reader then judges the headers). Streamed artifacts have no
// name, so their format is known this way only.
func Sniff(b []byte) Format {
	switch {
	case len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b:
		return TarGz
	case len(b) >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd:
		return TarZst
	case len(b) >= 4 && b[0] == 'P' && b[1] == 'K' && (b[2] == 3 && b[3] == 4 || b[2] == 5 && b[3] == 6):
		return Zip
	}
	return Tar
}
