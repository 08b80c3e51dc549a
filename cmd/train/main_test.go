package main

import (
	"bufio"
	"encoding/json"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/atomicfile"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/train"
)

func TestBadInvocations(t *testing.T) {
	empty := t.TempDir()
	small := fakeCIFAR(t, 10) // 50 training images
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--alpha", "0"}, "alpha 0"},
		{[]string{"--alpha", "2"}, "alpha 2"},
		{[]string{"--epochs", "-1", "--no-download", "--data", empty}, "epochs -1"},
		{[]string{"--batch-size", "0"}, "batch size 0"},
		{[]string{"--cutout", "40"}, "--cutout 40: must be at most 32"},
		{[]string{"--alternate-flips", "--no-augment"}, "alternating flips without augmentation: there are no flips to alternate"},
		{[]string{"--no-download", "--data", empty}, "CIFAR-10 not found"},
		{[]string{"--depthwise", "magic"}, "magic"},
		{[]string{"--schedule", "exponential"}, `learning rate schedule "exponential": want cosine, linear or step`},
		{[]string{"--min-lr", "0.5"}, "minimum learning rate 0.5: must be in [0, the peak rate 0.2)"},
		{[]string{"--min-lr", "0.01", "--schedule", "step"}, "the step schedule has its own end rate"},
		{[]string{"--decay-params", "bn"}, `weight decay parameters "bn": want conv, weights or all`},
		{[]string{"--blas", "mkl", "--no-download", "--data", empty}, "mkl"},
		{[]string{"--config", "mnist"}, "mnist"},
		{[]string{"--resolution", "8"}, "resolution 8"},
		{[]string{"--resolution", "100000"}, "resolution 100000: too large"},
		{[]string{"--resolution", "2048", "--no-download", "--data", empty}, "does not fit in memory"},
		{[]string{"--threads", "100000"}, "--threads 100000: must be in [1, 1024]"},
		{[]string{"--lr", "100", "--epochs", "1", "--batch-size", "16", "--alpha", "0.25", "--resolution", "16", "--no-download", "--data", small, "--out", t.TempDir()}, "training diverged"},
		{[]string{"--max-time", "-1m"}, "--max-time -1m0s: must not be negative"},
		{[]string{"--max-time", "soon"}, "soon"},
		{[]string{"--time-budget", "1h", "--epochs", "5"}, "--time-budget plans the epochs: give --time-budget or --epochs, not both"},
		{[]string{"--time-budget", "-1h"}, "time budget -1h0m0s: must not be negative"},
		{[]string{"--val-split", "1.5", "--no-download", "--data", small, "--out", t.TempDir()}, "--val-split 1.5: dataset: validation fraction 1.5: must be in (0, 1)"},
		{[]string{"--progress", "yes"}, `--progress "yes": want auto, on or off`},
		{[]string{"--low-res-mode", "squash", "--low-res", "24"}, `low-resolution mode "squash": want crop or resize`},
		{[]string{"--low-res-fraction", "0.3"}, "low-resolution fraction or mode without a low resolution (--low-res)"},
		{[]string{"--low-res", "32", "--batch-size", "16", "--alpha", "0.25", "--no-download", "--data", small, "--out", t.TempDir()}, "low resolution 32: must be below the network's 32"},
		{[]string{"--bogus"}, "bogus"},
		{[]string{"stray"}, "stray"},
		{[]string{"--no-download", "--data", small, "--out", t.TempDir()}, "train: too few training images: 50 images make no batch of 128 (raise --limit or lower --batch-size)"},
	} {
		cmd := testenv.Command(c.args...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("%v: exit 0", c.args)
			continue
		}
		text := string(out)
		if strings.Contains(text, "panic") || strings.Contains(text, "goroutine ") {
			t.Errorf("%v: panicked:\n%s", c.args, text)
		}
		if !strings.Contains(text, c.want) {
			t.Errorf("%v: output %q lacks %q", c.args, text, c.want)
		}
		if strings.Contains(text, "train: train:") {
			t.Errorf("%v: the message names the command twice: %q", c.args, text)
		}
	}
}

