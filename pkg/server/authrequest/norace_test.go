//go:build !race

package authrequest

const raceEnabled = false
