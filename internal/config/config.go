// Package config reads release-agent's configuration file: daemon settings
// and one or more sites, in TOML.
//
// # Strictness
//
// Load refuses a file with unknown keys, values of the wrong type or values
// out of range. Every problem is reported as an *Error naming the file, the
// line and the key (a key such as "site[1].health.timeout"), and Load
// returns all of them joined, so one run of `release-agent --check-config`
// shows every mistake: values that cannot be decoded, then unknown keys (a
// misspelt key explains a missing one), then the other checks, each group
// in the order of the file. Only a TOML syntax
// error stops the checks: the file cannot be read past it. (One limit: of
// several values of the wrong type in one inline table, { a = 1, b = 2 },
// the first is reported.)
//
// Besides types and ranges, Load refuses a site root that is a system
// directory (/, /etc, /usr, /var, ...) or that is inside, or contains,
// another site's root (its store, its releases/ and state/); and an inbox
// inside another site's root. LoadHost adds the checks against the host
// it runs on (the control group exists); LoadHostAs also checks that the
// user the service runs as can write every site root. A *Config returned without error has every default
// filled in and is never modified by this package afterwards, so it is safe
// to share between goroutines.
//
// # Example
//
//	[daemon]
//	control_socket = "/run/release-agent/control.sock"
//	control_group  = "release-deploy"   # may deploy and roll back
//
//	[[site]]
//	name = "www"
//	root = "/srv/www/example"
//	source = "s3://builds/www/"
//	keep = 5
//	  [site.triggers]
//	  inbox = "/var/lib/release-agent/inbox/www"
//	  poll = "5m"
//	  [site.health]
//	  urls = ["http://127.0.0.1/"]
//	  expect_body = "<title>Example"
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/bmatcuk/doublestar/v4"
)

// DefaultPath is where the packaged service reads its configuration.
const DefaultPath = "/etc/release-agent/config.toml"

// Defaults filled in by Load. Two defaults are left to the packages that
// own them, so that each has one definition: an empty
// Daemon.ControlSocket means client.DefaultSocket, and a Site.Keep of 0
// (keep not set) means releases.DefaultKeep. This package imports
// nothing of the project.
const (
	DefaultControlGroup  = "release-deploy"
	DefaultHealthTimeout = 5 * time.Second
	DefaultHealthStatus  = 200
)

// Sentinel errors wrapped by *Error.
var (
	ErrUnknownKey = errors.New("unknown key")
	ErrInvalid    = errors.New("invalid value")
	ErrMissing    = errors.New("missing required key")
	ErrSyntax     = errors.New("syntax error")
)

