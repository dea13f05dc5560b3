package bench

import "time"

// epoch anchors Now so that timestamps taken anywhere in the process share one monotonic clock.
var epoch = time.Now()

// Now is nanoseconds on the process's monotonic clock (never 0 after the first nanosecond).
func Now() int64 { return int64(time.Since(epoch)) }
