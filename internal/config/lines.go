package config

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// keyIndex maps keys of a TOML file to the lines that define them. The
// toml package does not export key positions, so this is a line scanner
// that understands table headers, array-of-table headers, dotted and quoted
// keys and skips multi-line strings. It is used only to put line numbers in
// error messages: when it cannot tell, the message has no line, never a
// wrong key.
type keyIndex struct {
	plain  map[string][]int // "site.keep" → lines, in document order
	first  map[string]int   // "site[1].keep" → line
	byLine map[int]string   // line → "site[1].keep"
	tables map[string]int   // "site[1].health" → line of its header
	arrays map[string]int   // array-of-tables name → elements seen
}

func indexKeys(data []byte) *keyIndex {
	ix := &keyIndex{plain: map[string][]int{}, first: map[string]int{}, byLine: map[int]string{},
		tables: map[string]int{}, arrays: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	prefix, plainPrefix := "", ""
	inMulti := ""
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if inMulti != "" {
			if strings.Count(text, inMulti)%2 == 1 {
				inMulti = ""
			}
			continue
		}
		if text == "" || text[0] == '#' {
			continue
		}
		if strings.HasPrefix(text, "[[") {
			end := strings.Index(text, "]]")
			if end < 0 {
				continue
			}
			parts := splitKey(text[2:end])
			if parts == nil {
				continue
			}
			name := strings.Join(parts, ".")
			n := ix.arrays[name]
			ix.arrays[name] = n + 1
			plainPrefix = name
			prefix = joinDot(ix.indexed(parts[:len(parts)-1]), parts[len(parts)-1]) + fmt.Sprintf("[%d]", n)
			ix.tables[prefix] = line
			ix.tables[name] = line
			continue
		}
		if text[0] == '[' {
			end := strings.IndexByte(text, ']')
			if end < 0 {
				continue
			}
			parts := splitKey(text[1:end])
			if parts == nil {
				continue
			}
			plainPrefix = strings.Join(parts, ".")
			prefix = ix.indexed(parts)
			ix.tables[prefix] = line
			continue
		}
		eq := keyEnd(text)
		if eq < 0 {
			continue
		}
		parts := splitKey(text[:eq])
		if parts == nil {
			continue
		}
		k := strings.Join(parts, ".")
		plain := joinDot(plainPrefix, k)
		full := joinDot(prefix, k)
		ix.plain[plain] = append(ix.plain[plain], line)
		if _, ok := ix.first[full]; !ok {
			ix.first[full] = line
		}
		ix.byLine[line] = full
		val := strings.TrimSpace(text[eq+1:])
		for _, q := range []string{`"""`, `'''`} {
			if strings.HasPrefix(val, q) && strings.Count(val, q)%2 == 1 {
				inMulti = q
			}
		}
	}
	return ix
}

func joinDot(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// indexed renders a table path with the current element of each array of
// tables along it: ["site", "health"] → "site[2].health".
func (ix *keyIndex) indexed(parts []string) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
		if n := ix.arrays[strings.Join(parts[:i+1], ".")]; n > 0 {
			fmt.Fprintf(&b, "[%d]", n-1)
		}
	}
	return b.String()
}

// keyEnd returns the index of the '=' ending the key part of a key/value
// line, skipping quoted key parts, or -1.
func keyEnd(s string) int {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			}
		case c == '"' || c == '\'':
			q = c
		case c == '=':
			return i
		}
	}
	return -1
}

// splitKey splits a dotted TOML key into its parts, unquoting quoted parts
// (escapes are kept as written). It returns nil for something that is not
// a key.
func splitKey(s string) []string {
	var parts []string
	s = strings.TrimSpace(s)
	for s != "" {
		var p string
		switch s[0] {
		case '"', '\'':
			end := strings.IndexByte(s[1:], s[0])
			if end < 0 {
				return nil
			}
			p, s = s[1:end+1], strings.TrimSpace(s[end+2:])
		default:
			end := strings.IndexByte(s, '.')
			if end < 0 {
				end = len(s)
			}
			p, s = strings.TrimSpace(s[:end]), s[end:]
			if p == "" || strings.ContainsAny(p, " \t[]#") {
				return nil
			}
		}
		parts = append(parts, p)
		if s == "" {
			break
		}
		if s[0] != '.' {
			return nil
		}
		s = strings.TrimSpace(s[1:])
		if s == "" {
			return nil
		}
	}
	return parts
}