// Error is one problem in a configuration file.
type Error struct {
	File string
	Line int    // 0 if unknown
	Key  string // dotted, with array indices: "site[0].keep"; "" for syntax errors
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Config is a whole configuration file.
type Config struct {
	// Path is the file it was read from.
	Path   string `toml:"-"`
	Daemon Daemon `toml:"daemon"`
	S3     S3     `toml:"s3"`
	Sites  []Site `toml:"site"`
	// Notify are the endpoints of outgoing notifications (notify engineer).
	Notify []Notify `toml:"notify"`
}

// Notify is one [[notify]] endpoint: a JSON document is POSTed to URL on
// the events it names (package notify).
type Notify struct {
	URL string `toml:"url"`
	// TokenFile holds a bearer token sent as "Authorization: Bearer ..."
	// (read when the daemon starts or reloads; "" = none).
	TokenFile string `toml:"token_file"`
	// Events: any of NotifyEvents; empty means all of them.
	Events []string `toml:"events"`
}

// NotifyEvents are the event kinds a [[notify]] entry may name (the
// kinds of package notify).
var NotifyEvents = []string{"deploy", "activate", "rollback", "rejected", "failed"}

// Daemon holds the settings of the daemon itself.
type Daemon struct {
	// ControlSocket is the unix socket of the control API, used when the
	// daemon is not socket-activated; "" means client.DefaultSocket.
	ControlSocket string `toml:"control_socket"`
	// ControlSocketMode is the permission of the socket the daemon creates
	// itself (octal string, default "0660").
	ControlSocketMode FileMode `toml:"control_socket_mode"`
	// ControlGroup names the group whose members (besides root) may change
	// things through the control socket; everyone else may only read.
	ControlGroup string `toml:"control_group"`
	// WebhookListen is host:port for the webhook listener when not
	// socket-activated ("" = no webhook listener unless activated).
	WebhookListen string `toml:"webhook_listen"`
	// WebhookTokenFile holds the bearer token webhook callers must send.
	WebhookTokenFile string `toml:"webhook_token_file"`
	// MetricsListen is host:port for the Prometheus endpoint ("" = off).
	MetricsListen string `toml:"metrics_listen"`
}

// S3 holds how S3 sources and S3 listen/poll triggers reach the object
// store. An unset key means its default (AWS, region auto-detected), not
// an AWS_* environment variable. Credentials come from the standard chain
// (AWS_ACCESS_KEY_ID, ..., the shared credentials file, the instance role)
// unless CredentialsFile is set, which is then the only source.
type S3 struct {
	Endpoint        string `toml:"endpoint"` // host:port, "" = AWS
	Region          string `toml:"region"`
	Insecure        bool   `toml:"insecure"` // plain http
	CredentialsFile string `toml:"credentials_file"`
}

// Site is one site: a release store at Root and how releases reach it.
type Site struct {
	Name string `toml:"name"`
	// Root is the release root: ROOT/current is the document root.
	Root string `toml:"root"`
	// Source is the artifact that triggers deploy (a SOURCE string as in
	// releasectl deploy); "" for sites deployed only by releasectl/inbox.
	Source string `toml:"source"`
	// Keep is how many releases prune keeps; 0 (not set) means
	// releases.DefaultKeep.
	Keep     int      `toml:"keep"`
	Triggers Triggers `toml:"triggers"`
	Hash     Hash     `toml:"hash"`
	Validate Validate `toml:"validate"`
	// Health is nil when no health check is configured.
	Health *Health `toml:"health"`
	// Retry is how the S3 triggers retry a failed deploy (issue 14).
	Retry Retry `toml:"retry"`
	// KeepFor keeps every release that was live within this long before
	// now, beside the Keep newest (0 = by count only). Carried-over
	// hashed assets expire by age as well: assets of a release that left
	// current longer ago than KeepFor are not carried (issue 17).
	KeepFor Duration `toml:"keep_for"`
	// Fleet is nil unless the site follows a fleet's desired.json
	// ([site.fleet], issue 16).
	Fleet *Fleet `toml:"fleet"`
	// Watch is nil unless the site watches its web server's access log
	// after each activation ([site.watch], issue 17).
	Watch *Watch `toml:"watch"`
}

// Fleet makes a site a member of a fleet: an S3 prefix whose desired.json
// says which artifact every member stages and when it activates it (see
// package fleet). A fleet site is deployed only through desired.json, so
// it has no source and no triggers of its own: the daemon follows
// desired.json by bucket notifications (when S3Listen) and by polling
// every Poll, and writes hosts/<Host>.json every Heartbeat.
type Fleet struct {
	// URL is the fleet's prefix, "s3://bucket/prefix/".
	URL string `toml:"url"`
	// Host names this member in hosts/<host>.json (default: the host name).
	Host string `toml:"host"`
	// S3Listen follows desired.json by bucket notifications (default true).
	S3Listen bool `toml:"s3_listen"`
	// Poll reads desired.json this often whatever the notifications say
	// (default 10s; the safety net).
	Poll Duration `toml:"poll"`
	// Heartbeat is how often the member rewrites its report (default 10s).
	Heartbeat Duration `toml:"heartbeat"`
}

// Fleet defaults.
const (
	DefaultFleetPoll      = 10 * time.Second
	DefaultFleetHeartbeat = 10 * time.Second
)

// Watch is how a site judges a release by the requests its web server
// logs (package accesslog): after each activation the daemon counts, per
// release, the page requests of Log and their errors (404 on pages, other
// 4xx, 5xx) over the last Window, and rolls back at once when the new
// release's page error rate exceeds the previous release's (in its last
// Window) by more than MaxErrorRate percentage points. A release with
// fewer than MinRequests page requests in the window is "not judged" and
// never rolled back. With Canary = "auto", a deploy starts as a canary for
// CanaryPercent of clients and is compared with the stable cohort over
// the same minutes, then promoted or aborted.
type Watch struct {
	// Log is the access log in the shipped format (packaging/web).
	Log string `toml:"log"`
	// Format is "nginx" (the shipped log_format, default) or "caddy"
	// (Caddy's JSON access log).
	Format string `toml:"format"`
	// Window is how long a release is watched and the span it is
	// judged over (default 5m).
	Window Duration `toml:"window"`
	// MaxErrorRate is the allowed excess of the page error rate, in
	// percentage points (default 2).
	MaxErrorRate float64 `toml:"max_error_rate"`
	// MinRequests is how many page requests a release needs before it
	// is judged (default 100).
	MinRequests int `toml:"min_requests"`
	// Canary is "off" (default) or "auto".
	Canary string `toml:"canary"`
	// CanaryPercent is the share of clients a canary gets (default 10).
	CanaryPercent int `toml:"canary_percent"`
}

// Watch defaults (the seeds: roll back above 2% errors within 5 minutes).
const (
	DefaultWatchWindow        = 5 * time.Minute
	DefaultWatchMaxErrorRate  = 2.0
	DefaultWatchMinRequests   = 100
	DefaultWatchCanaryPercent = 10
)

// Retry is how a site's S3 triggers (listen, poll, webhook) retry a
// triggered deploy that failed for a transient reason (network, 5xx,
// timeout, S3 restarting): with capped exponential backoff and jitter,
// until Attempts deploys of the same artifact failed or MaxWait passed
// since its first failure, whichever comes first. Then the daemon gives
// up on that artifact (logged once, counted, shown by releasectl status)
// until it changes. Permanent failures (rejected, checksum mismatch, bad
// archive, 403/404, no marker) are never retried.
type Retry struct {
	Attempts int      `toml:"attempts"`  // default 5; 1 = never retry
	MaxWait  Duration `toml:"max_wait"`  // default 5m
	Initial  Duration `toml:"initial"`   // first delay, default 2s
	MaxDelay Duration `toml:"max_delay"` // cap of one delay, default 1m
}

// Retry defaults.
const (
	DefaultRetryAttempts = 5
	DefaultRetryMaxWait  = 5 * time.Minute
	DefaultRetryInitial  = 2 * time.Second
	DefaultRetryMaxDelay = time.Minute
)

// Triggers says what starts a deploy of a site besides releasectl.
type Triggers struct {
	// Inbox is a directory: an archive renamed into it is deployed, then
	// moved to Inbox/done or Inbox/failed.
	Inbox string `toml:"inbox"`
	// Webhook: a POST to /v0/hook/NAME on the webhook listener deploys Source.
	Webhook bool `toml:"webhook"`
	// S3Listen: bucket notifications for Source (an s3:// source) deploy it.
	S3Listen bool `toml:"s3_listen"`
	// Poll: check Source for a change this often (0 = never).
	Poll Duration `toml:"poll"`
}

// Hash is the content-hashing policy of a site.
type Hash struct {
	Enabled bool `toml:"enabled"` // default true
	// Include and Exclude are doublestar globs of the files to hash;
	// unset means the hashassets defaults (DefaultInclude,
	// DefaultExclude).
	Include []string `toml:"include"`
	Exclude []string `toml:"exclude"`
	// CarryOver is how many earlier releases' hashed assets a new release
	// keeps serving (for pages cached by browsers); 0 means the default
	// (2), -1 none.
	CarryOver int `toml:"carry_over"`
}

// Validate is the validation policy of a site (see package validate).
type Validate struct {
	// Policy: "new" (default: only findings the live release does not
	// have refuse the release), "all" (every finding refuses it) or "off".
	Policy string `toml:"policy"`
	// Fragments checks #fragment targets of internal links (default true).
	Fragments bool `toml:"fragments"`
	// Required files (tree paths), default ["index.html"].
	Required []string `toml:"required"`
	// IgnoreFiles: doublestar globs of files not checked.
	IgnoreFiles []string `toml:"ignore_files"`
	// IgnoreURLs: doublestar globs of references not checked.
	IgnoreURLs []string `toml:"ignore_urls"`
	// Budgets (0 = no budget).
	MaxTotalBytes ByteSize `toml:"max_total_bytes"`
	MaxFileBytes  ByteSize `toml:"max_file_bytes"`
	// MaxGrowthPercent refuses a release whose total size grows by more
	// than this over the live release (0 = no limit).
	MaxGrowthPercent float64 `toml:"max_growth_percent"`
	// ShrinkPercent refuses a release whose page count or size drops by
	// more than this against live (default 50; 0 disables).
	ShrinkPercent float64 `toml:"shrink_percent"`
}

// Health is the check made after each swap; on failure the site is rolled
// back to the release that was live before.
//
// The check runs in attempts, one every Interval from the swap on; an
// attempt GETs every URL (URLs with the expectations of this table, then
// each Check with its own) and passes when every one meets its
// expectations. The release is healthy after Successes passing attempts
// in a row; it is rolled back after Failures failing attempts in a row,
// or when Grace has passed since the swap without it being healthy (a
// site that hangs). With the defaults (500ms, 3 failures, 1 success, 5s
// grace) a dead site is rolled back about 1s after the swap, a hanging
// one 5s after, and one transient failure followed by a pass is not.
type Health struct {
	URLs         []string `toml:"urls"`
	ExpectStatus int      `toml:"expect_status"` // default 200
	ExpectBody   string   `toml:"expect_body"`   // substring of the body, "" = any
	Timeout      Duration `toml:"timeout"`       // per request, default 5s (never past Grace)
	// Host overrides the Host header (to reach a vhost through 127.0.0.1).
	Host string `toml:"host"`
	// --- notify engineer: non-flapping checks (issue 14) ---
	// ExpectBodyRegexp is an RE2 regexp the body must match ("" = any).
	ExpectBodyRegexp string `toml:"expect_body_regexp"`
	// Checks are more URLs, each with its own expectations
	// ([[site.health.check]]).
	Checks []HealthCheck `toml:"check"`
	// Interval between the starts of two attempts (default 500ms).
	Interval Duration `toml:"interval"`
	// Failures is how many failing attempts in a row roll back (default 3).
	Failures int `toml:"failures"`
	// Successes is how many passing attempts in a row make the release
	// healthy (default 1).
	Successes int `toml:"successes"`
	// Grace bounds the whole check: not healthy by then means rolled
	// back (default 5s).
	Grace Duration `toml:"grace"`
}

// HealthCheck is one URL of a health check with its own expectations;
// unset ExpectStatus means 200, unset Host the Health's Host.
type HealthCheck struct {
	URL              string `toml:"url"`
	ExpectStatus     int    `toml:"expect_status"`
	ExpectBody       string `toml:"expect_body"`
	ExpectBodyRegexp string `toml:"expect_body_regexp"`
	Host             string `toml:"host"`
}

// Defaults of the health check's schedule (see Health).
const (
	DefaultHealthInterval  = 500 * time.Millisecond
	DefaultHealthFailures  = 3
	DefaultHealthSuccesses = 1
	DefaultHealthGrace     = 5 * time.Second
)

// --- end notify engineer: health ---

// Site returns the site named name, or nil.
func (c *Config) Site(name string) *Site {
	for i := range c.Sites {
		if c.Sites[i].Name == name {
			return &c.Sites[i]
		}
	}
	return nil
}

// Duration is a time.Duration written as a string ("90s", "5m").
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w: %q is not a duration (e.g. \"30s\", \"5m\")", ErrInvalid, b)
	}
	if v < 0 {
		return fmt.Errorf("%w: negative duration %q", ErrInvalid, b)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalTOML accepts only a string: a bare number has no unit.
func (d *Duration) UnmarshalTOML(v any) error {
	if s, ok := v.(string); ok {
		return d.UnmarshalText([]byte(s))
	}
	return fmt.Errorf("%w: write the duration as a string such as \"30s\" or \"5m\", not %v", ErrInvalid, v)
}

// MarshalText formats d as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// ByteSize is a size in bytes written as an integer or a string with a unit
// ("512KiB", "10MB", "1GiB"; see ParseByteSize: MB is 10^6, MiB 2^20).
type ByteSize int64

// UnmarshalText parses "123", "10MiB", "2GB" with ParseByteSize.
func (s *ByteSize) UnmarshalText(b []byte) error {
	n, err := ParseByteSize(string(b))
	if err != nil {
		return err
	}
	*s = ByteSize(n)
	return nil
}

// UnmarshalTOML accepts an integer or a string.
func (s *ByteSize) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case int64:
		if v < 0 {
			return fmt.Errorf("%w: negative size %d", ErrInvalid, v)
		}
		*s = ByteSize(v)
		return nil
	case string:
		return s.UnmarshalText([]byte(v))
	}
	return fmt.Errorf("%w: size must be an integer or a string, not %T", ErrInvalid, v)
}

