//go:build race

package decisiontest

// RaceEnabled is whether the race detector is on. Its sync.Pool drops items
// at random, so allocation counts are not exact under it.
const RaceEnabled = true
