// Package crashtest holds the fault tests of the release store, run
// against the built releasectl binary in temporary roots:
//
//   - kill -9 of `releasectl deploy` at random instants spread over every
//     stage it reports (fetch/staging, hashing, validation, commit, the
//     swap, pruning), and of rollback/activate loops so that the swap
//     itself is hit often; after each kill the store invariants
//     (internal/storecheck) hold before recovery, the next writer cleans
//     up, the journal parses and no release id is ever reused;
//   - a deploy onto a small filesystem (tmpfs with size=) that fills while
//     staging: exit 1 with an error naming the file and ENOSPC, current
//     untouched and serving, staging removed, the space given back;
//   - an S3 artifact that stalls mid-stream (a real MinIO behind a relay
//     that stops forwarding): the deploy ends at its deadline and changes
//     nothing.
//
// The counts are 20 kills in CI and 200 with SOAK=1. The package has no
// API; everything is in its tests.
package crashtest
