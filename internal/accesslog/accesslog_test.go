package accesslog

import (
	"testing"
	"time"
)

func TestParseNginxAndWindow(t *testing.T) {
	e, err := ParseNginx([]byte("1700000000.123\t404\t/a%20b/\\\"q\\\"?x=1\t12\t0.004\t/srv/www/releases/v7"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Status != 404 || e.Path != `/a b/"q"` || e.Bytes != 12 || e.Duration != 4*time.Millisecond || e.Release != "v7" || e.Time.UnixMilli() != 1700000000123 {
		t.Fatalf("%+v", e)
	}
	if _, err := ParseNginx([]byte("x\t1")); err == nil {
		t.Fatal("bad line parsed")
	}
	w := NewWindow(10 * time.Second)
	w.Add(e)
	e.Status, e.Path = 200, "/x.png"
	w.Add(e)
	c := w.Counts("v7", e.Time.Add(-time.Second), e.Time.Add(time.Second))
	if c.Requests != 2 || c.Pages != 1 || c.Page404 != 1 || c.PageErrorRate() != 100 || c.P50 < 4*time.Millisecond || c.P50 > 5*time.Millisecond {
		t.Fatalf("%+v", c)
	}
}
