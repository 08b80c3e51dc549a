package onnx

import (
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/gomobilenet/mobilenet/layers"
	pb "github.com/gomobilenet/mobilenet/onnx/internal/onnxpb"
)

// exporters is the table from layer types to ONNX nodes: one row per type.
// Each adds the nodes of layer l applied to tensor x and returns the name
// of its output, keeping e.shape up to date.
var exporters map[reflect.Type]func(e *exporter, l layers.Layer, x string) (string, error)

func init() { // in init: the block's row refers back to the table
	exporters = map[reflect.Type]func(e *exporter, l layers.Layer, x string) (string, error){
		reflect.TypeOf(&layers.Conv2D{}):          func(e *exporter, l layers.Layer, x string) (string, error) { return e.conv(l, nil, x) },
		reflect.TypeOf(&layers.PointwiseConv2D{}): func(e *exporter, l layers.Layer, x string) (string, error) { return e.conv(l, nil, x) },
		reflect.TypeOf(&layers.DepthwiseConv2D{}): func(e *exporter, l layers.Layer, x string) (string, error) { return e.conv(l, nil, x) },
		reflect.TypeOf(&layers.BatchNorm{}): func(e *exporter, l layers.Layer, x string) (string, error) {
			return e.batchNorm(l.(*layers.BatchNorm), x)
		},
		reflect.TypeOf(&layers.SeparableBlock{}):  (*exporter).block,
		reflect.TypeOf(layers.GlobalAvgPooling{}): (*exporter).pool,
		reflect.TypeOf(&layers.Dropout{}):         func(_ *exporter, _ layers.Layer, x string) (string, error) { return x, nil }, // identity in inference
		reflect.TypeOf(&layers.Dense{}):           (*exporter).dense,
		reflect.TypeOf(layers.MaxPool2D{}):        (*exporter).maxPool,
		reflect.TypeOf(layers.ReLU): func(e *exporter, l layers.Layer, x string) (string, error) {
			return e.activation(l.(layers.Activation), x, x), nil // scope: the input's name, unique
		},
	}
}

// layer exports one layer through the table.
func (e *exporter) layer(l layers.Layer, x string) (string, error) {
	f, ok := exporters[reflect.TypeOf(l)]
	if !ok {
		return "", fmt.Errorf("onnx: no ONNX export for layer type %T (exported: %s)", l, supported())
	}
	return f(e, l, x)
}

