package progress

import (
	"bytes"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// The evaluation bar's first redraw reported millions of images/s: the
// bar's clock started at the first Add, so a whole batch was divided by
// the microseconds between that Add and the redraw. Its clock now starts
// when it is made, so the rate can be no higher than the images over the
// time since then.
func TestBarRateCountsFromCreation(t *testing.T) {
	var buf bytes.Buffer
	bar := New(&buf, 1000, "evaluating", true)
	const wait = 50 * time.Millisecond
	time.Sleep(wait)
	if err := bar.Add(100); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`([0-9]+) img/s`).FindStringSubmatch(buf.String())
	if m == nil {
		t.Fatalf("no rate in the bar: %q", buf.String())
	}
	rate, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	if max := 100 / wait.Seconds(); float64(rate) > max {
		t.Errorf("bar shows %d img/s after 100 images in at least %v: want at most %.0f", rate, wait, max)
	}
}