func TestSummary(t *testing.T) {
	out, err := testenv.Command("--summary", "--config", "imagenet", "--alpha", "1").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"block13/pw", "4,231,976", "568,740,352", "568.74 M"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
}

// fakeCIFAR writes a small CIFAR-10 folder (testenv.FakeCIFAR).
func fakeCIFAR(t *testing.T, n int) string { return testenv.FakeCIFAR(t, n) }

// progressBar matches a drawn training bar: "epoch 3/50  55% |███   | (22/40)".
var progressBar = regexp.MustCompile(`\repoch \d+/50[^\r\n]*\d+% \|[^\r\n]*\| \(\d+/\d+\)`)

// TestInterruptWritesCheckpoint sends SIGINT during training: the command
// finishes the step, writes last.bin, exits 0, and --resume continues.
func TestInterruptWritesCheckpoint(t *testing.T) {
	data := fakeCIFAR(t, 64)
	out := t.TempDir()
	args := []string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "50", "--swa-epochs", "0", "--data", data, "--no-download", "--out", out}
	cmd := testenv.Command(args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once the first epoch has been checkpointed.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(out, "last.bin")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint after 2 minutes:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGINT: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stdout.String(), "resume with --resume") {
		t.Errorf("stdout lacks the resume hint:\n%s", stdout.String())
	}
	// Standard error is a pipe, not a terminal: per-epoch lines, no bars.
	if log := stderr.String(); !strings.Contains(log, "epoch 1/50: train loss") || strings.Contains(log, "\r") || strings.Contains(log, "/50 loss ") {
		t.Errorf("a log that is not a terminal should get the epoch lines and no progress bars:\n%q", log)
	}
	// Resume with no model or recipe flags: they come from the checkpoint;
	// --progress on draws the bars anyway.
	res := testenv.Command("--data", data, "--no-download", "--out", out, "--resume", filepath.Join(out, "last.bin"), "--progress", "on")
	var rout strings.Builder
	res.Stdout = &rout
	// The interrupt handler is installed before the recipe line is logged:
	// signal once it is, not after a guessed delay.
	started := startTraining(t, res)
	if err := res.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(started.stderr)
	var rerr strings.Builder
	rerr.WriteString(started.log + string(rest))
	if err := res.Wait(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, rerr.String())
	}
	if !strings.Contains(rerr.String(), "alpha 0.25 resolution 16") || !strings.Contains(rerr.String(), "50 epochs, batch 8") {
		t.Errorf("the resumed run's banner does not describe the checkpoint's run:\n%s", rerr.String())
	}
	if !strings.Contains(rerr.String(), "resuming") {
		t.Errorf("resumed run did not say it resumed:\n%s", rerr.String())
	}
	// The bar's description gains the loss only when a redraw falls due
	// (throttled to 4 a second), which a fast machine's 0.2 s epochs never
	// reach; the bar itself is drawn at each epoch's start.
	if !progressBar.MatchString(rerr.String()) {
		t.Errorf("--progress on drew no progress bar:\n%q", rerr.String())
	}
	if !strings.Contains(rerr.String(), "recipe: 50 epochs, batch 8, lr 0.2 (1 warm-up epoch, cosine decay)") {
		t.Errorf("the resumed run does not log the checkpoint's recipe:\n%s", rerr.String())
	}
	// run.json: both starts, with their command lines and machine.
	rec, err := train.ReadRunRecord(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Starts) != 2 || rec.Recipe.Epochs != 50 || rec.Config.Resolution != 16 {
		t.Fatalf("run record: %+v", rec)
	}
	first, second := rec.Starts[0], rec.Starts[1]
	if !slices.Contains(first.Command, "--epochs") || !slices.Contains(second.Command, "--resume") || second.Epoch < 1 ||
		second.Machine["cpu"] == "" || second.Machine["threads"] == "" || second.Machine["blas"] == "" || second.Machine["kernels"] == "" {
		t.Errorf("run record's starts: %+v", rec.Starts)
	}
}

