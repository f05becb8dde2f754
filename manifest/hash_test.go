package manifest

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
)

func TestManifest(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":  {Data: []byte("hi"), Mode: 0o644},
		"bin/tool":    {Data: []byte(""), Mode: 0o700},
		"latest.html": {Data: []byte("index.html"), Mode: fs.ModeSymlink | 0o777},
	}
	m, err := FromFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Path: "bin/tool", Size: 0, SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Mode: 0o555},
		{Path: "index.html", Size: 2, SHA256: "8f434346648f6b96df89dda901c5176b10a6d83961dd3c1ac88b59b2dc327aa4", Mode: 0o444},
		{Path: "latest.html", Link: "index.html", Mode: 0o777},
	}
	if !slices.Equal(m.Entries, want) {
		t.Errorf("Manifest:\n got %+v\nwant %+v", m.Entries, want)
	}
}

func TestManifestRefusesOtherTypes(t *testing.T) {
	_, err := FromFS(fstest.MapFS{"fifo": {Mode: fs.ModeNamedPipe}})
	if err == nil || !strings.Contains(err.Error(), "fifo") {
		t.Errorf("a named pipe: %v, want an error naming it", err)
	}
}
