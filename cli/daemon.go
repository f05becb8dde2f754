package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
	"github.com/example/release-agent/config"
	"github.com/example/release-agent/service"
)

func init() {
	LoadSites = func(path string) (map[string]*service.Site, error) {
		c, err := config.Load(path)
		if err != nil {
			return nil, err
		}
		return c.ServiceSites(), nil
	}
	Dial = func(ctx context.Context, socket string) (api.Service, error) {
		c := &client.Client{Socket: socket}
		if _, err := c.Ping(ctx); err != nil {
			if errors.Is(err, client.ErrNoDaemon) {
				return nil, fmt.Errorf("%w: %v", ErrNoDaemon, err)
			}
			return nil, err
		}
		return c, nil
	}
}