// TestMaxTime: --max-time stops a long run as an interruption does, with a
// resumable last.bin, and says why it stopped.
func TestMaxTime(t *testing.T) {
	data, out := fakeCIFAR(t, 64), t.TempDir()
	start := time.Now()
	cmd := testenv.Command("--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "1000", "--data", data, "--no-download", "--out", out, "--max-time", "4s")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr.String())
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("--max-time 4s took %v", took)
	}
	if !strings.Contains(stdout.String(), "stopped at --max-time 4s after ") || !strings.Contains(stdout.String(), "resume with --resume") {
		t.Errorf("stdout does not say why the run stopped:\n%s", stdout.String())
	}
	_, hdr, err := train.LoadModel(filepath.Join(out, "last.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Step == 0 || hdr.Epoch >= 1000 {
		t.Errorf("last.bin after --max-time: epoch %d, step %d", hdr.Epoch, hdr.Step)
	}

	// Resuming it: flags that contradict the checkpoint's network or recipe
	// are refused in one line; flags that repeat it are fine.
	last := filepath.Join(out, "last.bin")
	resume := []string{"--data", data, "--no-download", "--out", out, "--resume", last, "--max-time", "1s"}
	for _, c := range []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"--alpha", "0.5"}, "--alpha 0.5: the run in " + last + " was started with 0.25, and a resumed run keeps its network and recipe"},
		{[]string{"--resolution", "32"}, "--resolution 32: the run in " + last + " was started with 16"},
		{[]string{"--output-stride", "8"}, "--output-stride 8: the run in " + last + " was started with 16"},
		{[]string{"--lr", "0.1"}, "--lr 0.1: the run in " + last + " was started with 0.2"},
		{[]string{"--cutout", "8"}, "--cutout 8: the run in " + last + " was started with 16"},
		{[]string{"--seed", "2"}, "--seed 2: the run in " + last + " was started with 1"},
		{[]string{"--tta", "flip"}, "--tta flip: the run in " + last + " was started with "},
		{[]string{"--epochs", "10"}, "--epochs 10: the run in " + last + " has 1000, and --resume may extend a run but not shorten it"},
		{[]string{"--alpha", "0.25", "--resolution", "16", "--output-stride", "16", "--lr", "0.2", "--tta", "none", "--schedule", "cosine", "--epochs", "1001", "--threads", "1"}, ""},
	} {
		cmd := testenv.Command(append(slices.Clone(resume), c.args...)...)
		out, err := cmd.CombinedOutput()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("resume %v: %v\n%s", c.args, err, out)
		case c.want != "" && err == nil:
			t.Errorf("resume %v: exit 0, want an error", c.args)
		case c.want != "" && (!strings.Contains(string(out), c.want) || strings.Count(strings.TrimSpace(string(out)), "\n") > 0):
			t.Errorf("resume %v: output %q, want one line with %q", c.args, out, c.want)
		}
	}
}

