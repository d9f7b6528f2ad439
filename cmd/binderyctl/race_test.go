//go:build race

package main

// raceEnabled scales the big tests down under the race detector, which
// slows publishing and decoding about tenfold.
const raceEnabled = true
