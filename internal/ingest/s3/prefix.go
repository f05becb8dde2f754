package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/example/release-agent/internal/gopanic"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// fileMode is the mode given to objects (S3 has none); the stage stores
// files read-only.
const fileMode = 0o644

type prefixObject struct {
	key    string // full key
	name   string // relative to the prefix
	size   int64
	want   string // sha256 from the marker
	meta   string // x-amz-meta-sha256 from the listing, if the server gives it
	isDir  bool
	etag   string
	listed bool
}

func (s *Source) fetchPrefix(ctx context.Context, sink safewrite.Sink) (ingest.Info, error) {
	b, prefix := s.spec.Bucket, s.spec.Key
	markerKey := prefix + s.cfg.Marker
	r := s.retrier()
	var c counters
	defer func() {
		s.stats.Downloaded, s.stats.Linked = c.downloaded.Load(), c.linked.Load()
		s.stats.Bytes, s.stats.Resumes = c.bytes.Load(), c.resumes.Load()
	}()

	// 1. The marker: without it the prefix is still being uploaded.
	core := minio.Core{Client: s.client}
	mr, err := openObject(ctx, core, r, b, markerKey, "", &c)
	if err != nil {
		if errors.Is(err, ingest.ErrNotFound) && !isNoSuchBucket(err) {
			return ingest.Info{}, &ObjectError{Bucket: b, Key: markerKey, Err: fmt.Errorf("%w: marker object missing (the upload is not finished)", ErrIncomplete)}
		}
		return ingest.Info{}, err
	}
	mbody, err := io.ReadAll(io.LimitReader(mr, maxMarker+1))
	mr.Close()
	if err != nil {
		return ingest.Info{}, err
	}
	if len(mbody) > maxMarker {
		return ingest.Info{}, &ObjectError{Bucket: b, Key: markerKey, Err: fmt.Errorf("%w: larger than %d bytes", ErrBadMarker, maxMarker)}
	}
	listed, err := ParseMarker(mbody)
	if err != nil {
		return ingest.Info{}, &ObjectError{Bucket: b, Key: markerKey, Err: err}
	}
	markerInfo := mr.info

	// 2. The listing.
	objs := map[string]*prefixObject{}
	for _, f := range listed {
		o := &prefixObject{key: prefix + f.Path, name: f.Path, want: f.SHA256, size: -1, listed: true}
		if f.Size != nil {
			o.size = *f.Size
		}
		objs[o.key] = o
	}
	// With a file list, the marker (written last) is the whole truth: no
	// listing, and an unchanged file costs no request at all. Without
	// one, the listing is the release.
	if len(listed) == 0 {
		if err := s.listPrefix(ctx, r, objs, markerKey); err != nil {
			return ingest.Info{}, err
		}
	}
	s.stats.Objects = int64(len(objs))
	// Without sums in the marker, the sums of objects downloaded before
	// (by ETag and size) find unchanged files in the live release.
	var cache *sumCache
	if len(listed) == 0 {
		cache = loadSumCache(s.opts.CacheDir, s.cfg.Logger)
		cache.next()
	}

	// 3. Directories first (explicit "dir/" keys), then files in parallel.
	var files []*prefixObject
	for _, o := range objs {
		if o.isDir {
			name := strings.TrimSuffix(o.name, "/")
			if name == "" {
				continue
			}
			if err := sink.Dir(name, 0o755); err != nil {
				return ingest.Info{}, &ObjectError{Bucket: b, Key: o.key, Err: err}
			}
			continue
		}
		files = append(files, o)
	}
	if err := parallel(ctx, s.cfg.Concurrency, files, func(ctx context.Context, o *prefixObject) error {
		return s.fetchOne(ctx, core, r, sink, o, cache, &c)
	}); err != nil {
		return ingest.Info{}, err
	}

	// 4. The marker must not have changed meanwhile (a new upload in
	// progress would mix two releases).
	var now minio.ObjectInfo
	err = r.do(ctx, "stat "+markerKey, func() error {
		var err error
		now, err = s.client.StatObject(ctx, b, markerKey, minio.StatObjectOptions{})
		return err
	})
	if err != nil {
		return ingest.Info{}, &ObjectError{Bucket: b, Key: markerKey, Err: fmt.Errorf("%w: marker gone after the pull (%w)", ErrChanged, err)}
	}
	if now.ETag != markerInfo.ETag {
		return ingest.Info{}, &ObjectError{Bucket: b, Key: markerKey, Err: fmt.Errorf("%w: marker rewritten during the pull", ErrChanged)}
	}

	if cache != nil {
		cache.forgetUnder(b, prefix)
		cache.save()
	}

	info := ingest.Info{Spec: s.spec.String(), Kind: "s3-prefix", Size: c.bytes.Load(), Meta: map[string]string{}}
	metaInfo(info.Meta, "marker_", markerInfo)
	info.Meta["key"] = prefix
	info.Meta["bucket"] = b
	info.Meta["objects"] = strconv.Itoa(len(files))
	info.Meta["downloaded"] = strconv.FormatInt(c.downloaded.Load(), 10)
	info.Meta["linked"] = strconv.FormatInt(c.linked.Load(), 10)
	return info, nil
}

