package cli

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
)

// ProgressModes are the values of the commands' --progress flag.
const ProgressModes = "auto, on or off"

// Progress returns where a command draws its progress bars for
// --progress mode: f for "on", nothing (nil) for "off", and for "auto" f
// only when it is a terminal — a bar redrawn four times a second fills a
// log file (a 100-epoch run's nohup log grew to 7 MB) while the per-epoch
// lines say what a log needs, as Keras' fit does when it is not interactive.
func Progress(mode string, f *os.File) (io.Writer, error) {
	switch mode {
	case "on":
		if f == nil {
			return nil, nil // not a non-nil io.Writer holding a nil file
		}
		return f, nil
	case "off":
		return nil, nil
	case "auto", "":
		if f != nil && term.IsTerminal(int(f.Fd())) {
			return f, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("--progress %q: want %s", mode, ProgressModes)
}
