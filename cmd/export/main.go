// Command export writes a checkpoint's MobileNet as an ONNX model (opset 13):
//
//	go run ./cmd/export checkpoints/best.bin mobilenet.onnx
//
// The input is "input", NCHW float32 with a dynamic batch, normalised as in
// training ((pixel/255 − mean)/std, or pixels in [0, 1] with
// --with-normalization); the output is "logits" (and "probabilities" with
// --softmax). BatchNorms are folded into the convolutions unless --no-fold.
// Class names, mean, std and resolution are in the model's metadata.
package main

import (
	"flag"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"

	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/onnx"
)

func main() { cli.Main("export", run) }

func run(args []string) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: go run ./cmd/export [flags] CHECKPOINT OUT.onnx\n\nWrites the checkpoint's MobileNet as an ONNX model (opset 13).\n\nFlags:")
		fs.PrintDefaults()
	}
	var (
		noFold  = fs.Bool("no-fold", false, "export BatchNormalization nodes instead of folding them into the convolutions")
		softmax = fs.Bool("softmax", false, "add an output \"probabilities\" (Softmax of the logits)")
		norm    = fs.Bool("with-normalization", false, "normalise in the graph: the input is RGB pixels in [0, 1]")
		summary = fs.Bool("summary", false, "print the exported graph's parameters and multiply-adds")
	)
	pos, err := cli.Parse(fs, args) // flags before or after the paths
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("want a checkpoint and an output path, got %d arguments (usage: export [flags] CHECKPOINT OUT.onnx)", len(pos))
	}
	m, hdr, err := evaluate.Load(pos[0], 0)
	if err != nil {
		return err
	}
	// The preprocessing and class names the checkpoint records (CIFAR-10's
	// for older CIFAR-10 checkpoints), so that consumers prepare images as
	// training did.
	pre := hdr.Preprocess()
	names, _ := hdr.ClassNames()
	opt := onnx.Options{NoFold: *noFold, Softmax: *softmax, WithNormalization: *norm, Mean: pre.Mean, Std: pre.Std,
		ClassNames: names, Metadata: map[string]string{"resize": pre.Resize}}
	b, st, err := onnx.Model(m, opt)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(pos[1], b); err != nil {
		return fmt.Errorf("write %s: %w", pos[1], err)
	}
	c := m.Config
	fmt.Printf("wrote %s: MobileNet v1 %s, %d classes, %d bytes, opset %d\n", pos[1], c.Describe(), c.Classes, len(b), onnx.Opset)
	if *summary {
		rows, _ := c.Summary()
		p, macs := model.Totals(rows)
		fmt.Printf("exported graph: %d parameters, %d multiply-adds per image (the model's: %d, %d)\n", st.Params, st.MACs, p, macs)
	}
	return nil
}