// FileMode is a permission written as an octal string ("0660").
type FileMode os.FileMode

// UnmarshalText parses an octal permission.
func (m *FileMode) UnmarshalText(b []byte) error {
	v, err := strconv.ParseUint(string(b), 8, 32)
	if err != nil || v > 0o777 {
		return fmt.Errorf("%w: %q is not an octal permission such as \"0660\"", ErrInvalid, b)
	}
	*m = FileMode(v)
	return nil
}

// UnmarshalTOML accepts only a string: an integer such as 660 would be
// read as decimal, not the octal mode it looks like.
func (m *FileMode) UnmarshalTOML(v any) error {
	if s, ok := v.(string); ok {
		return m.UnmarshalText([]byte(s))
	}
	return fmt.Errorf("%w: write the permission as an octal string such as \"0660\", not %v", ErrInvalid, v)
}

// Load reads and checks the configuration file at path. It checks the
// file alone, not the host it runs on: see LoadHost.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return Parse(path, data)
}

// LoadHost is Load plus the checks against this host: the group named by
// an explicit daemon.control_group exists (os/user.LookupGroup). The
// daemon uses it at start, on reload and for --check-config; its problems
// are listed with the file's other problems.
func LoadHost(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return ParseHost(path, data)
}

// Parse checks data as the contents of the configuration file named name.
//
// Every problem is reported, with two limits: a TOML syntax error stops
// parsing (the problems after it are not seen), and a value that cannot
// be decoded (a string for a number, a bad duration) is reported and then
// left out, so a check of that key's absence is not reported as well.
func Parse(name string, data []byte) (*Config, error) { return parse(name, data, false, nil) }

