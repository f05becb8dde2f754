package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/backoff"
	"github.com/example/release-agent/internal/ingest"
)

// Sentinel errors. Callers branch on them with errors.Is; they are wrapped
// in an *ObjectError naming the object.
var (
	// ErrIncomplete: a prefix without its completion marker (the
	// pipeline has not finished uploading), or a file the marker lists
	// that is missing. Nothing is deployed; a later trigger retries.
	ErrIncomplete = errors.New("prefix is incomplete")
	// ErrAccessDenied: the credentials are wrong or lack permission.
	ErrAccessDenied = errors.New("access denied")
	// ErrChanged: the object changed while it was being read (its ETag
	// no longer matches); the next trigger fetches the new one.
	ErrChanged = errors.New("object changed during the pull")
	// ErrUnavailable: network or server errors persisted through every
	// retry.
	ErrUnavailable = errors.New("s3 service unavailable")
	// ErrBadMarker: the completion marker is not a valid file list.
	ErrBadMarker = errors.New("invalid completion marker")
	// ErrBadSpec: a SOURCE string that is not s3://bucket/key or s3://bucket/prefix/.
	ErrBadSpec = errors.New("invalid s3 source")
)

// Not-found and checksum errors wrap ingest.ErrNotFound and
// ingest.ErrChecksum, the errors every source shares.

// ObjectError is an error about one object.
type ObjectError struct {
	Bucket, Key string
	Err         error
}

func (e *ObjectError) Error() string {
	return fmt.Sprintf("s3://%s/%s: %v", e.Bucket, e.Key, e.Err)
}
func (e *ObjectError) Unwrap() error { return e.Err }

// classify maps a minio-go error to a sentinel (wrapping the original) and
// reports whether it is worth retrying.
func classify(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err, false
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) {
		switch er.Code {
		case "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound":
			return fmt.Errorf("%w: %s (%w)", ingest.ErrNotFound, er.Code, err), false
		case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled", "AccountProblem":
			return fmt.Errorf("%w: %s (%w)", ErrAccessDenied, er.Code, err), false
		case "PreconditionFailed":
			return fmt.Errorf("%w (%w)", ErrChanged, err), false
		case "SlowDown", "InternalError", "ServiceUnavailable", "RequestTimeout", "XMinioServerNotInitialized", "XMinioReadQuorum", "XMinioWriteQuorum", "OperationAborted":
			return err, true
		}
		switch {
		case er.StatusCode == http.StatusNotFound:
			return fmt.Errorf("%w: (%w)", ingest.ErrNotFound, err), false
		case er.StatusCode == http.StatusForbidden || er.StatusCode == http.StatusUnauthorized:
			return fmt.Errorf("%w: (%w)", ErrAccessDenied, err), false
		case er.StatusCode == http.StatusPreconditionFailed:
			return fmt.Errorf("%w (%w)", ErrChanged, err), false
		case er.StatusCode >= 500 || er.StatusCode == http.StatusTooManyRequests:
			return err, true
		case er.StatusCode != 0:
			return err, false
		}
	}
	var ne net.Error
	switch {
	case errors.As(err, &ne),
		errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, io.EOF), // a connection closed before the response
		errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE):
		return err, true
	}
	return err, false
}

// retrier runs an operation under the Retry policy.
type retrier struct {
	cfg  Retry
	logf func(msg string, args ...any)
}

func (r retrier) delay(attempt int) time.Duration {
	return backoff.Delay(r.cfg.Initial, r.cfg.Max, attempt)
}

// do calls op until it succeeds, fails for good, or the attempts are used
// up; what names the operation in logs. The returned error is classified.
func (r retrier) do(ctx context.Context, what string, op func() error) error {
	var last error
	for attempt := 0; attempt < r.cfg.Attempts; attempt++ {
		err := op()
		if err == nil {
			return nil
		}
		cerr, retry := classify(err)
		if !retry {
			return cerr
		}
		last = err
		if attempt+1 == r.cfg.Attempts {
			break
		}
		d := r.delay(attempt)
		if r.logf != nil {
			r.logf("s3: retrying", "op", what, "attempt", attempt+1, "delay", d, "err", err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Errorf("%w after %d attempts: %w", ErrUnavailable, r.cfg.Attempts, last)
}