// supported lists the exported layer types, sorted.
func supported() string {
	names := make([]string, 0, len(exporters))
	for t := range exporters {
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		names = append(names, "layers."+t.Name())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// foldedConv exports conv followed by bn with bn folded into it.
func (e *exporter) foldedConv(conv layers.Layer, bn *layers.BatchNorm, x string) (string, error) {
	y, err := e.conv(conv, bn, x)
	if err != nil {
		return "", err
	}
	return e.activation(bn.Config().Activation, y, bn.Name()), nil
}

// conv exports a convolution as Conv, with bn folded in when bn is not nil
// (its activation is then the caller's).
func (e *exporter) conv(l layers.Layer, bn *layers.BatchNorm, x string) (string, error) {
	s, err := layers.ConvSpecOf(l)
	if err != nil {
		return "", fmt.Errorf("onnx: %w", err)
	}
	if len(e.shape) != 3 || e.shape[0] != s.In {
		return "", fmt.Errorf("onnx: %s: input %v, want (%d, H, W)", s.Name, e.shape, s.In)
	}
	h, w := e.shape[1], e.shape[2]
	pt, pb_, pl, pr := s.Padding.Pads(h, w, s.Kernel, s.Kernel, s.Stride, s.Stride)
	ho, wo := (h+pt+pb_-s.Kernel)/s.Stride+1, (w+pl+pr-s.Kernel)/s.Stride+1
	if ho < 1 || wo < 1 {
		return "", fmt.Errorf("onnx: %s: input %dx%d too small for kernel %d", s.Name, h, w, s.Kernel)
	}
	weight, bias := s.Weight, s.Bias
	if bn != nil {
		if weight, bias, err = layers.FoldConv(s, bn); err != nil {
			return "", fmt.Errorf("onnx: %w", err)
		}
	}
	inputs := []string{x, e.init(s.Name+"/weight", []int{s.Out, s.In / s.Groups, s.Kernel, s.Kernel}, weight)}
	if bias != nil {
		inputs = append(inputs, e.init(s.Name+"/bias", []int{s.Out}, bias))
	}
	attrs := []*pb.AttributeProto{attrInts("kernel_shape", s.Kernel, s.Kernel), attrInts("strides", s.Stride, s.Stride),
		attrInts("pads", pt, pl, pb_, pr), attrInts("dilations", 1, 1), attrInt("group", s.Groups)}
	y := e.node("Conv", inputs, attrs)
	e.shape = []int{s.Out, ho, wo}
	e.stats.Params += len(s.Weight) + len(s.Bias)
	e.stats.MACs += s.Out * (s.In / s.Groups) * s.Kernel * s.Kernel * ho * wo
	if bn != nil {
		e.stats.Params += 2 * s.Out // the folded BatchNorm's scale and shift
	}
	return y, nil
}

// batchNorm exports an unfolded BatchNorm (and its activation).
func (e *exporter) batchNorm(bn *layers.BatchNorm, x string) (string, error) {
	c := bn.Config().Channels
	if len(e.shape) == 0 || e.shape[0] != c {
		return "", fmt.Errorf("onnx: %s: input %v, want %d channels", bn.Name(), e.shape, c)
	}
	scale, _, err := layers.Float32s(bn.Scale())
	if err != nil {
		return "", fmt.Errorf("onnx: %s: %w", bn.Name(), err)
	}
	shift, _, err := layers.Float32s(bn.Shift())
	if err != nil {
		return "", fmt.Errorf("onnx: %s: %w", bn.Name(), err)
	}
	n := bn.Name()
	y := e.node("BatchNormalization", []string{x, e.init(n+"/scale", []int{c}, scale), e.init(n+"/bias", []int{c}, shift),
		e.init(n+"/running_mean", []int{c}, bn.RunningMean().Float32s()), e.init(n+"/running_var", []int{c}, bn.RunningVar().Float32s())},
		[]*pb.AttributeProto{attrFloat("epsilon", float32(bn.Config().Epsilon))})
	e.stats.Params += 2 * c
	return e.activation(bn.Config().Activation, y, n), nil
}

// block exports a depthwise-separable block: its four layers.
func (e *exporter) block(l layers.Layer, x string) (string, error) {
	b := l.(*layers.SeparableBlock)
	var err error
	if e.opt.NoFold {
		for _, sub := range []layers.Layer{b.DW, b.DWBN, b.PW, b.PWBN} {
			if x, err = e.layer(sub, x); err != nil {
				return "", err
			}
		}
		return x, nil
	}
	if x, err = e.foldedConv(b.DW, b.DWBN, x); err != nil {
		return "", err
	}
	return e.foldedConv(b.PW, b.PWBN, x)
}

// pool exports global average pooling: GlobalAveragePool then Flatten.
func (e *exporter) pool(_ layers.Layer, x string) (string, error) {
	if len(e.shape) != 3 {
		return "", fmt.Errorf("onnx: global average pooling of a %v tensor", e.shape)
	}
	y := e.node("GlobalAveragePool", []string{x}, nil)
	y = e.node("Flatten", []string{y}, []*pb.AttributeProto{attrInt("axis", 1)})
	e.shape = []int{e.shape[0]}
	return y, nil
}

// maxPool exports a MaxPool2D as MaxPool.
func (e *exporter) maxPool(l layers.Layer, x string) (string, error) {
	p := l.(layers.MaxPool2D)
	if len(e.shape) != 3 {
		return "", fmt.Errorf("onnx: max pooling of a %v tensor", e.shape)
	}
	k, s := p.KernelStride()
	h, w := e.shape[1], e.shape[2]
	pt, pb_, pl, pr := p.Padding.Pads(h, w, k, k, s, s)
	ho, wo := (h+pt+pb_-k)/s+1, (w+pl+pr-k)/s+1
	if ho < 1 || wo < 1 {
		return "", fmt.Errorf("onnx: max pooling: input %dx%d too small for kernel %d", h, w, k)
	}
	y := e.node("MaxPool", []string{x}, []*pb.AttributeProto{attrInts("kernel_shape", k, k), attrInts("strides", s, s), attrInts("pads", pt, pl, pb_, pr)})
	e.shape = []int{e.shape[0], ho, wo}
	return y, nil
}

// dense exports a fully connected layer as Gemm (transB: the weight is
// (Out, In)).
func (e *exporter) dense(l layers.Layer, x string) (string, error) {
	d := l.(*layers.Dense)
	cfg := d.Config()
	if len(e.shape) != 1 || e.shape[0] != cfg.In {
		return "", fmt.Errorf("onnx: %s: input %v, want (%d)", d.Name(), e.shape, cfg.In)
	}
	w, _, err := layers.Float32s(d.Weight())
	if err != nil {
		return "", fmt.Errorf("onnx: %s: %w", d.Name(), err)
	}
	inputs := []string{x, e.init(d.Name()+"/weight", []int{cfg.Out, cfg.In}, w)}
	e.stats.Params += len(w)
	if d.Bias() != nil {
		b, _, err := layers.Float32s(d.Bias())
		if err != nil {
			return "", fmt.Errorf("onnx: %s: %w", d.Name(), err)
		}
		inputs = append(inputs, e.init(d.Name()+"/bias", []int{cfg.Out}, b))
		e.stats.Params += len(b)
	}
	y := e.node("Gemm", inputs, []*pb.AttributeProto{attrInt("transB", 1)})
	e.shape = []int{cfg.Out}
	e.stats.MACs += cfg.In * cfg.Out
	return y, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
