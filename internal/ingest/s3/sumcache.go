package s3

import (
	"cmp"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/example/release-agent/internal/fsatomic"
	"github.com/example/release-agent/internal/ingest/safewrite"
)

// SumCacheFile is the name, in the directory of ingest.Options.CacheDir
// (the store's state directory), of the cache of sha256 sums of prefix
// objects downloaded earlier.
const SumCacheFile = "s3-sums.json"

// maxSumCache bounds the entries kept: as many as the files of the
// largest artifact a Writer accepts.
const maxSumCache = safewrite.DefaultMaxFiles

// sumKey identifies one version of one object. The ETag alone is a hint:
// the sha256 it leads to is only used to find a live file that must
// still hash to it (safewrite.Writer.ExistingVerified).
type sumKey struct {
	Bucket  string `json:"b"`
	Key     string `json:"k"`
	ETag    string `json:"e"`
	Version string `json:"v,omitempty"`
	Size    int64  `json:"n"`
}

type sumEntry struct {
	sumKey
	SHA256 string `json:"s"`
	Gen    uint64 `json:"g"` // the fetch that last used it; the oldest go first
}

// sumCache remembers (bucket, key, ETag, version, size) → sha256 of the
// content downloaded and hashed for that object, so that a prefix
// re-uploaded unchanged (aws s3 sync, mc mirror) with an empty marker is
// not downloaded again. It is loaded at the start of a prefix fetch and
// saved, atomically and durably (fsatomic), at its end. A missing,
// unreadable or corrupt file is an empty cache, never an error. Safe for
// concurrent use by the fetch's workers.
type sumCache struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	gen     uint64
	entries map[sumKey]*sumEntry
}

type sumCacheFile struct {
	Version int         `json:"version"`
	Gen     uint64      `json:"gen"`
	Entries []*sumEntry `json:"entries"`
}

// loadSumCache reads the cache in dir ("" : a cache that remembers
// nothing beyond this fetch).
func loadSumCache(dir string, log *slog.Logger) *sumCache {
	c := &sumCache{log: log, entries: map[sumKey]*sumEntry{}}
	if dir == "" {
		return c
	}
	c.path = filepath.Join(dir, SumCacheFile)
	b, err := os.ReadFile(c.path)
	if err != nil {
		if !os.IsNotExist(err) {
			log.Warn("s3: sum cache unreadable, downloading in full", "file", c.path, "err", err)
		}
		return c
	}
	var f sumCacheFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != 1 {
		log.Warn("s3: sum cache corrupt, downloading in full", "file", c.path, "err", err)
		return c
	}
	for i, e := range f.Entries {
		if e == nil || !isHexSHA256(e.SHA256) || e.Size < 0 || e.ETag == "" || e.Bucket == "" {
			log.Warn("s3: sum cache corrupt, downloading in full", "file", c.path, "entry", i+1)
			clear(c.entries)
			return c
		}
		c.entries[e.sumKey] = e
	}
	c.gen = f.Gen
	return c
}

// next starts a fetch: entries it uses or adds are marked with a new
// generation.
func (c *sumCache) next() {
	c.mu.Lock()
	c.gen++
	c.mu.Unlock()
}

// lookup returns the sha256 remembered for k, or "".
func (c *sumCache) lookup(k sumKey) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[k]; e != nil {
		e.Gen = c.gen
		return e.SHA256
	}
	return ""
}

// add remembers that the object k had content with this sha256.
func (c *sumCache) add(k sumKey, sha string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[k] = &sumEntry{sumKey: k, SHA256: sha, Gen: c.gen}
}

// forgetUnder drops the entries of objects under bucket/prefix that this
// fetch did not see (deleted, or replaced by another ETag).
func (c *sumCache) forgetUnder(bucket, prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.Gen != c.gen && k.Bucket == bucket && len(k.Key) >= len(prefix) && k.Key[:len(prefix)] == prefix {
			delete(c.entries, k)
		}
	}
}

// save writes the cache, keeping the maxSumCache most recently used
// entries. A failure is logged, not returned: the next fetch downloads
// more, nothing else.
func (c *sumCache) save() {
	if c.path == "" {
		return
	}
	c.mu.Lock()
	f := sumCacheFile{Version: 1, Gen: c.gen, Entries: make([]*sumEntry, 0, len(c.entries))}
	for _, e := range c.entries {
		f.Entries = append(f.Entries, e)
	}
	c.mu.Unlock()
	// Most recently used first, then a stable order.
	slices.SortFunc(f.Entries, func(a, b *sumEntry) int {
		return cmp.Or(cmp.Compare(b.Gen, a.Gen), cmp.Compare(a.Bucket, b.Bucket), cmp.Compare(a.Key, b.Key),
			cmp.Compare(a.ETag, b.ETag), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Size, b.Size))
	})
	if len(f.Entries) > maxSumCache {
		f.Entries = f.Entries[:maxSumCache]
	}
	b, err := json.Marshal(f)
	if err == nil {
		err = fsatomic.WriteFile(c.path, b, 0o644) // as the store's other state files
	}
	if err != nil {
		c.log.Warn("s3: cannot save the sum cache (the next pull downloads more)", "file", c.path, "err", err)
	}
}
