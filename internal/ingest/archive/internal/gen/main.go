// Command gen writes the archives under internal/ingest/archive/testdata:
// hostile ones that the extractor must refuse, happy ones in every format,
// and the seed corpora of the fuzz targets (testdata/fuzz/Fuzz*Entries,
// one seed per plain .tar and .zip).
//
//	go generate ./internal/ingest/archive
//
// Users of the generated files: archive_test.go (TestHappyPaths,
// TestHostileArchives, TestTrailingDataAndCorruption, TestCancel,
// TestZipNeedsReaderAt, TestDedupAgainstLive, and the fuzz targets
// FuzzTarEntries and FuzzZipEntries through their seeds) and
// internal/ingest's local_test.go (artifact: the happy.* archives).
//
// The 10 GiB gzip and zstd bombs are not stored (they would be about
// 10 MB each); TestBombs in archive_test.go builds them on the fly from
// repeated compressed members (see bomb there).
package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var mtime = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

type ent struct {
	name, link, body string
	typ              byte
	mode             int64
	size             int64 // overrides len(body) in the header when not 0
}

func file(name, body string) ent { return ent{name: name, body: body, typ: tar.TypeReg, mode: 0o644} }
func dir(name string) ent        { return ent{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeSymlink, mode: 0o777}
}
func hardlink(name, to string) ent { return ent{name: name, link: to, typ: tar.TypeLink, mode: 0o644} }

func tarBytes(es ...ent) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Size: int64(len(e.body)), ModTime: mtime, Format: tar.FormatPAX}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.typ == tar.TypeXGlobalHeader {
			h = &tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header",
				PAXRecords: map[string]string{"comment": "0123456789abcdef"}, Format: tar.FormatPAX}
		}
		if err := tw.WriteHeader(h); err != nil {
			log.Fatalf("%s: %v", e.name, err)
		}
		if h.Size > 0 {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// rawName writes a ustar header byte by byte, for names the tar writer
// refuses to produce (invalid UTF-8 in a PAX record is rewritten).
func rawTar(name string, typ byte, body string) []byte {
	hdr := make([]byte, 512)
	copy(hdr[0:100], name)
	copy(hdr[100:108], "0000644\x00")
	copy(hdr[108:116], "0000000\x00")
	copy(hdr[116:124], "0000000\x00")
	copy(hdr[124:136], fmt.Sprintf("%011o\x00", len(body)))
	copy(hdr[136:148], fmt.Sprintf("%011o\x00", mtime.Unix()))
	hdr[156] = typ
	copy(hdr[257:265], "ustar\x0000")
	copy(hdr[148:156], "        ")
	var sum int
	for _, c := range hdr {
		sum += int(c)
	}
	copy(hdr[148:156], fmt.Sprintf("%06o\x00 ", sum))
	var b bytes.Buffer
	b.Write(hdr)
	b.WriteString(body)
	if pad := len(body) % 512; pad != 0 {
		b.Write(make([]byte, 512-pad))
	}
	b.Write(make([]byte, 1024))
	return b.Bytes()
}

type zent struct {
	name, body string
	mode       os.FileMode
	flags      uint16
}

func zipBytes(es ...zent) []byte {
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime, Flags: e.flags}
		if e.mode.IsDir() {
			h.Method = zip.Store
		}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			log.Fatalf("%s: %v", e.name, err)
		}
		w.Write([]byte(e.body))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}

// lyingZip is a zip bomb of the other kind: the central directory says
// 100 bytes, the deflate stream holds 4 MiB of zeros.
func lyingZip() []byte {
	b := zipBytes(zent{name: "zeros.bin", body: string(make([]byte, 4<<20)), mode: 0o644})
	i := bytes.Index(b, []byte("PK\x01\x02"))
	if i < 0 {
		log.Fatal("lying-size.zip: no central directory")
	}
	binary.LittleEndian.PutUint32(b[i+24:], 100)
	return b
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return out.Bytes()
}

func zst(b []byte) []byte {
	e, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(1))
	return e.EncodeAll(b, nil)
}

