package model

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// LayerInfo is one row of a model summary.
type LayerInfo struct {
	Name   string // variable scope, e.g. "block3/pw"
	Type   string
	Output [3]int // C, H, W (or C, 1, 1)
	Params int
	MACs   int // multiply-adds for one image
}

// Summary lists every layer with its output shape, parameters and
// multiply-adds per image, computed from the configuration alone.
func (c Config) Summary() ([]LayerInfo, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	var rows []LayerInfo
	down := func(h, s int) int { return (h+2-3)/s + 1 } // 3×3, padding 1
	h := down(c.Resolution, c.StemStride)
	ch := c.Channels(stemChannels)
	rows = append(rows,
		LayerInfo{"stem", "Conv2D 3x3/" + fmt.Sprint(c.StemStride), [3]int{ch, h, h}, 3 * ch * 9, 3 * ch * 9 * h * h},
		LayerInfo{"stem/bn", "BatchNorm+ReLU", [3]int{ch, h, h}, 2 * ch, 0})
	strides := c.blockStrides()
	for i, blk := range body {
		name := fmt.Sprintf("block%d", i+1)
		h = down(h, strides[i])
		out := c.Channels(blk.out)
		rows = append(rows,
			LayerInfo{name + "/dw", fmt.Sprintf("DepthwiseConv2D 3x3/%d", strides[i]), [3]int{ch, h, h}, ch * 9, ch * 9 * h * h},
			LayerInfo{name + "/dw/bn", "BatchNorm+ReLU", [3]int{ch, h, h}, 2 * ch, 0},
			LayerInfo{name + "/pw", "PointwiseConv2D 1x1", [3]int{out, h, h}, ch * out, ch * out * h * h},
			LayerInfo{name + "/pw/bn", "BatchNorm+ReLU", [3]int{out, h, h}, 2 * out, 0})
		ch = out
	}
	rows = append(rows, LayerInfo{"pool", "GlobalAvgPool", [3]int{ch, 1, 1}, 0, 0})
	if c.Dropout > 0 {
		rows = append(rows, LayerInfo{"dropout", fmt.Sprintf("Dropout %g", c.Dropout), [3]int{ch, 1, 1}, 0, 0})
	}
	rows = append(rows, LayerInfo{"fc", "Dense", [3]int{c.Classes, 1, 1}, ch*c.Classes + c.Classes, ch * c.Classes})
	return rows, nil
}

// Totals sums the parameters and multiply-adds of a summary.
func Totals(rows []LayerInfo) (params, macs int) {
	for _, r := range rows {
		params += r.Params
		macs += r.MACs
	}
	return params, macs
}

// WriteSummary prints the summary as an aligned table with totals.
func (c Config) WriteSummary(w io.Writer) error {
	rows, err := c.Summary()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "MobileNet v1 %s: alpha %g, resolution %d, %d classes, stem stride %d, output stride %d\n", c.Name, c.Alpha, c.Resolution, c.Classes, c.StemStride, c.MinResolution())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\ttype\toutput (C×H×W)\tparams\tmult-adds\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d×%d×%d\t%s\t%s\t\n", r.Name, r.Type, r.Output[0], r.Output[1], r.Output[2], group(r.Params), group(r.MACs))
	}
	p, m := Totals(rows)
	fmt.Fprintf(tw, "total\t\t\t%s\t%s\t\n", group(p), group(m))
	fmt.Fprintf(tw, "\t\t\t%.2f M\t%.2f M\t\n", float64(p)/1e6, float64(m)/1e6)
	return tw.Flush()
}

// group formats n with thousands separators.
func group(n int) string {
	s := fmt.Sprint(n)
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
