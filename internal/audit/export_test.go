package audit

// Every verification in this package's tests reads its streams in ranges
// of five messages, so that each tamper case also crosses range
// boundaries: the chains and checkpoints are stitched across many ranges.
func init() { rangeSize = 5 }
