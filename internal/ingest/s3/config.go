package s3

import (
	"log/slog"
	"os"
	"time"

	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config is how to reach the S3 service. It is filled explicitly by the
// caller: the daemon maps its configuration file's [s3] section to it,
// releasectl's direct mode takes it from the environment (ConfigFromEnv).
// Only ConfigFromEnv reads AWS_ENDPOINT_URL* and AWS_REGION.
// Credentials are never part of it (nor of a SOURCE string).
type Config struct {
	// Endpoint is "host[:port]" or a URL ("http://127.0.0.1:9000"); a URL's
	// scheme decides TLS. Empty: s3.amazonaws.com.
	Endpoint string
	// Region; empty: auto-detected by the client.
	Region string
	// Insecure turns TLS off (plain HTTP) for a host:port Endpoint.
	Insecure bool
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// Lookup is "auto" (default), "path" or "dns" (virtual-host style).
	Lookup string
	// CredentialsFile, if set, is the only source of credentials: a shared
	// credentials file in the AWS format (profile AWS_PROFILE, or
	// "default"). Empty: the standard chain, see Creds.
	CredentialsFile string
	// Creds overrides the credentials (tests); nil means CredentialsFile
	// if set, else the chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/
	// AWS_SESSION_TOKEN, the shared credentials file
	// (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, profile
	// AWS_PROFILE), then the instance role.
	Creds *credentials.Credentials

	// Concurrency bounds parallel downloads of a prefix (default 8).
	Concurrency int
	// Marker is the completion marker of a prefix (default ".release-complete").
	Marker string
	// MaxSpool bounds the temporary copy of a zip object (which needs
	// seeking); default stage.DefaultMaxBytes.
	MaxSpool int64
	// SpoolDir holds that copy (default os.TempDir()).
	SpoolDir string
	// Retry is the policy for network and 5xx errors.
	Retry Retry
	// Logger (default slog.Default()). Credentials are never logged.
	Logger *slog.Logger
}

// Retry is a capped exponential backoff with jitter.
type Retry struct {
	Attempts int           // tries per request, first included (default 8)
	Initial  time.Duration // first delay (default 200ms)
	Max      time.Duration // cap (default 10s)
}

// DefaultMarker is the default completion marker of a prefix source.
const DefaultMarker = ".release-complete"

// ConfigFromEnv returns the Config the AWS SDKs would use from the
// environment: endpoint from AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
// region from AWS_REGION or AWS_DEFAULT_REGION, extra CAs from
// AWS_CA_BUNDLE. Credentials come from the standard chain (see
// Config.Creds). releasectl's direct mode uses it; the daemon does not.
func ConfigFromEnv() Config {
	c := Config{}
	c.Endpoint = firstEnv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	c.Region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION")
	c.CAFile = os.Getenv("AWS_CA_BUNDLE")
	return c
}

func firstEnv(names ...string) string {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v
		}
	}
	return ""
}

func (c *Config) withDefaults() {
	if c.Concurrency <= 0 {
		c.Concurrency = 8
	}
	if c.Marker == "" {
		c.Marker = DefaultMarker
	}
	if c.Retry.Attempts <= 0 {
		c.Retry.Attempts = 8
	}
	if c.Retry.Initial <= 0 {
		c.Retry.Initial = 200 * time.Millisecond
	}
	if c.Retry.Max <= 0 {
		c.Retry.Max = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}