// ParseHost is Parse plus the checks against this host (see LoadHost).
func ParseHost(name string, data []byte) (*Config, error) { return parse(name, data, true, nil) }

// LoadHostAs is LoadHost plus CheckRoots for u (--check-config): the
// problems of the roots are listed with the file's others, except for a
// root whose value is already refused.
func LoadHostAs(path string, u *RootsUser) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return parse(path, data, true, u)
}

// maxDecodeErrors bounds how many undecodable values are reported (each
// costs a decode of the file).
const maxDecodeErrors = 50

func parse(name string, data []byte, host bool, u *RootsUser) (*Config, error) {
	// The decoder stops at the first value it cannot decode. Report it,
	// blank the lines of that key/value and decode again, so that the
	// other problems of the file are found too.
	var decodeErrs []error
	badKeys := map[string]bool{}
	var c *Config
	var md toml.MetaData
	for {
		c = &Config{Path: name}
		var err error
		md, err = toml.NewDecoder(bytes.NewReader(data)).Decode(c)
		if err == nil {
			break
		}
		e, recoverable := decodeError(name, data, err)
		decodeErrs = append(decodeErrs, e)
		if !recoverable || len(decodeErrs) >= maxDecodeErrors {
			return nil, errors.Join(decodeErrs...)
		}
		blanked, ok := blankValue(data, e.Line)
		if !ok {
			return nil, errors.Join(decodeErrs...)
		}
		data = blanked
		badKeys[e.Key] = true
	}
	idx := indexKeys(data)
	sortByLine(decodeErrs)
	p := &problems{file: name, idx: idx, skip: badKeys, errs: decodeErrs}
	seen := map[string]int{}
	for _, k := range md.Undecoded() {
		ks := k.String()
		lines := idx.plain[ks]
		line := 0
		if n := seen[ks]; n < len(lines) {
			line = lines[n]
		}
		seen[ks]++
		key := ks
		if n := len(lines); n > 0 {
			if ik := idx.byLine[line]; ik != "" {
				key = ik
			}
		}
		p.errs = append(p.errs, &Error{File: name, Line: line, Key: key,
			Err: fmt.Errorf("%w (misspelt, or not supported by this version)", ErrUnknownKey)})
	}
	defined := c.defaults(md)
	checks := len(p.errs)
	c.check(p, defined)
	if host {
		c.checkHost(p, defined)
	}
	if u != nil {
		c.checkRoots(p, u)
	}
	if len(p.errs) > 0 {
		sortByLine(p.errs[checks:])
		return nil, errors.Join(p.errs...)
	}
	return c, nil
}

// sortByLine puts errs in the order of the file (problems without a line
// first), keeping the order of problems on the same line.
func sortByLine(errs []error) {
	line := func(err error) int {
		var e *Error
		if errors.As(err, &e) {
			return e.Line
		}
		return 0
	}
	slices.SortStableFunc(errs, func(a, b error) int { return line(a) - line(b) })
}

// blankValue returns data with the key/value starting at line (1-based)
// replaced by empty lines, up to the next key or table header, so that
// line numbers do not change. ok is false if line does not start a
// key/value (then nothing can be left out safely).
func blankValue(data []byte, line int) (out []byte, ok bool) {
	idx := indexKeys(data)
	if line <= 0 || idx.byLine[line] == "" {
		return nil, false
	}
	starts := map[int]bool{}
	for l := range idx.byLine {
		starts[l] = true
	}
	for _, l := range idx.tables {
		starts[l] = true
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	end := len(lines) + 1
	for l := line + 1; l <= len(lines); l++ {
		if starts[l] {
			end = l
			break
		}
	}
	out = make([]byte, 0, len(data))
	for i, l := range lines {
		if n := i + 1; n >= line && n < end {
			if bytes.HasSuffix(l, []byte("\n")) {
				out = append(out, '\n')
			}
			continue
		}
		out = append(out, l...)
	}
	return out, true
}

// decodeError turns a toml error into an *Error with a line. recoverable
// is true for a value that could not be decoded (the file parsed), false
// for a syntax error.
func decodeError(name string, data []byte, err error) (e *Error, recoverable bool) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		key := pe.LastKey
		msg := pe.Message
		inner := error(ErrSyntax)
		if m, ok := strings.CutPrefix(msg, ErrInvalid.Error()+": "); ok {
			// An UnmarshalText of this package refused the value.
			inner, msg = ErrInvalid, m
		}
		if key != "" {
			// Decode errors of a value (type mismatch, bad duration)
			// name the key; map it to its indexed name.
			key = lineKey(data, pe.Position.Line, key)
		}
		line := pe.Position.Line
		if line == 0 {
			// The parser ran out of input (an unterminated string at the
			// end of the file) and says no line: it is the last one.
			line = max(1, bytes.Count(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))+1)
		}
		return &Error{File: name, Line: line, Key: key, Err: fmt.Errorf("%w: %s", inner, typeMessage(msg))}, inner == ErrInvalid
	}
	// Type errors from the decoder ("toml: line 3 (last key "site.keep"):
	// incompatible types ...") carry the line only in the text.
	var line int
	var key string
	msg := err.Error()
	if m := lineRE().FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = strings.TrimSpace(msg[len(m[0]):])
		key = lineKey(data, line, m[2])
		if line == 0 {
			// A table where an array of tables is wanted ("[site.0]"):
			// no line in the message; point at the table's header.
			line = indexKeys(data).firstTable(key)
		}
	}
	return &Error{File: name, Line: line, Key: key, Err: fmt.Errorf("%w: %s", ErrInvalid, typeMessage(msg))}, line > 0
}

