package dist

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestLocal: a job of one process; the collectives leave the data as they
// are, and a broadcast from another rank is an error.
func TestLocal(t *testing.T) {
	if os.Getenv("DIST_CHILD") != "" {
		t.Skip("an MPI child")
	}
	var c Comm = Local{}
	x := []float32{1, 2, 3}
	if err := c.AllreduceSum(x); err != nil || x[0] != 1 || x[2] != 3 {
		t.Errorf("AllreduceSum: %v, %v", x, err)
	}
	if err := c.Broadcast(x, 0); err != nil {
		t.Error(err)
	}
	if err := c.Broadcast(x, 1); err == nil {
		t.Error("broadcast from rank 1 of 1: no error")
	}
	if c.Rank() != 0 || c.Size() != 1 || c.Barrier() != nil || c.Close() != nil {
		t.Error("Local: rank, size, barrier or close")
	}
	if _, ok := Launched(); !ok {
		if c, err := Open(Config{}); err != nil || c.Name() != "local" {
			t.Errorf("Open outside a launcher: %v, %v", c, err)
		}
	}
}

// TestMPIChild is what each rank of TestMPI runs (under mpirun).
func TestMPIChild(t *testing.T) {
	if os.Getenv("DIST_CHILD") == "" {
		t.Skip("run by TestMPI under mpirun")
	}
	c, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r, n := c.Rank(), c.Size()
	if n != 2 {
		t.Fatalf("size %d, want 2", n)
	}
	// All-reduce: rank r holds (r+1)·(i+1); the sum is 3·(i+1) for two
	// ranks, exact in float32. Lengths: one, odd, and 1 M floats.
	for _, length := range []int{1, 1001, 1 << 20} {
		x := make([]float32, length)
		for i := range x {
			x[i] = float32((r + 1) * (i%1000 + 1))
		}
		if err := c.AllreduceSum(x); err != nil {
			t.Fatal(err)
		}
		for i, v := range x {
			if v != float32(3*(i%1000+1)) {
				t.Fatalf("rank %d: allreduce of %d floats: x[%d] = %v, want %v", r, length, i, v, 3*(i%1000+1))
			}
		}
	}
	// Doubles: 0.1·(r+1) sums to 0.3 as in float64 arithmetic (a float32
	// sum would be off in the 8th digit).
	d := []float64{0.1 * float64(r+1), 1e-12 * float64(r+1)}
	if err := c.AllreduceSum64(d); err != nil {
		t.Fatal(err)
	}
	a, b := 0.1, 1e-12 // variables: Go's constant arithmetic is exact
	if d[0] != a+2*a || d[1] != b+2*b {
		t.Fatalf("rank %d: allreduce of doubles gave %v", r, d)
	}
	// Bytes and strings from each rank.
	names, err := Gather(c, strings.Repeat("r", r+1)+"\x00\xff")
	if err != nil {
		t.Fatal(err)
	}
	if names[0] != "r\x00\xff" || names[1] != "rr\x00\xff" {
		t.Fatalf("rank %d: gather gave %q", r, names)
	}
	// Broadcast from rank 1: every rank ends with rank 1's values.
	x := []float32{float32(r), float32(10 + r), float32(20 + r)}
	if err := c.Broadcast(x, 1); err != nil {
		t.Fatal(err)
	}
	if x[0] != 1 || x[1] != 11 || x[2] != 21 {
		t.Fatalf("rank %d: broadcast from 1 gave %v", r, x)
	}
	if err := c.Broadcast(x, 2); err == nil {
		t.Fatal("broadcast from rank 2 of 2: no error")
	}
	if err := c.Barrier(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("rank %d of %d ok (%s)\n", r, n, c.Name())
}

// TestMPI runs TestMPIChild as two ranks on loopback under each MPI
// installed: OpenMPI's mpirun and MPICH's (Hydra), whose C ABIs differ
// (handles are addresses in one, integers in the other).
func TestMPI(t *testing.T) {
	if os.Getenv("DIST_CHILD") != "" {
		t.Skip("an MPI child")
	}
	want := map[string]string{"openmpi": "Open MPI", "mpich": "MPICH"} // in the library's version line
	ls := testenv.Launchers()
	for _, l := range ls {
		cmd := childCommand(l, "^TestMPIChild$", "-test.v")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s: %v\n%s", l.Name, err, out)
			continue
		}
		for r := 0; r < 2; r++ {
			if !strings.Contains(string(out), fmt.Sprintf("rank %d of 2 ok", r)) || !strings.Contains(string(out), want[l.Name]) {
				t.Errorf("%s: rank %d did not pass on %s:\n%s", l.Name, r, want[l.Name], out)
			}
		}
		testenv.Ran(t, "mpi:"+l.Name)
	}
	testenv.Need(t, "mpi", len(ls) > 0, "no mpirun.openmpi or mpirun.mpich (apt-get install openmpi-bin): the 2-rank tests do not run")
}

// childCommand runs the tests matching run in this test binary as 2 ranks
// under launcher l.
func childCommand(l testenv.Launcher, run string, extra ...string) *exec.Cmd {
	args := append(append(append(append([]string{}, l.Args...), "-np", "2"), os.Args[0], "-test.run="+run, "-test.count=1"), extra...)
	cmd := exec.Command(l.Bin, args...)
	cmd.Env = append(append(os.Environ(), "DIST_CHILD=1"), testenv.MPIEnv...)
	return cmd
}

// TestMPIRankDiesChild: rank 1 dies (SIGKILL) after a first all-reduce;
// rank 0 goes on all-reducing, as a training loop would.
func TestMPIRankDiesChild(t *testing.T) {
	if os.Getenv("DIST_CHILD") == "" {
		t.Skip("run by TestMPIRankDies under mpirun")
	}
	c, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 1<<16)
	for step := 0; ; step++ {
		if c.Rank() == 1 && step == 1 {
			p, _ := os.FindProcess(os.Getpid())
			p.Signal(syscall.SIGKILL)
		}
		if err := c.AllreduceSum(x); err != nil {
			t.Fatalf("rank %d: %v", c.Rank(), err) // an error is a way out too
		}
	}
}

// TestMPIRankDies: when a rank is killed the job ends, the survivors
// included, well within 60 s, with a non-zero status: nothing hangs.
func TestMPIRankDies(t *testing.T) {
	if os.Getenv("DIST_CHILD") != "" {
		t.Skip("an MPI child")
	}
	for _, l := range testenv.Launchers() {
		cmd := childCommand(l, "^TestMPIRankDiesChild$")
		timer := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		timer.Stop()
		switch {
		case err == nil:
			t.Errorf("%s: the job exited 0 with a rank killed:\n%s", l.Name, out)
		case took > 60*time.Second:
			t.Errorf("%s: the job took %v to end after a rank was killed", l.Name, took)
		default:
			t.Logf("%s: a rank killed, the job ended in %v (%v)", l.Name, took.Round(time.Millisecond), err)
		}
	}
}
