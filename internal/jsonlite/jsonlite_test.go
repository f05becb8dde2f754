package jsonlite

import (
	"encoding/json"
	"testing"
	"time"
)

// TestScalars: what the reader accepts it reads as encoding/json does, and
// it refuses (End is false) what it leaves to encoding/json.
func TestScalars(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"0", true}, {"-0", true}, {"42", true}, {"-9223372036854775808", true},
		{"9223372036854775808", false}, {"01", false}, {"-01", false}, {"1.0", false}, {"1e3", false}, {"-", false}, {"", false},
	} {
		r := NewReader([]byte(c.in))
		got := r.Int()
		if ok := r.End(); ok != c.ok {
			t.Errorf("Int(%q): handled %v, want %v", c.in, ok, c.ok)
			continue
		}
		var want int64
		if c.ok && (json.Unmarshal([]byte(c.in), &want) != nil || want != got) {
			t.Errorf("Int(%q) = %d, encoding/json %d", c.in, got, want)
		}
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{`"plain"`, true}, {`"日本"`, true}, {`""`, true},
		{`"a\"b"`, false}, {`"\u0041"`, false}, {"\"a\tb\"", false}, {"\"\xff\"", false}, {`"open`, false},
	} {
		r := NewReader([]byte(c.in))
		got := r.Str()
		if ok := r.End(); ok != c.ok {
			t.Errorf("Str(%s): handled %v, want %v", c.in, ok, c.ok)
			continue
		}
		var want string
		if c.ok && (json.Unmarshal([]byte(c.in), &want) != nil || want != got) {
			t.Errorf("Str(%s) = %q, encoding/json %q", c.in, got, want)
		}
	}
	tm := time.Date(2026, 12, 1, 18, 13, 9, 550732405, time.UTC)
	b, _ := json.Marshal(tm)
	r := NewReader(b)
	if got := r.Time(); !r.End() || !got.Equal(tm) {
		t.Errorf("Time(%s) = %v, handled %v", b, got, r.End())
	}
	r = NewReader([]byte(`"2026-12-01T18:13:09.500Z"`)) // not as MarshalJSON writes it
	if r.Time(); r.End() {
		t.Error("a time in another form was handled")
	}
}

// TestObject: keys and nesting, skipping, and the keys left to
// encoding/json (another case, repeated, non-ASCII).
func TestObject(t *testing.T) {
	keys := []string{"a", "b"}
	read := func(in string) (a string, ok bool) {
		r := NewReader([]byte(in))
		r.Object(keys, func(k []byte) {
			if string(k) == "a" {
				a = r.Str()
			} else {
				r.Skip()
			}
		})
		return a, r.End()
	}
	if a, ok := read(` { "x" : [1, {"y": [true, false, null]}, "z"], "a" : "v" , "b": {} } `); !ok || a != "v" {
		t.Errorf("nested: %q %v", a, ok)
	}
	for _, in := range []string{`{"A":"v"}`, `{"a":"v","a":"w"}`, `{"\u212a":1}`, "{\"\u212a\":1}", `{"a":"v",}`, `{"a":"v"} x`, `{"a" "v"}`, `[]`} {
		if _, ok := read(in); ok {
			t.Errorf("%s: handled", in)
		}
	}
}
