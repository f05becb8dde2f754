package s3

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/example/release-agent/internal/ingest"
)

// Client is a connection to one S3 service: a minio-go client and the
// Config it was made from. It is safe for concurrent use: the daemon makes
// one for its [s3] settings and every deploy source and every trigger
// (listen, poll) uses it, so they share its connection pool and its
// credentials.
type Client struct {
	cfg Config
	mc  *minio.Client
}

// NewClient returns a Client for cfg. Nothing is contacted yet. Retries
// are ours (see Retry), so minio-go's own are off.
func NewClient(cfg Config) (*Client, error) {
	cfg.withDefaults()
	creds := cfg.Creds
	if creds == nil {
		creds = credsFor(cfg)
	}
	mc, err := newMinio(cfg, creds)
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, mc: mc}, nil
}

// Config returns the configuration of c, defaults filled in.
func (c *Client) Config() Config { return c.cfg }

// Minio returns the minio-go client, e.g. for a trigger on a bucket.
func (c *Client) Minio() *minio.Client { return c.mc }

// Source parses spec and returns its Source on c; nothing is contacted
// yet.
func (c *Client) Source(spec string, opts ingest.Options) (*Source, error) {
	s, err := ParseSpec(spec)
	if err != nil {
		return nil, err
	}
	return &Source{spec: s, cfg: c.cfg, opts: opts, client: c.mc}, nil
}

// Open is c's ingest.Opener of s3:// SOURCE strings:
//
//	ingest.Openers{"s3": c.Open}
func (c *Client) Open(_ context.Context, spec string, opts ingest.Options) (ingest.Source, error) {
	return c.Source(spec, opts)
}

// OpenFromEnv is the ingest.Opener of releasectl's direct mode: each call
// makes a client from the environment (ConfigFromEnv and the standard
// credential chain) and opens spec on it.
func OpenFromEnv(ctx context.Context, spec string, opts ingest.Options) (ingest.Source, error) {
	return Open(ctx, ConfigFromEnv(), spec, opts)
}

// credsFor returns the credentials of c: its CredentialsFile alone, or
// minio-go's chain in the order the AWS SDKs use. A credentials file
// without an expiry is read again for every request, so a rotated file
// applies without a new Client.
func credsFor(c Config) *credentials.Credentials {
	if c.CredentialsFile != "" {
		return credentials.New(&credentials.FileAWSCredentials{Filename: c.CredentialsFile})
	}
	return credentials.NewChainCredentials([]credentials.Provider{
		&credentials.EnvAWS{},
		&credentials.FileAWSCredentials{}, // AWS_SHARED_CREDENTIALS_FILE / ~/.aws/credentials, AWS_PROFILE
		&credentials.IAM{Client: &http.Client{Transport: http.DefaultTransport, Timeout: 5 * time.Second}},
	})
}

func newMinio(c Config, creds *credentials.Credentials) (*minio.Client, error) {
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
	return minio.New(endpoint, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    tr,
		Region:       c.Region,
		BucketLookup: lookup,
		MaxRetries:   1,
	})
}
