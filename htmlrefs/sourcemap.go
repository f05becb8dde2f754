package htmlrefs

import "bytes"

// ScanSourceMap finds the source map annotation of a JavaScript file, the
// last "//# sourceMappingURL=URL" (or legacy "//@") that starts a line,
// and calls fn with it (Kind SourceMap, Attr "sourceMappingURL"). CSS
// files carry theirs in a comment, which ScanCSS reports.
func ScanSourceMap(src []byte, fn func(Ref)) {
	const key = "sourceMappingURL="
	end := len(src)
	for end > 0 {
		k := bytes.LastIndex(src[:end], []byte(key))
		if k < 0 {
			return
		}
		end = k
		ls := bytes.LastIndexByte(src[:k], '\n') + 1
		pre := bytes.TrimLeft(src[ls:k], " \t")
		if len(pre) < 4 || pre[0] != '/' || pre[1] != '/' || pre[2] != '#' && pre[2] != '@' || len(bytes.Trim(pre[3:], " \t")) != 0 || pre[3] != ' ' && pre[3] != '\t' {
			continue
		}
		s := k + len(key)
		e := s
		for e < len(src) && !isWS(src[e]) {
			e++
		}
		if e == s {
			return
		}
		fn(Ref{
			Value: string(src[s:e]),
			Raw:   string(src[s:e]),
			Start: s,
			End:   e,
			Line:  1 + bytes.Count(src[:s], []byte{'\n'}),
			Attr:  "sourceMappingURL",
			Kind:  SourceMap,
		})
		return
	}
}
