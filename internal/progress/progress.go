// Package progress draws the progress bars of training epochs and
// evaluations.
package progress

import (
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// New is the progress bar of training epochs and evaluations; rate
// shows images/s (training puts its own figures in the description).
func New(w io.Writer, n int, desc string, rate bool) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(250 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
		progressbar.OptionSetWidth(25),
	}
	if rate {
		opts = append(opts, progressbar.OptionShowIts(), progressbar.OptionSetItsString("img"))
	}
	bar := progressbar.NewOptions(n, opts...)
	// Start the clock now: otherwise the first Add starts it, and the first
	// redraw divides a whole batch by a few microseconds (millions of img/s).
	bar.StartWithoutRender()
	return bar
}
