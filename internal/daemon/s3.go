package daemon

import (
	"os"
	"strings"

	"github.com/example/release-agent/internal/config"
)

// Package source/s3 (imported by hooks.go) registers s3:// sources for
// deploys; the S3 triggers use its client.

// applyS3 publishes the [s3] settings where package source/s3 reads them
// (the AWS SDK environment variables), at start and on every reload, so
// that a changed endpoint or credentials file applies to the next deploy.
// Unset keys leave the environment the service was started with alone.
func applyS3(c config.S3) {
	if c.Endpoint != "" {
		ep := c.Endpoint
		if !strings.Contains(ep, "://") {
			if c.Insecure {
				ep = "http://" + ep
			} else {
				ep = "https://" + ep
			}
		}
		os.Setenv("AWS_ENDPOINT_URL_S3", ep)
	}
	if c.Region != "" {
		os.Setenv("AWS_REGION", c.Region)
	}
	if c.CredentialsFile != "" {
		os.Setenv("AWS_SHARED_CREDENTIALS_FILE", c.CredentialsFile)
	}
}
