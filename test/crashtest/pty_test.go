package crashtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal pair (no controlling terminal is
// taken).
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("open /dev/ptmx: %w", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("open /dev/pts/%d: %w", n, err)
	}
	return m, s, nil
}

// killInStage runs releasectl with its stderr on a pseudo-terminal, so
// that it draws its progress line ("\r\033[Kfetch...", "hash...", ...),
// and sends SIGKILL offset after the progress line names stage. It
// reports whether the signal ended the process and whether the stage was
// seen at all.
func killInStage(t *testing.T, stage string, offset time.Duration, args ...string) (killed, seen bool, out string) {
	t.Helper()
	m, s, err := openPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	cmd := command(t, args...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, s
	if err := cmd.Start(); err != nil {
		s.Close()
		t.Fatal(err)
	}
	s.Close() // the child holds it now; EOF (EIO) on m when it exits
	sawStage := make(chan struct{})
	var tty bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		marker := "\x1b[K" + stage
		fired := false
		for {
			n, err := m.Read(buf)
			tty.Write(buf[:n])
			if !fired && strings.Contains(tty.String(), marker) {
				fired = true
				close(sawStage)
			}
			if err != nil {
				return
			}
		}
	}()
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	var werr error
	select {
	case <-sawStage:
		seen = true
		time.AfterFunc(offset, func() { cmd.Process.Signal(syscall.SIGKILL) })
		werr = <-waitErr
	case werr = <-waitErr:
	}
	m.Close()
	<-readDone
	out = stdout.String() + tty.String()
	if ee, ok := werr.(*exec.ExitError); ok {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, seen, out
		}
	}
	if werr != nil {
		t.Fatalf("releasectl %s: %v (not killed)\n%s", strings.Join(args, " "), werr, out)
	}
	return false, seen, out
}
