package releases

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"strconv"
	"time"
)

// Who made a change: the local user (releasectl without a daemon) or the
// peer of the daemon's control socket, or a trigger.
type Who struct {
	UID       int    `json:"uid"`
	User      string `json:"user,omitempty"`
	SudoUser  string `json:"sudo_user,omitempty"`
	SSHClient string `json:"ssh_client,omitempty"`
	PID       int    `json:"pid,omitempty"`
	// Via is how the change was asked for: "cli", "daemon", "trigger:inbox",
	// "trigger:s3", "health-check", ...
	Via string `json:"via,omitempty"`
}

// LocalWho describes the calling process: uid, user name, SUDO_USER and
// the SSH client (SSHClientEnv) from the environment.
func LocalWho(via string) Who {
	w := Who{UID: os.Getuid(), PID: os.Getpid(), Via: via,
		SudoUser: os.Getenv("SUDO_USER"), SSHClient: SSHClientEnv(os.Getenv)}
	if u, err := user.LookupId(strconv.Itoa(w.UID)); err == nil {
		w.User = u.Username
	}
	return w
}

// SSHClientEnv returns the SSH client of a process's environment:
// SSH_CLIENT ("ADDR PORT SERVER_PORT"), or SSH_CONNECTION ("ADDR PORT
// SERVER_ADDR SERVER_PORT") when only that is set, as sshd puts them in
// a session's environment. Whoever runs the process can set them: it is
// the caller's word, recorded as such, not something the agent checked.
func SSHClientEnv(getenv func(string) string) string {
	if v := getenv("SSH_CLIENT"); v != "" {
		return v
	}
	return getenv("SSH_CONNECTION")
}

// Event kinds written to the journal.
const (
	EvStaged     = "staged"
	EvActivated  = "activated"
	EvRolledBack = "rolled-back"
	EvRejected   = "rejected"
	EvFailed     = "failed"
	EvPruned     = "pruned"
	EvPinned     = "pinned"
	EvUnpinned   = "unpinned"
	EvRecovered  = "recovered"
	// EvAdopted: a release imported by Adopt from another tool's layout
	// that was live before the adoption (or is the live one): it enters
	// the rollback order like a switch, without an activation time.
	EvAdopted = "adopted"
	// EvWatched: the daemon's verdict on a release from its web server's
	// access log ([site.watch]) when it is not a rollback or an abort:
	// passed, or not judged (too little traffic). Detail has the figures.
	EvWatched = "watched"
)

// Event is one line of the journal.
type Event struct {
	Time    time.Time `json:"time"`
	Event   string    `json:"event"`
	Release string    `json:"release,omitempty"`
	From    string    `json:"from,omitempty"` // for activated/rolled-back: what was live before
	Source  string    `json:"source,omitempty"`
	SHA256  string    `json:"sha256,omitempty"` // of the artifact
	// Provenance of the release (staged, activated, rolled-back, failed
	// and rejected events), if known.
	Provenance *Provenance `json:"provenance,omitempty"`
	Who        Who         `json:"who"`
	Outcome    string      `json:"outcome"` // "ok" or "error"
	Error      string      `json:"error,omitempty"`
	Detail     string      `json:"detail,omitempty"`
}

// Append writes ev as one line at the end of the journal and fsyncs it.
// The line is written with a single write(2) on an O_APPEND descriptor, so
// a killed process leaves either the whole line or none of it. Append does
// not need the lock (the daemon records failed attempts that never got it).
func (s *Store) Append(ev Event) error {
	f, err := os.OpenFile(s.state(journalName), os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	return appendEvent(f, &ev)
}

// appendEvent fills in ev's time and outcome and appends it to the
// journal f (opened O_RDWR|O_APPEND) with one write(2), then fsyncs f.
// If the journal does not end with a newline (a line torn by a power
// loss), the write starts with one, so that this line stays whole.
func appendEvent(f *os.File, ev *Event) error {
	if ev.Time.IsZero() {
		ev.Time = time.Now().UTC()
	}
	if ev.Outcome == "" {
		ev.Outcome = "ok"
		if ev.Error != "" {
			ev.Outcome = "error"
		}
	}
	line := make([]byte, 0, 512)
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		var last [1]byte
		if _, err := f.ReadAt(last[:], fi.Size()-1); err == nil && last[0] != '\n' {
			line = append(line, '\n')
		}
	}
	line = append(ev.appendJSON(line), '\n')
	if _, err := f.Write(line); err != nil {
		return fmt.Errorf("journal %s: %w", f.Name(), err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("journal %s: fsync: %w", f.Name(), err)
	}
	return nil
}

// Journal returns the events of the journal, oldest first (the last limit
// ones if limit > 0), and the number of lines that did not parse. Lines
// that do not parse (only a torn last line can, after a power loss) are
// skipped and counted, never fatal.
func (s *Store) Journal(limit int) ([]Event, int, error) {
	f, err := os.Open(s.state(journalName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var evs []Event
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var ev Event
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			bad++
			continue
		}
		evs = append(evs, ev)
		if limit > 0 && len(evs) > 2*limit {
			evs = append(evs[:0], evs[len(evs)-limit:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, bad, fmt.Errorf("journal %s: %w", f.Name(), err)
	}
	if limit > 0 && len(evs) > limit {
		evs = evs[len(evs)-limit:]
	}
	return evs, bad, nil
}
