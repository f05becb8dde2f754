package config

import (
	"errors"
	"strings"
	"testing"
)

func TestParseByteSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string // substring of the error besides the quoted input; "" = no error
	}{
		{"0", 0, ""},
		{"10", 10, ""},
		{"  4096\t", 4096, ""},
		{"10B", 10, ""},
		{"1kB", 1000, ""},
		{"1KB", 1000, ""},
		{"10MB", 10_000_000, ""},
		{"10 MB", 10_000_000, ""},
		{"2GB", 2_000_000_000, ""},
		{"3TB", 3e12, ""},
		{"1KiB", 1024, ""},
		{"512KiB", 512 << 10, ""},
		{"10MiB", 10 << 20, ""},
		{"1GiB", 1 << 30, ""},
		{"2TiB", 2 << 40, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"8388607TiB", 8388607 << 40, ""},

		{"", 0, "is not a size"},
		{"lots", 0, "is not a size"},
		{"-1", 0, "is not a size"},
		{"+1", 0, "is not a size"},
		{"MiB", 0, "is not a size"},
		{"1.5GiB", 0, `unknown unit ".5GiB"`},
		{"10M", 0, `unknown unit "M"`},
		{"10K", 0, `unknown unit "K"`},
		{"1XB", 0, `unknown unit "XB"`},
		{"10mb", 0, "case-sensitive"},
		{"10mib", 0, "case-sensitive"},
		{"10Kb", 0, "case-sensitive"},
		{"1 0", 0, `unknown unit "0"`},
		{"99999999999999999999", 0, "too large"},
		{"9999999999TiB", 0, "too large"},
		{"9223372036854775807KB", 0, "too large"},
	} {
		got, err := ParseByteSize(tc.in)
		if tc.err == "" {
			if err != nil || got != tc.want {
				t.Errorf("ParseByteSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
			var s ByteSize
			if err := s.UnmarshalText([]byte(tc.in)); err != nil || int64(s) != tc.want {
				t.Errorf("ByteSize.UnmarshalText(%q) = %d, %v; want %d", tc.in, s, err, tc.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseByteSize(%q) = %d, no error; want one containing %q", tc.in, got, tc.err)
			continue
		}
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseByteSize(%q): error %v is not ErrInvalid", tc.in, err)
		}
		if q := `"` + strings.ReplaceAll(tc.in, "\t", `\t`) + `"`; !strings.Contains(err.Error(), q) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseByteSize(%q): error %q; want it to name %s and contain %q", tc.in, err, q, tc.err)
		}
	}
}

// TestByteSizeTOML: in a configuration file a size is an integer (bytes)
// or a string parsed by ParseByteSize; "10MB" and "10MiB" differ.
func TestByteSizeTOML(t *testing.T) {
	c, err := Parse("x.toml", []byte("[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.validate]\nmax_total_bytes = \"10MB\"\nmax_file_bytes = \"10MiB\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	v := c.Sites[0].Validate
	if v.MaxTotalBytes != 10_000_000 || v.MaxFileBytes != 10<<20 {
		t.Errorf("max_total_bytes = %d, max_file_bytes = %d; want 10000000 and %d", v.MaxTotalBytes, v.MaxFileBytes, 10<<20)
	}
	_, err = Parse("x.toml", []byte("[[site]]\nname = \"a\"\nroot = \"/srv/a\"\n[site.validate]\nmax_file_bytes = -5\n"))
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("negative size: %v", err)
	}
}
