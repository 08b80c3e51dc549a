package train_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
	G "gorgonia.org/gorgonia"
)

// customOptions trains the residual network of ExampleRun_customNetwork
// (width 4) on synthetic colour images: every augmentation stream, EMA.
func customOptions(t *testing.T, dir string, seed uint64) train.Options {
	t.Helper()
	net, err := newResNet(4, 10, seed)
	if err != nil {
		t.Fatal(err)
	}
	r := train.DefaultRecipe()
	r.Epochs, r.BatchSize, r.EvalBatch, r.LR, r.WarmupEpochs, r.SWAEpochs, r.EMA = 4, 20, 50, 0.05, 0.5, 0, 0.9
	r.Cutout, r.AlternateFlips, r.RandomErasing, r.MixUp = 8, true, 0.3, 0.2
	return train.Options{Recipe: r, Network: net, NetworkName: "resnet", OutDir: dir, Train: colours(200, 1), Test: colours(100, 2)}
}

// TestCustomNetworkResumesExactly: a network that is not MobileNet trains
// through Run (it learns the colours), and a run stopped after 2 epochs
// and resumed with the same network, built afresh, ends bit for bit as
// the run in one go; LoadInto reads its checkpoint into another network
// of the same build; LoadModel and a MobileNet resume refuse it in one
// line; the same network on 2 in-process ranks trains too.
func TestCustomNetworkResumesExactly(t *testing.T) {
	whole := customOptions(t, t.TempDir(), 1)
	a, err := train.Run(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	if a.Model != nil || a.BestAcc < 0.3 {
		t.Errorf("custom network: model %v, best accuracy %v (chance is 0.1)", a.Model, a.BestAcc)
	}
	dir := t.TempDir()
	half := customOptions(t, dir, 1)
	half.StopAfter = 2
	if res, err := train.Run(context.Background(), half); err != nil || res.Epochs != 2 {
		t.Fatalf("first half: %v, %v", res, err)
	}
	rest := customOptions(t, dir, 99) // the checkpoint's weights replace the new seed's
	rest.Resume = filepath.Join(dir, "last.bin")
	b, err := train.Run(context.Background(), rest)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range a.Network.VarStore().Vars() {
		if !slices.Equal(v.Value.Data().([]float32), b.Network.VarStore().Var(v.Name).Value.Data().([]float32)) {
			t.Fatalf("%s differs between the run in one go and the resumed one", v.Name)
		}
	}
	h, _, err := train.ReadCheckpoint(filepath.Join(dir, "last.bin"))
	if err != nil || h.Network != "resnet" || h.Epoch != 4 {
		t.Errorf("checkpoint header: network %q, epoch %d, %v", h.Network, h.Epoch, err)
	}
	other, _ := newResNet(4, 10, 7)
	if _, err := train.LoadInto(filepath.Join(dir, "last.bin"), other); err != nil {
		t.Fatal(err)
	}
	for _, v := range other.VarStore().Vars() { // the EMA's weights, as LoadModel takes them
		if len(v.Value.Data().([]float32)) == 0 {
			t.Fatal("empty variable")
		}
	}
	if _, _, err := train.LoadModel(filepath.Join(dir, "last.bin"), layers.Fused); err == nil || strings.Contains(err.Error(), "\n") {
		t.Errorf("LoadModel of a custom network's checkpoint: %v", err)
	}
	mob := train.Options{Recipe: whole.Recipe, Config: model.CIFAR10(0.25), OutDir: dir, Resume: filepath.Join(dir, "last.bin"), Train: whole.Train, Test: whole.Test}
	if _, err := train.Run(context.Background(), mob); err == nil || !strings.Contains(err.Error(), "resnet") {
		t.Errorf("resuming a custom network's checkpoint as a MobileNet: %v", err)
	}
	if _, err := newResNet(4, 10, 1); err != nil {
		t.Fatal(err)
	}
	// Fine-tuning from the checkpoint: a new run starts from its weights.
	ft := customOptions(t, t.TempDir(), 5)
	ft.Recipe.InitFrom, ft.Recipe.Epochs = filepath.Join(dir, "last.bin"), 1
	var log strings.Builder
	ft.Log = &log
	if _, err := train.Run(context.Background(), ft); err != nil || !strings.Contains(log.String(), "initialised from") {
		t.Errorf("fine-tuning a custom network: %v\n%s", err, log.String())
	}
	// 2 in-process ranks: the replicas stay equal.
	comms, _ := dist.Group(2, 0)
	nets := make([]layers.Network, 2)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for r, c := range comms {
		o := customOptions(t, t.TempDir(), 1)
		o.Comm, o.Recipe.Epochs = c, 1
		wg.Go(func() {
			res, err := train.Run(context.Background(), o)
			if errs[r] = err; err == nil {
				nets[r] = res.Network
			}
		})
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("2 ranks: %v", errs)
	}
	for _, v := range nets[0].VarStore().Vars() {
		if !slices.Equal(v.Value.Data().([]float32), nets[1].VarStore().Var(v.Name).Value.Data().([]float32)) {
			t.Fatalf("2 ranks: the replicas' %s differ", v.Name)
		}
	}
	bad, err := layers.NewNetwork(nil, [3]int{3, 32, 32}, 10, nil)
	if err == nil || bad != nil {
		t.Error("a network without a Store or build function: no error")
	}
	var wrong error
	if _, wrong = layers.NewNetwork(a.Network.VarStore(), [3]int{3, 32, 32}, 7, func(b *layers.Builder, x *G.Node) (*G.Node, error) { return x, nil }); wrong == nil || !strings.Contains(wrong.Error(), "logits have shape") {
		t.Errorf("logits of the wrong shape: %v", wrong)
	}
}
