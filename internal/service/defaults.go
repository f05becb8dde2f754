package service

import (
	"context"
	"io/fs"
	"os"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/internal/deploy"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

// Policy of a site for the stages between extraction and commit.
type Policy struct {
	// Validate options; nil means validate.DefaultOptions().
	Validate *validate.Options
	NoHash   bool
	NoVerify bool
	// Hash options; nil means the defaults.
	Hash *hashassets.Options
	// CarryOver: how many earlier releases' hashed assets a new release
	// carries (0: 2; negative: none).
	CarryOver int
	// CarryFor: see deploy.HashStage.CarryFor ([site] keep_for).
	CarryFor time.Duration
}

func (p *Policy) validateOptions() validate.Options {
	if p != nil && p.Validate != nil {
		return *p.Validate
	}
	return validate.DefaultOptions()
}

// stages returns the stages between extraction and commit of a deploy:
// hashing and validation, unless the request or the site's policy turns
// them off.
func stages(site *Site, req api.DeployRequest) []deploy.Stage {
	var st []deploy.Stage
	if !req.NoHash && !site.Policy.noHash() {
		st = append(st, hashStage(site)...)
	}
	if !req.NoVerify && !site.Policy.noVerify() {
		st = append(st, deploy.ValidateStage{Options: site.Policy.validateOptions()})
	}
	return st
}

// validateDir checks dir with the site's policy, against the live release
// of s when there is one (and dir is not it).
func validateDir(ctx context.Context, site *Site, s *releases.Store, dir string) (*api.ValidateResult, error) {
	opts := site.Policy.validateOptions()
	var live fs.FS
	if s != nil {
		if cur, _ := s.Current(); cur != "" && s.Dir(cur) != dir && s.CheckTree(cur) == nil {
			if m, err := s.Manifest(cur); err == nil {
				opts.LiveManifest = m
			}
			opts.LiveLogical = deploy.LogicalNames(s, cur)
			live = os.DirFS(s.Dir(cur))
		}
	}
	rep, err := validate.Check(ctx, os.DirFS(dir), live, opts)
	if err != nil {
		return nil, err
	}
	return &api.ValidateResult{Schema: api.Schema, Rejected: rep.Rejected(), Report: rep}, nil
}

func hashStage(site *Site) []deploy.Stage {
	st := deploy.HashStage{}
	if site.Policy != nil && site.Policy.Hash != nil {
		st.Options = *site.Policy.Hash
	}
	if site.Policy != nil {
		st.CarryOver = site.Policy.CarryOver
		st.CarryFor = site.Policy.CarryFor
	}
	return []deploy.Stage{st}
}

func (p *Policy) noHash() bool   { return p != nil && p.NoHash }
func (p *Policy) noVerify() bool { return p != nil && p.NoVerify }
