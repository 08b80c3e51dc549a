package main

import (
	"fmt"

	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// setting is one flag that names part of the network or of the recipe, with
// its value as the flags give it and as a checkpoint records it, both in the
// flag's own terms (so that "" and "cosine" are one schedule).
type setting struct {
	flag       string
	given, had any
}

// networkSettings are the flags that choose the network: a resumed or
// fine-tuned run takes its network from the checkpoint instead.
func networkSettings(flags, ckpt model.Config) []setting {
	return []setting{
		{"config", flags.Name, ckpt.Name},
		{"alpha", flags.Alpha, ckpt.Alpha},
		{"output-stride", flags.MinResolution(), ckpt.MinResolution()}, // the effective stride: 0 and 16 are one CIFAR-10 network
	}
}

// recipeSettings are the flags that set the recipe, as the Recipe fields'
// flag tags say (train.Recipe.Flags: canonical values, in the flags'
// terms): all but --epochs and --swa-epochs, which may extend a resumed
// run. --swa-lr counts when the checkpoint's run has an SWA tail
// (resumeConflict).
func recipeSettings(flags, ckpt train.Recipe) []setting {
	given, had := flags.Flags(), ckpt.Flags()
	var out []setting
	for i, g := range given {
		if g.Flag != "epochs" && g.Flag != "swa-epochs" {
			out = append(out, setting{g.Flag, g.Value, had[i].Value})
		}
	}
	return out
}

// resumeConflict reports the first flag given with --resume that
// contradicts the checkpoint: a resumed run keeps the network and recipe it
// started with (that is what makes it exact), so a flag asking for another
// one must not pass in silence. --resolution and --dropout count as network
// flags here; --epochs may extend the run but not shorten it.
func resumeConflict(set map[string]bool, path string, cfg model.Config, r train.Recipe, h train.Header) error {
	network := append(networkSettings(cfg, h.Config),
		setting{"resolution", cfg.Resolution, h.Config.Resolution},
		setting{"dropout", cfg.Dropout, h.Config.Dropout})
	settings := network
	for _, s := range recipeSettings(r, h.Recipe) {
		if s.flag == "swa-lr" && h.Recipe.SWAEpochs == 0 {
			continue // a tail added now takes the flag's rate
		}
		settings = append(settings, s)
	}
	if s, ok := firstConflict(set, settings); ok {
		return fmt.Errorf("--%s %v: the run in %s was started with %v, and a resumed run keeps its network and recipe (drop the flag, or start a new run with --init %s)", s.flag, s.given, path, s.had, path)
	}
	if set["epochs"] && r.Epochs < h.Recipe.Epochs {
		return fmt.Errorf("--epochs %d: the run in %s has %d, and --resume may extend a run but not shorten it (--max-time stops it early)", r.Epochs, path, h.Recipe.Epochs)
	}
	if set["swa-epochs"] && r.SWAEpochs < h.Recipe.SWAEpochs {
		return fmt.Errorf("--swa-epochs %d: the run in %s has %d, and --resume may extend a run but not shorten it (--max-time stops it early)", r.SWAEpochs, path, h.Recipe.SWAEpochs)
	}
	return nil
}

// initConflict reports the first flag given with --init that asks for
// another network than the checkpoint's: fine-tuning keeps its network
// (--resolution and --dropout apply; the classifier follows the data).
func initConflict(set map[string]bool, path string, cfg, ckpt model.Config) error {
	if s, ok := firstConflict(set, networkSettings(cfg, ckpt)); ok {
		return fmt.Errorf("--%s %v: the checkpoint %s holds a network with %v, and --init fine-tunes that network (drop the flag)", s.flag, s.given, path, s.had)
	}
	return nil
}

// firstConflict returns the first of settings whose flag was given (set)
// with another value than the checkpoint's.
func firstConflict(set map[string]bool, settings []setting) (setting, bool) {
	for _, s := range settings {
		if set[s.flag] && fmt.Sprint(s.given) != fmt.Sprint(s.had) {
			return s, true
		}
	}
	return setting{}, false
}
