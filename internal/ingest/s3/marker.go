package s3

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/example/release-agent/manifest"
)

// MarkerFile is one file listed in a completion marker.
type MarkerFile struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	Size   *int64 `json:"size,omitempty"`
}

// maxMarker bounds the marker object (a listing of 200,000 files fits).
const maxMarker = 64 << 20

// ParseMarker parses the content of a prefix's completion marker. An empty
// marker (only white space) lists nothing: every object under the prefix
// belongs to the release. Otherwise it is either JSON,
//
//	{"files": [{"path": "index.html", "sha256": "<hex>", "size": 123}, ...]}
//
// (or just the array), or the output of sha256sum: "<hex>  path" per line
// ("*path" for binary mode is accepted). Paths are relative to the prefix.
// A listed marker makes the release exactly the listed files, each
// verified against its sha256. Errors wrap ErrBadMarker and name the line
// or entry.
func ParseMarker(b []byte) ([]MarkerFile, error) {
	t := bytes.TrimSpace(b)
	if len(t) == 0 {
		return nil, nil
	}
	var files []MarkerFile
	switch t[0] {
	case '{':
		var doc struct {
			Files *[]MarkerFile `json:"files"`
		}
		if err := json.Unmarshal(t, &doc); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMarker, err)
		}
		if doc.Files == nil {
			return nil, fmt.Errorf("%w: no \"files\" list", ErrBadMarker)
		}
		files = *doc.Files
	case '[':
		if err := json.Unmarshal(t, &files); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMarker, err)
		}
	default:
		sc := bufio.NewScanner(bytes.NewReader(t))
		sc.Buffer(nil, 64<<10)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimRight(sc.Text(), "\r")
			if strings.TrimSpace(line) == "" {
				continue
			}
			sum, name, ok := strings.Cut(line, " ")
			if !ok || len(name) < 2 || (name[0] != ' ' && name[0] != '*') {
				return nil, fmt.Errorf("%w: line %d: want \"<sha256>  <path>\"", ErrBadMarker, n)
			}
			files = append(files, MarkerFile{Path: name[1:], SHA256: sum})
		}
		if err := sc.Err(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadMarker, err)
		}
	}
	seen := make(map[string]bool, len(files))
	for i := range files {
		f := &files[i]
		f.SHA256 = strings.ToLower(f.SHA256)
		if !manifest.ValidPath(f.Path) {
			return nil, fmt.Errorf("%w: entry %d: path %q is not a clean relative path", ErrBadMarker, i+1, f.Path)
		}
		if !isHexSHA256(f.SHA256) {
			return nil, fmt.Errorf("%w: entry %q: sha256 %q is not 64 hex digits", ErrBadMarker, f.Path, f.SHA256)
		}
		if f.Size != nil && *f.Size < 0 {
			return nil, fmt.Errorf("%w: entry %q: negative size", ErrBadMarker, f.Path)
		}
		if seen[f.Path] {
			return nil, fmt.Errorf("%w: entry %q listed twice", ErrBadMarker, f.Path)
		}
		seen[f.Path] = true
	}
	return files, nil
}
