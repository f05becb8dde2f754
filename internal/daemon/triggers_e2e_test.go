package daemon_test

// Every trigger end to end through the daemon: release-agent (the built
// binary) with a config file, a real MinIO, uploads made the way operators
// make them, and nobody running a command afterwards: each test waits (with
// a deadline) for ROOT/current to change.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/example/release-agent/internal/testutil/testenv"
)

// trigEnv is one release-agent with S3 triggers on one MinIO.
type trigEnv struct {
	t      *testing.T
	dir    string
	m      *testenv.MinIO
	agent  string
	cfg    string
	port   int    // webhook listener
	token  string // webhook bearer token
	stderr *syncBuffer
	cmd    *exec.Cmd
}

// newTrigEnv starts MinIO; the daemon starts with start(sites).
func newTrigEnv(t *testing.T, opts *testenv.MinIOOptions) *trigEnv {
	t.Helper()
	agent, _ := bins(t)
	e := &trigEnv{t: t, dir: pubDir(t), agent: agent, port: testenv.FreePort(t), token: testenv.RandomString(32)}
	e.m = testenv.StartMinIO(t, opts)
	e.cfg = filepath.Join(e.dir, "config.toml")
	return e
}

// start writes the configuration ([daemon], [s3] for e.m, then sites) and
// starts release-agent, waiting for READY=1.
func (e *trigEnv) start(sites string) {
	t := e.t
	t.Helper()
	tokFile := filepath.Join(e.dir, "webhook.token")
	writeFile(t, tokFile, e.token+"\n")
	creds := filepath.Join(e.dir, "credentials")
	writeFile(t, creds, fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", e.m.AccessKey, e.m.SecretKey))
	writeFile(t, e.cfg, fmt.Sprintf(`[daemon]
control_socket = %q
webhook_listen = "127.0.0.1:%d"
webhook_token_file = %q

[s3]
endpoint = %q
region = "us-east-1"
insecure = true
credentials_file = %q

%s`, filepath.Join(e.dir, "control.sock"), e.port, tokFile, e.m.Endpoint, creds, sites))
	n := listenNotify(t, e.dir)
	e.stderr = &syncBuffer{}
	e.cmd = exec.Command(e.agent, "--config", e.cfg, "--log-level", "debug")
	e.cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+n.path)
	e.cmd.Stderr = e.stderr
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { e.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			e.cmd.Process.Kill()
			<-exited
		}
		log := e.stderr.String()
		if strings.Contains(strings.ToLower(log), "panic") {
			t.Errorf("the daemon's log mentions a panic:\n%s", log)
		}
		if t.Failed() {
			t.Logf("release-agent stderr:\n%s", log)
		}
	})
	n.wait(t, 0, `^READY=1$`)
}

// site returns a [[site]] block with validation off (the artifacts are
// one-page sites) and the given triggers.
func trigSite(name, root, source, triggers string) string {
	return fmt.Sprintf("[[site]]\nname = %q\nroot = %q\nsource = %q\n[site.validate]\npolicy = \"off\"\n[site.triggers]\n%s\n", name, root, source, triggers)
}

