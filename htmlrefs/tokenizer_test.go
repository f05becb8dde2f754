package htmlrefs

import (
	"bytes"
	"testing"

	"golang.org/x/net/html"
)

type span struct {
	tt         tokenType
	start, end int
}

func refTokens(src []byte) []span {
	z := html.NewTokenizer(bytes.NewReader(src))
	var out []span
	pos := 0
	for {
		tt := z.Next()
		n := len(z.Raw())
		var t tokenType
		switch tt {
		case html.ErrorToken:
			return out
		case html.TextToken:
			t = tokText
		case html.StartTagToken, html.SelfClosingTagToken:
			t = tokStartTag
		case html.EndTagToken:
			t = tokEndTag
		case html.CommentToken:
			t = tokComment
		case html.DoctypeToken:
			t = tokDoctype
		}
		out = append(out, span{t, pos, pos + n})
		pos += n
	}
}

func ourTokens(src []byte) []span {
	z := tokenizer{buf: src}
	var out []span
	for {
		tt, start := z.next()
		if tt == tokError {
			return out
		}
		out = append(out, span{tt, start, z.pos})
	}
}

func checkTokens(t testing.TB, src []byte) {
	t.Helper()
	want, got := refTokens(src), ourTokens(src)
	for i := 0; i < max(len(want), len(got)); i++ {
		if i >= len(want) || i >= len(got) || want[i] != got[i] {
			var w, g span
			if i < len(want) {
				w = want[i]
			}
			if i < len(got) {
				g = got[i]
			}
			t.Fatalf("%q: token %d: x/net/html %+v, ours %+v", src, i, w, g)
		}
	}
}

func TestTokenizerMatchesXNetHTML(t *testing.T) {
	for _, s := range []string{
		"", "text", "<a href=x>y</a>", "<!doctype html><html>", "<!-- c --><!--><!---><!-- a --!> b -->",
		"<script>if (a<b) document.write('</scr'+'ipt>')</script><p>", "<script><!--<script></script>--></script>x",
		"<style>a{}</style ><title>x</title>", "<textarea><a></textarea>", "</>", "</ x>", "<?php x ?>", "<!x>",
		"<a b='>' c=\">\">", "<a", "<a b=\"", "<!--", "<!DOCTY", "<!DOCTYPE", "<plaintext><a>", "< a>", "<3",
		"<noscript><img src=a></noscript>", "<xmp></XMP>", "<iframe><a></iframe>", "a<b<c", "<a/>", "<a =b>",
	} {
		checkTokens(t, []byte(s))
	}
}

func FuzzTokenizerBoundaries(f *testing.F) {
	for _, s := range []string{"<script><!--<script></script>--></script>", "<!-- a --!>", "<a b='>'>", "<!DOCTYPE html>"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) { checkTokens(t, src) })
}