// lineKey returns the indexed name ("site[1].triggers.poll") of the key
// the decoder calls last ("site.triggers.poll") on line: the key defined
// on that line, extended by the rest of last when the line holds an
// inline table.
func lineKey(data []byte, line int, last string) string {
	ik := indexKeys(data).byLine[line]
	if ik == "" {
		return last
	}
	plain := indexRE().ReplaceAllString(ik, "")
	if rest, ok := strings.CutPrefix(last, plain+"."); ok {
		return ik + "." + rest
	}
	return ik
}

var indexRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\[\d+\]`) })

// typeMessage rewords the decoder's type mismatch for people: "incompatible
// types: TOML value has type int64; destination has type string" becomes
// "must be a string (in quotes), not an integer".
func typeMessage(msg string) string {
	m := typeRE().FindStringSubmatch(msg)
	if m == nil {
		if m = tableRE().FindStringSubmatch(msg); m == nil {
			return msg
		}
		m = []string{m[0], m[1], "struct"}
	}
	want := map[string]string{"string": "a string (in quotes)", "integer": "an integer", "float": "a number",
		"boolean": "true or false", "slice": "an array [...]", "struct": "a table", "map": "a table"}[m[2]]
	got := map[string]string{"string": "a string", "int64": "an integer", "float64": "a number", "bool": "a boolean",
		"[]interface {}": "an array", "map[string]interface {}": "a table"}[m[1]]
	if want == "" || got == "" {
		return msg
	}
	return "must be " + want + ", not " + got
}

var tableRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^type mismatch for [^:]+: expected table but found (.+)$`)
})

var typeRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^incompatible types: TOML value has type (.+); destination has type (.+)$`)
})

var lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^toml: (?:line (\d+) )?\(last key "([^"]*)"\):`) })

// firstTable returns the line of the first header of table name or of a
// table below it ("site" for "[site.0]"), 0 if none.
func (ix *keyIndex) firstTable(name string) int {
	line := 0
	for t, l := range ix.tables {
		if (t == name || strings.HasPrefix(t, name+".") || strings.HasPrefix(t, name+"[")) && (line == 0 || l < line) {
			line = l
		}
	}
	return line
}

// defaults fills in the defaults and returns the keys the file defines.
func (c *Config) defaults(md toml.MetaData) map[string]bool {
	defined := definedKeys(md)
	d := &c.Daemon
	if !defined["daemon.control_socket_mode"] {
		d.ControlSocketMode = 0o660
	}
	if !defined["daemon.control_group"] {
		d.ControlGroup = DefaultControlGroup
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		k := func(name string) bool { return defined[fmt.Sprintf("site[%d].%s", i, name)] }
		if !k("hash.enabled") {
			s.Hash.Enabled = true
		}
		if !k("validate.fragments") {
			s.Validate.Fragments = true
		}
		if s.Validate.Policy == "" && !k("validate.policy") {
			s.Validate.Policy = "new"
		}
		if !k("validate.required") {
			s.Validate.Required = []string{"index.html"}
		}
		if !k("validate.shrink_percent") {
			s.Validate.ShrinkPercent = 50
		}
		// [site.retry] defaults (issue 14).
		if !k("retry.attempts") {
			s.Retry.Attempts = DefaultRetryAttempts
		}
		if !k("retry.max_wait") {
			s.Retry.MaxWait = Duration(DefaultRetryMaxWait)
		}
		if !k("retry.initial") {
			s.Retry.Initial = Duration(DefaultRetryInitial)
		}
		if !k("retry.max_delay") {
			s.Retry.MaxDelay = Duration(DefaultRetryMaxDelay)
		}
		if f := s.Fleet; f != nil {
			if !k("fleet.host") {
				f.Host, _ = os.Hostname()
			}
			if !k("fleet.s3_listen") {
				f.S3Listen = true
			}
			if !k("fleet.poll") {
				f.Poll = Duration(DefaultFleetPoll)
			}
			if !k("fleet.heartbeat") {
				f.Heartbeat = Duration(DefaultFleetHeartbeat)
			}
		}
		if w := s.Watch; w != nil {
			if !k("watch.format") {
				w.Format = "nginx"
			}
			if !k("watch.window") {
				w.Window = Duration(DefaultWatchWindow)
			}
			if !k("watch.max_error_rate") {
				w.MaxErrorRate = DefaultWatchMaxErrorRate
			}
			if !k("watch.min_requests") {
				w.MinRequests = DefaultWatchMinRequests
			}
			if !k("watch.canary") {
				w.Canary = "off"
			}
			if !k("watch.canary_percent") {
				w.CanaryPercent = DefaultWatchCanaryPercent
			}
		}
		if h := s.Health; h != nil {
			if !k("health.expect_status") {
				h.ExpectStatus = DefaultHealthStatus
			}
			if !k("health.timeout") {
				h.Timeout = Duration(DefaultHealthTimeout)
			}
			// notify engineer: health schedule and per-URL defaults.
			if !k("health.interval") {
				h.Interval = Duration(DefaultHealthInterval)
			}
			if !k("health.failures") {
				h.Failures = DefaultHealthFailures
			}
			if !k("health.successes") {
				h.Successes = DefaultHealthSuccesses
			}
			if !k("health.grace") {
				h.Grace = Duration(DefaultHealthGrace)
			}
			for j := range h.Checks {
				if h.Checks[j].ExpectStatus == 0 {
					h.Checks[j].ExpectStatus = DefaultHealthStatus
				}
			}
		}
	}
	return defined
}

// definedKeys returns every key the file defines, with the index of the
// [[site]] element it belongs to ("site[1].hash.enabled"). MetaData.Keys
// lists keys in document order and "site" once per [[site]] element.
func definedKeys(md toml.MetaData) map[string]bool {
	out := map[string]bool{}
	n := -1
	for _, k := range md.Keys() {
		if len(k) == 0 {
			continue
		}
		if k[0] != "site" {
			out[k.String()] = true
			continue
		}
		if len(k) == 1 {
			if md.Type("site") == "ArrayHash" || md.Type("site") == "Array" {
				n++
			}
			continue
		}
		out[fmt.Sprintf("site[%d].%s", max(n, 0), toml.Key(k[1:]).String())] = true
	}
	return out
}

