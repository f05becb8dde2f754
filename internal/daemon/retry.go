package daemon

import (
	"archive/tar"
	"archive/zip"
	"errors"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/daemon/trigger"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/archive"
	"github.com/example/release-agent/internal/ingest/s3"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// Retry policy of triggered deploys (issue 14): what a failed deploy of an
// S3 artifact becomes for the site's trigger.Queue.

// permanentErrs are the failures that deploying the same artifact again
// cannot cure: the artifact is bad, missing, forbidden or incomplete.
// Everything else (network, 5xx, timeouts, S3 restarting, a busy lock)
// is transient.
var permanentErrs = []error{
	api.ErrRejected, api.ErrUsage, api.ErrNotFound, api.ErrDenied,
	ingest.ErrChecksum, ingest.ErrNotFound,
	s3.ErrAccessDenied, s3.ErrIncomplete, s3.ErrBadMarker, s3.ErrBadSpec, s3.ErrChanged,
	archive.ErrUnknownFormat, archive.ErrTrailingData,
	safewrite.ErrUnsafePath, safewrite.ErrEscapes, safewrite.ErrUnsupported, safewrite.ErrDuplicate,
	safewrite.ErrLimit, safewrite.ErrChecksum, safewrite.ErrSizeMismatch,
	gzip.ErrHeader, gzip.ErrChecksum, zip.ErrFormat, zip.ErrChecksum, zip.ErrAlgorithm, tar.ErrHeader,
	zstd.ErrMagicMismatch, zstd.ErrReservedBlockType, zstd.ErrCompressedSizeTooBig, zstd.ErrBlockTooSmall,
	zstd.ErrUnexpectedBlockSize, zstd.ErrWindowSizeExceeded, zstd.ErrWindowSizeTooSmall, zstd.ErrDecoderSizeExceeded,
	zstd.ErrUnknownDictionary, zstd.ErrFrameSizeExceeded, zstd.ErrFrameSizeMismatch, zstd.ErrCRCMismatch,
	// A panic is a bug: the same artifact would hit it again.
	deploy.ErrPanic,
}

// triggerOutcome classifies the result of a triggered deploy with
// errors.Is on sentinels, never on the message: nil is Deployed, a
// validation rejection Rejected, another permanent failure Failed, and
// anything else Retry.
func triggerOutcome(err error) trigger.Outcome {
	switch {
	case err == nil:
		return trigger.Deployed
	case errors.Is(err, api.ErrRejected):
		return trigger.Rejected
	}
	for _, p := range permanentErrs {
		if errors.Is(err, p) {
			return trigger.Failed
		}
	}
	return trigger.Retry
}

// retryPolicy maps a site's [site.retry] to the queue's policy.
func retryPolicy(r config.Retry) trigger.RetryPolicy {
	return trigger.RetryPolicy{Attempts: r.Attempts, MaxWait: r.MaxWait.D(),
		Backoff: trigger.Backoff{Initial: r.Initial.D(), Max: r.MaxDelay.D()}}
}

// gaveUp records that the site's triggers gave up on an artifact: counted
// in release_agent_trigger_giveups_total and kept for releasectl status
// until a triggered deploy of the site succeeds. (The queue logs it.)
func (w *worker) gaveUp(g trigger.GiveUp) {
	w.d.metrics.giveUps.WithLabelValues(w.site.Name).Inc()
	src := "s3://" + g.Event.Bucket + "/" + g.Event.Key
	msg := ""
	if g.Err != nil {
		msg = g.Err.Error()
	}
	w.giveUp.Store(&api.GiveUp{Source: src, ETag: g.Event.ETag, Attempts: g.Attempts, Error: msg, Time: g.Time.UTC()})
}

// lastGiveUp returns what the site's triggers last gave up on (nil if
// nothing, or a triggered deploy succeeded since).
func (w *worker) lastGiveUp() *api.GiveUp { return w.giveUp.Load() }
