package service

import (
	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/internal/config"
	"github.com/example/release-agent/validate"
)

// SiteFromConfig maps a configured site to the service's view of it:
// root, keep, and the hashing and validation policy. releasectl (direct
// mode with --site) and the daemon both use it, so both deploy a site the
// same way. Package config is a leaf (TOML to structs); this mapping lives
// here, with what it maps to.
func SiteFromConfig(s *config.Site) *Site {
	o := validate.DefaultOptions()
	if pol, err := validate.ParsePolicy(s.Validate.Policy); err == nil {
		o.DefaultPolicy = pol
	}
	if !s.Validate.Fragments {
		o.Policy = map[string]validate.Policy{validate.KindFragment: validate.PolicyOff}
	}
	o.Required = s.Validate.Required
	o.IgnoreFiles = s.Validate.IgnoreFiles
	o.IgnoreURLs = s.Validate.IgnoreURLs
	o.MaxTotalBytes = int64(s.Validate.MaxTotalBytes)
	o.ShrinkLimit = s.Validate.ShrinkPercent / 100
	if s.Validate.MaxFileBytes > 0 {
		o.Budgets = append(o.Budgets, validate.Budget{Glob: "**", MaxBytes: int64(s.Validate.MaxFileBytes), PerFile: true})
	}
	if s.Validate.MaxGrowthPercent > 0 {
		o.Budgets = append(o.Budgets, validate.Budget{Glob: "**", MaxGrowth: s.Validate.MaxGrowthPercent / 100})
	}
	pol := &Policy{Validate: &o, NoHash: !s.Hash.Enabled, NoVerify: s.Validate.Policy == "off", CarryOver: s.Hash.CarryOver}
	if s.Hash.Include != nil || s.Hash.Exclude != nil {
		pol.Hash = &hashassets.Options{Include: s.Hash.Include, Exclude: s.Hash.Exclude}
	}
	pol.CarryFor = s.KeepFor.D()
	site := &Site{Name: s.Name, Root: s.Root, Keep: s.Keep, KeepFor: s.KeepFor.D(), Policy: pol}
	if s.Watch != nil {
		site.CanaryPercent = s.Watch.CanaryPercent
	}
	return site
}

// SitesFromConfig returns every site of c, by name, for Local.Sites.
func SitesFromConfig(c *config.Config) map[string]*Site {
	m := make(map[string]*Site, len(c.Sites))
	for i := range c.Sites {
		m[c.Sites[i].Name] = SiteFromConfig(&c.Sites[i])
	}
	return m
}
