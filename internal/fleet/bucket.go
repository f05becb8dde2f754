package fleet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sort"

	"github.com/minio/minio-go/v7"
)

// maxDoc bounds a document read from the fleet prefix.
const maxDoc = 1 << 20

// Bucket is a fleet's prefix in S3. It holds no state besides the client,
// so it is safe for concurrent use.
type Bucket struct {
	mc     *minio.Client
	bucket string
	prefix string
	url    string
}

// New returns the fleet at url ("s3://bucket/prefix/") on mc. Nothing is
// contacted yet.
func New(mc *minio.Client, url string) (*Bucket, error) {
	b, p, err := ParseURL(url)
	if err != nil {
		return nil, err
	}
	return &Bucket{mc: mc, bucket: b, prefix: p, url: url}, nil
}

// URL returns the fleet's URL.
func (b *Bucket) URL() string { return b.url }

// BucketName and DesiredKey name the object desired.json (for bucket
// notifications).
func (b *Bucket) BucketName() string { return b.bucket }

// DesiredKey is the key of desired.json.
func (b *Bucket) DesiredKey() string { return b.prefix + DesiredName }

// HostKey is the key of host's report.
func (b *Bucket) HostKey(host string) string { return b.prefix + HostsDir + host + ".json" }

// Desired reads desired.json and returns it with its ETag; ErrNoDesired
// if it does not exist.
func (b *Bucket) Desired(ctx context.Context) (*Desired, string, error) {
	body, etag, err := b.get(ctx, b.DesiredKey())
	if err != nil {
		return nil, "", err
	}
	d, err := ParseDesired(body)
	if err != nil {
		return nil, "", fmt.Errorf("s3://%s/%s: %w", b.bucket, b.DesiredKey(), err)
	}
	return d, etag, nil
}

// PutDesired writes d as desired.json if its ETag is still etag, or, when
// etag is "", if it does not exist yet. It returns the new ETag, or
// ErrConflict when another writer got there first. The write is atomic
// (S3 replaces whole objects) and durable once it returns.
func (b *Bucket) PutDesired(ctx context.Context, d *Desired, etag string) (string, error) {
	d.Schema = DesiredSchema
	if err := d.Check(); err != nil {
		return "", fmt.Errorf("s3://%s/%s: not written: %w", b.bucket, b.DesiredKey(), err)
	}
	body, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return "", err
	}
	body = append(body, '\n')
	o := minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true}
	if etag == "" {
		o.SetMatchETagExcept("*")
	} else {
		o.SetMatchETag(etag)
	}
	info, err := b.mc.PutObject(ctx, b.bucket, b.DesiredKey(), bytes.NewReader(body), int64(len(body)), o)
	if err != nil {
		r := minio.ToErrorResponse(err)
		if r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" {
			return "", fmt.Errorf("s3://%s/%s: %w", b.bucket, b.DesiredKey(), ErrConflict)
		}
		return "", fmt.Errorf("write s3://%s/%s: %w", b.bucket, b.DesiredKey(), err)
	}
	return info.ETag, nil
}

// Update applies change to the current desired.json (nil if there is
// none) and writes the result with PutDesired, setting Generation to the
// current one plus one. On ErrConflict it reads again and calls change
// again, up to 10 times, so change must be a pure function of its
// argument. change may return an error to give up (returned as is).
func (b *Bucket) Update(ctx context.Context, change func(cur *Desired) (*Desired, error)) (*Desired, error) {
	for i := 0; ; i++ {
		cur, etag, err := b.Desired(ctx)
		if err != nil && !errors.Is(err, ErrNoDesired) {
			return nil, err
		}
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		next.Generation = 1
		if cur != nil {
			next.Generation = cur.Generation + 1
		}
		_, err = b.PutDesired(ctx, next, etag)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrConflict) || i >= 9 {
			return nil, err
		}
	}
}

// PutHost writes r as hosts/<r.Host>.json (only r.Host writes it).
func (b *Bucket) PutHost(ctx context.Context, r *HostReport) error {
	r.Schema = HostSchema
	body, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	body = append(body, '\n')
	_, err = b.mc.PutObject(ctx, b.bucket, b.HostKey(r.Host), bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "application/json", DisableMultipart: true})
	if err != nil {
		return fmt.Errorf("write s3://%s/%s: %w", b.bucket, b.HostKey(r.Host), err)
	}
	return nil
}

// Host reads host's report; an error wrapping fs-style "not found" is
// returned as ErrNoHost.
func (b *Bucket) Host(ctx context.Context, host string) (*HostReport, error) {
	body, _, err := b.get(ctx, b.HostKey(host))
	if err != nil {
		if errors.Is(err, ErrNoDesired) {
			return nil, fmt.Errorf("s3://%s/%s: %w", b.bucket, b.HostKey(host), ErrNoHost)
		}
		return nil, err
	}
	r, err := ParseHostReport(body)
	if err != nil {
		return nil, fmt.Errorf("s3://%s/%s: %w", b.bucket, b.HostKey(host), err)
	}
	if r.Host != host {
		return nil, fmt.Errorf("s3://%s/%s: %w: it says it is host %q", b.bucket, b.HostKey(host), ErrInvalid, r.Host)
	}
	return r, nil
}

// ErrNoHost: a member has never reported.
var ErrNoHost = errors.New("no report from this host")

// Hosts reads every report under hosts/, sorted by host name. A report
// that cannot be read or parsed is returned as an error naming its key.
func (b *Bucket) Hosts(ctx context.Context) ([]*HostReport, error) {
	var out []*HostReport
	for o := range b.mc.ListObjects(ctx, b.bucket, minio.ListObjectsOptions{Prefix: b.prefix + HostsDir}) {
		if o.Err != nil {
			return nil, fmt.Errorf("list s3://%s/%s%s: %w", b.bucket, b.prefix, HostsDir, o.Err)
		}
		name := path.Base(o.Key)
		if path.Ext(name) != ".json" || path.Dir(o.Key)+"/" != b.prefix+HostsDir {
			continue
		}
		r, err := b.Host(ctx, name[:len(name)-len(".json")])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out, nil
}

// get reads the object key (at most maxDoc bytes) and returns it with
// its ETag; ErrNoDesired (wrapped) when it does not exist.
func (b *Bucket) get(ctx context.Context, key string) ([]byte, string, error) {
	obj, err := b.mc.GetObject(ctx, b.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, "", fmt.Errorf("read s3://%s/%s: %w", b.bucket, key, err)
	}
	defer obj.Close()
	body, err := io.ReadAll(io.LimitReader(obj, maxDoc+1))
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" {
			return nil, "", fmt.Errorf("s3://%s/%s: %w", b.bucket, key, ErrNoDesired)
		}
		return nil, "", fmt.Errorf("read s3://%s/%s: %w", b.bucket, key, err)
	}
	if len(body) > maxDoc {
		return nil, "", fmt.Errorf("s3://%s/%s: %w: larger than %d bytes", b.bucket, key, ErrInvalid, maxDoc)
	}
	st, err := obj.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("read s3://%s/%s: %w", b.bucket, key, err)
	}
	return body, st.ETag, nil
}
