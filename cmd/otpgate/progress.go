package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/internal/periodic"
)

// progressLine is a one-line progress display for a terminal: each show
// rewrites the line in place (carriage return, the text, erase to the end
// of the line). Where its writer is not a terminal (a pipe, a file, a
// test's buffer) it writes nothing, so what scripts read is unchanged.
type progressLine struct {
	mu    sync.Mutex
	w     io.Writer
	on    bool
	shown bool
}

// progressWidth keeps the line within an 80-column terminal: a longer one
// wraps, and the carriage return would rewrite only its last part.
const progressWidth = 79

func newProgressLine(w io.Writer) *progressLine {
	return &progressLine{w: w, on: isTerminal(w)}
}

// show rewrites the line with text.
func (p *progressLine) show(text string) {
	if !p.on {
		return
	}
	if r := []rune(text); len(r) > progressWidth {
		text = string(r[:progressWidth-1]) + "…"
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "\r%s\x1b[K", text)
	p.shown = true
}

// clear erases the line, before other output or at the end.
func (p *progressLine) clear() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// above writes text to w (which may be another stream on the same
// terminal) with the progress line erased first, under the line's lock, so
// a tick cannot redraw the line in between and leave text after it.
func (p *progressLine) above(w io.Writer, text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.on && p.shown {
		io.WriteString(p.w, "\r\x1b[K")
		p.shown = false
	}
	io.WriteString(w, text)
}

// every shows text() now and then every interval, until done is called;
// done erases the line.
func (p *progressLine) every(interval time.Duration, text func() string) (done func()) {
	if !p.on {
		return func() {}
	}
	p.show(text())
	loop := &periodic.Loop{Every: interval, Run: func(context.Context) error { p.show(text()); return nil }}
	loop.Start(context.Background())
	return func() {
		loop.Stop() // safe twice
		p.clear()
	}
}

// bar draws done/total as [=====>    ] in width characters.
func bar(done, total float64, width int) string {
	if total <= 0 {
		return "[" + strings.Repeat(" ", width) + "]"
	}
	n := int(float64(width) * min(done/total, 1))
	s := strings.Repeat("=", n)
	if n < width {
		s += ">" + strings.Repeat(" ", width-n-1)
	}
	return "[" + s + "]"
}

// seconds is a duration in whole seconds, as a person reads it ("42s", "3m05s").
func seconds(d time.Duration) string {
	d = d.Round(time.Second)
	if d < time.Minute {
		return fmt.Sprintf("%ds", int(d.Seconds()))
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
