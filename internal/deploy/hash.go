package deploy

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/internal/carry"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
)

// HashStage renames assets to content-hashed names and rewrites the
// references to them (package hashassets), then carries over the hashed
// assets of the last CarryOver live releases that this one no longer has,
// so pages loaded before the swap can still fetch them after it.
//
// It sets Work.Hashes (stored beside the record as the "hashes" extra on
// commit) and, when the live release was hashed, Work.LiveLogical.
type HashStage struct {
	Options hashassets.Options
	// CarryOver is how many earlier releases' hashed assets are carried
	// (the live one and the ones live before it). 0 means 2; negative none.
	CarryOver int
	// CarryFor, when positive, also limits carrying by age: an earlier
	// release that left current more than CarryFor ago is not carried
	// from ([site] keep_for). The live release always is.
	CarryFor time.Duration
}

// Name implements Stage.
func (HashStage) Name() string { return "hash" }

// Run implements Stage.
func (h HashStage) Run(ctx context.Context, w *Work) error {
	opts := h.Options
	// The staging tree is private to this deploy and discarded on failure.
	opts.InPlace = true
	opts.Reuse = w.reuseLive()
	// The manifest made while extracting lists the regular files: no walk.
	opts.Files = make([]string, 0, len(w.Manifest.Entries))
	for _, e := range w.Manifest.Entries {
		if !e.IsSymlink() && !e.Carried {
			opts.Files = append(opts.Files, e.Path)
		}
	}
	hm, err := hashassets.HashDir(ctx, w.Dir, opts)
	if err != nil {
		return err
	}
	changed := hm.ChangedFiles()
	entries := make([]manifest.Entry, len(changed))
	for i, f := range changed {
		entries[i] = manifest.Entry{Path: f.Path, Size: f.Size, SHA256: hex.EncodeToString(f.SHA256[:]), Mode: manifest.NormalMode(f.Mode)}
	}
	w.Update(entries)
	w.Record.Hashed = true
	w.Hashes = hm

	k := h.CarryOver
	if k == 0 {
		k = 2
	}
	var linked []string
	for _, id := range recentLive(w.Store, w.Live, k, h.CarryFor) {
		var m hashassets.Manifest
		if err := w.Store.Extra(id, HashesExtra, &m); err != nil {
			continue // not hashed, or pruned: nothing to carry
		}
		hashed := make([]string, len(m.Assets))
		for i, a := range m.Assets {
			hashed[i] = a.Hashed
		}
		if id == w.Live {
			w.LiveLogical = hashedToLogical(&m)
		}
		if err := w.Store.CheckTree(id); err != nil {
			// Missing (deleted by hand), or not a tree the store made:
			// read nothing from it.
			w.Warnings = append(w.Warnings, fmt.Sprintf("carry-over from %s skipped: %v", id, err))
			continue
		}
		l, err := carry.Link(ctx, w.Dir, w.Store.Dir(id), hashed)
		linked = append(linked, l...)
		if err != nil {
			return err
		}
	}
	if len(linked) == 0 {
		return nil
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
// With maxAge, releases that left current more than maxAge ago are left
// out.
func recentLive(s *releases.Store, live string, k int, maxAge time.Duration) []string {
	if live == "" || k <= 0 {
		return nil
	}
	out := []string{live}
	hist, _ := s.LiveHistory()
	var left map[string]time.Time
	if maxAge > 0 {
		left, _ = s.LeftCurrent()
	}
	seen := map[string]bool{live: true}
	for i := len(hist) - 1; i >= 0 && len(out) < k; i-- {
		id := hist[i]
		if seen[id] {
			continue
		}
		seen[id] = true
		if t, ok := left[id]; ok && time.Since(t) > maxAge {
			continue
		}
		if r, err := s.Record(id); err == nil && r.Live() {
			out = append(out, id)
		}
	}
	return out
}

// CarryOnSwitchWarn is carry.OnSwitchWarn.
func CarryOnSwitchWarn(ctx context.Context, s *releases.Store, warn func(string)) releases.Hook {
	return carry.OnSwitchWarn(ctx, s, warn)
}

// CarryOnSwitch is carry.OnSwitch: the hook that, before current moves,
// makes the hashed assets of the release being left reachable in the one
// being activated.
func CarryOnSwitch(ctx context.Context, s *releases.Store) releases.Hook {
	return carry.OnSwitch(ctx, s)
}