type problems struct {
	file string
	idx  *keyIndex
	skip map[string]bool // keys whose value could not be decoded
	errs []error
}

// at reports a problem with key (indexed form, e.g. "site[0].keep").
func (p *problems) at(key string, err error) {
	if p.skip[key] {
		// Already reported: the value could not be decoded.
		return
	}
	line := p.idx.first[key]
	if line == 0 {
		// An element of an array: the line of the array's key.
		if i := strings.LastIndexByte(key, '['); i > 0 && strings.HasSuffix(key, "]") {
			line = p.idx.first[key[:i]]
		}
	}
	if line == 0 {
		// A missing key: point at the table it belongs in.
		t := key
		for line == 0 && t != "" {
			i := strings.LastIndexByte(t, '.')
			if i < 0 {
				t = ""
				break
			}
			t = t[:i]
			line = p.idx.tables[t]
		}
	}
	p.errs = append(p.errs, &Error{File: p.file, Line: line, Key: key, Err: err})
}

func (p *problems) invalid(key, format string, args ...any) {
	p.at(key, fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...)))
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,62}$`) })

func (c *Config) check(p *problems, defined map[string]bool) {
	d := &c.Daemon
	if d.ControlSocket != "" && !filepath.IsAbs(d.ControlSocket) {
		p.invalid("daemon.control_socket", "%q is not an absolute path", d.ControlSocket)
	}
	for key, v := range map[string]string{"daemon.webhook_listen": d.WebhookListen, "daemon.metrics_listen": d.MetricsListen} {
		if v == "" {
			continue
		}
		if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
			p.invalid(key, "%q is not host:port (e.g. \"127.0.0.1:9488\")", v)
		} else if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			p.invalid(key, "%q: port %q is not a number", v, port)
		}
	}
	if d.WebhookTokenFile != "" && !filepath.IsAbs(d.WebhookTokenFile) {
		p.invalid("daemon.webhook_token_file", "%q is not an absolute path", d.WebhookTokenFile)
	}
	if len(c.Sites) == 0 {
		p.at("site", fmt.Errorf("%w: no [[site]] defined", ErrMissing))
	}
	names := map[string]int{}
	var roots []siteRoot // the valid roots so far
	webhook := false
	for i := range c.Sites {
		s := &c.Sites[i]
		k := func(name string) string { return fmt.Sprintf("site[%d].%s", i, name) }
		switch {
		case s.Name == "":
			p.at(k("name"), fmt.Errorf("%w: every site needs a name", ErrMissing))
		case !nameRE().MatchString(s.Name):
			p.invalid(k("name"), "%q: use lowercase letters, digits, '.', '_' and '-' (at most 63)", s.Name)
		default:
			if j, dup := names[s.Name]; dup {
				p.invalid(k("name"), "%q is also the name of site[%d]", s.Name, j)
			}
			names[s.Name] = i
		}
		switch {
		case s.Root == "":
			p.at(k("root"), fmt.Errorf("%w: every site needs a root directory", ErrMissing))
		case !filepath.IsAbs(s.Root) || filepath.Clean(s.Root) != s.Root:
			p.invalid(k("root"), "%q is not a clean absolute path", s.Root)
		case systemDir(s.Root):
			p.invalid(k("root"), "%q is a system directory; give the site a directory of its own, such as /srv/www/%s", s.Root, s.Name)
		default:
			for _, o := range roots {
				if msg := overlap(s.Root, o.root); msg != "" {
					p.invalid(k("root"), "%q %s of site[%d] (%q)", s.Root, msg, o.i, o.root)
				}
			}
			roots = append(roots, siteRoot{i, s.Root})
		}
		if defined[k("keep")] && s.Keep < 1 {
			p.invalid(k("keep"), "%d: must be at least 1", s.Keep)
		}
		t := &s.Triggers
		if t.Inbox != "" {
			if !filepath.IsAbs(t.Inbox) {
				p.invalid(k("triggers.inbox"), "%q is not an absolute path", t.Inbox)
			} else if s.Root != "" && (t.Inbox == s.Root || strings.HasPrefix(t.Inbox, s.Root+"/")) {
				p.invalid(k("triggers.inbox"), "%q is inside the site root %q (it would be served)", t.Inbox, s.Root)
			}
		}
		if (t.Webhook || t.S3Listen || t.Poll > 0) && s.Source == "" {
			key := "triggers.poll"
			if t.Webhook {
				key = "triggers.webhook"
			} else if t.S3Listen {
				key = "triggers.s3_listen"
			}
			p.invalid(k(key), "needs the site's source (what to deploy when triggered)")
		}
		if t.S3Listen && !strings.HasPrefix(s.Source, "s3://") {
			p.invalid(k("triggers.s3_listen"), "needs an s3:// source, not %q", s.Source)
		}
		if t.Poll > 0 && t.Poll.D() < time.Second {
			p.invalid(k("triggers.poll"), "%s: poll at most once a second", t.Poll.D())
		}
		webhook = webhook || t.Webhook
		for j, g := range s.Hash.Include {
			if !doublestar.ValidatePattern(g) {
				p.invalid(k(fmt.Sprintf("hash.include[%d]", j)), "%q is not a valid glob", g)
			}
		}
		for j, g := range s.Hash.Exclude {
			if !doublestar.ValidatePattern(g) {
				p.invalid(k(fmt.Sprintf("hash.exclude[%d]", j)), "%q is not a valid glob", g)
			}
		}
		for name, globs := range map[string][]string{"ignore_files": s.Validate.IgnoreFiles, "ignore_urls": s.Validate.IgnoreURLs} {
			for j, g := range globs {
				if !doublestar.ValidatePattern(g) {
					p.invalid(k(fmt.Sprintf("validate.%s[%d]", name, j)), "%q is not a valid glob", g)
				}
			}
		}
		switch s.Validate.Policy {
		case "new", "all", "off":
		default:
			p.invalid(k("validate.policy"), "%q: use \"new\" (findings live does not have refuse a release), \"all\" or \"off\"", s.Validate.Policy)
		}
		if s.Hash.CarryOver < -1 {
			p.invalid(k("hash.carry_over"), "%d: use a count, or -1 for none", s.Hash.CarryOver)
		}
		if g := s.Validate.MaxGrowthPercent; g < 0 {
			p.invalid(k("validate.max_growth_percent"), "%v: must not be negative", g)
		}
		if g := s.Validate.ShrinkPercent; g < 0 || g > 100 {
			p.invalid(k("validate.shrink_percent"), "%v: must be between 0 and 100", g)
		}
		// [site.retry] (issue 14).
		if r := s.Retry; r.Attempts < 1 {
			p.invalid(k("retry.attempts"), "%d: must be at least 1 (1 = never retry)", r.Attempts)
		} else if r.Attempts > 1000 {
			p.invalid(k("retry.attempts"), "%d: at most 1000; bound the time with max_wait", r.Attempts)
		}
		if r := s.Retry; r.Initial <= 0 {
			p.invalid(k("retry.initial"), "%s: must be positive", r.Initial.D())
		} else if r.MaxDelay < r.Initial {
			p.invalid(k("retry.max_delay"), "%s is shorter than retry.initial (%s)", r.MaxDelay.D(), r.Initial.D())
		}
		if h := s.Health; h != nil {
			checkHealth(p, k, h)
		}
		if f := s.Fleet; f != nil {
			checkFleet(p, k, s, f)
		}
		if w := s.Watch; w != nil {
			checkWatch(p, k, w)
			if s.Fleet != nil {
				p.invalid(k("watch"), "a fleet member does not watch on its own: one host rolling back would leave the fleet split; the fleet's releases are switched by `releasectl fleet`")
			}
		}
	}
	// An inbox in another site's store would be taken for part of it.
	for i := range c.Sites {
		in := c.Sites[i].Triggers.Inbox
		if !filepath.IsAbs(in) {
			continue
		}
		for _, o := range roots {
			if o.i != i && within(filepath.Clean(in), o.root) {
				p.invalid(fmt.Sprintf("site[%d].triggers.inbox", i), "%q is inside the root of site[%d] (%q)", in, o.i, o.root)
			}
		}
	}
	c.checkNotify(p)
	if webhook && d.WebhookTokenFile == "" {
		p.at("daemon.webhook_token_file", fmt.Errorf("%w: a site uses the webhook trigger; callers must authenticate with a token", ErrMissing))
	}
}

// checkFleet checks a site's [site.fleet]: a fleet site deploys only
// what desired.json names, so it has no source or triggers of its own.
func checkFleet(p *problems, k func(string) string, s *Site, f *Fleet) {
	if f.URL == "" {
		p.at(k("fleet.url"), fmt.Errorf("%w: a fleet needs its S3 prefix, e.g. \"s3://ops/fleet/www/\"", ErrMissing))
	} else if u, err := url.Parse(f.URL); err != nil || u.Scheme != "s3" || u.Host == "" || !strings.HasSuffix(f.URL, "/") {
		p.invalid(k("fleet.url"), "%q is not an S3 prefix such as \"s3://ops/fleet/www/\" (ending in /)", f.URL)
	}
	if !hostRE().MatchString(f.Host) {
		p.invalid(k("fleet.host"), "%q: use letters, digits, '.', '_' and '-' (at most 63), or leave it unset for the host name", f.Host)
	}
	if f.Poll.D() < time.Second {
		p.invalid(k("fleet.poll"), "%s: poll at most once a second", f.Poll.D())
	}
	if f.Heartbeat.D() < time.Second {
		p.invalid(k("fleet.heartbeat"), "%s: at least 1s", f.Heartbeat.D())
	}
	if s.Source != "" {
		p.invalid(k("source"), "%q: a fleet site deploys what the fleet's desired.json names; remove source", s.Source)
	}
	t := s.Triggers
	for key, on := range map[string]bool{"inbox": t.Inbox != "", "webhook": t.Webhook, "s3_listen": t.S3Listen, "poll": t.Poll > 0} {
		if on {
			p.invalid(k("triggers."+key), "a fleet site follows desired.json (fleet.s3_listen, fleet.poll); remove triggers.%s", key)
		}
	}
}

var hostRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`) })

