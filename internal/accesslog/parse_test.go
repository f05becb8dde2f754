package accesslog

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nginxLine joins fields with tabs, as the release_agent log_format does.
func nginxLine(fields ...string) []byte { return []byte(strings.Join(fields, "\t")) }

func TestParseNginxGood(t *testing.T) {
	const root = "/srv/www/www/releases/v3"
	for _, tc := range []struct {
		name string
		line []byte
		want Entry
	}{
		{"page", nginxLine("1700000000.123", "200", "/docs/", "5123", "0.004", root),
			Entry{Time: time.UnixMilli(1700000000123), Status: 200, Path: "/docs/", Bytes: 5123, Duration: 4 * time.Millisecond, Release: "v3", Root: root}},
		{"query dropped, percent-decoded", nginxLine("1700000000.000", "404", "/a%20b/c%C3%A9.html?x=1&y=%zz", "0", "0.000", root),
			Entry{Time: time.Unix(1700000000, 0), Status: 404, Path: "/a b/cé.html", Release: "v3", Root: root}},
		{"invalid percent escape kept as sent", nginxLine("1700000000.5", "404", "/100%/x%4", "1", "1.5", root),
			Entry{Time: time.UnixMilli(1700000000500), Status: 404, Path: "/100%/x%4", Bytes: 1, Duration: 1500 * time.Millisecond, Release: "v3", Root: root}},
		// What nginx writes for a quote, a backslash and control bytes
		// with escape=json (see TestNginxWritesWhatParseNginxReads).
		{"json escapes", nginxLine("1700000000.001", "404", `/q\"u\\o\u0001\t\n\r\b\f`, "0", "0.000", root),
			Entry{Time: time.UnixMilli(1700000000001), Status: 404, Path: "/q\"u\\o\x01\t\n\r\b\f", Release: "v3", Root: root}},
		{"raw utf-8 passes through", nginxLine("1700000000.001", "200", "/café", "7", "0.010", root),
			Entry{Time: time.UnixMilli(1700000000001), Status: 200, Path: "/café", Bytes: 7, Duration: 10 * time.Millisecond, Release: "v3", Root: root}},
		{"escaped root", nginxLine("1700000000.001", "200", "/", "7", "0.010", `/srv/a\"b/releases/v12`),
			Entry{Time: time.UnixMilli(1700000000001), Status: 200, Path: "/", Bytes: 7, Duration: 10 * time.Millisecond, Release: "v12", Root: `/srv/a"b/releases/v12`}},
		{"not a release root", nginxLine("1700000000", "503", "/x", "0", "60", "/var/www/html"),
			Entry{Time: time.Unix(1700000000, 0), Status: 503, Path: "/x", Duration: time.Minute, Root: "/var/www/html"}},
		{"empty root", nginxLine("1700000000.001", "400", "", "150", "0.000", ""),
			Entry{Time: time.UnixMilli(1700000000001), Status: 400, Bytes: 150}},
		{"nanosecond fraction", nginxLine("1.123456789999", "200", "/", "0", "0.000000001", root),
			Entry{Time: time.Unix(1, 123456789), Status: 200, Path: "/", Duration: 1, Release: "v3", Root: root}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseNginx(tc.line)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Time.Equal(tc.want.Time) {
				t.Errorf("Time %v, want %v", e.Time, tc.want.Time)
			}
			e.Time = tc.want.Time
			if e != tc.want {
				t.Errorf("got  %+v\nwant %+v", e, tc.want)
			}
		})
	}
}

