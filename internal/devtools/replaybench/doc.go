// Package replaybench measures how fast a server gets its views back from a
// large history: replay from zero, audit verify, and a restart from the
// sealed snapshot with the tail caught up. Its test generates a realistic
// store on disk once (accounts created with sealed personal fields,
// bindings, logins and sessions) and reuses it across runs (`make
// bench-replay`, figures in BENCHMARKS.md).
package replaybench
