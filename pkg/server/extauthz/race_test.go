//go:build race

package extauthz

// raceEnabled: the race detector's sync.Pool drops items at random, so
// allocation counts are not comparable run to run.
const raceEnabled = true
