package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
)

func init() {
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