// artifact returns a .tar.gz of a site whose index.html says title, plus
// extra pages (so that a deploy takes longer than an upload).
func artifact(t *testing.T, title string, extra int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	tw := tar.NewWriter(zw)
	add := func(name, body string) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg, ModTime: time.Unix(1700000000, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add("index.html", page(title))
	for i := range extra {
		add(fmt.Sprintf("p/%04d.html", i), page(fmt.Sprintf("%s page %d", title, i)))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func (e *trigEnv) put(bucket, key string, body []byte) minio.UploadInfo {
	e.t.Helper()
	ui, err := e.m.Client.PutObject(context.Background(), bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	if err != nil {
		e.t.Fatalf("put s3://%s/%s: %v", bucket, key, err)
	}
	return ui
}

// serving returns the title of ROOT/current/index.html ("" if none).
func serving(root string) string {
	b, err := os.ReadFile(filepath.Join(root, "current", "index.html"))
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`<h1>(.*)</h1>`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// waitServing polls until root serves title.
func waitServing(t *testing.T, root, title string) {
	t.Helper()
	poll(t, "current to serve "+title, func() bool { return serving(root) == title })
}

// waitLogged polls until the daemon has logged the triggered deploy of
// the release root serves now (the line follows the swap).
func (e *trigEnv) waitLogged(root string) {
	e.t.Helper()
	cur := current(e.t, root)
	poll(e.t, "the log line of "+cur, func() bool {
		return e.count(`msg="trigger: deployed" .*release=`+regexp.QuoteMeta(cur)+` `) > 0
	})
}

// count returns how many log lines match re.
func (e *trigEnv) count(re string) int {
	return len(regexp.MustCompile(re).FindAllStringIndex(e.stderr.String(), -1))
}

// TestTriggerListen: the listen trigger on an object source deploys an
// upload; after MinIO is killed and restarted under the open stream, the
// stream reconnects (and says so) and the next upload deploys; a burst of
// uploads makes one or two deploys, the last of the newest.
func TestTriggerListen(t *testing.T) {
	e := newTrigEnv(t, nil)
	e.m.MakeBucket(t, "builds")
	root := filepath.Join(e.dir, "www")
	e.start(trigSite("www", root, "s3://builds/www/site.tar.gz", "s3_listen = true"))

	// The stream is opened asynchronously: upload new versions until one
	// deploys (an upload before the stream is registered is lost, which
	// is what poll is for).
	uploadUntilLive := func(prefix string) string {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for i := 0; time.Now().Before(deadline); i++ {
			title := fmt.Sprintf("%s %d", prefix, i)
			body := artifact(t, title, 0)
			if _, err := e.m.Client.PutObject(context.Background(), "builds", "www/site.tar.gz", bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
				time.Sleep(100 * time.Millisecond) // the server is still starting
				continue
			}
			until := time.Now().Add(2 * time.Second)
			for time.Now().Before(until) {
				if s := serving(root); strings.HasPrefix(s, prefix+" ") {
					return s
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		t.Fatalf("no upload %q deployed through the listen trigger", prefix)
		return ""
	}
	uploadUntilLive("first")
	e.waitLogged(root)
	if n := e.count(`msg="trigger: deployed" site=www trigger=listen bucket=builds key=www/site.tar.gz etag=[0-9a-f-]+ .*release=v\d+`); n < 1 {
		t.Fatalf("no Info line for the listen deploy")
	}
	// Other keys in the bucket do not deploy.
	e.put("builds", "www/site.tar.gz.old", artifact(t, "other key", 0))
	e.put("builds", "other/site.tar.gz", artifact(t, "other key", 0))

	// MinIO killed and restarted while the stream is open.
	e.m.Stop()
	if err := e.m.Restart(); err != nil {
		t.Fatal(err)
	}
	poll(t, "the reconnect in the log", func() bool { return e.count(`listen stream dropped, reconnecting`) > 0 })
	uploadUntilLive("after restart")

	// A burst: five uploads back to back. The queue has no settle delay
	// (it would add to every notification-to-live time): the first event
	// starts a deploy at once and the others, arriving while it runs,
	// collapse into one deploy of the newest. So the artifact is one
	// whose deploy outlasts the burst (2,000 pages to stage and commit,
	// uploads of ~100 kB on loopback), as a real site's does.
	// The deploy before the burst is logged after current moves: count
	// from its line, not from the move.
	e.waitLogged(root)
	before := e.count(`msg="trigger: deployed" site=www`)
	var burst [][]byte
	for i := range 5 {
		burst = append(burst, artifact(t, fmt.Sprintf("burst %d", i), 2000))
	}
	last := "burst 4"
	for _, b := range burst {
		e.put("builds", "www/site.tar.gz", b)
	}
	waitServing(t, root, last)
	e.waitLogged(root)
	n := e.count(`msg="trigger: deployed" site=www`) - before
	t.Logf("a burst of 5 uploads: %d deploy(s)", n)
	if n > 2 {
		t.Errorf("a burst of 5 uploads made %d deploys, want 1 or 2", n)
	}
	if e.count(`key=www/site.tar.gz.old|key=other/`) != 0 {
		t.Errorf("an upload to another key was deployed or queued")
	}
}

// mc runs the MinIO client with its own configuration directory.
func (e *trigEnv) mc(args ...string) string {
	e.t.Helper()
	out, err := e.mcTry(args...)
	if err != nil {
		e.t.Fatalf("mc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// mcTry is mc returning its error instead of failing the test.
func (e *trigEnv) mcTry(args ...string) (string, error) {
	e.t.Helper()
	cmd := exec.Command(testenv.Tool(e.t, "mc"), args...)
	cmd.Env = append(os.Environ(), "MC_CONFIG_DIR="+filepath.Join(e.dir, "mc"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestTriggerWebhook: MinIO's webhook target set up exactly as README.md
// says (mc admin config set notify_webhook, restart, mc event add), an
// upload with mc cp deploys; then duplicate, late and out-of-order events
// posted to /v0/hook/SITE never take the site back.
func TestTriggerWebhook(t *testing.T) {
	e := newTrigEnv(t, nil)
	e.m.MakeBucket(t, "builds")
	ctx := context.Background()
	if err := e.m.Client.EnableVersioning(ctx, "builds"); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(e.dir, "www")
	e.start(trigSite("www", root, "s3://builds/www/site.tar.gz", "webhook = true"))

	// README.md, "MinIO webhook, step by step".
	e.mc("alias", "set", "minio", e.m.URL(), e.m.AccessKey, e.m.SecretKey)
	out := e.mc("admin", "config", "set", "minio", "notify_webhook:release-agent-www",
		fmt.Sprintf("endpoint=http://127.0.0.1:%d/v0/hook/www", e.port), "auth_token="+e.token)
	if strings.Contains(out, "restart") {
		e.mc("admin", "service", "restart", "minio", "--json")
		poll(t, "MinIO after the restart", func() bool {
			_, err := e.m.Client.ListBuckets(ctx)
			return err == nil
		})
	}
	// ListBuckets may still reach the server before its restart begins:
	// the README's next step is retried until MinIO, back up, takes it.
	var last string
	t.Cleanup(func() {
		if t.Failed() && last != "" {
			t.Logf("the last mc event add said: %s", last)
		}
	})
	poll(t, "mc event add after MinIO's restart", func() bool {
		var err error
		last, err = e.mcTry("event", "add", "minio/builds", "arn:minio:sqs::release-agent-www:webhook", "--event", "put", "--prefix", "www/site.tar.gz")
		return err == nil
	})
	if l := e.mc("event", "list", "minio/builds"); !strings.Contains(l, "release-agent-www") {
		t.Fatalf("mc event list: %s", l)
	}

	upload := func(title string) minio.ObjectInfo {
		t.Helper()
		f := filepath.Join(e.dir, "site.tar.gz")
		if err := os.WriteFile(f, artifact(t, title, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		e.mc("cp", "-q", f, "minio/builds/www/site.tar.gz")
		oi, err := e.m.Client.StatObject(ctx, "builds", "www/site.tar.gz", minio.StatObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return oi
	}
	a := upload("A")
	waitServing(t, root, "A")
	b := upload("B")
	waitServing(t, root, "B")
	e.waitLogged(root)
	if n := e.count(`msg="trigger: deployed" site=www trigger=webhook bucket=builds key=www/site.tar.gz etag=` + b.ETag + ` version=` + b.VersionID); n != 1 {
		t.Fatalf("%d Info lines for the webhook deploy of B, want 1", n)
	}
	live := current(t, root)

	// Events as MinIO sends them, posted by hand.
	post := func(oi minio.ObjectInfo, at time.Time) {
		t.Helper()
		rec := map[string]any{
			"eventName": "s3:ObjectCreated:Put", "eventTime": at.UTC().Format(time.RFC3339Nano),
			"s3": map[string]any{"bucket": map[string]any{"name": "builds"},
				"object": map[string]any{"key": "www%2Fsite.tar.gz", "eTag": oi.ETag, "size": oi.Size, "versionId": oi.VersionID}},
		}
		body, _ := json.Marshal(map[string]any{"EventName": "s3:ObjectCreated:Put", "Key": "builds/www/site.tar.gz", "Records": []any{rec}})
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://127.0.0.1:%d/v0/hook/www", e.port), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+e.token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v0/hook/www: %s", resp.Status)
		}
	}
	dropped := func() int { return e.count(`trigger: event dropped`) }
	// A duplicate of the live artifact and a late event for A.
	n0 := dropped()
	post(b, b.LastModified)
	post(a, a.LastModified)
	poll(t, "both events to be dropped", func() bool { return dropped() >= n0+2 })
	if !strings.Contains(e.stderr.String(), "duplicate of the live artifact") || !strings.Contains(e.stderr.String(), "reason=\"older than") {
		t.Errorf("dropped for other reasons than duplicate and older")
	}

	// Out of order: C then D are uploaded with MinIO's rule removed (so
	// that MinIO sends nothing), then their events arrive D first, C
	// second, and D again.
	e.mc("event", "remove", "minio/builds", "--force")
	c := e.put("builds", "www/site.tar.gz", artifact(t, "C", 0))
	d := e.put("builds", "www/site.tar.gz", artifact(t, "D", 0))
	tC := time.Now()
	tD := tC.Add(time.Millisecond)
	ci := minio.ObjectInfo{ETag: c.ETag, Size: c.Size, VersionID: c.VersionID}
	di := minio.ObjectInfo{ETag: d.ETag, Size: d.Size, VersionID: d.VersionID}
	if c.VersionID == "" || c.VersionID == d.VersionID {
		t.Fatalf("versions of C and D: %q %q", c.VersionID, d.VersionID)
	}
	// Nothing was sent for C and D: B is still live.
	if cur := current(t, root); cur != live || serving(root) != "B" {
		t.Fatalf("an upload without a notification deployed: %s serves %q", cur, serving(root))
	}
	post(di, tD)
	waitServing(t, root, "D")
	e.waitLogged(root)
	n0 = dropped()
	post(ci, tC)
	post(di, tD)
	poll(t, "the late C and the duplicate D to be dropped", func() bool { return dropped() >= n0+2 })
	if s := serving(root); s != "D" {
		t.Fatalf("serving %q after a late event, want D", s)
	}
	if n := e.count(`msg="trigger: deployed" site=www`); n != 3 {
		t.Errorf("%d webhook deploys, want 3 (A, B, D)", n)
	}
	// The deploy of D fetched the version the event named, in the journal.
	if !strings.Contains(e.stderr.String(), "source=\"s3://builds/www/site.tar.gz?versionId="+d.VersionID) &&
		!strings.Contains(e.stderr.String(), "source=s3://builds/www/site.tar.gz?versionId="+d.VersionID) {
		t.Errorf("the deploy of D did not name its version %s", d.VersionID)
	}
}

// TestTriggerPoll: with only poll, an upload deploys within the interval,
// and a listing that finds nothing new deploys nothing.
func TestTriggerPoll(t *testing.T) {
	e := newTrigEnv(t, nil)
	e.m.MakeBucket(t, "builds")
	root := filepath.Join(e.dir, "www")
	e.start(trigSite("www", root, "s3://builds/www/site.tar.gz", `poll = "1s"`))
	e.put("builds", "www/site.tar.gz", artifact(t, "one", 0))
	waitServing(t, root, "one")
	e.put("builds", "www/site.tar.gz", artifact(t, "two", 0))
	waitServing(t, root, "two")
	e.waitLogged(root)
	if n := e.count(`msg="trigger: deployed" site=www trigger=poll bucket=builds key=www/site.tar.gz etag=[0-9a-f-]+ `); n != 2 {
		t.Errorf("%d poll deploys logged, want 2", n)
	}
	if cur := current(t, root); cur != "v2" {
		t.Errorf("current = %s, want v2", cur)
	}
}

// TestTriggerInbox: an archive renamed into the inbox deploys and is
// moved to done/, the deploy logged with its trigger and duration.
func TestTriggerInbox(t *testing.T) {
	e := newTrigEnv(t, nil)
	root := filepath.Join(e.dir, "www")
	inbox := filepath.Join(e.dir, "inbox")
	e.start(fmt.Sprintf("[[site]]\nname = \"www\"\nroot = %q\n[site.validate]\npolicy = \"off\"\n[site.triggers]\ninbox = %q\n", root, inbox))
	tmp := filepath.Join(e.dir, "upload.tar.gz")
	if err := os.WriteFile(tmp, artifact(t, "from the inbox", 0), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(inbox, "site.tar.gz")); err != nil {
		t.Fatal(err)
	}
	waitServing(t, root, "from the inbox")
	poll(t, "site.tar.gz in done/", func() bool {
		_, err := os.Stat(filepath.Join(inbox, "done", "site.tar.gz"))
		return err == nil
	})
	poll(t, "the log line", func() bool {
		return e.count(`msg="triggered deploy done" site=www what="inbox site.tar.gz" release=v1 duration=`) == 1
	})
	if e.count(`msg="deploy triggered" site=www trigger=inbox`) != 1 {
		t.Errorf("the deploy's trigger is not logged")
	}
}

// TestTriggerPrefixMirror: a prefix uploaded the way people upload it
// (mc mirror, then an empty completion marker) deploys once, on the
// marker, through the listen trigger; the objects of the upload start
// nothing. A second upload of one changed file and the same empty marker
// (same ETag) deploys again, downloading only that file.
func TestTriggerPrefixMirror(t *testing.T) {
	e := newTrigEnv(t, nil)
	e.m.MakeBucket(t, "builds")
	root := filepath.Join(e.dir, "www")
	e.start(trigSite("www", root, "s3://builds/www/", "s3_listen = true"))
	e.mc("alias", "set", "minio", e.m.URL(), e.m.AccessKey, e.m.SecretKey)
	tree := filepath.Join(e.dir, "public")
	if err := os.MkdirAll(filepath.Join(tree, "p"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tree, "index.html"), page("one"))
	for i := range 20 {
		writeFile(t, filepath.Join(tree, "p", fmt.Sprintf("%02d.html", i)), page(fmt.Sprintf("page %d", i)))
	}
	marker := filepath.Join(e.dir, "marker")
	writeFile(t, marker, "")
	upload := func() {
		e.mc("mirror", "--overwrite", tree, "minio/builds/www/")
		e.mc("cp", marker, "minio/builds/www/.release-complete")
	}
	upload()
	waitServing(t, root, "one")
	e.waitLogged(root)

	writeFile(t, filepath.Join(tree, "index.html"), page("two"))
	upload()
	waitServing(t, root, "two")
	e.waitLogged(root)
	if n := e.count(`msg="deploy triggered" site=www`); n != 2 {
		t.Errorf("%d deploys triggered, want 2 (one per marker upload; none for the objects)", n)
	}
	if n := e.count(`trigger: deploy failed`); n != 0 {
		t.Errorf("%d failed triggered deploys logged", n)
	}
	if cur := current(t, root); cur != "v2" {
		t.Errorf("current = %s, want v2", cur)
	}
	rec, err := os.ReadFile(filepath.Join(root, "state", "records", "v2.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(rec), `"downloaded":"1"`) && !strings.Contains(string(rec), `"downloaded": "1"`) {
		t.Errorf("v2 downloaded more than the one changed object: %s", rec)
	}
}