// checkWatch checks a site's [site.watch].
func checkWatch(p *problems, k func(string) string, w *Watch) {
	if w.Log == "" {
		p.at(k("watch.log"), fmt.Errorf("%w: the access log to watch, written in the shipped log_format (packaging/web)", ErrMissing))
	} else if !filepath.IsAbs(w.Log) {
		p.invalid(k("watch.log"), "%q is not an absolute path", w.Log)
	}
	if w.Format != "nginx" && w.Format != "caddy" {
		p.invalid(k("watch.format"), "%q: use \"nginx\" (the shipped log_format) or \"caddy\" (Caddy's JSON access log)", w.Format)
	}
	if w.Window.D() < time.Second {
		p.invalid(k("watch.window"), "%s: at least 1s (default 5m)", w.Window.D())
	}
	if w.MaxErrorRate < 0 || w.MaxErrorRate > 100 {
		p.invalid(k("watch.max_error_rate"), "%v: a percentage between 0 and 100", w.MaxErrorRate)
	}
	if w.MinRequests < 1 {
		p.invalid(k("watch.min_requests"), "%d: must be at least 1", w.MinRequests)
	}
	if w.Canary != "off" && w.Canary != "auto" {
		p.invalid(k("watch.canary"), "%q: use \"off\" or \"auto\"", w.Canary)
	}
	if w.Format == "caddy" && w.Canary == "auto" {
		p.invalid(k("watch.canary"), "\"auto\" needs format \"nginx\": Caddy's access log cannot say which release served a request, so the canary cohort cannot be told from the stable one")
	}
	if w.CanaryPercent < 1 || w.CanaryPercent > 99 {
		p.invalid(k("watch.canary_percent"), "%d: between 1 and 99", w.CanaryPercent)
	}
}

