package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/train"
)

// launchers returns the MPI launchers to test, or skips (failing where CI
// requires MPI).
func launchers(t *testing.T) []testenv.Launcher {
	ls := testenv.Launchers()
	testenv.Need(t, "mpi", len(ls) > 0, "no mpirun.openmpi or mpirun.mpich (apt-get install openmpi-bin mpich): the 2-rank runs are not tested")
	return ls
}

// TestMPITrainAndResume: under each MPI, 2 ranks train one epoch, a
// resume with 2 ranks continues to the second, rank 0 alone writes and
// prints, run.json records the ranks and hosts; a resume with another
// number of ranks, and a batch the ranks do not divide, are one-line
// errors.
func TestMPITrainAndResume(t *testing.T) {
	for _, l := range launchers(t) {
		t.Run(l.Name, func(t *testing.T) {
			data, out := fakeCIFAR(t, 64), t.TempDir()
			args := []string{"--alpha", "0.25", "--resolution", "16", "--batch-size", "16", "--eval-batch-size", "20", "--swa-epochs", "0", "--data", data, "--no-download", "--out", out, "--sync-bn"}
			run := func(np int, extra ...string) (string, string, error) {
				cmd := testenv.MPICommand(l, np, append(append([]string{}, args...), extra...)...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				err := cmd.Run()
				return stdout.String(), stderr.String(), err
			}
			stdout, stderr, err := run(2, "--epochs", "1")
			if err != nil {
				t.Fatalf("2 ranks: %v\n%s\n%s", err, stdout, stderr)
			}
			if n := strings.Count(stdout, "done: 1 epochs"); n != 1 {
				t.Errorf("%d ranks printed the summary, want rank 0 alone:\n%s", n, stdout)
			}
			if !strings.Contains(stderr, "data-parallel: 2 ranks") || strings.Count(stderr, "epoch 1/1:") != 1 {
				t.Errorf("the log should have rank 0's epoch line once and the data-parallel line:\n%s", stderr)
			}
			stdout, stderr, err = run(2, "--resume", filepath.Join(out, "last.bin"), "--epochs", "2")
			if err != nil {
				t.Fatalf("2 ranks, resumed: %v\n%s\n%s", err, stdout, stderr)
			}
			rec, err := train.ReadRunRecord(out)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Starts) != 2 || rec.Starts[1].Epoch != 1 || rec.Starts[1].Machine["ranks"] != "2" || len(strings.Split(rec.Starts[1].Machine["hosts"], ",")) != 2 || !strings.Contains(strings.ToLower(rec.Starts[1].Machine["mpi"]), strings.TrimPrefix(l.Name, "open")) {
				t.Errorf("run record: %+v", rec.Starts)
			}
			h, _, err := train.ReadCheckpoint(filepath.Join(out, "last.bin"))
			if err != nil || h.Epoch != 2 || h.Ranks != 2 || !h.Recipe.SyncBN {
				t.Errorf("checkpoint after the resume: epoch %d, ranks %d, sync-bn %v, %v", h.Epoch, h.Ranks, h.Recipe.SyncBN, err)
			}
			_, stderr, err = run(1, "--resume", filepath.Join(out, "last.bin"), "--epochs", "3")
			if err == nil || !strings.Contains(stderr, "written by a run of 2, resumed with 1") {
				t.Errorf("resuming 2 ranks' run with 1: %v\n%s", err, stderr)
			}
			_, stderr, err = run(3, "--epochs", "1", "--out", t.TempDir())
			if err == nil || !strings.Contains(stderr, "3 ranks do not divide it") {
				t.Errorf("batch 16 on 3 ranks: %v\n%s", err, stderr)
			}
			testenv.Ran(t, "mpi:"+l.Name)
		})
	}
}

// TestMPIRankKilled: one rank of a 2-rank run killed (SIGKILL) or stopped
// (SIGSTOP: hung or cut off, which MPI does not notice) mid-epoch: the job
// ends with a non-zero status well within 60 s (with --dist-timeout 5s for
// the stopped rank: the other's exchange times out and ends the job),
// rank 0's last checkpoint is whole, and --resume continues from it.
func TestMPIRankKilled(t *testing.T) {
	for _, l := range launchers(t) {
		for name, sig := range map[string]syscall.Signal{"SIGKILL": syscall.SIGKILL, "SIGSTOP": syscall.SIGSTOP} {
			t.Run(l.Name+"/"+name, func(t *testing.T) { rankKilled(t, l, sig) })
		}
	}
}

func rankKilled(t *testing.T, l testenv.Launcher, sig syscall.Signal) {
	data, out := fakeCIFAR(t, 64), t.TempDir()
	marker := fmt.Sprintf("MOBILENET_TEST_JOB=%d-%s", os.Getpid(), l.Name)
	cmd := testenv.MPICommand(l, 2, "--alpha", "0.25", "--resolution", "16", "--batch-size", "8", "--epochs", "500", "--swa-epochs", "0", "--data", data, "--no-download", "--out", out, "--dist-timeout", "5s")
	cmd.Env = append(cmd.Env, marker)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, err := os.Stat(filepath.Join(out, "last.bin")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after 2 minutes:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // into the next epoch
	pid := rankPID(t, marker, 1)
	if err := syscall.Kill(pid, sig); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGKILL)
	killed := time.Now()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		took := time.Since(killed)
		if err == nil {
			t.Errorf("the job exited 0 with rank 1 %v:\n%s", sig, stderr.String())
		}
		t.Logf("%s: rank 1 %v, the job ended in %v (%v)", l.Name, sig, took.Round(time.Millisecond), err)
		if sig == syscall.SIGSTOP && !strings.Contains(stderr.String(), "another rank is dead, hung or unreachable") {
			t.Errorf("the job did not say why it ended:\n%s", stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the job still runs 60 s after rank 1 was sent %v:\n%s", sig, stderr.String())
	}
	h, _, err := train.ReadCheckpoint(filepath.Join(out, "last.bin"))
	if err != nil {
		t.Fatalf("rank 0's last checkpoint: %v", err)
	}
	// Resume for 4 s of training: it must take steps past the checkpoint.
	res := testenv.MPICommand(l, 2, "--data", data, "--no-download", "--out", out, "--resume", filepath.Join(out, "last.bin"), "--max-time", "4s")
	timer := time.AfterFunc(2*time.Minute, func() { res.Process.Kill() })
	defer timer.Stop()
	b, err := res.CombinedOutput()
	after, _, rerr := train.ReadCheckpoint(filepath.Join(out, "last.bin"))
	if err != nil || !strings.Contains(string(b), "resuming") || rerr != nil || after.Step <= h.Step {
		t.Errorf("resume after the kill (step %d before): %v, step %d after (%v)\n%s", h.Step, err, after.Step, rerr, b)
	}
}

// rankPID finds the process of a rank of the job whose environment holds
// marker (OpenMPI's OMPI_COMM_WORLD_RANK or PMI's PMI_RANK says which).
func rankPID(t *testing.T, marker string, rank int) int {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		env := strings.Split(string(b), "\x00")
		hasMarker, isRank := false, false
		for _, e := range env {
			switch e {
			case marker:
				hasMarker = true
			case fmt.Sprintf("OMPI_COMM_WORLD_RANK=%d", rank), fmt.Sprintf("PMI_RANK=%d", rank):
				isRank = true
			}
		}
		if hasMarker && isRank {
			var pid int
			fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid)
			return pid
		}
	}
	t.Fatalf("no process of rank %d", rank)
	return 0
}
