//go:build !race

package validate

// raceEnabled is true when the tests run under the race detector.
const raceEnabled = false
