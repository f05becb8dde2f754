package trigger

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestWebhook(t *testing.T, f Filter) (*Webhook, *httptest.Server, string) {
	t.Helper()
	tok := "tok-" + strings.Repeat("x", 20)
	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, []byte(tok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := NewWebhook(WebhookConfig{TokenFile: tf, Filter: f, MaxBody: 64 << 10, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(w)
	t.Cleanup(srv.Close)
	return w, srv, tok
}

func post(t *testing.T, url, token string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func TestWebhook(t *testing.T) {
	w, srv, tok := newTestWebhook(t, Filter{Bucket: "site", Prefix: "releases/"})
	body := readEvent(t, "minio-put.json")

	if c := post(t, srv.URL, "", body); c != http.StatusUnauthorized {
		t.Errorf("forged request without token: %d, want 401", c)
	}
	if c := post(t, srv.URL, tok+"x", body); c != http.StatusUnauthorized {
		t.Errorf("wrong token: %d, want 401", c)
	}
	if c := post(t, srv.URL, tok, []byte(`{"Records":[`)); c != http.StatusBadRequest {
		t.Errorf("malformed: %d, want 400", c)
	}
	if c := post(t, srv.URL, tok, bytes.Repeat([]byte(" "), 65<<10)); c != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized: %d, want 413", c)
	}
	if c := post(t, srv.URL, tok, readEvent(t, "aws-put.json")); c != http.StatusOK { // other prefix: ignored
		t.Errorf("other prefix: %d, want 200", c)
	}
	if c := post(t, srv.URL, tok, body); c != http.StatusOK {
		t.Fatalf("valid: %d, want 200", c)
	}
	resp, err := http.Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET probe: %v %v", resp, err)
	}
	resp.Body.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := make(chan Event, 10)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, out) }()
	select {
	case e := <-out:
		if e.Key != "releases/my site v2.tar.gz" || e.Origin != "webhook" {
			t.Fatalf("got %+v", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event delivered")
	}
	select {
	case e := <-out:
		t.Fatalf("unexpected second event %+v (filtered or rejected requests leaked)", e)
	default:
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}

func TestWebhookEmptyToken(t *testing.T) {
	tf := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tf, []byte(" \n"), 0o600)
	if _, err := NewWebhook(WebhookConfig{TokenFile: tf}); err == nil || !strings.Contains(err.Error(), tf) {
		t.Fatalf("empty token accepted or file not named: %v", err)
	}
	if _, err := NewWebhook(WebhookConfig{TokenFile: tf + ".missing"}); err == nil {
		t.Fatal("missing token file accepted")
	}
}
