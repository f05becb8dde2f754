package s3

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/example/release-agent/manifest"
)

func readMarker(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "markers", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseMarker(t *testing.T) {
	if fs, err := ParseMarker(readMarker(t, "empty.txt")); err != nil || fs != nil {
		t.Fatalf("empty: %v %v", fs, err)
	}
	fs, err := ParseMarker(readMarker(t, "list.json"))
	if err != nil || len(fs) != 2 || fs[0].Path != "index.html" || *fs[0].Size != 5 || fs[1].Size != nil {
		t.Fatalf("json: %+v %v", fs, err)
	}
	fs, err = ParseMarker(readMarker(t, "sha256sum.txt"))
	if err != nil || len(fs) != 1 || fs[0].Path != "index.html" || fs[0].SHA256 != "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" {
		t.Fatalf("sha256sum: %+v %v", fs, err)
	}
	for _, bad := range []string{"escape.json", "badsum.txt"} {
		if _, err := ParseMarker(readMarker(t, bad)); !errors.Is(err, ErrBadMarker) {
			t.Errorf("%s: err = %v, want ErrBadMarker", bad, err)
		}
	}
}

func FuzzParseMarker(f *testing.F) {
	ents, err := os.ReadDir(filepath.Join("testdata", "markers"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range ents {
		f.Add(readMarker(f, e.Name()))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := ParseMarker(b)
		if err != nil {
			if !errors.Is(err, ErrBadMarker) {
				t.Fatalf("error without ErrBadMarker: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, f := range fs {
			if !manifest.ValidPath(f.Path) || !isHexSHA256(f.SHA256) || seen[f.Path] {
				t.Fatalf("accepted a bad entry %+v", f)
			}
			seen[f.Path] = true
		}
	})
}

func TestParseSpec(t *testing.T) {
	for spec, want := range map[string]Spec{
		"s3://bkt/site.tar.gz":             {Bucket: "bkt", Key: "site.tar.gz"},
		"s3://bkt/www/":                    {Bucket: "bkt", Key: "www/"},
		"s3://bkt/":                        {Bucket: "bkt"},
		"s3://bkt/a.zip?versionId=abc%2B1": {Bucket: "bkt", Key: "a.zip", VersionID: "abc+1"},
	} {
		got, err := ParseSpec(spec)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v", spec, got, err)
		}
	}
	for _, bad := range []string{"s3://AK:SK@bkt/x", "s3://b/x", "http://bkt/x", "s3://bkt/www/?versionId=1", "s3://bkt/x?acl=1"} {
		if _, err := ParseSpec(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("%s: err = %v, want ErrBadSpec", bad, err)
		}
	}
}
