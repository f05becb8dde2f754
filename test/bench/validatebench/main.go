// Command bench times the validate gate against htmltest v0.17.0 on the
// same trees, in one run, and reports wall time, CPU time and peak RSS of
// each (from getrusage of the child process).
//
//	go run ./validate/bench -htmltest .tools/bin/htmltest DIR...
//	go run ./validate/bench -validate "bin/releasectl validate" -htmltest .tools/bin/htmltest DIR...
//
// Without -validate, the gate runs as a child of this program (bench
// -check DIR), so both tools are measured the same way. Each tool runs
// -runs times per tree; the best wall time is reported with its RSS.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/example/release-agent/validate"
)

type result struct {
	wall, user, sys time.Duration
	rssKB           int64
	exit            int
}

func run(name string, args ...string) (result, error) {
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	start := time.Now()
	err := cmd.Run()
	r := result{wall: time.Since(start)}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return r, fmt.Errorf("%s: %w", name, err)
	}
	st := cmd.ProcessState
	r.exit = st.ExitCode()
	r.user, r.sys = st.UserTime(), st.SystemTime()
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		r.rssKB = ru.Maxrss // kilobytes on Linux
	}
	return r, nil
}

func best(n int, name string, args ...string) (result, error) {
	var b result
	for i := range n {
		r, err := run(name, args...)
		if err != nil {
			return r, err
		}
		if i == 0 || r.wall < b.wall {
			b = r
		}
	}
	return b, nil
}

func check(dir string) int {
	o := validate.DefaultOptions()
	o.Required = nil
	rep, err := validate.Check(context.Background(), os.DirFS(dir), nil, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%d pages, %d findings\n", rep.Pages, len(rep.Findings))
	if rep.Rejected() {
		return 3
	}
	return 0
}

func main() {
	checkDir := flag.String("check", "", "run the gate on `DIR` (used as the child process)")
	htmltest := flag.String("htmltest", ".tools/bin/htmltest", "htmltest v0.17.0 `binary`")
	validateCmd := flag.String("validate", "", "gate `command` to time instead of this program's -check (DIR is appended)")
	runs := flag.Int("runs", 1, "runs per tool and tree (best wall time wins)")
	flag.Parse()
	if *checkDir != "" {
		os.Exit(check(*checkDir))
	}
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: bench [-htmltest BIN] [-validate CMD] [-runs N] DIR...")
		os.Exit(2)
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tmp, err := os.MkdirTemp("", "bench")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(tmp)
	fmt.Printf("%-28s %-9s %9s %9s %9s %10s %5s\n", "tree", "tool", "wall", "user", "sys", "peak RSS", "exit")
	failed := false
	for _, dir := range flag.Args() {
		abs, err := filepath.Abs(dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var v result
		if *validateCmd != "" {
			f := strings.Fields(*validateCmd)
			v, err = best(*runs, f[0], append(f[1:], abs)...)
		} else {
			v, err = best(*runs, self, "-check", abs)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		cfg := filepath.Join(tmp, "htmltest.yml")
		y := fmt.Sprintf("DirectoryPath: %q\nCheckExternal: false\nEnforceHTTPS: false\nLogLevel: 3\nOutputDir: %q\n", abs, tmp)
		if err := os.WriteFile(cfg, []byte(y), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		h, err := best(*runs, *htmltest, "-c", cfg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		name := filepath.Base(filepath.Dir(abs)) + "/" + filepath.Base(abs)
		for _, x := range []struct {
			tool string
			r    result
		}{{"validate", v}, {"htmltest", h}} {
			fmt.Printf("%-28s %-9s %8.2fs %8.2fs %8.2fs %7d MB %5d\n", name, x.tool, x.r.wall.Seconds(), x.r.user.Seconds(),
				x.r.sys.Seconds(), x.r.rssKB/1024, x.r.exit)
		}
		speed := h.wall.Seconds() / v.wall.Seconds()
		cpu := (h.user + h.sys).Seconds() / (v.user + v.sys).Seconds()
		mem := float64(v.rssKB) / float64(h.rssKB)
		fmt.Printf("%-28s speed-up %.1fx (wall), %.1fx (CPU); RSS %.3f of htmltest's\n", name, speed, cpu, mem)
		if v.exit != 0 && v.exit != 3 {
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