func main() {
	out := flag.String("out", "testdata", "output directory")
	flag.Parse()

	happy := []ent{
		{typ: tar.TypeXGlobalHeader},
		dir("./"),
		dir("./site/"),
		file("./site/index.html", "<!doctype html><title>home</title><a href=\"docs/\">docs</a>\n"),
		dir("./site/docs/"),
		file("./site/docs/index.html", "<p>docs</p>\n"),
		{name: "./site/tool.sh", body: "#!/bin/sh\necho hi\n", typ: tar.TypeReg, mode: 0o4755},
		symlink("./site/latest", "docs"),
		symlink("./site/docs/home.html", "../index.html"),
		hardlink("./site/docs/copy.html", "./site/docs/index.html"),
		file("./site/assets/app.js", strings.Repeat("console.log('x');\n", 500)),
	}
	happyZip := []zent{
		{name: "site/", mode: os.ModeDir | 0o755},
		{name: "site/index.html", body: "<!doctype html><title>home</title><a href=\"docs/\">docs</a>\n", mode: 0o644},
		{name: "site/docs/index.html", body: "<p>docs</p>\n", mode: 0o644},
		{name: "site/tool.sh", body: "#!/bin/sh\necho hi\n", mode: 0o755 | os.ModeSetuid},
		{name: "site/latest", body: "docs", mode: os.ModeSymlink | 0o777},
		{name: "site/docs/home.html", body: "../index.html", mode: os.ModeSymlink | 0o777},
		{name: "site/assets/app.js", body: strings.Repeat("console.log('x');\n", 500), mode: 0o644},
	}
	var count []ent
	for i := range 1000 {
		count = append(count, file(fmt.Sprintf("f%04d.html", i), ""))
	}

	files := map[string][]byte{
		"happy.tar":     tarBytes(happy...),
		"happy.tar.gz":  gz(tarBytes(happy...)),
		"happy.tar.zst": zst(tarBytes(happy...)),
		"happy.zip":     zipBytes(happyZip...),

		"traversal.tar":         tarBytes(file("ok.html", "ok"), file("../x", "pwned")),
		"traversal-nested.tar":  tarBytes(file("a/../../x", "pwned")),
		"absolute.tar":          tarBytes(file("/etc/x", "pwned")),
		"symlink-escape.tar":    tarBytes(dir("a/"), symlink("a/l", "../../etc")),
		"symlink-abs-file.tar":  tarBytes(symlink("l", "/tmp"), file("l/x", "pwned")),
		"symlink-then-file.tar": tarBytes(dir("d/"), symlink("l", "d"), file("l/x", "pwned")),
		"symlink-dotdot.tar":    tarBytes(symlink("s", "."), symlink("x", "s/..")),
		"hardlink-escape.tar":   tarBytes(hardlink("h", "../../etc/passwd")),
		"hardlink-absolute.tar": tarBytes(hardlink("h", "/etc/passwd")),
		"hardlink-to-dir.tar":   tarBytes(dir("d/"), hardlink("h", "d")),
		"hardlink-forward.tar":  tarBytes(hardlink("h", "later"), file("later", "x")),
		"chardev.tar":           tarBytes(ent{name: "null", typ: tar.TypeChar, mode: 0o666}),
		"blockdev.tar":          tarBytes(ent{name: "sda", typ: tar.TypeBlock, mode: 0o660}),
		"fifo.tar":              tarBytes(ent{name: "pipe", typ: tar.TypeFifo, mode: 0o644}),
		"duplicate.tar":         tarBytes(file("a.html", "one"), file("./a.html", "two")),
		"dir-file-conflict.tar": tarBytes(file("a", "file"), file("a/b", "below a file")),
		"bad-utf8.tar":          rawTar("caf\xe9.html", tar.TypeReg, "latin-1 name"),
		"bomb-count.tar.gz":     gz(tarBytes(count...)),
		"traversal.zip":         zipBytes(zent{name: "ok.html", body: "ok", mode: 0o644}, zent{name: "../x", body: "pwned", mode: 0o644}),
		"absolute.zip":          zipBytes(zent{name: "/etc/x", body: "pwned", mode: 0o644}),
		"symlink-escape.zip":    zipBytes(zent{name: "l", body: "../../etc", mode: os.ModeSymlink | 0o777}),
		"symlink-then-file.zip": zipBytes(zent{name: "l", body: "/tmp", mode: os.ModeSymlink | 0o777}, zent{name: "l/x", body: "pwned", mode: 0o644}),
		"encrypted.zip":         zipBytes(zent{name: "secret.html", body: "not really encrypted", mode: 0o644, flags: 0x1}),
		"duplicate.zip":         zipBytes(zent{name: "a.html", body: "one", mode: 0o644}, zent{name: "a.html", body: "two", mode: 0o644}),
		"fifo.zip":              zipBytes(zent{name: "pipe", mode: os.ModeNamedPipe | 0o644}),
		"lying-size.zip":        lyingZip(),
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
		// Seeds for the fuzz targets: every plain tar and every zip.
		var target string
		switch {
		case strings.HasSuffix(name, ".tar"):
			target = "FuzzTarEntries"
		case strings.HasSuffix(name, ".zip"):
			target = "FuzzZipEntries"
		default:
			continue
		}
		d := filepath.Join(*out, "fuzz", target)
		if err := os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(d, strings.TrimSuffix(strings.TrimSuffix(name, ".tar"), ".zip")), []byte(seed), 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
