package s3

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/ingest"
)

// objectReader reads one object, resuming after a network or server error
// with a ranged GET pinned to the ETag (and version) of the first response,
// so the bytes delivered are one consistent object or an error. It counts
// the bytes it receives and, if want is set, fails at EOF with a checksum
// error when the content does not hash to it.
type objectReader struct {
	ctx    context.Context
	core   minio.Core
	bucket string
	key    string
	info   minio.ObjectInfo // of the first response
	body   io.ReadCloser
	off    int64
	r      retrier
	h      hash.Hash
	want   []string // expected lowercase hex sha256 values
	c      *counters
	eof    bool
}

// openObject sends the first GET (with retries) and returns the reader and
// the object's info and headers.
func openObject(ctx context.Context, core minio.Core, r retrier, bucket, key, versionID string, c *counters) (*objectReader, error) {
	o := &objectReader{ctx: ctx, core: core, bucket: bucket, key: key, r: r, h: sha256.New(), c: c}
	err := r.do(ctx, "get "+key, func() error {
		opts := minio.GetObjectOptions{VersionID: versionID, Checksum: true}
		body, info, _, err := core.GetObject(ctx, bucket, key, opts)
		if err != nil {
			return err
		}
		o.body, o.info = body, info
		return nil
	})
	if err != nil {
		return nil, &ObjectError{Bucket: bucket, Key: key, Err: err}
	}
	return o, nil
}

// expect adds an expected sha256 (hex) checked at EOF.
func (o *objectReader) expect(sum string) {
	if sum != "" {
		o.want = append(o.want, strings.ToLower(sum))
	}
}

func (o *objectReader) reopen() error {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	return o.r.do(o.ctx, "resume "+o.key, func() error {
		opts := minio.GetObjectOptions{VersionID: o.info.VersionID}
		if err := opts.SetMatchETag(o.info.ETag); err != nil {
			return err
		}
		if err := opts.SetRange(o.off, 0); err != nil {
			return err
		}
		body, _, _, err := o.core.GetObject(o.ctx, o.bucket, o.key, opts)
		if err != nil {
			return err
		}
		o.body = body
		return nil
	})
}

func (o *objectReader) Read(p []byte) (int, error) {
	if o.eof {
		return 0, io.EOF
	}
	for resumes := 0; ; resumes++ {
		if o.body == nil {
			if err := o.reopen(); err != nil {
				return 0, &ObjectError{Bucket: o.bucket, Key: o.key, Err: err}
			}
		}
		n, err := o.body.Read(p)
		if n > 0 {
			o.off += int64(n)
			o.h.Write(p[:n])
			if o.c != nil {
				o.c.bytes.Add(int64(n))
			}
		}
		if err == io.EOF && o.off >= o.info.Size {
			o.eof = true
			if cerr := o.verify(); cerr != nil {
				return n, cerr
			}
			return n, io.EOF
		}
		if err == nil {
			if o.off > o.info.Size {
				return n, &ObjectError{Bucket: o.bucket, Key: o.key, Err: fmt.Errorf("%w: more bytes than its size %d", ErrChanged, o.info.Size)}
			}
			return n, nil
		}
		// Early EOF or a transport error: resume where we are.
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		cerr, retry := classify(err)
		if !retry || resumes >= o.r.cfg.Attempts {
			return n, &ObjectError{Bucket: o.bucket, Key: o.key, Err: cerr}
		}
		if o.r.logf != nil {
			o.r.logf("s3: transfer interrupted, resuming", "key", o.key, "offset", o.off, "err", err)
		}
		o.body.Close()
		o.body = nil
		if o.c != nil {
			o.c.resumes.Add(1)
		}
		if n > 0 {
			return n, nil
		}
	}
}

func (o *objectReader) verify() error {
	got := hex.EncodeToString(o.h.Sum(nil))
	for _, w := range o.want {
		if w != got {
			return &ObjectError{Bucket: o.bucket, Key: o.key, Err: fmt.Errorf("%w: content sha256 %s, expected %s", ingest.ErrChecksum, got, w)}
		}
	}
	return nil
}

// sum returns the sha256 of what was read so far (all of it after EOF).
func (o *objectReader) sum() string { return hex.EncodeToString(o.h.Sum(nil)) }

// drain reads the rest of the object (an archive reader may stop before
// the end of the stream) so that the whole object is hashed and verified.
func (o *objectReader) drain() error {
	_, err := io.Copy(io.Discard, o)
	return err
}

func (o *objectReader) Close() error {
	if o.body != nil {
		err := o.body.Close()
		o.body = nil
		return err
	}
	return nil
}

// pipelineSHA256 returns the sha256 (lowercase hex) the pipeline attached
// to an object: x-amz-meta-sha256, or a full-object x-amz-checksum-sha256.
// meta and checksum are returned separately so both can be verified.
func pipelineSHA256(info minio.ObjectInfo) (meta, checksum string, err error) {
	for k, v := range info.UserMetadata {
		lk := strings.ToLower(k)
		if lk == "sha256" || lk == "x-amz-meta-sha256" {
			meta = strings.ToLower(strings.TrimSpace(v))
		}
	}
	if meta != "" && !isHexSHA256(meta) {
		return "", "", fmt.Errorf("x-amz-meta-sha256 %q is not a hex sha256", meta)
	}
	if c := info.ChecksumSHA256; c != "" && !strings.Contains(c, "-") && !strings.EqualFold(info.ChecksumMode, "COMPOSITE") {
		b, derr := base64.StdEncoding.DecodeString(c)
		if derr == nil && len(b) == sha256.Size {
			checksum = hex.EncodeToString(b)
		}
	}
	return meta, checksum, nil
}

func isHexSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
