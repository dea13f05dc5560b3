package main

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// console writes status messages and the progress line to stderr. On a terminal the progress
// line is redrawn in place and cleared before any other message; elsewhere (pipes, logs, tests)
// every progress update is a line of its own.
type console struct {
	mu      sync.Mutex
	w       io.Writer
	tty     bool
	showing bool // a progress line is on screen (tty only)
}

func newConsole(w io.Writer, tty bool) *console { return &console{w: w, tty: tty} }

// printf prints one message line.
func (c *console) printf(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	fmt.Fprintf(c.w, format+"\n", args...)
}

// Write lets a logger print through the console.
func (c *console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clearLocked()
	return c.w.Write(p)
}

// progress shows the progress line.
func (c *console) progress(line string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tty {
		fmt.Fprintf(c.w, "\r%s\x1b[K", line)
		c.showing = true
		return
	}
	fmt.Fprintln(c.w, line)
}

// finish ends a progress line left on screen.
func (c *console) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.showing {
		fmt.Fprintln(c.w)
		c.showing = false
	}
}

func (c *console) clearLocked() {
	if c.showing {
		fmt.Fprint(c.w, "\r\x1b[K")
		c.showing = false
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