func metaFromList(oi minio.ObjectInfo) string {
	for _, m := range []minio.StringMap{oi.UserMetadataStripped, oi.UserMetadata} {
		for k, v := range m {
			lk := strings.ToLower(k)
			if lk == "sha256" || lk == "x-amz-meta-sha256" {
				v = strings.ToLower(strings.TrimSpace(v))
				if isHexSHA256(v) {
					return v
				}
			}
		}
	}
	return ""
}

// verifyingSink is a Sink that can link a live file for a remembered
// sha256, checking its content first (safewrite.Writer).
type verifyingSink interface {
	ExistingVerified(name string, mode fs.FileMode, sha256 string) (bool, error)
}

// fetchOne stages one object: linked from the live release when its sha256
// is known and present there, downloaded (and verified) otherwise. cache
// (nil when the marker lists sums) gives the sha256 of an object seen
// before with the same ETag and size; the live file found with it is
// linked only if its content still hashes to it.
func (s *Source) fetchOne(ctx context.Context, core minio.Core, r retrier, sink safewrite.Sink, o *prefixObject, cache *sumCache, c *counters) error {
	oerr := func(err error) error {
		var oe *ObjectError
		if errors.As(err, &oe) {
			return err
		}
		if errors.Is(err, safewrite.ErrChecksum) {
			err = fmt.Errorf("%w: %w", ingest.ErrChecksum, err)
		}
		return &ObjectError{Bucket: s.spec.Bucket, Key: o.key, Err: err}
	}
	known := o.want
	if known == "" {
		known = o.meta
	}
	if known != "" {
		ok, err := sink.Existing(o.name, fileMode, known)
		if err != nil {
			return oerr(err)
		}
		if ok {
			c.linked.Add(1)
			return nil
		}
	}
	var ck sumKey
	useCache := cache != nil && known == "" && !o.listed && o.etag != "" && o.size >= 0
	if useCache {
		ck = sumKey{Bucket: s.spec.Bucket, Key: o.key, ETag: strings.Trim(o.etag, `"`), Size: o.size}
		if vs, ok := sink.(verifyingSink); ok {
			if sha := cache.lookup(ck); sha != "" {
				ok, err := vs.ExistingVerified(o.name, fileMode, sha)
				if err != nil {
					return oerr(err)
				}
				if ok {
					c.linked.Add(1)
					return nil
				}
			}
		}
	}
	rd, err := openObject(ctx, core, r, s.spec.Bucket, o.key, "", c)
	if err != nil {
		if o.listed && errors.Is(err, ingest.ErrNotFound) && !isNoSuchBucket(err) {
			return &ObjectError{Bucket: s.spec.Bucket, Key: o.key, Err: fmt.Errorf("%w: listed in the marker but not uploaded", ErrIncomplete)}
		}
		return err
	}
	defer rd.Close()
	if o.listed && o.size >= 0 && rd.info.Size != o.size {
		return oerr(fmt.Errorf("%w: size %d, the marker says %d", ingest.ErrChecksum, rd.info.Size, o.size))
	}
	if o.meta != "" && o.want != "" && o.meta != o.want {
		return oerr(fmt.Errorf("%w: x-amz-meta-sha256 %s, the marker says %s", ingest.ErrChecksum, o.meta, o.want))
	}
	meta, sum, err := pipelineSHA256(rd.info)
	if err != nil {
		return oerr(err)
	}
	rd.expect(o.want)
	rd.expect(meta)
	rd.expect(sum)
	if known == "" && (meta != "" || sum != "") {
		known = meta
		if known == "" {
			known = sum
		}
		ok, err := sink.Existing(o.name, fileMode, known)
		if err != nil {
			return oerr(err)
		}
		if ok {
			c.linked.Add(1)
			return nil
		}
	}
	if o.etag != "" && strings.Trim(rd.info.ETag, `"`) != strings.Trim(o.etag, `"`) {
		return oerr(fmt.Errorf("%w: ETag %s, listed as %s", ErrChanged, rd.info.ETag, o.etag))
	}
	if err := sink.File(ctx, o.name, fileMode, rd.info.Size, known, rd); err != nil {
		return oerr(err)
	}
	if useCache && rd.off == rd.info.Size { // every byte read and hashed
		cache.add(ck, rd.sum())
	}
	c.downloaded.Add(1)
	return nil
}

