// Package onnx exports MobileNets, and sequences of this project's layers,
// as ONNX models (opset 13, IR version 8), for ONNX Runtime, OpenCV's DNN
// module, TensorRT and the converters to TFLite and Core ML.
//
// The graph's input is NCHW float32 with a dynamic batch dimension, named
// "input"; its output is named "logits" (and "probabilities" with
// Options.Softmax). Each BatchNorm is folded into the convolution before it
// (weights scaled, a bias added), or exported as BatchNormalization with
// Options.NoFold. ReLU is Relu, ReLU6 is Clip(0, 6). Depthwise convolutions
// are Conv with group = channels. The class names and the input
// normalisation go into the model's metadata properties ("class_names" as a
// JSON list, "mean", "std", "resolution", "config"), so that a consumer can
// preprocess; Options.WithNormalization puts the normalisation into the
// graph (Sub, Div), and the input is then pixels in [0, 1].
//
// Layers map to ONNX nodes by one table (exporters, in layers.go): adding a
// layer type means adding a row.
package onnx

import (
	"encoding/json"
	"fmt"

	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	pb "github.com/gomobilenet/mobilenet/onnx/internal/onnxpb"
	"google.golang.org/protobuf/proto"
)

// Opset is the ONNX operator set the exported models use: 13, which every
// runtime named in the package documentation reads.
const Opset = 13

// Options configure an export.
type Options struct {
	NoFold            bool // export BatchNormalization nodes instead of folding them into the convolutions
	Softmax           bool // add an output "probabilities" = Softmax(logits)
	WithNormalization bool // the input is pixels in [0, 1]: (x − mean)/std is done in the graph
	// ClassNames, Mean and Std describe the input and output for
	// consumers (metadata); Mean and Std are also what WithNormalization
	// uses.
	ClassNames []string
	Mean, Std  [3]float32
	Metadata   map[string]string // more metadata properties
}

// Stats are the totals of an exported graph.
type Stats struct {
	Params int // elements of the weights, biases and BatchNorm scales and shifts (not the running statistics)
	MACs   int // multiply-adds for one image (convolutions and the classifier)
}

// Model exports a MobileNet: its layers (model.Model.Layers) at its
// resolution, with the options' metadata. It returns the serialised
// ModelProto and its totals.
func Model(m *model.Model, opt Options) ([]byte, Stats, error) {
	ls, err := m.Layers()
	if err != nil {
		return nil, Stats{}, fmt.Errorf("onnx: %w", err)
	}
	cfg, _ := json.Marshal(m.Config)
	md := map[string]string{"config": string(cfg), "alpha": fmt.Sprint(m.Config.Alpha)}
	for k, v := range opt.Metadata {
		md[k] = v
	}
	opt.Metadata = md
	return Sequence(ls, 3, m.Config.Resolution, m.Config.Resolution, opt)
}

