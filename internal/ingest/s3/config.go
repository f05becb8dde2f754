package s3

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Config is how to reach the S3 service. Credentials are never part of it
// (nor of a SOURCE string): they come from minio-go's credential chain.
type Config struct {
	// Endpoint is "host[:port]" or a URL ("http://127.0.0.1:9000"); a URL's
	// scheme decides TLS. Empty: AWS_ENDPOINT_URL_S3, then
	// AWS_ENDPOINT_URL, then s3.amazonaws.com.
	Endpoint string
	// Region (default AWS_REGION, then AWS_DEFAULT_REGION, then
	// auto-detected by the client).
	Region string
	// Insecure turns TLS off (plain HTTP) for a host:port Endpoint.
	Insecure bool
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// Lookup is "auto" (default), "path" or "dns" (virtual-host style).
	Lookup string
	// Creds overrides the credential chain (tests); nil means the chain:
	// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, the
	// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or
	// ~/.aws/credentials, profile AWS_PROFILE), then the instance role.
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
// region from AWS_REGION or AWS_DEFAULT_REGION.
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

// defaultCreds is minio-go's chain in the order the AWS SDKs use.
func defaultCreds() *credentials.Credentials {
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{}, // AWS_SHARED_CREDENTIALS_FILE / ~/.aws/credentials, AWS_PROFILE
		&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport, Timeout: 5 * time.Second}},
	})
}

// NewClient returns a minio-go client for c. Retries are ours (see
// Retry), so the client's own are off.
func NewClient(c Config) (*minio.Client, error) {
	endpoint, secure := c.Endpoint, !c.Insecure
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return nil, fmt.Errorf("s3 endpoint %q: %w", endpoint, err)
		}
		switch u.Scheme {
		case "http":
			secure = false
		case "https":
			secure = true
		default:
			return nil, fmt.Errorf("s3 endpoint %q: scheme must be http or https", endpoint)
		}
		if u.Path != "" && u.Path != "/" {
			return nil, fmt.Errorf("s3 endpoint %q: a path is not supported", endpoint)
		}
		endpoint = u.Host
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("s3 CA file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("s3 CA file %s: no PEM certificates in it", c.CAFile)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	lookup := minio.BucketLookupAuto
	switch c.Lookup {
	case "", "auto":
	case "path":
		lookup = minio.BucketLookupPath
	case "dns", "virtual-host":
		lookup = minio.BucketLookupDNS
	default:
		return nil, fmt.Errorf("s3 bucket lookup %q: want auto, path or dns", c.Lookup)
	}
	creds := c.Creds
	if creds == nil {
		creds = defaultCreds()
	}
	return minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    tr,
		Region:       c.Region,
		BucketLookup: lookup,
		MaxRetries:   1,
	})
}
