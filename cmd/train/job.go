package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/dist"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// job is this process's part in the run: the one process, or a rank of an
// MPI launch (rank 0 prints and writes).
type job struct {
	comm           dist.Comm
	ranks, threads int
	primary        bool
	bars           io.Writer // progress bars (nil: none)
}

func openJob(f *flags, bars io.Writer) (*job, error) {
	comm, err := dist.Open(dist.Config{Timeout: *f.distWait})
	if err != nil {
		return nil, err
	}
	j := &job{comm: comm, ranks: comm.Size(), threads: *f.threads, primary: comm.Rank() == 0, bars: bars}
	if j.ranks > 1 {
		if !f.set["threads"] { // the cores shared by this host's ranks
			j.threads = max(1, runtime.NumCPU()/dist.LocalSize())
		}
		if !j.primary {
			j.bars = nil
		}
	}
	return j, nil
}

// abortGrace is how long a failing rank waits, after printing why, before
// it ends the job.
const abortGrace = 500 * time.Millisecond

// close ends the job; a rank's error ends every rank (the others would
// wait for it).
func (j *job) close(err *error) {
	if j.ranks > 1 && *err != nil {
		fmt.Fprintf(os.Stderr, "train: rank %d of %d: %v\n", j.comm.Rank(), j.ranks, *err)
		// The launcher forwards a rank's output asynchronously, and
		// MPICH's tears the job down on MPI_Abort without draining it:
		// give it a moment, or the reason may never reach the user.
		time.Sleep(abortGrace)
		j.comm.Abort(1)
	}
	j.comm.Close()
}

// say prints on rank 0.
func (j *job) say(format string, a ...any) {
	if j.primary {
		fmt.Printf(format, a...)
	}
}

// setup is the run as the flags, the data and a checkpoint settle it.
type setup struct {
	cfg     model.Config
	r       train.Recipe
	do      cli.DataOptions
	folder  bool
	input   *data.Preprocess
	saved   *train.Saved // the --resume or --init checkpoint, read once
	impl    layers.DepthwiseImpl
	prec    layers.Precision
	machine map[string]string
}

// prepare settles the network (a resumed run's, a fine-tuned checkpoint's
// with the data's classes, or the flags' with the data's classes), the
// data options and the compute settings, refusing flags that contradict a
// checkpoint.
func prepare(f *flags, j *job, cfg model.Config, r train.Recipe) (*setup, error) {
	stream, err := data.ParseStreamMode(*f.streamMode)
	if err != nil {
		return nil, err
	}
	s := &setup{cfg: cfg, r: r, folder: cli.IsFolder(*f.dataDir)}
	s.do = cli.DataOptions{Dir: *f.dataDir, Download: !*f.noDownload, Limit: *f.limit, ValSplit: *f.valSplit, Seed: *f.seed, Strict: *f.strict, TrainSplit: true, Stream: stream, Log: os.Stderr, Progress: j.bars}
	if !j.primary {
		s.do.Log = io.Discard
	}
	if !s.folder && f.set["val-split"] {
		s.do.HoldOut = *f.valSplit
	}
	classes := data.NumClasses
	if s.folder {
		names, err := cli.FolderClasses(s.do)
		if err != nil {
			return nil, err
		}
		classes = len(names)
	}
	switch {
	case *f.resume != "":
		if s.saved, err = train.ReadSaved(j.comm, *f.resume); err != nil {
			return nil, err
		}
		h := s.saved.Header
		if err := resumeConflict(f.set, *f.resume, s.cfg, r, h); err != nil {
			return nil, err
		}
		s.cfg = h.Config
		s.do.Seed = h.Recipe.Seed // the validation split the run was drawn with
		if h.Data != nil && h.Data.HeldOut > 0 && !f.set["val-split"] && !s.folder {
			s.do.HoldOut = h.Data.HeldOut
		}
		if !f.set["epochs"] {
			s.r.Epochs = 0 // keep the checkpoint's: a newer default must not extend an old run
		}
		if !f.set["swa-epochs"] {
			s.r.SWAEpochs = 0
		}
	case *f.initPath != "":
		if s.saved, err = train.ReadSaved(j.comm, *f.initPath); err != nil {
			return nil, err
		}
		c, pre, err := train.FineTuneFrom(s.saved.Header, *f.initPath, classes, *f.resolution)
		if err != nil {
			return nil, err
		}
		if err := initConflict(f.set, *f.initPath, s.cfg, c); err != nil {
			return nil, err
		}
		s.cfg, s.input = c, &pre
		s.cfg.Dropout = *f.dropout
	default:
		s.cfg.Classes = classes
	}
	if limit := cutoutLimit(s.cfg); s.r.Cutout > limit {
		return nil, fmt.Errorf("--cutout %d: must be at most %d, the size of the images it cuts", s.r.Cutout, limit)
	}
	if *f.resume == "" {
		if err := train.CheckMemory(s.cfg, s.r.BatchSize, s.r.EvalBatch); err != nil {
			return nil, err
		}
	}
	return s, s.compute(f, j)
}

// compute sets the GEMM backend, threads, depthwise implementation and
// precision, and the machine facts the run records.
func (s *setup) compute(f *flags, j *job) error {
	backend, impl, err := cli.Compute(j.threads, *f.blasName, *f.depthwise)
	if err != nil {
		return err
	}
	var precNote string
	if s.prec, precNote, err = cli.Precision("precision", *f.precision); err != nil {
		return err
	}
	s.impl = impl
	j.say("blas: %s; threads: %d; depthwise: %s; kernels: %s; precision: %s\n", backend, j.threads, impl, layers.Kernels(), cli.PrecisionText(s.prec, precNote))
	s.machine = cli.Machine(j.threads, backend, impl, s.prec)
	if j.ranks > 1 {
		host, _ := os.Hostname()
		hosts, err := dist.Gather(j.comm, host)
		if err != nil {
			return err
		}
		s.machine["ranks"], s.machine["hosts"], s.machine["mpi"] = fmt.Sprint(j.ranks), strings.Join(hosts, ","), j.comm.Name()
		j.say("ranks: %d on hosts %s, %d threads each\n", j.ranks, strings.Join(hosts, ","), j.threads)
	}
	return nil
}

// load reads the data, and for an image folder trained from scratch the
// normalisation of its training images.
func (s *setup) load(ctx context.Context, f *flags, j *job) (*cli.Data, error) {
	d, err := cli.LoadData(ctx, s.cfg, s.do)
	if err != nil {
		return nil, err
	}
	if d.HeldOut {
		j.say("CIFAR-10: evaluating on %d images held out of the training set (--val-split %g, seed %d), training on the other %d; the test set is not used (cmd/eval measures it)\n", d.Test.Len(), s.do.HoldOut, s.do.Seed, d.Train.Len())
	}
	if d.Folder {
		j.say("image folder %s: %d classes, %d training and %d validation images\n", *f.dataDir, len(d.Classes), d.Train.Len(), d.Test.Len())
		if s.input == nil && *f.resume == "" { // normalised with the training images' statistics
			mean, std := d.Train.Stats()
			s.input = &data.Preprocess{Mean: mean, Std: std, Resize: train.EvalResize(s.cfg)}
		}
	}
	return d, nil
}
