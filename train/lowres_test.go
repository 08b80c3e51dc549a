package train

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// lowResOptions is smallOptions at 24×24, whose first half of the epochs
// trains at 16×16 in the given mode.
func lowResOptions(t *testing.T, out, mode string) Options {
	o := smallOptions(t, out)
	o.Config.Resolution = 24
	o.Recipe.LowRes, o.Recipe.LowResMode = 16, mode
	return o
}

// TestLowResResumesExactly: a run whose first half trains at a low
// resolution (either mode) gives the same weights in one go and stopped
// and resumed both before and after the switch; the switch is logged and
// recorded in the checkpoints; its weights differ from those of the run
// without the low resolution (the low epochs did train at it) and between
// the two modes.
func TestLowResResumesExactly(t *testing.T) {
	plain := smallOptions(t, t.TempDir())
	plain.Config.Resolution = 24
	p, err := Run(context.Background(), plain)
	if err != nil {
		t.Fatal(err)
	}
	var modes []*model.Model
	for _, mode := range []string{LowResCrop, LowResResize} {
		t.Run(mode, func(t *testing.T) {
			whole := lowResOptions(t, t.TempDir(), mode)
			var log bytes.Buffer
			whole.Log = &log
			a, err := Run(context.Background(), whole)
			if err != nil {
				t.Fatal(err)
			}
			if want := "epoch 3: from here on at 24×24 (the first 2 at 16×16)"; !strings.Contains(log.String(), want) {
				t.Errorf("the log lacks %q:\n%s", want, log.String())
			}
			dir := t.TempDir()
			for _, stop := range []int{1, 3, 0} { // before the switch, after it, to the end
				o := lowResOptions(t, dir, mode)
				o.StopAfter = stop
				if stop != 1 {
					o.Resume = filepath.Join(dir, "last.bin")
					o.Recipe = Recipe{}
				}
				res, err := Run(context.Background(), o)
				if err != nil {
					t.Fatal(err)
				}
				h, _, err := ReadCheckpoint(filepath.Join(dir, "last.bin"))
				if err != nil {
					t.Fatal(err)
				}
				if want := map[int]int{1: 0, 3: 3, 0: 3}[stop]; h.FullResFrom != want {
					t.Errorf("stopped after %d epochs: the checkpoint's switch is at epoch %d, want %d", res.Epochs, h.FullResFrom, want)
				}
				if stop == 0 {
					sameVars(t, a.Model, res.Model)
				}
			}
			for _, v := range p.Model.Store.Vars() {
				if w := a.Model.Store.Var(v.Name).Value.Data().([]float32); slices.Equal(w, v.Value.Data().([]float32)) && strings.HasSuffix(v.Name, "W") {
					t.Errorf("%s: the same as without the low resolution", v.Name)
				}
			}
			modes = append(modes, a.Model)
		})
	}
	if len(modes) == 2 {
		same := true
		for _, v := range modes[0].Store.Vars() {
			same = same && slices.Equal(v.Value.Data().([]float32), modes[1].Store.Var(v.Name).Value.Data().([]float32))
		}
		if same {
			t.Error("crop and resize trained the same weights")
		}
	}
}

// TestLowResRefused: a low resolution the network cannot take, or on a
// network that is not a MobileNet, is a one-line error before training; so
// are fractions and modes out of range. (A crop of images that are not
// 32×32 is data.NewLoader's error: TestLoaderWindow.)
func TestLowResRefused(t *testing.T) {
	cases := []struct {
		name string
		edit func(o *Options)
		want string
	}{
		{"not below the resolution", func(o *Options) { o.Recipe.LowRes = 24 }, "must be below the network's 24"},
		{"below the network's minimum", func(o *Options) { o.Recipe.LowRes = 8 }, "too small"},
		{"a negative resolution", func(o *Options) { o.Recipe.LowRes = -1 }, "must not be negative"},
		{"a fraction above 1", func(o *Options) { o.Recipe.LowResFraction = 1.5 }, "must be in [0, 1]"},
		{"a fraction without a resolution", func(o *Options) { o.Recipe.LowRes, o.Recipe.LowResFraction = 0, 0.3 }, "without a low resolution"},
		{"an unknown mode", func(o *Options) { o.Recipe.LowResMode = "squash" }, `"squash": want crop or resize`},
		{"a custom network", func(o *Options) {
			store, err := layers.NewStore(tensor.Float32, 1)
			if err != nil {
				t.Fatal(err)
			}
			pool := func(b *layers.Builder, x *G.Node) (*G.Node, error) {
				h, err := layers.GlobalAvgPool(x)
				if err != nil {
					return nil, err
				}
				return layers.ApplyDense(b.In("fc"), h, layers.DefaultDenseConfig(0, 10))
			}
			if o.Network, err = layers.NewNetwork(store, [3]int{3, 24, 24}, 10, pool); err != nil {
				t.Fatal(err)
			}
		}, "needs a MobileNet"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := lowResOptions(t, t.TempDir(), "")
			c.edit(&o)
			_, err := Run(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("%v, want one line with %q", err, c.want)
			}
		})
	}
}