// parallel runs fn on every item with at most n at a time. The first error
// cancels the others' context and is returned once all have stopped. A
// panic in fn cancels the others too and is raised again in the caller's
// goroutine once all have stopped (where the pipeline recovers it), not
// left to end the process.
func parallel[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan T)
	var wg sync.WaitGroup
	var pc gopanic.Capture
	for range min(n, len(items)) {
		wg.Go(func() {
			defer pc.Recover()
			finished := false
			defer func() {
				if !finished {
					cancel(errWorkerPanicked)
				}
			}()
			for it := range work {
				if ctx.Err() != nil {
					continue
				}
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
			finished = true
		})
	}
send:
	for _, it := range items {
		select {
		case work <- it:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	wg.Wait()
	pc.Repanic()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	return nil
}

// errWorkerPanicked cancels the other workers of parallel when one
// panicked; the panic itself is raised again by parallel.
var errWorkerPanicked = errors.New("a download worker panicked")

func isNoSuchBucket(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && er.Code == "NoSuchBucket"
}

// listPrefix fills objs with every object under the prefix but the marker.
func (s *Source) listPrefix(ctx context.Context, r retrier, objs map[string]*prefixObject, markerKey string) error {
	b, prefix := s.spec.Bucket, s.spec.Key
	lopts := minio.ListObjectsOptions{Prefix: prefix, Recursive: true}
	if !s3utils.IsAmazonEndpoint(*s.client.EndpointURL()) {
		lopts.WithMetadata = true // MinIO returns x-amz-meta-* in the listing
	}
	err := r.do(ctx, "list "+prefix, func() error {
		clear(objs)
		for oi := range s.client.ListObjects(ctx, b, lopts) {
			if oi.Err != nil {
				return oi.Err
			}
			if oi.Key == markerKey {
				continue
			}
			objs[oi.Key] = &prefixObject{
				key: oi.Key, name: strings.TrimPrefix(oi.Key, prefix), size: oi.Size, etag: oi.ETag,
				isDir: strings.HasSuffix(oi.Key, "/") && oi.Size == 0, meta: metaFromList(oi),
			}
		}
		return nil
	})
	if err != nil {
		return &ObjectError{Bucket: b, Key: prefix, Err: err}
	}
	return nil
}
