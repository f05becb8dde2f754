package config

import (
	"github.com/example/release-agent/hashassets"
	"github.com/example/release-agent/internal/service"
	"github.com/example/release-agent/validate"
)

// ServiceSite maps a configured site to the service's view of it: root,
// keep, and the hashing and validation policy. releasectl (direct mode
// with --site) and the daemon use it, so both deploy a site the same way.
func ServiceSite(s *Site) *service.Site {
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
	pol := &service.Policy{Validate: &o, NoHash: !s.Hash.Enabled, NoVerify: s.Validate.Policy == "off", CarryOver: s.Hash.CarryOver}
	if s.Hash.Include != nil || s.Hash.Exclude != nil {
		pol.Hash = &hashassets.Options{Include: s.Hash.Include, Exclude: s.Hash.Exclude}
	}
	return &service.Site{Name: s.Name, Root: s.Root, Keep: s.Keep, Policy: pol}
}

// ServiceSites returns every site of c for service.Local.Sites.
func (c *Config) ServiceSites() map[string]*service.Site {
	m := make(map[string]*service.Site, len(c.Sites))
	for i := range c.Sites {
		m[c.Sites[i].Name] = ServiceSite(&c.Sites[i])
	}
	return m
}

// LoadSites reads the configuration at path and returns its sites, for
// releasectl when no daemon is running.
func LoadSites(path string) (map[string]*service.Site, error) {
	c, err := Load(path)
	if err != nil {
		return nil, err
	}
	return c.ServiceSites(), nil
}
