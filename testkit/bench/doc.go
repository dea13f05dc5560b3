// Package bench holds the pieces of the load run (testkit/cmd/loadtest) that are worth testing on
// their own: reading a process's CPU time and memory from /proc, timing synthetic frames from
// publisher to subscriber, a raw marshal+encrypt+send baseline, and the table, CSV and SVG output.
//
// Everything here is Linux-only in practice (/proc); on other systems the readers return errors.
package bench
