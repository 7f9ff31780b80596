//go:build race

package bench

// raceEnabled: the race detector is on (allocation counts are not exact).
const raceEnabled = true
