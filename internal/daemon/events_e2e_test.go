package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/client"
)

// TestEventsThroughDaemon: releasectl events reads the journal over the
// control socket (GET /v0/events), and --follow sees a deploy made while
// it runs; SIGINT ends it with status 0.
func TestEventsThroughDaemon(t *testing.T) {
	agent, ctl := bins(t)
	dir := pubDir(t)
	root := filepath.Join(dir, "www")
	sock := filepath.Join(dir, "control.sock")
	cfg := filepath.Join(dir, "config.toml")
	writeFile(t, cfg, fmt.Sprintf("[daemon]\ncontrol_socket = %q\n[[site]]\nname = \"www\"\nroot = %q\n", sock, root))
	stop, _ := daemon(t, agent, cfg, sock)
	c := &client.Client{Socket: sock}
	ctx := context.Background()
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "one"), Activate: true}); err != nil {
		t.Fatal(err)
	}

	// The typed client, without follow.
	var got []api.EventLine
	if err := c.Events(ctx, api.EventsRequest{}, func(ev api.EventLine) error { got = append(got, ev); return nil }); err != nil {
		t.Fatal(err)
	}
	if n := len(got); n == 0 || got[n-1].Event.Event != "activated" || got[n-1].Release != "v1" || got[n-1].Site != "www" || got[n-1].Schema != api.Schema {
		t.Fatalf("events: %+v", got)
	}
	// An unknown site is an error with its status, not an empty stream.
	err := c.Events(ctx, api.EventsRequest{Target: api.Target{Site: "nope"}}, func(api.EventLine) error { return nil })
	if err == nil {
		t.Error("events of an unknown site: no error")
	}

	// releasectl events --follow --json, through the daemon.
	cmd := exec.Command(ctl, "--socket", sock, "--site", "www", "events", "--follow", "--json", "-n", "1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	next := func() api.EventLine {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("releasectl events ended: %s", stderr.String())
			}
			var ev api.EventLine
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("line %q: %v", l, err)
			}
			return ev
		case <-time.After(30 * time.Second):
			t.Fatalf("no event from releasectl events --follow; stderr: %s", stderr.String())
		}
		return api.EventLine{}
	}
	if ev := next(); ev.Release != "v1" || ev.Event.Event != "activated" {
		t.Fatalf("first line %+v", ev)
	}
	if _, err := c.Deploy(ctx, api.DeployRequest{Source: siteDir(t, dir, "two"), Activate: true}); err != nil {
		t.Fatal(err)
	}
	var seen []string
	for {
		ev := next()
		seen = append(seen, ev.Event.Event+" "+ev.Release)
		if ev.Event.Event == "activated" && ev.Release == "v2" && ev.From == "v1" && ev.Site == "www" {
			break
		}
	}
	if strings.Contains(stderr.String(), "not running") {
		t.Errorf("releasectl did not use the daemon: %s", stderr.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Errorf("releasectl events --follow after SIGINT: %v; %s", err, stderr.String())
	}

	// The daemon stops while releasectl follows it: releasectl says so
	// and exits 1.
	cmd = exec.Command(ctl, "--socket", sock, "--site", "www", "events", "--follow", "-n", "1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr2 syncBuffer
	cmd.Stderr = &stderr2
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	first, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.Contains(first, " activated v2 from v1 ") {
		t.Fatalf("first line %q, %v; %s", first, err, stderr2.String())
	}
	if err := stop(); err != nil {
		t.Fatalf("stopping release-agent: %v", err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(stderr2.String(), "release-agent ended the event stream") {
		t.Errorf("events --follow when the daemon stops: %v; stderr %q", err, stderr2.String())
	}
}
