// Package dist is the communicator of data-parallel training: the ranks of
// one job, an in-place float32 all-reduce (sum), a broadcast, a barrier and
// an abort. Local is the one-process communicator; Open joins the job an
// MPI launcher (mpirun, srun, Kubeflow's MPIJob) started this process in,
// through the MPI library loaded at run time (OpenMPI's libmpi.so.40 or
// MPICH's libmpich.so.12, no cgo), and is Local when no launcher started it.
package dist

import (
	"fmt"
	"os"
	"time"
)

// Comm is a communicator over the ranks of a job. Its methods are
// collective (every rank calls them in the same order) except Rank, Size,
// Name and Abort, and are safe for use by one goroutine at a time.
type Comm interface {
	Rank() int // this process's rank, in [0, Size)
	Size() int // the number of ranks
	// AllreduceSum replaces x on every rank by the element-wise sum of
	// every rank's x (all of the same length).
	AllreduceSum(x []float32) error
	// AllreduceSum64 is AllreduceSum on float64 values (statistics whose
	// sums must not lose float32's digits).
	AllreduceSum64(x []float64) error
	// Broadcast replaces x on every rank by root's x.
	Broadcast(x []float32, root int) error
	// Barrier returns once every rank has called it.
	Barrier() error
	// Abort ends every rank of the job with code (what a rank does on an
	// error the others cannot see, so that none waits for it forever).
	Abort(code int)
	// Close leaves the job (MPI_Finalize); the Comm is unusable after.
	Close() error
	// Name says what the communicator runs on ("local", "openmpi 4.1",
	// "mpich 4.0"…).
	Name() string
}

// Local is the communicator of a job of one process: the collectives
// change nothing.
type Local struct{}

func (Local) Rank() int                      { return 0 }
func (Local) Size() int                      { return 1 }
func (Local) AllreduceSum([]float32) error   { return nil }
func (Local) AllreduceSum64([]float64) error { return nil }
func (Local) Broadcast(_ []float32, root int) error {
	if root != 0 {
		return fmt.Errorf("dist: broadcast from rank %d of a job of 1", root)
	}
	return nil
}
func (Local) Barrier() error { return nil }
func (Local) Abort(code int) { os.Exit(code) }
func (Local) Close() error   { return nil }
func (Local) Name() string   { return "local" }

// Launched reports whether an MPI launcher started this process, and the
// job's size when it announces one (0 when it does not): OpenMPI's
// OMPI_COMM_WORLD_SIZE, PMI's PMI_SIZE (MPICH's Hydra, Slurm's --mpi=pmi2),
// MPICH's MPI_LOCALNRANKS, or PMIx's PMIX_RANK (Slurm's --mpi=pmix, with
// SLURM_NTASKS for the size).
func Launched() (size int, ok bool) {
	for _, k := range []string{"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MPI_LOCALNRANKS"} {
		if v := os.Getenv(k); v != "" {
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil && n > 0 {
				return n, true
			}
		}
	}
	if os.Getenv("PMIX_RANK") != "" {
		var n int
		fmt.Sscan(os.Getenv("SLURM_NTASKS"), &n)
		return n, true
	}
	return 0, false
}

// FlavourEnv names the environment variable that picks the MPI library
// ("openmpi" or "mpich") where both are installed and the launcher does
// not tell (Slurm's srun starts either).
const FlavourEnv = "MOBILENET_MPI"

// LocalSize is the number of ranks the launcher started on this host (1
// outside a launch, or when it does not say): OpenMPI's
// OMPI_COMM_WORLD_LOCAL_SIZE, MPICH's MPI_LOCALNRANKS, Slurm's
// SLURM_NTASKS_PER_NODE. Ranks of one host share its cores.
func LocalSize() int {
	for _, k := range []string{"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"} {
		var n int
		if _, err := fmt.Sscan(os.Getenv(k), &n); err == nil && n > 0 {
			return n
		}
	}
	return 1
}

// DefaultTimeout is how long a collective waits for the other ranks
// before it fails (Config.Timeout's zero value).
const DefaultTimeout = 60 * time.Second

// Config configures Open.
type Config struct {
	// Timeout bounds every collective: past it, the call returns an error
	// saying that a rank is dead, hung or unreachable, instead of waiting
	// forever (MPI itself ends the job when a rank's process dies; a rank
	// cut off by the network or stopped is what this catches). 0 is
	// DefaultTimeout; negative waits forever.
	Timeout time.Duration
}

// Open returns the communicator of the job this process belongs to: Local
// when no MPI launcher started it, else the MPI library's (an error when it
// cannot be loaded or initialised: a process started by mpirun must not
// train alone).
func Open(cfg Config) (Comm, error) {
	if _, ok := Launched(); !ok {
		return Local{}, nil
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	return openMPI(cfg)
}
