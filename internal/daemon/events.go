package daemon

import (
	"context"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/internal/daemon/control"
	"github.com/example/release-agent/releases"
)

var _ control.EventStreamer = (*daemonService)(nil)

// Events implements control.EventStreamer: the journal of a configured
// site, read from its file (releases.Store.FollowJournal), so that every
// writer's events appear: the daemon's, and releasectl --root's.
func (s *daemonService) Events(ctx context.Context, req api.EventsRequest) (func(context.Context, func(api.EventLine) error) error, error) {
	if err := s.target(req.Target); err != nil {
		return nil, err
	}
	st, err := s.local().Status(ctx, req.Target)
	if err != nil {
		return nil, err
	}
	store, err := releases.Open(st.Root)
	if err != nil {
		return nil, err
	}
	site := s.d.siteName(req.Target)
	return func(ctx context.Context, emit func(api.EventLine) error) error {
		return store.FollowJournal(ctx, req.Limit, req.Follow, 0, func(ev releases.Event) error {
			return emit(api.EventLine{Schema: api.Schema, Site: site, Event: ev})
		})
	}, nil
}