// TestKillDuringCheckpoint kills the command with SIGKILL many times, each
// new start resuming from last.bin: every other kill lands in the middle of
// a checkpoint write (atomicfile.PauseEnv holds each write halfway for
// 300 ms; the kill comes when its temporary file appears), the others at
// random moments. After every kill last.bin and best.bin load, and the
// temporary files of writes cut short are removed by the next run.
func TestKillDuringCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	data := fakeCIFAR(t, 32)
	out := t.TempDir()
	last, best := filepath.Join(out, "last.bin"), filepath.Join(out, "best.bin")
	r := rand.New(rand.NewPCG(1, 2))
	temps := func() []string {
		m, _ := filepath.Glob(filepath.Join(out, ".*.tmp-*"))
		return m
	}
	midWrite, aimed := 0, 0
	const kills = 16
	for i := 0; i < kills; i++ {
		args := []string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "16", "--eval-batch-size", "32", "--epochs", "100000",
			"--limit", "32", "--data", data, "--no-download", "--out", out}
		if _, err := os.Stat(last); err == nil {
			args = append(args, "--resume", last)
		}
		cmd := testenv.Command(args...)
		cmd.Env = append(cmd.Env, atomicfile.PauseEnv+"=300ms")
		started := startTraining(t, cmd) // timed from training's start, however slow the machine
		if len(temps()) > 0 {
			t.Fatalf("run %d started training with the temporary files of killed writes still there: %v", i, temps())
		}
		deadline := time.Now().Add(2 * time.Minute)
		if i%2 == 0 { // aimed: kill once a write has begun
			aimed++
			for len(temps()) == 0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
		} else {
			for i == 1 && time.Now().Before(deadline) {
				if _, err := os.Stat(last); err == nil {
					break // the first run with a random kill lives until it has written a checkpoint
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(time.Duration(r.IntN(700)) * time.Millisecond)
		}
		cmd.Process.Kill()
		rest, _ := io.ReadAll(started.stderr)
		cmd.Wait()
		if strings.Contains(started.log+string(rest), "panic") {
			t.Fatalf("run %d panicked:\n%s%s", i, started.log, rest)
		}
		if len(temps()) > 0 {
			midWrite++
		} else if i%2 == 0 {
			t.Errorf("kill %d was aimed at a checkpoint write but found none under way", i)
		}
		for _, p := range []string{last, best} {
			if _, err := os.Stat(p); err != nil {
				continue // not written yet
			}
			if _, _, err := train.LoadModel(p, 0); err != nil {
				t.Fatalf("after kill %d: %v", i, err)
			}
		}
	}
	if _, err := os.Stat(last); err != nil {
		t.Fatalf("no last.bin after %d runs", kills)
	}
	t.Logf("%d of %d kills landed during a checkpoint write (%d aimed at one)", midWrite, kills, aimed)
	// A last run, stopped cleanly once it has started training (however
	// slow the machine), leaves no temporary file behind: neither its own
	// nor the killed runs'.
	cmd := testenv.Command("--data", data, "--no-download", "--out", out, "--resume", last, "--limit", "32")
	started := startTraining(t, cmd)
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(os.Interrupt)
	rest, _ := io.ReadAll(started.stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final run: %v\n%s%s", err, started.log, rest)
	}
	if temps, _ := filepath.Glob(filepath.Join(out, ".*.tmp-*")); len(temps) > 0 {
		t.Errorf("temporary files left after a clean run: %v", temps)
	}
	if _, _, err := train.LoadModel(last, 0); err != nil {
		t.Fatal(err)
	}
}

// started is a cmd/train process that has logged its recipe: it is past
// its start-up (and the removal of stale temporary files) and training.
type started struct {
	stderr io.Reader // the rest of its standard error
	log    string    // what it logged up to its recipe
}

// startTraining starts cmd and waits until it logs its recipe.
func startTraining(t *testing.T, cmd *exec.Cmd) started {
	t.Helper()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "recipe: ") {
			return started{stderr: stderr, log: log.String()}
		}
	}
	cmd.Wait()
	t.Fatalf("%v: no recipe logged:\n%s", cmd.Args, log.String())
	return started{}
}

