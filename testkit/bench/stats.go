package bench

import (
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0..100, nearest rank) of xs, sorting xs in place.
// It is 0 for an empty slice.
func Percentile(xs []int64, p float64) time.Duration {
	if len(xs) == 0 {
		return 0
	}
	slices.Sort(xs)
	rank := int(p/100*float64(len(xs))+0.999999) - 1
	rank = min(max(rank, 0), len(xs)-1)
	return time.Duration(xs[rank])
}
