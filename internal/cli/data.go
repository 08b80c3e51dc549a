package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/model"
)

// DataEnv names the environment variable that moves the default data folder.
const DataEnv = "MOBILENET_DATA"

// DefaultDataDir is where CIFAR-10 is downloaded to and looked for when
// --data is not given: $MOBILENET_DATA, else mobilenet/ in the user's cache
// folder (~/.cache/mobilenet on Linux, ~/Library/Caches/mobilenet on
// macOS, like Keras' ~/.keras/datasets), else ./mobilenet-data.
func DefaultDataDir() string {
	if d := os.Getenv(DataEnv); d != "" {
		return d
	}
	if c, err := os.UserCacheDir(); err == nil {
		return filepath.Join(c, "mobilenet")
	}
	return "mobilenet-data"
}

// DataOptions say which data a command loads.
type DataOptions struct {
	Dir        string
	Download   bool    // fetch CIFAR-10 when absent
	Limit      int     // CIFAR-10: the first N images of each split
	ValSplit   float64 // image folders without val/ or test/: the fraction held out
	Seed       uint64  // draws that fraction
	Strict     bool    // image folders: an unreadable image is an error
	TrainSplit bool    // load the training split too (cmd/train)
	// HoldOut > 0 (CIFAR-10 only) evaluates on that fraction of each class
	// of the training split, drawn by Seed (data.Dataset.Split), instead of
	// the test split, which is then not loaded; Train is the rest.
	HoldOut float64
	// Stream says when an image folder stays on disk, decoded batch by
	// batch (data.FolderOptions.Stream; the zero value streams what does
	// not fit in memory).
	Stream   data.StreamMode
	Log      io.Writer // notices (skipped images, streaming)
	Progress io.Writer // the download's progress bar (nil: none)
}

// Data is a command's dataset: its splits and whether it is an image folder.
type Data struct {
	Train, Test *data.Dataset // Train nil unless asked for
	Classes     []string
	Folder      bool
	HeldOut     bool // Test is held out of CIFAR-10's training split (DataOptions.HoldOut)
}

// IsFolder reports whether dir is an image folder rather than CIFAR-10.
func IsFolder(dir string) bool { return data.IsFolderDataset(dir) }

// FolderClasses scans an image folder for its class names.
func FolderClasses(o DataOptions) ([]string, error) {
	f, err := data.ScanFolder(o.Dir, o.ValSplit, o.Seed)
	if err != nil {
		return nil, err
	}
	return f.Classes, nil
}

// LoadData loads CIFAR-10 (downloading it when allowed) or an image folder
// stored for cfg: 32×32 for the CIFAR-10 configuration, the shorter side at
// resolution/0.875 for ImageNet's.
func LoadData(ctx context.Context, cfg model.Config, o DataOptions) (*Data, error) {
	if IsFolder(o.Dir) {
		if o.HoldOut != 0 {
			return nil, fmt.Errorf("image folder %s: a held-out part of the training split is for CIFAR-10; an image folder takes its validation images from val/, test/ or --val-split", o.Dir)
		}
		if o.Limit != 0 {
			return nil, fmt.Errorf("--limit applies to CIFAR-10's binary files, not to image folders")
		}
		f, err := data.ScanFolder(o.Dir, o.ValSplit, o.Seed)
		if err != nil {
			return nil, err
		}
		if len(f.Val) == 0 {
			return nil, fmt.Errorf("image folder %s: no validation images (add val/ or test/, or raise --val-split)", o.Dir)
		}
		fo := data.FolderOptions{Exact: cfg.Name == "cifar10", ShorterSide: data.StoredSide(cfg.Resolution), Strict: o.Strict, Stream: o.Stream}
		d := &Data{Classes: f.Classes, Folder: true}
		load := func(items []data.Item, what string) (*data.Dataset, error) {
			fo := fo
			// Training images streamed are decoded at a reduced DCT scale;
			// evaluation's in full, as cmd/predict decodes.
			fo.ReducedDCT = what == "train"
			ds, rep, err := data.LoadFolder(items, f.Classes, fo)
			if err != nil {
				return nil, fmt.Errorf("%s split: %w", what, err)
			}
			if o.Log != nil {
				rep.WriteSkipped(o.Log, what)
				if ds.Streamed() {
					rate, ms, err := ds.DecodeRate(20)
					if err != nil {
						return nil, fmt.Errorf("%s split: %w", what, err)
					}
					fmt.Fprintf(o.Log, "image folder: the %s split (%d images) is streamed from disk (--stream %s), each batch decoded by the loader's workers: %.1f ms of CPU an image (%.0f images/s a core, %s)\n",
						what, ds.Len(), o.Stream, ms, rate, data.JPEGDecoder())
				}
			}
			return ds, nil
		}
		if o.TrainSplit {
			if d.Train, err = load(f.Train, "train"); err != nil {
				return nil, err
			}
		}
		if d.Test, err = load(f.Val, f.ValFrom); err != nil {
			return nil, err
		}
		return d, nil
	}
	if o.Limit < 0 {
		return nil, fmt.Errorf("--limit %d: must not be negative", o.Limit)
	}
	err := data.Ensure(ctx, o.Dir, o.Download, data.Official(o.Progress))
	if errors.Is(err, data.ErrMissing) && !o.Download {
		return nil, fmt.Errorf("%w (run without --no-download to fetch it, or give --data a folder holding %s or an image folder)", err, data.DirName)
	}
	if err != nil {
		return nil, err
	}
	d := &Data{Classes: data.DefaultClassNames}
	if o.HoldOut != 0 {
		all, err := data.Load(o.Dir, data.Train, o.Limit)
		if err != nil {
			return nil, err
		}
		rest, held, err := all.Split(o.HoldOut, o.Seed)
		if err != nil {
			return nil, fmt.Errorf("--val-split %g: %w", o.HoldOut, err)
		}
		if o.TrainSplit {
			d.Train = rest
		}
		d.Test, d.Classes, d.HeldOut = held, held.Classes, true
		return d, nil
	}
	if o.TrainSplit {
		if d.Train, err = data.Load(o.Dir, data.Train, o.Limit); err != nil {
			return nil, err
		}
		d.Classes = d.Train.Classes
	}
	if d.Test, err = data.Load(o.Dir, data.Test, o.Limit); err != nil {
		return nil, err
	}
	d.Classes = d.Test.Classes
	return d, nil
}
