package pipeline

import (
	"context"
	"fmt"

	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/releases"
)

// HashStage renames assets to content-hashed names and rewrites the
// references to them (package hashassets), then carries over the hashed
// assets of the last CarryOver live releases that this one no longer has,
// so pages loaded before the swap can still fetch them after it.
//
// Its manifest is stored beside the record as the "hashes" extra.
type HashStage struct {
	Options hashassets.Options
	// CarryOver is how many earlier releases' hashed assets are carried
	// (the live one and the ones live before it). 0 means 2; negative none.
	CarryOver int
}

// Name implements Stage.
func (HashStage) Name() string { return "hash" }

// Run implements Stage.
func (h HashStage) Run(ctx context.Context, w *Work) error {
	hm, err := hashassets.HashDir(ctx, w.Dir, h.Options)
	if err != nil {
		return err
	}
	if err := w.Rehash(hm.Changed()); err != nil {
		return err
	}
	w.Record.Hashed = true
	w.Extras["hashes"] = hm
	logical := make(map[string]string, len(hm.Assets))
	for _, a := range hm.Assets {
		logical[a.Hashed] = a.Logical
	}
	w.Extras[logicalKey] = logical

	k := h.CarryOver
	if k == 0 {
		k = 2
	}
	var olds []hashassets.Release
	for _, id := range recentLive(w.Store, w.Live, k) {
		var m hashassets.Manifest
		if err := w.Store.Extra(id, "hashes", &m); err != nil {
			continue // not hashed, or pruned: nothing to carry
		}
		olds = append(olds, hashassets.Release{Dir: w.Store.Dir(id), Manifest: &m})
		if id == w.Live {
			ll := make(map[string]string, len(m.Assets))
			for _, a := range m.Assets {
				ll[a.Hashed] = a.Logical
			}
			w.Extras[liveLogicalKey] = ll
		}
	}
	if len(olds) == 0 {
		return nil
	}
	linked, err := hashassets.CarryOver(ctx, w.Dir, olds)
	if err != nil {
		return fmt.Errorf("carry-over: %w", err)
	}
	if err := w.Rehash(linked); err != nil {
		return err
	}
	carried := make(map[string]bool, len(linked))
	for _, p := range linked {
		carried[p] = true
	}
	for i := range w.Manifest.Entries {
		if carried[w.Manifest.Entries[i].Path] {
			w.Manifest.Entries[i].Carried = true
		}
	}
	return nil
}

// recentLive returns live and up to k-1 releases that were live before
// it and still have trees, newest first.
func recentLive(s *releases.Store, live string, k int) []string {
	if live == "" || k <= 0 {
		return nil
	}
	out := []string{live}
	hist, _ := s.LiveHistory()
	seen := map[string]bool{live: true}
	for i := len(hist) - 1; i >= 0 && len(out) < k; i-- {
		id := hist[i]
		if seen[id] {
			continue
		}
		seen[id] = true
		if r, err := s.Record(id); err == nil && r.Live() {
			out = append(out, id)
		}
	}
	return out
}

// CarryOnSwitch returns the hook that, before current moves from one
// release to another (rollback, activate), makes the hashed assets of the
// release being left reachable in the one being activated, so tabs opened
// on it keep working. Files are added by link(2) under their hashed names,
// which never collide; they are listed in the target's "carried" extra
// before they are linked, so a crash in between leaves only listed names
// missing, never unlisted files present.
func CarryOnSwitch(ctx context.Context, s *releases.Store) releases.Hook {
	return func(from, to string) error {
		if from == "" {
			return nil
		}
		var hm hashassets.Manifest
		if err := s.Extra(from, "hashes", &hm); err != nil {
			return nil // from was not hashed
		}
		var missing []hashassets.Asset
		dst := s.Dir(to)
		for _, a := range hm.Assets {
			if !exists(dst, a.Hashed) {
				missing = append(missing, a)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		var carried []string
		s.Extra(to, "carried", &carried)
		for _, a := range missing {
			carried = append(carried, a.Hashed)
		}
		if err := s.PutExtra(to, "carried", carried); err != nil {
			return err
		}
		_, err := hashassets.CarryOver(ctx, dst, []hashassets.Release{{Dir: s.Dir(from), Manifest: &hashassets.Manifest{Assets: missing}}})
		return err
	}
}