// Sequence exports layers applied one after the other to an input of c
// channels and h×w pixels, as Model does.
func Sequence(ls []layers.Layer, c, h, w int, opt Options) ([]byte, Stats, error) {
	e := &exporter{g: &pb.GraphProto{Name: proto.String("mobilenet")}, opt: opt, shape: []int{c, h, w}}
	x := "input"
	e.g.Input = append(e.g.Input, tensorValue(x, []int{c, h, w}))
	if opt.WithNormalization {
		mean, std := make([]float32, c), make([]float32, c)
		for i := range mean {
			mean[i], std[i] = opt.Mean[i%3], opt.Std[i%3]
			if std[i] == 0 {
				return nil, Stats{}, fmt.Errorf("onnx: normalisation with std 0")
			}
		}
		x = e.node("Sub", []string{x, e.init("norm_mean", []int{c, 1, 1}, mean)}, nil)
		x = e.node("Div", []string{x, e.init("norm_std", []int{c, 1, 1}, std)}, nil)
	}
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		var err error
		if bn, ok := layers.FoldsInto(ls, i); ok && !opt.NoFold {
			if x, err = e.foldedConv(l, bn, x); err != nil {
				return nil, Stats{}, err
			}
			i++
			continue
		}
		if x, err = e.layer(l, x); err != nil {
			return nil, Stats{}, err
		}
	}
	if len(e.shape) != 1 {
		return nil, Stats{}, fmt.Errorf("onnx: the layers end with a %v tensor, want logits (N, classes)", e.shape)
	}
	e.node("Identity", []string{x}, nil, "logits")
	e.g.Output = append(e.g.Output, tensorValue("logits", e.shape))
	if opt.Softmax {
		e.node("Softmax", []string{"logits"}, []*pb.AttributeProto{attrInt("axis", 1)}, "probabilities")
		e.g.Output = append(e.g.Output, tensorValue("probabilities", e.shape))
	}
	mp := &pb.ModelProto{
		IrVersion:       proto.Int64(8),
		ProducerName:    proto.String("gomobilenet"),
		ProducerVersion: proto.String("1"),
		OpsetImport:     []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(Opset)}},
		Graph:           e.g,
		DocString:       proto.String("MobileNet v1 (Howard et al., 2017), exported by github.com/gomobilenet/mobilenet"),
	}
	md := map[string]string{"resolution": fmt.Sprint(h)}
	if opt.ClassNames != nil {
		b, _ := json.Marshal(opt.ClassNames)
		md["class_names"] = string(b)
	}
	if opt.Mean != ([3]float32{}) {
		md["mean"] = fmt.Sprintf("%g,%g,%g", opt.Mean[0], opt.Mean[1], opt.Mean[2])
		md["std"] = fmt.Sprintf("%g,%g,%g", opt.Std[0], opt.Std[1], opt.Std[2])
		md["input"] = "NCHW float32, RGB; (pixel/255 - mean)/std per channel"
		if opt.WithNormalization {
			md["input"] = "NCHW float32, RGB pixels in [0, 1] (normalised in the graph)"
		}
	}
	for k, v := range opt.Metadata {
		md[k] = v
	}
	for _, k := range sortedKeys(md) {
		mp.MetadataProps = append(mp.MetadataProps, &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(md[k])})
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return nil, Stats{}, fmt.Errorf("onnx: %w", err)
	}
	return b, e.stats, nil
}

// exporter accumulates one graph. shape is the current tensor's shape
// without the batch: (C, H, W), or (C) after pooling.
type exporter struct {
	g     *pb.GraphProto
	opt   Options
	shape []int
	n     int
	stats Stats
}

// node adds a node and returns its (first) output's name: outs, or a new
// name.
func (e *exporter) node(op string, inputs []string, attrs []*pb.AttributeProto, outs ...string) string {
	e.n++
	if len(outs) == 0 {
		outs = []string{fmt.Sprintf("%s_%d", op, e.n)}
	}
	e.g.Node = append(e.g.Node, &pb.NodeProto{OpType: proto.String(op), Name: proto.String(fmt.Sprintf("%s_%d", op, e.n)),
		Input: inputs, Output: outs, Attribute: attrs})
	return outs[0]
}

// init adds a float32 initializer and returns its name.
func (e *exporter) init(name string, dims []int, v []float32) string {
	d := make([]int64, len(dims))
	for i, x := range dims {
		d[i] = int64(x)
	}
	e.g.Initializer = append(e.g.Initializer, &pb.TensorProto{Name: proto.String(name), Dims: d,
		DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), FloatData: v})
	return name
}

func tensorValue(name string, shape []int) *pb.ValueInfoProto {
	dims := []*pb.TensorShapeProto_Dimension{{Value: &pb.TensorShapeProto_Dimension_DimParam{DimParam: "N"}}}
	for _, d := range shape {
		dims = append(dims, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{TensorType: &pb.TypeProto_Tensor{
		ElemType: proto.Int32(int32(pb.TensorProto_FLOAT)), Shape: &pb.TensorShapeProto{Dim: dims}}}}}
}

func attrInt(name string, v int) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(int64(v))}
}

func attrInts(name string, v ...int) *pb.AttributeProto {
	is := make([]int64, len(v))
	for i, x := range v {
		is[i] = int64(x)
	}
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: is}
}

func attrFloat(name string, v float32) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// activation adds act's node after x.
func (e *exporter) activation(act layers.Activation, x, scope string) string {
	switch act {
	case layers.ReLU:
		return e.node("Relu", []string{x}, nil)
	case layers.ReLU6:
		lo := e.init(scope+"/clip_min", nil, []float32{0})
		hi := e.init(scope+"/clip_max", nil, []float32{6})
		return e.node("Clip", []string{x, lo, hi}, nil)
	}
	return x
}