func TestParseNginxMalformed(t *testing.T) {
	good := []string{"1700000000.123", "200", "/", "10", "0.001", "/srv/releases/v1"}
	with := func(i int, v string) []byte {
		f := append([]string(nil), good...)
		f[i] = v
		return nginxLine(f...)
	}
	for _, tc := range []struct {
		name, what string
		line       []byte
	}{
		{"empty", "fewer than 6", nil},
		{"five fields", "fewer than 6", nginxLine(good[:5]...)},
		{"seven fields", "more than 6", nginxLine(append(good, "x")...)},
		{"space separated", "fewer than 6", []byte(strings.Join(good, " "))},
		{"msec empty", "bad $msec", with(0, "")},
		{"msec letters", "bad $msec", with(0, "abc")},
		{"msec negative", "bad $msec", with(0, "-1.000")},
		{"msec plus", "bad $msec", with(0, "+1.000")},
		{"msec trailing dot", "bad $msec", with(0, "1700000000.")},
		{"msec leading dot", "bad $msec", with(0, ".5")},
		{"msec two dots", "bad $msec", with(0, "1.2.3")},
		{"msec overflow", "bad $msec", with(0, "99999999999.000")},
		{"msec exponent", "bad $msec", with(0, "1.7e9")},
		{"status empty", "bad $status", with(1, "")},
		{"status 99", "bad $status", with(1, "99")},
		{"status 000", "bad $status", with(1, "000")},
		{"status 1000", "bad $status", with(1, "1000")},
		{"status sign", "bad $status", with(1, "+200")},
		{"status letters", "bad $status", with(1, "2OO")},
		{"uri bad escape", "bad escape in $request_uri", with(2, `/a\x`)},
		{"uri trailing backslash", "bad escape in $request_uri", with(2, `/a\`)},
		{"uri short \\u", "bad escape in $request_uri", with(2, `/a\u004`)},
		{"uri bad hex", "bad escape in $request_uri", with(2, `/a\u00zz`)},
		{"bytes negative", "bad $body_bytes_sent", with(3, "-1")},
		{"bytes empty", "bad $body_bytes_sent", with(3, "")},
		{"bytes float", "bad $body_bytes_sent", with(3, "1.5")},
		{"bytes 19 digits", "bad $body_bytes_sent", with(3, "1000000000000000000")},
		{"request_time dash", "bad $request_time", with(4, "-")},
		{"request_time negative", "bad $request_time", with(4, "-0.001")},
		{"root bad escape", "bad escape in $realpath_root", with(5, `/srv\q`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseNginx(tc.line)
			if err == nil {
				t.Fatalf("parsed: %+v", e)
			}
			if !errors.Is(err, ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			if !strings.Contains(err.Error(), tc.what) {
				t.Errorf("error %q does not say %q", err, tc.what)
			}
			if q := strconv.Quote(string(tc.line)); !strings.Contains(err.Error(), q) {
				t.Errorf("error %q does not quote the line %s", err, q)
			}
			if e != (Entry{}) {
				t.Errorf("entry %+v with the error, want the zero Entry", e)
			}
		})
	}
	// A long line is quoted up to its first 80 bytes.
	long := with(2, "/"+strings.Repeat("a", 200)+`\z`)
	_, err := ParseNginx(long)
	if err == nil || !strings.Contains(err.Error(), strconv.Quote(string(long[:80]))) || strings.Contains(err.Error(), strings.Repeat("a", 100)) {
		t.Errorf("long line: %v", err)
	}
}

func TestReleaseOf(t *testing.T) {
	for root, want := range map[string]string{
		"/srv/www/www/releases/v3":    "v3",
		"/srv/www/www/releases/v3/":   "v3",
		"/srv/www/www/releases/v3//":  "v3",
		"/releases/v0":                "v0",
		"/srv/releases/v1234567890":   "v1234567890",
		"/srv/www/www/releases/v":     "",
		"/srv/www/www/releases/3":     "",
		"/srv/www/www/releases/v3a":   "",
		"/srv/www/www/releases/v-3":   "",
		"/srv/www/www/releases/V3":    "",
		"/srv/www/www/releases/v٣":    "",
		"/srv/www/www/releases/v3/x":  "",
		"/srv/www/www/myreleases/v3":  "",
		"/srv/www/www/release/v3":     "",
		"/srv/www/www/current":        "",
		"/srv/www/www/cohorts/07":     "",
		"releases/v3":                 "",
		"v3":                          "",
		"/v3":                         "",
		"/":                           "",
		"":                            "",
		"/srv/www/www/releases/v3\n":  "",
		"/srv/www/www/releases/ v3":   "",
		"/srv/www/www/releases/v3 ":   "",
		"/srv/www/www/releases//v3":   "",
		"/srv/www/www/releases/./v3":  "",
		"/srv/www/www/releases/../v3": "",
	} {
		if got := ReleaseOf(root); got != want {
			t.Errorf("ReleaseOf(%q) = %q, want %q", root, got, want)
		}
	}
}

func TestIsPage(t *testing.T) {
	for path, want := range map[string]bool{
		"":                     true,
		"/":                    true,
		"/docs/":               true,
		"/index.html":          true,
		"/docs/a.htm":          true,
		"/about":               true,
		"/v1.2/about":          true, // the extension is the last segment's
		"/.well-known/x":       true,
		"/a.b/":                true,
		"/css/site.css":        false,
		"/js/app.0123abcd.js":  false,
		"/img/logo.png":        false,
		"/feed.xml":            false,
		"/robots.txt":          false,
		"/favicon.ico":         false,
		"/a.HTML":              false, // case-sensitive, as the files are
		"/page.html.gz":        false,
		"/file.":               false,
		"/.hidden":             false,
		"/docs/index.html/":    true,
		"/docs/index.htmlx":    false,
		"/no/extension/at/all": true,
	} {
		if got := IsPage(path); got != want {
			t.Errorf("IsPage(%q) = %v, want %v", path, got, want)
		}
	}
}

// caddyAccess is a line of Caddy 2's JSON access log (logger
// "http.log.access", default encoder), as `caddy file-server --access-log`
// writes it.
const caddyAccess = `{"level":"info","ts":1700000000.1234567,"logger":"http.log.access","msg":"handled request","request":{"remote_ip":"127.0.0.1","remote_port":"41234","client_ip":"127.0.0.1","proto":"HTTP/1.1","method":"GET","host":"localhost:8080","uri":"/a%20b/index.html?x=\"1\"","headers":{"User-Agent":["curl/7.88.1"],"Accept":["*/*"]}},"bytes_read":0,"user_id":"","duration":0.0012345,"size":5123,"status":404,"resp_headers":{"Server":["Caddy"],"Content-Type":["text/html; charset=utf-8"]}}`

func TestParseCaddy(t *testing.T) {
	e, err := ParseCaddy([]byte(caddyAccess))
	if err != nil {
		t.Fatal(err)
	}
	if d := e.Time.Sub(time.Unix(1700000000, 123456700)); d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("Time %v, %v off", e.Time, d)
	}
	if e.Status != 404 || e.Path != "/a b/index.html" || e.Bytes != 5123 || e.Release != "" || e.Root != "" {
		t.Errorf("%+v", e)
	}
	if d := e.Duration - 1234500*time.Nanosecond; d < -time.Microsecond || d > time.Microsecond {
		t.Errorf("Duration %v", e.Duration)
	}
	// Integer ts, no size or duration (zero), no other fields.
	e, err = ParseCaddy([]byte(`{"ts":1700000000,"status":200,"request":{"uri":"/"}}`))
	if err != nil || !e.Time.Equal(time.Unix(1700000000, 0)) || e.Status != 200 || e.Path != "/" || e.Bytes != 0 || e.Duration != 0 {
		t.Errorf("minimal line: %+v, %v", e, err)
	}

	for name, line := range map[string]string{
		"empty":             ``,
		"not json":          `1700000000.1 200 /`,
		"nginx line":        string(nginxLine("1700000000.123", "200", "/", "10", "0.001", "/srv/releases/v1")),
		"truncated":         caddyAccess[:100],
		"json array":        `[1,2]`,
		"null":              `null`,
		"other logger":      `{"level":"info","ts":1700000000.1,"logger":"http","msg":"server running"}`,
		"no ts":             `{"status":200,"request":{"uri":"/"}}`,
		"no status":         `{"ts":1700000000,"request":{"uri":"/"}}`,
		"no uri":            `{"ts":1700000000,"status":200,"request":{}}`,
		"ts string":         `{"ts":"1700000000","status":200,"request":{"uri":"/"}}`,
		"status float":      `{"ts":1700000000,"status":200.5,"request":{"uri":"/"}}`,
		"status 0":          `{"ts":1700000000,"status":0,"request":{"uri":"/"}}`,
		"status 99":         `{"ts":1700000000,"status":99,"request":{"uri":"/"}}`,
		"status 1000":       `{"ts":1700000000,"status":1000,"request":{"uri":"/"}}`,
		"negative ts":       `{"ts":-1,"status":200,"request":{"uri":"/"}}`,
		"huge ts":           `{"ts":1e300,"status":200,"request":{"uri":"/"}}`,
		"negative size":     `{"ts":1700000000,"status":200,"size":-1,"request":{"uri":"/"}}`,
		"negative duration": `{"ts":1700000000,"status":200,"duration":-0.5,"request":{"uri":"/"}}`,
		"huge duration":     `{"ts":1700000000,"status":200,"duration":1e300,"request":{"uri":"/"}}`,
	} {
		e, err := ParseCaddy([]byte(line))
		if err == nil {
			t.Errorf("%s: parsed %+v", name, e)
			continue
		}
		if !errors.Is(err, ErrFormat) {
			t.Errorf("%s: error %v does not wrap ErrFormat", name, err)
		}
		q := line
		if len(q) > 80 {
			q = q[:80]
		}
		if !strings.Contains(err.Error(), strconv.Quote(q)) {
			t.Errorf("%s: error %q does not quote the line", name, err)
		}
	}
}
