package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// fetchObject streams one archive object into extraction. A zip (which
// needs random access) is spooled to a temporary file first, within
// MaxSpool. The whole object is hashed on the way and verified against
// every sha256 the pipeline gave before Fetch reports success.
func (s *Source) fetchObject(ctx context.Context, sink safewrite.Sink) (ingest.Info, error) {
	b, key := s.spec.Bucket, s.spec.Key
	isZip := strings.HasSuffix(strings.ToLower(key), ".zip")
	var format archive.Format
	if !isZip {
		f, err := archive.Detect(key)
		if err != nil {
			return ingest.Info{}, &ObjectError{Bucket: b, Key: key, Err: err}
		}
		format = f
	}
	r := s.retrier()
	var c counters
	defer func() {
		s.stats.Bytes, s.stats.Resumes = c.bytes.Load(), c.resumes.Load()
		s.stats.Objects = 1
	}()
	core := minio.Core{Client: s.client}

	// A KEY.sha256 object next to the archive (first field: the hex sum).
	sidecar, err := s.readSidecar(ctx, r, core, key+".sha256")
	if err != nil {
		return ingest.Info{}, err
	}

	rd, err := openObject(ctx, core, r, b, key, s.spec.VersionID, &c)
	if err != nil {
		return ingest.Info{}, err
	}
	defer rd.Close()
	meta, sum, err := pipelineSHA256(rd.info)
	if err != nil {
		return ingest.Info{}, &ObjectError{Bucket: b, Key: key, Err: err}
	}
	rd.expect(s.opts.SHA256)
	rd.expect(meta)
	rd.expect(sum)
	rd.expect(sidecar)

	if isZip {
		err = s.extractZip(ctx, rd, sink)
	} else {
		err = archive.Extract(ctx, rd, format, sink)
		if err == nil {
			err = rd.drain() // hash what the extractor did not read (padding)
		}
	}
	if err != nil {
		var oe *ObjectError
		if !errors.As(err, &oe) {
			err = &ObjectError{Bucket: b, Key: key, Err: err}
		}
		return ingest.Info{}, err
	}
	c.downloaded.Add(1)
	info := ingest.Info{Spec: s.spec.String(), Kind: "s3-object", SHA256: rd.sum(), Size: rd.off, Meta: map[string]string{"bucket": b}}
	metaInfo(info.Meta, "", rd.info)
	return info, nil
}

func (s *Source) extractZip(ctx context.Context, rd *objectReader, sink safewrite.Sink) error {
	limit := s.cfg.MaxSpool
	if limit <= 0 {
		limit = safewrite.DefaultMaxBytes
	}
	if rd.info.Size > limit {
		return &ObjectError{Bucket: rd.bucket, Key: rd.key, Err: fmt.Errorf("%w: zip of %d bytes exceeds the spool limit of %d", safewrite.ErrLimit, rd.info.Size, limit)}
	}
	f, err := os.CreateTemp(s.cfg.SpoolDir, "release-agent-zip-*")
	if err != nil {
		return fmt.Errorf("zip spool: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	n, err := io.Copy(f, io.LimitReader(rd, limit+1))
	if err != nil {
		return err
	}
	if n > limit {
		return &ObjectError{Bucket: rd.bucket, Key: rd.key, Err: fmt.Errorf("%w: zip exceeds the spool limit of %d", safewrite.ErrLimit, limit)}
	}
	// rd verified the checksum at EOF: only verified bytes are extracted.
	return archive.ExtractZip(ctx, f, n, sink)
}

func (s *Source) readSidecar(ctx context.Context, r retrier, core minio.Core, key string) (string, error) {
	rd, err := openObject(ctx, core, r, s.spec.Bucket, key, "", nil)
	if errors.Is(err, ingest.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer rd.Close()
	body, err := io.ReadAll(io.LimitReader(rd, 4096))
	if err != nil {
		return "", err
	}
	fields := strings.Fields(string(body))
	if len(fields) == 0 || !isHexSHA256(strings.ToLower(fields[0])) {
		return "", &ObjectError{Bucket: s.spec.Bucket, Key: key, Err: fmt.Errorf("%w: not a sha256 file (want \"<hex>  name\")", ingest.ErrChecksum)}
	}
	return strings.ToLower(fields[0]), nil
}
