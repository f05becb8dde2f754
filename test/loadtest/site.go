package loadtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"path"
	"sort"
)

// SitePages are the page paths of the site Site generates, as URL paths.
var SitePages = []string{"/", "/docs/", "/docs/a.html", "/docs/b.html", "/blog/post-1.html", "/blog/post-2.html"}

// Site returns the files of a small static site whose pages and assets
// all embed "release:"+id: HTML pages referencing a stylesheet (which
// references an SVG and a PNG through url()), a script, SVG and PNG
// images, plus files that are identical in every variant (a logo, a
// second script), so that consecutive releases share some content. Names
// are slash-separated paths relative to the site root.
func Site(id string) map[string][]byte {
	mark := "release:" + id
	files := map[string][]byte{}
	page := func(name, title, up string) {
		files[name] = fmt.Appendf(nil, `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>%s</title>
<link rel="stylesheet" href="%scss/site.css">
<link rel="icon" href="/img/logo.svg">
<meta name="release" content="%s">
</head>
<body>
<header><img src="%simg/logo.svg" alt="logo" width="32" height="32"> <a href="/">home</a> <a href="/docs/">docs</a></header>
<main>
<h1 id="top">%s</h1>
<p>Served by <span class="rel">%s</span>.</p>
<img src="%simg/hero.png" alt="hero" srcset="%simg/hero.png 1x, %simg/badge.svg 2x" width="8" height="8">
<p><a href="/docs/a.html#top">a</a> <a href="/docs/b.html">b</a> <a href="/blog/post-1.html">post 1</a> <a href="/blog/post-2.html">post 2</a></p>
</main>
<script src="%sjs/app.js"></script>
<script src="%sjs/vendor.js"></script>
</body>
</html>
`, title, up, mark, up, title, mark, up, up, up, up, up)
	}
	page("index.html", "Home", "")
	page("docs/index.html", "Docs", "../")
	page("docs/a.html", "A", "../")
	page("docs/b.html", "B", "../")
	page("blog/post-1.html", "Post 1", "../")
	page("blog/post-2.html", "Post 2", "../")
	files["404.html"] = fmt.Appendf(nil, "<!doctype html><title>not found</title><p>%s</p>\n", mark)
	files["css/site.css"] = fmt.Appendf(nil, "/* %s */\nbody{font:16px/1.4 sans-serif;background:url(../img/bg.svg)}\n.hero{background-image:url('../img/hero.png')}\n.rel{font-weight:bold}\n", mark)
	files["js/app.js"] = fmt.Appendf(nil, "// %s\ndocument.documentElement.dataset.release=%q;\n", mark, id)
	files["js/vendor.js"] = []byte("// vendor code, identical in every release\n(function(){window.vendor=1})();\n")
	files["img/logo.svg"] = []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32"><circle cx="16" cy="16" r="14" fill="#36c"/></svg>` + "\n")
	files["img/bg.svg"] = fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><!-- %s --><rect width="4" height="4" fill="#fafafa"/></svg>`+"\n", mark)
	files["img/badge.svg"] = fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><!-- %s --><rect width="16" height="16" fill="#c63"/></svg>`+"\n", mark)
	files["img/hero.png"] = markedPNG(mark + " ") // the space ends the marker before the CRC bytes
	return files
}

// markedPNG returns a valid 8x8 PNG carrying text in a tEXt chunk.
func markedPNG(text string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{0x33, 0x66, 0xcc, 0xff})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		panic(err) // encoding to memory cannot fail
	}
	raw := b.Bytes()
	iend := len(raw) - 12 // length(4) "IEND" crc(4)
	data := append([]byte("Comment\x00"), text...)
	var chunk bytes.Buffer
	binary.Write(&chunk, binary.BigEndian, uint32(len(data)))
	chunk.WriteString("tEXt")
	chunk.Write(data)
	binary.Write(&chunk, binary.BigEndian, crc32.ChecksumIEEE(append([]byte("tEXt"), data...)))
	out := append([]byte{}, raw[:iend]...)
	out = append(out, chunk.Bytes()...)
	return append(out, raw[iend:]...)
}

// WriteTarGz writes files as a gzip-compressed tar to w, in sorted order,
// with directories, mode 0644 files and a fixed modification time.
func WriteTarGz(w io.Writer, files map[string][]byte) error {
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	dirs := map[string]bool{}
	for _, n := range names {
		var parents []string
		for d := path.Dir(n); d != "." && !dirs[d]; d = path.Dir(d) {
			dirs[d] = true
			parents = append(parents, d)
		}
		for i := len(parents) - 1; i >= 0; i-- {
			if err := tw.WriteHeader(&tar.Header{Name: parents[i] + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
				return fmt.Errorf("tar entry %s/: %w", parents[i], err)
			}
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			return fmt.Errorf("tar entry %s: %w", n, err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			return fmt.Errorf("tar entry %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

// WriteArchive writes files as a .tar.gz at path.
func WriteArchive(path string, files map[string][]byte) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteTarGz(f, files); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
