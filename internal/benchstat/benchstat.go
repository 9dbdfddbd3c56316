// Package benchstat holds what the benchmarks behind docs/benchmarks.md
// share: one definition of a percentile, so that every published p50/p99
// means the same thing, and the reading of their size settings.
//
// Only benchmarks import it; it imports the standard library only.
package benchstat

import (
	"cmp"
	"math"
	"os"
	"strconv"
)

// Percentile is the p-quantile (0 < p ≤ 1) of sorted, an ascending slice,
// by the nearest-rank method: the smallest value with at least p of the
// values at or below it. It is the zero value for an empty slice.
func Percentile[T cmp.Ordered](sorted []T, p float64) T {
	var zero T
	if len(sorted) == 0 {
		return zero
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// EnvInt reads a positive integer setting (a benchmark's size) from the
// environment; def when it is unset or not a positive integer.
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
