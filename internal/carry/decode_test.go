package carry

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/example/release-agent/internal/jsonlite"
)

// FuzzDecodeHashes: whatever decodeHashes handles, encoding/json decodes
// to the same value. Seeds in testdata/fuzz/FuzzDecodeHashes.
func FuzzDecodeHashes(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		var got hashesDoc
		r := jsonlite.NewReader(b)
		decodeHashes(&r, &got)
		if !r.End() {
			return
		}
		var want hashesDoc
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("%q: jsonlite decoded it, encoding/json refuses it: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\njsonlite      %+v\nencoding/json %+v", b, got, want)
		}
	})
}