// checkHealth checks a site's [site.health] (k makes the site's keys).
func checkHealth(p *problems, k func(string) string, h *Health) {
	if len(h.URLs) == 0 && len(h.Checks) == 0 {
		p.at(k("health.urls"), fmt.Errorf("%w: a health check needs at least one URL (urls, or [[site.health.check]] url)", ErrMissing))
	}
	checkURL := func(key, u string) {
		pu, err := url.Parse(u)
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.invalid(key, "%q is not an http:// or https:// URL", u)
		}
	}
	checkStatus := func(key string, st int) {
		if st < 100 || st > 599 {
			p.invalid(key, "%d is not an HTTP status", st)
		}
	}
	checkRE := func(key, re string) {
		if _, err := regexp.Compile(re); err != nil {
			p.invalid(key, "%q is not a regular expression (RE2 syntax): %v", re, err)
		}
	}
	for j, u := range h.URLs {
		checkURL(k(fmt.Sprintf("health.urls[%d]", j)), u)
	}
	checkStatus(k("health.expect_status"), h.ExpectStatus)
	checkRE(k("health.expect_body_regexp"), h.ExpectBodyRegexp)
	for j, c := range h.Checks {
		ck := func(name string) string { return k(fmt.Sprintf("health.check[%d].%s", j, name)) }
		if c.URL == "" {
			p.at(ck("url"), fmt.Errorf("%w: every [[site.health.check]] needs a url", ErrMissing))
		} else {
			checkURL(ck("url"), c.URL)
		}
		checkStatus(ck("expect_status"), c.ExpectStatus)
		checkRE(ck("expect_body_regexp"), c.ExpectBodyRegexp)
	}
	if h.Interval <= 0 {
		p.invalid(k("health.interval"), "%s: must be positive (e.g. \"500ms\")", h.Interval.D())
	}
	if h.Failures < 1 {
		p.invalid(k("health.failures"), "%d: must be at least 1", h.Failures)
	}
	if h.Successes < 1 {
		p.invalid(k("health.successes"), "%d: must be at least 1", h.Successes)
	}
	if h.Grace < h.Interval {
		p.invalid(k("health.grace"), "%s: must be at least health.interval (%s)", h.Grace.D(), h.Interval.D())
	}
	if h.Timeout <= 0 {
		p.invalid(k("health.timeout"), "%s: must be positive", h.Timeout.D())
	}
}

// checkNotify checks the [[notify]] entries (the token files are read by
// the daemon, which reports a missing or unreadable one).
func (c *Config) checkNotify(p *problems) {
	for i, n := range c.Notify {
		k := func(name string) string { return fmt.Sprintf("notify[%d].%s", i, name) }
		if n.URL == "" {
			p.at(k("url"), fmt.Errorf("%w: every [[notify]] needs a url", ErrMissing))
		} else if pu, err := url.Parse(n.URL); err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.invalid(k("url"), "%q is not an http:// or https:// URL", n.URL)
		}
		if n.TokenFile != "" && !filepath.IsAbs(n.TokenFile) {
			p.invalid(k("token_file"), "%q is not an absolute path", n.TokenFile)
		}
	next:
		for j, e := range n.Events {
			for _, ok := range NotifyEvents {
				if e == ok {
					continue next
				}
			}
			p.invalid(k(fmt.Sprintf("events[%d]", j)), "%q is not an event; use any of %s", e, strings.Join(NotifyEvents, ", "))
		}
	}
}

// checkNotifyHost checks that each [[notify]] token_file can be read
// and is not empty (the daemon reads it at start and on reload).
func (c *Config) checkNotifyHost(p *problems) {
	for i, n := range c.Notify {
		if n.TokenFile == "" || !filepath.IsAbs(n.TokenFile) {
			continue
		}
		key := fmt.Sprintf("notify[%d].token_file", i)
		b, err := os.ReadFile(n.TokenFile)
		switch {
		case err != nil:
			p.invalid(key, "bearer token file: %v", err)
		case len(bytes.TrimSpace(b)) == 0:
			p.invalid(key, "bearer token file %s is empty", n.TokenFile)
		}
	}
}

type siteRoot struct {
	i    int
	root string
}

// Directories of a release store, as named by package releases
// (releases.StateDir, releases.ReleasesDir); this package imports nothing
// of the project.
const (
	storeStateDir    = "state"
	storeReleasesDir = "releases"
)

// overlap says how root (clean, absolute) collides with other, the root
// of another site, or "" if it does not: two stores must not share or
// contain each other's directories.
func overlap(root, other string) string {
	switch {
	case root == other:
		return "is also the root"
	case within(root, filepath.Join(other, storeStateDir)):
		return "is inside the state directory of the store"
	case within(root, filepath.Join(other, storeReleasesDir)):
		return "is inside the releases directory of the store"
	case within(root, other):
		return "is inside the root"
	case within(other, root):
		return "contains the root"
	}
	return ""
}

// within reports whether path is dir or below it (both clean, absolute).
func within(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/") || dir == "/"
}

// systemDir reports whether path (clean, absolute) is a directory of the
// operating system that no release store may take: the daemon creates
// ROOT/releases, ROOT/current and ROOT/state in it. Directories below
// these (/srv/www, /var/www/site) are fine.
func systemDir(path string) bool {
	switch path {
	case "/", "/etc", "/usr", "/bin", "/sbin", "/boot", "/dev", "/proc", "/sys",
		"/run", "/var", "/home", "/root", "/tmp":
		return true
	}
	// /lib, /lib32, /lib64, /libx32.
	return strings.HasPrefix(path, "/lib") && !strings.Contains(path[1:], "/")
}

// checkHost makes the checks that look at this host: the group named by
// an explicit daemon.control_group exists. (The default group, when the
// key is not set, may be missing: then only root and the daemon's user may
// change things, and the daemon warns.)
func (c *Config) checkHost(p *problems, defined map[string]bool) {
	c.checkNotifyHost(p)
	g := c.Daemon.ControlGroup
	if !defined["daemon.control_group"] || g == "" {
		return
	}
	if _, err := user.LookupGroup(g); err != nil {
		var unknown user.UnknownGroupError
		if errors.As(err, &unknown) {
			p.invalid("daemon.control_group", "group %q does not exist on this host (create it: groupadd --system %s)", g, g)
		} else {
			p.invalid("daemon.control_group", "group %q: %v", g, err)
		}
	}
}
