package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/example/release-agent/api"
	"github.com/example/release-agent/manifest"
	"github.com/example/release-agent/releases"
	"github.com/example/release-agent/validate"
)

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

// listShown is how many releases `list` shows without --all.
const listShown = 20

// shownReleases picks what `list` shows without all: the records of
// releases without a tree (pruned, failed, rejected) that are older than
// every release with one are folded, then at most listShown of the rest,
// newest first. It returns those, and a line saying what was left out
// ("" when nothing was).
func shownReleases(rels []api.Release, all bool) ([]api.Release, string) {
	if all {
		return rels, ""
	}
	oldestLive := -1
	for i, rel := range rels { // newest first
		if rel.Live() || rel.Current || rel.Previous || rel.Pinned {
			oldestLive = i
		}
	}
	keep := rels[:oldestLive+1]
	folded := map[releases.Status]int{}
	for _, rel := range rels[oldestLive+1:] {
		folded[rel.Status]++
	}
	more := 0
	if len(keep) > listShown {
		more = len(keep) - listShown
		keep = keep[:listShown]
	}
	var parts []string
	if more > 0 {
		parts = append(parts, fmt.Sprintf("%d older releases", more))
	}
	for _, st := range []releases.Status{releases.StatusPruned, releases.StatusFailed, releases.StatusRejected, releases.StatusDamaged, releases.StatusStaged} {
		if n := folded[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	if len(parts) == 0 {
		return keep, ""
	}
	return keep, fmt.Sprintf("(not shown: %s; --all lists every record)", strings.Join(parts, ", "))
}

// noStore is what list and status say of a root that holds no store.
func noStore(root string) string {
	return fmt.Sprintf("%s is not a release store yet (nothing was created); `releasectl --root %s deploy SOURCE` makes it one", root, root)
}

func printList(w io.Writer, r *api.ListResult, all bool) {
	if r.NoStore {
		fmt.Fprintln(w, noStore(r.Root))
		return
	}
	shown, omitted := shownReleases(r.Releases, all)
	tw := newTab(w)
	fmt.Fprintln(tw, "ID\tSTATE\tCREATED\tFILES\tSIZE\tCOMMIT\tSOURCE")
	for _, rel := range shown {
		var marks []string
		switch {
		case rel.Current:
			marks = append(marks, "current")
		case rel.Previous:
			marks = append(marks, "previous")
		}
		if rel.Status != releases.StatusStaged {
			marks = append(marks, string(rel.Status))
		} else if !rel.Current && !rel.Previous {
			marks = append(marks, "staged")
		}
		if rel.Pinned {
			marks = append(marks, "pinned")
		}
		if rel.Bad != "" {
			marks = append(marks, "bad")
		}
		if rel.Damage != "" && rel.Status != releases.StatusDamaged {
			marks = append(marks, "damaged")
		}
		id := "  " + rel.ID
		if rel.Current {
			id = "* " + rel.ID
		}
		size, files := humanBytes(rel.Bytes), fmt.Sprint(rel.Files)
		if !rel.Live() {
			size, files = "-", "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", id, strings.Join(marks, ","), ago(rel.Created), files, size, shortCommit(rel.Provenance), rel.Source.Spec)
	}
	tw.Flush()
	if omitted != "" {
		fmt.Fprintln(w, omitted)
	}
	if len(r.Releases) == 0 {
		fmt.Fprintf(w, "no releases yet in %s; deploy one with `releasectl --root %s deploy SOURCE`\n", r.Root, r.Root)
	} else {
		fmt.Fprintf(w, "%d releases use %s on disk (%s as separate copies)\n", countLive(r), humanBytes(r.DiskBytes), humanBytes(r.LogicalBytes))
	}
	printWarnings(w, r.Warnings)
}

// printWarnings prints one "warning: " line per warning.
func printWarnings(w io.Writer, ws []string) {
	for _, s := range ws {
		fmt.Fprintln(w, "warning:", s)
	}
}

// printFsck prints one line per problem of an fsck, then a summary.
func printFsck(w io.Writer, r *api.FsckResult) {
	left := 0
	for _, p := range r.Problems {
		where := p.Path
		if where == "" {
			where = p.Release
		}
		fmt.Fprintf(w, "%s: %s: %s\n", p.Kind, where, p.Message)
		if p.Repaired != "" {
			fmt.Fprintf(w, "  repaired: %s\n", p.Repaired)
		} else {
			left++
		}
	}
	switch {
	case len(r.Problems) == 0:
		fmt.Fprintf(w, "%s: no problems found\n", r.Root)
	case left == 0:
		fmt.Fprintf(w, "%s: %d problems, all repaired\n", r.Root, len(r.Problems))
	default:
		fmt.Fprintf(w, "%s: %d problems, %d not repaired", r.Root, len(r.Problems), left)
		if left == len(r.Problems) {
			fmt.Fprint(w, " (--repair fixes what can be fixed)")
		}
		fmt.Fprintln(w)
	}
}

func countLive(r *api.ListResult) int {
	n := 0
	for _, rel := range r.Releases {
		if rel.Live() {
			n++
		}
	}
	return n
}

func printStatus(w io.Writer, r *api.StatusResult) {
	if r.NoStore {
		fmt.Fprintln(w, noStore(r.Root))
		return
	}
	if r.Current == nil {
		fmt.Fprintf(w, "root:     %s\ncurrent:  none (nothing deployed yet)\n", r.Root)
	} else {
		c := r.Current
		since := "-"
		if c.Activated != nil {
			since = ago(*c.Activated)
		}
		fmt.Fprintf(w, "root:     %s\ncurrent:  %s (live since %s, %d files, %s, from %s)\n", r.Root, c.ID, since, c.Files, humanBytes(c.Bytes), c.Source.Spec)
		if line := provenanceLine(c.Provenance); line != "" {
			fmt.Fprintf(w, "built:    %s\n", line)
		}
		if who := whoLine(c.Who); who != "" {
			fmt.Fprintf(w, "by:       %s\n", who)
		}
	}
	prev := r.Previous
	if prev == "" {
		prev = "none"
	}
	fmt.Fprintf(w, "previous: %s\n", prev)
	if h := r.Lock; h != nil {
		fmt.Fprintf(w, "lock:     held by pid %d (%s) since %s\n", h.PID, h.Op, ago(h.Since))
	} else {
		fmt.Fprintln(w, "lock:     free")
	}
	if r.InProgress != "" {
		fmt.Fprintf(w, "working:  %s\n", r.InProgress)
	}
	if g := r.GaveUp; g != nil {
		n := fmt.Sprintf("%d attempts", g.Attempts)
		if g.Attempts == 1 {
			n = "1 attempt"
		}
		fmt.Fprintf(w, "trigger:  giving up on %s after %s (at %s): %s\n", g.Source, n, ago(g.Time), g.Error)
	}
	if cs := r.Canary; cs != nil {
		since := ""
		if !cs.Since.IsZero() {
			since = ", started " + ago(cs.Since)
		}
		fmt.Fprintf(w, "canary:   %s for %d%% of clients%s (`releasectl promote` or `releasectl abort`)\n", cs.Release, cs.Percent, since)
	}
	if ws := r.Watch; ws != nil {
		printWatch(w, ws)
	}
	printWarnings(w, r.Warnings)
}

// printWatch prints the watch lines of status: the judge, then each
// release's traffic over the last window.
func printWatch(w io.Writer, ws *api.WatchStatus) {
	switch {
	case ws.Release == "":
		fmt.Fprintln(w, "watch:    nothing judged since the daemon started")
	default:
		what := ws.Release
		if ws.Canary {
			what = "canary " + what
		}
		when := ""
		if !ws.Since.IsZero() {
			when = " (since " + ago(ws.Since) + ")"
		}
		fmt.Fprintf(w, "watch:    %s %s%s: %s\n", what, ws.Decision, when, ws.Reason)
	}
	if ws.LogError != "" {
		fmt.Fprintf(w, "watch:    the access log cannot be read: %s\n", ws.LogError)
	}
	for _, t := range ws.Traffic {
		fmt.Fprintf(w, "traffic:  %s: %d requests, %d pages, page errors %.1f%% (%d: %d 404, %d 5xx), other 4xx %d, p50 %s p90 %s p99 %s\n",
			t.Release, t.Requests, t.Pages, t.ErrorRate, t.PageErrors, t.Page404, t.PageErrors-t.Page404, t.Other4xx,
			secs(t.P50), secs(t.P90), secs(t.P99))
	}
}

func secs(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(time.Millisecond).String()
}

func printHistory(w io.Writer, r *api.HistoryResult) {
	tw := newTab(w)
	fmt.Fprintln(tw, "TIME\tEVENT\tRELEASE\tWHO\tDETAIL")
	for _, e := range r.Events {
		who := whoLine(e.Who)
		detail := e.Detail
		if e.From != "" {
			detail = strings.TrimSpace("from " + e.From + " " + detail)
		}
		if e.Source != "" && (e.Event == releases.EvStaged || e.Event == releases.EvFailed || e.Event == releases.EvRejected) {
			detail = strings.TrimSpace(e.Source + " " + detail)
		}
		if line := provenanceLine(e.Provenance); line != "" && e.Event != releases.EvPruned {
			detail = strings.TrimSpace(line + "; " + detail)
		}
		if e.Error != "" {
			detail = strings.TrimSpace(detail + " error: " + e.Error)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", ago(e.Time), e.Event, e.Release, who, detail)
	}
	tw.Flush()
	if r.Skipped > 0 {
		fmt.Fprintf(w, "(%d unreadable journal lines skipped)\n", r.Skipped)
	}
}

// whoLine is who made a change, for history and status: "alice (sudo
// bob) ssh 192.0.2.7 via control".
func whoLine(w releases.Who) string {
	who := w.User
	if who == "" {
		who = fmt.Sprintf("uid %d", w.UID)
	}
	if w.SudoUser != "" {
		who += " (sudo " + w.SudoUser + ")"
	}
	if f := strings.Fields(w.SSHClient); len(f) > 0 {
		who += " ssh " + f[0]
	}
	if w.Via != "" && w.Via != "cli" {
		who += " via " + w.Via
	}
	return who
}

// shortCommit is the COMMIT column of list: the commit cut to 10 digits,
// or "-".
func shortCommit(p *releases.Provenance) string {
	if s := p.Short(); s != "" {
		return s
	}
	return "-"
}

// provenanceLine is a release's provenance on one line: "commit abc123
// "subject" job=42" ("" without any). The message is cut to its first
// line and 72 characters; labels are in key order.
func provenanceLine(p *releases.Provenance) string {
	if p.IsZero() {
		return ""
	}
	var parts []string
	if p.Commit != "" {
		parts = append(parts, "commit "+p.Short())
	}
	if s := p.Subject(); s != "" {
		if r := []rune(s); len(r) > 72 {
			s = string(r[:71]) + "…"
		}
		parts = append(parts, strconv.Quote(s))
	}
	for _, k := range slices.Sorted(maps.Keys(p.Meta)) {
		parts = append(parts, k+"="+p.Meta[k])
	}
	return strings.Join(parts, " ")
}

// printChanges prints one line per change ("+ path (size)", "- ...",
// "~ path (before -> after)") and returns how many of each op there were.
func printChanges(w io.Writer, changes []manifest.Change) map[string]int {
	counts := map[string]int{}
	for _, c := range changes {
		counts[c.Op]++
		switch c.Op {
		case "added":
			fmt.Fprintf(w, "+ %s (%s)\n", c.Path, humanBytes(c.After))
		case "removed":
			fmt.Fprintf(w, "- %s (%s)\n", c.Path, humanBytes(c.Before))
		default:
			fmt.Fprintf(w, "~ %s (%s -> %s)\n", c.Path, humanBytes(c.Before), humanBytes(c.After))
		}
	}
	return counts
}

func printDiff(w io.Writer, r *api.DiffResult) {
	counts := printChanges(w, r.Changes)
	fmt.Fprintf(w, "%s -> %s: %d added, %d removed, %d changed\n", r.From, r.To, counts["added"], counts["removed"], counts["changed"])
}

func printManifest(w io.Writer, r *api.ManifestResult) {
	if len(r.Assets) == 0 {
		fmt.Fprintf(w, "%s has no content-hashed assets (deployed with --no-hash?)\n", r.ID)
	} else {
		tw := newTab(w)
		fmt.Fprintln(tw, "LOGICAL\tHASHED\tSIZE\tINTEGRITY")
		for _, a := range r.Assets {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", a.Logical, a.Hashed, humanBytes(a.Size), a.Integrity)
		}
		tw.Flush()
	}
	n, carried := 0, 0
	for _, f := range r.Files {
		if f.Carried {
			carried++
		} else {
			n++
		}
	}
	fmt.Fprintf(w, "%s: %d files, %d hashed assets, %d carried over from earlier releases (--json lists every file)\n", r.ID, n, len(r.Assets), carried)
}

// printReport prints a validation report for people.
func printReport(w io.Writer, rep *validate.Report) {
	if rep != nil {
		rep.WriteText(w)
	}
}

// PrintSwitch prints the outcome of activate or rollback for people: the
// leftovers of an interrupted run that were recovered (stderr), then one
// line (stdout).
func PrintSwitch(stdout, stderr io.Writer, r *api.ActivateResult) {
	PrintCleaned(stderr, r.Cleaned)
	printWarnings(stderr, r.Warnings)
	if r.From == r.To {
		fmt.Fprintf(stdout, "%s is already live\n", r.To)
		return
	}
	from := r.From
	if from == "" {
		from = "nothing"
	}
	if r.CanaryAborted {
		fmt.Fprintf(stdout, "canary %s aborted; every client is on %s again, switched in %s\n", r.From, r.To, time.Duration(r.Seconds*float64(time.Second)).Round(10*time.Microsecond))
		return
	}
	fmt.Fprintf(stdout, "%s is live (was %s), switched in %s\n", r.To, from, time.Duration(r.Seconds*float64(time.Second)).Round(10*time.Microsecond))
}

// PrintCleaned prints one line per leftover of an interrupted run that a
// writer recovered.
func PrintCleaned(w io.Writer, cleaned []string) {
	for _, s := range cleaned {
		fmt.Fprintln(w, "recovered:", s)
	}
}

// Fail prints err for releasectl's user and returns its exit status (see
// api.ErrorOf): as an indented JSON document with asJSON (the error
// object of the --json contract, on stderr), else as one "releasectl: ..."
// line, then the validation report if the error carries one, then a
// pointer to --help for usage errors. An interrupted run (the context
// canceled by SIGINT or SIGTERM) says that nothing was changed: the
// store only changes by an atomic switch.
func Fail(w io.Writer, err error, asJSON bool) int {
	e := api.ErrorOf(err)
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(e)
		return e.Exit
	}
	msg := e.Message
	if errors.Is(err, context.Canceled) {
		msg = "interrupted; nothing was changed"
	}
	fmt.Fprintf(w, "releasectl: %s\n", msg)
	printReport(w, e.Report)
	if e.Exit == api.ExitUsage && !strings.Contains(msg, "--help") {
		fmt.Fprintln(w, "run releasectl --help for usage")
	}
	return e.Exit
}

// newProgress returns a progress callback drawing one line on a terminal,
// at most five times a second, and a function that clears that line (a
// no-op when nothing was drawn), called before anything else is printed.
// The fetch line shows the artifact's bytes read and, when its size is
// known, a percentage.
func newProgress(w io.Writer) (draw func(progress), clear func()) {
	var mu sync.Mutex
	var last time.Time
	var stage string
	drawn := false
	draw = func(p progress) {
		mu.Lock()
		defer mu.Unlock()
		if p.Stage == stage && time.Since(last) < 200*time.Millisecond {
			return
		}
		stage, last = p.Stage, time.Now()
		fmt.Fprintf(w, "\r\033[K%s", progressLine(p))
		drawn = true
		if p.Stage == "activate" || p.Stage == "commit" {
			fmt.Fprint(w, "\r\033[K")
			drawn = false
		}
	}
	clear = func() {
		mu.Lock()
		defer mu.Unlock()
		if drawn {
			fmt.Fprint(w, "\r\033[K")
			drawn = false
		}
	}
	return draw, clear
}

// progressLine is the text of one progress report.
func progressLine(p progress) string {
	line := p.Stage + "..."
	switch {
	case p.Total > 0:
		pct := float64(p.Read) * 100 / float64(p.Total)
		line = fmt.Sprintf("%s: %s of %s (%.0f%%)", p.Stage, humanBytes(p.Read), humanBytes(p.Total), min(pct, 100))
	case p.Read > 0:
		line = fmt.Sprintf("%s: %s read", p.Stage, humanBytes(p.Read))
	}
	if p.Files > 0 {
		line += fmt.Sprintf(", %d files, %s written", p.Files, humanBytes(p.Bytes))
	}
	return line
}
