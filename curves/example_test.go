package curves_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/curves"
)

// Plot draws a run's curves from the metrics.jsonl that cmd/train writes;
// epochs without test figures (--eval-every) add to the training curves only.
func ExamplePlot() {
	dir, err := os.MkdirTemp("", "run")
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer os.RemoveAll(dir)
	metrics := `{"epoch":1,"train_loss":1.9,"train_acc":0.31,"test_loss":1.6,"test_acc":0.42}
{"epoch":2,"train_loss":1.4,"train_acc":0.49}
{"epoch":3,"train_loss":1.1,"train_acc":0.61,"test_loss":1.0,"test_acc":0.65}
`
	if err := os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(metrics), 0o644); err != nil {
		fmt.Println("error:", err)
		return
	}
	if err := curves.Plot(dir); err != nil {
		fmt.Println("error:", err)
		return
	}
	st, err := os.Stat(filepath.Join(dir, "curves.png"))
	fmt.Println(err == nil && st.Size() > 0)
	fmt.Println(curves.Plot(filepath.Join(dir, "absent")) != nil)
	// Output:
	// true
	// true
}
