//go:build !race

package daemone2e

const raceEnabled = false
