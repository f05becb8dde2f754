package daemon

import (
	"log/slog"

	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/internal/ingest"
	"github.com/example/release-agent/internal/ingest/s3"
)

// S3: the daemon makes one s3.Client from its [s3] section and shares it
// between every deploy (service.Local.Sources) and every S3 trigger
// (listen, poll). A reload makes a new client only when [s3] changed, so
// a key removed from the file goes back to its default; a credentials
// file is read at every request, so rotating it needs no reload. The
// daemon reads no AWS_ENDPOINT_URL*/AWS_REGION variable; without
// credentials_file the credentials come from the standard chain
// (AWS_ACCESS_KEY_ID..., the shared credentials file, the instance role).

// newS3Client makes the daemon's S3 client (a variable for tests that
// count the clients made).
var newS3Client = s3.NewClient

// s3Config maps the [s3] section to the s3 package's Config.
func s3Config(c config.S3, log *slog.Logger) s3.Config {
	return s3.Config{
		Endpoint:        c.Endpoint,
		Region:          c.Region,
		Insecure:        c.Insecure,
		CredentialsFile: c.CredentialsFile,
		Logger:          log,
	}
}

// s3Client returns the client for cfg's [s3] section: old's if that
// section did not change, else a new one.
func (d *Daemon) s3Client(cfg *config.Config, old *state) (*s3.Client, error) {
	if old != nil && old.s3 != nil && old.cfg.S3 == cfg.S3 {
		return old.s3, nil
	}
	cl, err := newS3Client(s3Config(cfg.S3, d.log))
	if err != nil {
		return nil, err
	}
	return cl, nil
}

// sources returns the openers of the daemon's deploys: local paths, and
// s3:// on cl.
func sources(cl *s3.Client) ingest.Openers {
	return ingest.Openers{"s3": cl.Open}
}
