package onnx_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/onnx"
	"github.com/gomobilenet/mobilenet/onnx/internal/onnxpb"
	"github.com/gomobilenet/mobilenet/train"
	"google.golang.org/protobuf/proto"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// perturbed is a model whose BatchNorm statistics and affine parameters are
// far from their initial values, so that folding them matters.
func perturbed(t *testing.T, cfg model.Config) *model.Model {
	t.Helper()
	m, err := model.New(cfg, model.Options{Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	perturbBN(m.Store.Vars(), rand.New(rand.NewPCG(1, 2)))
	return m
}

// perturbBN moves BatchNorm statistics and parameters (and a classifier
// fc/weight) far from their initial values.
func perturbBN(vars []*layers.Var, r *rand.Rand) {
	for _, v := range vars {
		d := v.Value.Data().([]float32)
		for i := range d {
			switch {
			case strings.HasSuffix(v.Name, "running_var"):
				d[i] = 0.3 + r.Float32()
			case strings.HasSuffix(v.Name, "running_mean"), strings.HasSuffix(v.Name, "bn/bias"):
				d[i] = 0.3 * float32(r.NormFloat64())
			case strings.HasSuffix(v.Name, "bn/scale"):
				d[i] = 0.7 + 0.6*r.Float32()
			case v.Name == "fc/weight":
				d[i] = 0.2 * float32(r.NormFloat64())
			}
		}
	}
}

// logits runs the model's own (folded) inference graph.
func logits(t *testing.T, m *model.Model, x []float32, n int) []float32 {
	t.Helper()
	ev, err := train.NewEvaluator(m, n)
	if err != nil {
		t.Fatal(err)
	}
	defer ev.Close()
	y, err := ev.Logits(x)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func writeF32(t *testing.T, path string, v []float32) {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

type check struct {
	Opset      int               `json:"opset"`
	MaxRelDiff float64           `json:"max_rel_diff"`
	Top1Agree  int               `json:"top1_agree"`
	N          int               `json:"n"`
	Metadata   map[string]string `json:"metadata"`
}

// runChecker runs scripts/check_onnx.py (onnx.checker with full checking,
// then OpenCV's DNN module), or skips when python3 lacks onnx or cv2.
func runChecker(t *testing.T, path string, x, want []float32, n, c, h, w int, output string) check {
	t.Helper()
	py := "/usr/bin/python3" // Debian's, where python3-onnx and python3-opencv install
	if _, err := os.Stat(py); err != nil {
		py = "python3"
	}
	err := exec.Command(py, "-c", "import onnx, cv2, numpy").Run()
	testenv.Need(t, "python-onnx", err == nil, "python3 with onnx, cv2 and numpy not found (apt-get install python3-onnx python3-opencv): the independent runtimes cannot check the export")
	dir := filepath.Dir(path)
	writeF32(t, filepath.Join(dir, "x.f32"), x)
	writeF32(t, filepath.Join(dir, "y.f32"), want)
	args := []string{"../scripts/check_onnx.py", path, filepath.Join(dir, "x.f32"), filepath.Join(dir, "y.f32")}
	for _, d := range []int{n, c, h, w} {
		args = append(args, itoa(d))
	}
	out, err := exec.Command(py, append(args, output)...).CombinedOutput()
	if err != nil {
		t.Fatalf("check_onnx.py: %v\n%s", err, out)
	}
	var r check
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("check_onnx.py output %q: %v", out, err)
	}
	return r
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestExportMatchesRuntimes: exported MobileNets (CIFAR-10 and ImageNet
// configurations, folded and unfolded, with and without normalisation in
// the graph) pass onnx.checker's full check, and OpenCV's DNN module gives
// the logits of the project's own inference graph on 128 images: relative
// difference ≤ 1e-4 of the logits' scale, the same top-1 on all. The
// totals equal the model summary's.
func TestExportMatchesRuntimes(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  model.Config
		n    int
		opt  onnx.Options
	}{
		{"cifar10 alpha 0.25 folded", model.CIFAR10(0.25), 128, onnx.Options{}},
		{"cifar10 alpha 0.5 unfolded softmax", model.CIFAR10(0.5), 128, onnx.Options{NoFold: true, Softmax: true}},
		{"cifar10 alpha 0.25 normalised in the graph", model.CIFAR10(0.25), 128, onnx.Options{WithNormalization: true, Mean: data.Mean, Std: data.Std}},
		{"imagenet alpha 0.25 at 128", func() model.Config { c := model.ImageNet(0.25); c.Resolution = 128; c.Classes = 17; return c }(), 128, onnx.Options{}},
		{"cifar10 alpha 0.75 folded", model.CIFAR10(0.75), 128, onnx.Options{}},
		{"cifar10 alpha 0.25 output stride 8", func() model.Config { c := model.CIFAR10(0.25); c.OutputStride = 8; return c }(), 32, onnx.Options{}},
		{"imagenet alpha 1.0 at 224", model.ImageNet(1), 16, onnx.Options{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := perturbed(t, c.cfg)
			c.opt.ClassNames = make([]string, c.cfg.Classes)
			for i := range c.opt.ClassNames {
				c.opt.ClassNames[i] = "class" + itoa(i)
			}
			b, st, err := onnx.Model(m, c.opt)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ := c.cfg.Summary()
			params, macs := model.Totals(rows)
			if st.Params != params || st.MACs != macs {
				t.Errorf("export totals %d params, %d mult-adds; the model has %d, %d", st.Params, st.MACs, params, macs)
			}
			res := c.cfg.Resolution
			x := testImages(t, c.n, res)
			ours := x
			if c.opt.WithNormalization { // the graph normalises; ours takes normalised input
				ours = make([]float32, len(x))
				for i := range x {
					ch := (i / (res * res)) % 3
					ours[i] = (x[i] - c.opt.Mean[ch]) / c.opt.Std[ch]
				}
			}
			want := logits(t, m, ours, c.n)
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			chk := runChecker(t, path, x, want, c.n, 3, res, res, "logits")
			t.Logf("%s: %d bytes, max relative difference %.2g, top-1 agrees on %d/%d", c.name, len(b), chk.MaxRelDiff, chk.Top1Agree, chk.N)
			if chk.MaxRelDiff > 1e-4 || chk.Top1Agree != c.n || chk.Opset != onnx.Opset {
				t.Errorf("OpenCV: max relative difference %g, top-1 agrees on %d of %d, opset %d", chk.MaxRelDiff, chk.Top1Agree, c.n, chk.Opset)
			}
			if chk.Metadata["resolution"] != itoa(res) || !strings.Contains(chk.Metadata["class_names"], "class1") {
				t.Errorf("metadata %v", chk.Metadata)
			}
		})
	}
}

// TestExportSequence: layers built by other code export through the same
// table — the ONNX graph computes what the layers compute (checked by the
// independent runtime where it is installed), its input and output have
// the sequence's shapes, and its totals are the layers' — and an unknown
// layer type is an error naming it.
func TestExportSequence(t *testing.T) {
	const n, res = 3, 16
	s, _ := layers.NewStore(tensor.Float32, 1)
	g := G.NewGraph()
	b := layers.NewBuilder(g, s)
	conv, _ := layers.NewConv2D(b.In("c"), layers.Conv2DConfig{In: 3, Out: 8, Stride: 2})
	// ReLU, not ReLU6: ReLU6 exports as Clip with its bounds as inputs
	// (opset 11 on), which OpenCV 4.6 (Debian's) cannot read. The stem's
	// BatchNorm is linear and followed by an activation layer.
	bn, _ := layers.NewBatchNorm(b.In("c/bn"), layers.BatchNormConfig{Channels: 8, Momentum: 0.1, Epsilon: 1e-5, Activation: layers.Linear})
	blk, _ := layers.NewSeparableBlock(b.In("blk"), layers.DefaultSeparableConfig(8, 16))
	fc, _ := layers.NewDense(b.In("fc"), layers.DefaultDenseConfig(16, 4))
	seq := []layers.Layer{conv, bn, layers.ReLU, layers.MaxPool2D{Kernel: 3, Stride: 2, Padding: layers.Pad(1)}, blk, layers.GlobalAvgPooling{}, fc} // the stem's ReLU a layer of its own, then ResNet's max pooling
	// BatchNorm statistics and parameters away from their initial values,
	// so that folding them matters.
	perturbBN(s.Vars(), rand.New(rand.NewPCG(3, 4)))
	out, st, err := onnx.Sequence(seq, 3, res, res, onnx.Options{})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	// Totals: the stem 3×3×3 → 8 at stride 2 (8×8 out), max pooling to
	// 4×4, the block's 3×3 depthwise over 8 channels and 8 → 16 pointwise
	// (4×4), the 16 → 4 classifier; parameters: weights, biases, BatchNorm
	// scales and shifts.
	wantMACs := 8*8*8*27 + 4*4*8*9 + 4*4*16*8 + 16*4
	wantParams := 0
	for _, v := range s.LearnableVars() {
		wantParams += v.Value.Shape().TotalSize()
	}
	if st.MACs != wantMACs || st.Params != wantParams {
		t.Errorf("totals: %d MACs and %d parameters, want %d and %d", st.MACs, st.Params, wantMACs, wantParams)
	}
	var mp onnxpb.ModelProto
	if err := proto.Unmarshal(out, &mp); err != nil {
		t.Fatalf("the export does not parse as an ONNX model: %v", err)
	}
	dims := func(vi *onnxpb.ValueInfoProto) []int64 {
		var d []int64
		for _, x := range vi.GetType().GetTensorType().GetShape().GetDim() {
			d = append(d, x.GetDimValue())
		}
		return d
	}
	gr := mp.GetGraph()
	if len(gr.GetInput()) != 1 || len(gr.GetOutput()) != 1 || !slices.Equal(dims(gr.GetInput()[0])[1:], []int64{3, res, res}) || dims(gr.GetOutput()[0])[1] != 4 {
		t.Fatalf("graph input %v, output %v: want (N, 3, %d, %d) and (N, 4)", gr.GetInput(), gr.GetOutput(), res, res)
	}

	// The layers' own logits, in inference mode, against the runtime's.
	x := testImages(t, n, res)
	xv := tensor.New(tensor.WithShape(n, 3, res, res), tensor.WithBacking(append([]float32(nil), x...)))
	in := G.NewTensor(g, tensor.Float32, 4, G.WithShape(n, 3, res, res), G.WithName("x"), G.WithValue(xv))
	s.Mode().SetTraining(false)
	y := in
	for _, l := range seq {
		if y, err = l.Fwd(y); err != nil {
			t.Fatal(err)
		}
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	want := append([]float32(nil), y.Value().Data().([]float32)...)
	path := filepath.Join(t.TempDir(), "seq.onnx")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	chk := runChecker(t, path, x, want, n, 3, res, res, "logits")
	if chk.MaxRelDiff > 1e-4 || chk.Top1Agree != n {
		t.Errorf("OpenCV on the exported sequence: max relative difference %g, top-1 agrees on %d of %d", chk.MaxRelDiff, chk.Top1Agree, n)
	}

	if _, _, err := onnx.Sequence([]layers.Layer{conv, unknown{}}, 3, res, res, onnx.Options{}); err == nil || !strings.Contains(err.Error(), "onnx_test.unknown") {
		t.Errorf("unknown layer: error %v", err)
	}
	if _, _, err := onnx.Sequence([]layers.Layer{conv}, 3, res, res, onnx.Options{}); err == nil {
		t.Error("a sequence that does not end in logits: no error")
	}
}

// testImages returns n images of res×res pixels in [0, 1]: CIFAR-10's
// first test images where CIFAR10_DIR points at the data (and res is 32),
// else random pixels.
func testImages(t *testing.T, n, res int) []float32 {
	x := make([]float32, n*3*res*res)
	if dir := os.Getenv("CIFAR10_DIR"); dir != "" && res == data.ImageSize {
		ds, err := data.Load(dir, data.Test, n)
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range ds.Pixels {
			x[i] = float32(p) / 255
		}
		return x
	}
	r := rand.New(rand.NewPCG(3, 4))
	for i := range x {
		x[i] = r.Float32()
	}
	return x
}

type unknown struct{}

func (unknown) Fwd(x *G.Node) (*G.Node, error) { return x, nil }
func (unknown) Learnables() G.Nodes            { return nil }

// TestExportNilModel: exporting nil is an error, not a crash.
func TestExportNilModel(t *testing.T) {
	if _, _, err := onnx.Model(nil, onnx.Options{}); err == nil || !strings.HasPrefix(err.Error(), "onnx: model: none") {
		t.Errorf("onnx.Model(nil): error %v, want \"onnx: model: none…\"", err)
	}
}
