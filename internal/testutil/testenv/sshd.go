package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// SSHD is OpenSSH's sshd from Debian on 127.0.0.1, run by StartSSHD as
// the current user with a generated host key and configuration in a
// temporary directory. Logins are by key only, as the current user (the
// only one a non-root sshd can log in), with the keys Key adds to its
// authorized_keys. It stops when the test ends.
type SSHD struct {
	Port int
	Dir  string // host key, config, authorized_keys, client keys
	User string

	t      testing.TB
	ssh    string
	keygen string
	mu     sync.Mutex
	keys   int
	log    bytes.Buffer
}

// SSHDOptions configure StartSSHD.
type SSHDOptions struct {
	// PATH of the sessions (sshd's SetEnv), so that a command such as
	// releasectl resolves to the test's binary; default /usr/bin:/bin.
	PATH string
}

// StartSSHD starts sshd -D with a generated config and waits until it
// listens. A missing sshd, ssh or ssh-keygen skips the test outside CI
// and fails it when CI is set (Command).
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	sshd, err := exec.LookPath("sshd") // /usr/sbin may not be in PATH
	if err != nil {
		sshd = "/usr/sbin/sshd"
		if _, err := os.Stat(sshd); err != nil {
			Missing(t, fmt.Sprintf("sshd not installed (sudo make deps): %v", err))
		}
	}
	s := &SSHD{t: t, ssh: Command(t, "ssh"), keygen: Command(t, "ssh-keygen"), Dir: t.TempDir(), Port: FreePort(t)}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("testenv: sshd: current user: %v", err)
	}
	s.User = u.Username
	if os.Getuid() == 0 {
		os.MkdirAll("/run/sshd", 0o755) // privilege separation directory
	}
	s.genKey("host")
	path := opts.PATH
	if path == "" {
		path = "/usr/bin:/bin"
	}
	cfg := filepath.Join(s.Dir, "sshd_config")
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
# t.TempDir() is below /tmp: StrictModes would refuse it.
StrictModes no
PidFile none
AllowUsers %s
SetEnv PATH=%s
`, s.Port, filepath.Join(s.Dir, "host"), filepath.Join(s.Dir, "authorized_keys"), s.User, path)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.Stderr = lockedWriter{&s.mu, &s.log}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: starting sshd: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.Log())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.Log(), "Server listening on 127.0.0.1") {
		select {
		case <-exited:
			t.Fatalf("testenv: sshd exited:\n%s", s.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: sshd does not listen after 30s:\n%s", s.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return s
}

// Log is what sshd wrote so far (-e: its log on stderr).
func (s *SSHD) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (s *SSHD) genKey(name string) string {
	p := filepath.Join(s.Dir, name)
	if out, err := exec.Command(s.keygen, "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", p).CombinedOutput(); err != nil {
		s.t.Fatalf("testenv: ssh-keygen: %v\n%s", err, out)
	}
	return p
}

// Key generates a client key and authorizes it with the given
// authorized_keys options (e.g. `restrict,command="..."`; "" for none).
// It returns the key's name for Command.
func (s *SSHD) Key(options string) string {
	s.t.Helper()
	s.mu.Lock()
	s.keys++
	name := "client" + strconv.Itoa(s.keys)
	s.mu.Unlock()
	p := s.genKey(name)
	pub, err := os.ReadFile(p + ".pub")
	if err != nil {
		s.t.Fatal(err)
	}
	line := strings.TrimSpace(string(pub)) + "\n"
	if options != "" {
		line = options + " " + line
	}
	f, err := os.OpenFile(filepath.Join(s.Dir, "authorized_keys"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		s.t.Fatal(err)
	}
	return name
}

// Command returns `ssh -p PORT USER@127.0.0.1 REMOTE...` with the key
// named key (from Key) and no configuration or known hosts of the user's.
func (s *SSHD) Command(key string, remote ...string) *exec.Cmd {
	args := append([]string{"-F", "/dev/null", "-p", strconv.Itoa(s.Port), "-i", filepath.Join(s.Dir, key),
		"-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
		s.User + "@127.0.0.1"}, remote...)
	return exec.Command(s.ssh, args...)
}