// TestHoldOut: --val-split on CIFAR-10 trains on the rest of the training
// set and evaluates on the held-out part; a resume draws the same part from
// the checkpoint's seed, and cmd/eval --val-split reproduces the accuracy
// training reported on it.
func TestHoldOut(t *testing.T) {
	evalBin := filepath.Join(t.TempDir(), "eval")
	if out, err := exec.Command("go", "build", "-o", evalBin, "../eval").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, out := fakeCIFAR(t, 50), t.TempDir() // 250 training images, 25 a class
	common := []string{"--data", data, "--no-download", "--out", out}
	cmd := testenv.Command(append([]string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "1", "--val-split", "0.2", "--seed", "3"}, common...)...)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("train: %v\n%s", err, stdout)
	}
	if !strings.Contains(string(stdout), "evaluating on 50 images held out of the training set (--val-split 0.2, seed 3), training on the other 200") {
		t.Errorf("stdout does not describe the held-out split:\n%s", stdout)
	}
	// Resuming without --seed or --val-split takes the checkpoint's, hence
	// the same split; another fraction is other data.
	if b, err := testenv.Command(append([]string{"--resume", filepath.Join(out, "last.bin"), "--epochs", "2"}, common...)...).CombinedOutput(); err != nil || !strings.Contains(string(b), "evaluating on 50 images held out") {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	b, err := testenv.Command(append([]string{"--resume", filepath.Join(out, "last.bin"), "--epochs", "3", "--val-split", "0.3"}, common...)...).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "the data differs from the checkpoint's") {
		t.Errorf("resume with another --val-split: %v\n%s", err, b)
	}
	_, hdr, err := train.LoadModel(filepath.Join(out, "last.bin"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Epoch != 2 {
		t.Fatalf("last.bin at epoch %d, want 2", hdr.Epoch)
	}
	ev, err := exec.Command(evalBin, "--data", data, "--no-download", "--val-split", "0.2", "--json", filepath.Join(out, "last.bin")).Output()
	if err != nil {
		t.Fatalf("eval: %v\n%s", err, ev)
	}
	var res struct {
		Data     string  `json:"data"`
		Images   int     `json:"images"`
		Accuracy float64 `json:"accuracy"`
	}
	if err := json.Unmarshal(ev, &res); err != nil {
		t.Fatalf("eval --json: %v\n%s", err, ev)
	}
	if res.Data != "held-out" || res.Images != 50 || res.Accuracy != hdr.TestAcc {
		t.Errorf("cmd/eval --val-split 0.2: %+v; training reported %v on the 50 held-out images", res, hdr.TestAcc)
	}
}

// TestBLASFromEnvironment: without --blas the command runs the backend
// MOBILENET_BLAS names (how CI's two passes pin every subprocess), and
// --blas overrides it; run.json records the backend that ran.
func TestBLASFromEnvironment(t *testing.T) {
	data := fakeCIFAR(t, 8)
	cases := []struct{ env, flag, want string }{{"go", "", "go "}, {"openblas", "", "openblas "}, {"openblas", "go", "go "}, {"go", "openblas", "openblas "}}
	for _, c := range cases {
		if (c.env == "openblas" && c.flag == "") || c.flag == "openblas" {
			if _, err := blas.Use(blas.OpenBLAS); err != nil {
				t.Logf("OpenBLAS not available (%v): case %+v not run", err, c)
				continue
			}
		}
		out := t.TempDir()
		args := []string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "1", "--swa-epochs", "0", "--data", data, "--no-download", "--out", out}
		if c.flag != "" {
			args = append(args, "--blas", c.flag)
		}
		cmd := testenv.Command(args...)
		cmd.Env = append(cmd.Env, "MOBILENET_BLAS="+c.env)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%+v: %v\n%s", c, err, b)
		}
		rec, err := train.ReadRunRecord(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Starts[0].Machine["blas"]; !strings.HasPrefix(got, c.want) || strings.Contains(got, "auto") {
			t.Errorf("MOBILENET_BLAS=%s --blas %q: the run used %q, want %q…", c.env, c.flag, got, c.want)
		}
	}
}

// TestPrecisionFlag: --precision bf16 trains where the CPU has bf16
// products and run.json says so; elsewhere it is a one-line error naming
// the tier; a bad value is refused.
func TestPrecisionFlag(t *testing.T) {
	data := fakeCIFAR(t, 8)
	out := t.TempDir()
	args := []string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "1", "--swa-epochs", "0", "--data", data, "--no-download", "--out", out}
	b, err := testenv.Command(append(args, "--precision", "bf16")...).CombinedOutput()
	if !blas.HaveBF16() {
		if err == nil || !strings.Contains(string(b), "--precision bf16: this CPU runs the") || strings.Count(strings.TrimSpace(string(b)), "\n") > 0 {
			t.Fatalf("bf16 without bf16 products: %v, %q: want a one-line error", err, b)
		}
	} else {
		if err != nil {
			t.Fatalf("--precision bf16: %v\n%s", err, b)
		}
		rec, err := train.ReadRunRecord(out)
		if err != nil {
			t.Fatal(err)
		}
		if got := rec.Starts[0].Machine["precision"]; got != "bf16" {
			t.Errorf("run.json records precision %q, want bf16", got)
		}
	}
	if b, err := testenv.Command(append(args, "--precision", "fp16")...).CombinedOutput(); err == nil || !strings.Contains(string(b), `precision "fp16": want fp32 or bf16`) {
		t.Errorf("--precision fp16: %v, %q", err, b)
	}
}
