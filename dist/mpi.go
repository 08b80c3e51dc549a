//go:build linux || darwin

package dist

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
	"unsafe"

	"github.com/ebitengine/purego"
)

// mpiComm is MPI_COMM_WORLD through a library loaded at run time. Every MPI
// call runs on one goroutine locked to its OS thread (MPI_THREAD_FUNNELED),
// which the methods hand their work to.
type mpiComm struct {
	name       string
	rank, size int
	calls      chan func()
	closed     bool
	timeout    time.Duration // of each collective (negative: none)
	hung       string        // the collective that timed out, if one did

	// Handles: addresses of the library's objects (OpenMPI) or integer
	// constants (MPICH), passed as words either way.
	world, float, double, sum, inPlace uintptr

	allreduce func(send uintptr, recv unsafe.Pointer, count int32, dtype, op, comm uintptr) int32 // send: MPI_IN_PLACE
	bcast     func(buf unsafe.Pointer, count int32, dtype uintptr, root int32, comm uintptr) int32
	barrier   func(comm uintptr) int32
	abort     func(comm uintptr, code int32) int32
	finalize  func() int32
}

// flavours are the MPI libraries tried, in order, with their handles.
var flavours = []struct {
	name, lib string
	openmpi   bool
}{
	{"openmpi", "libmpi.so.40", true},
	{"mpich", "libmpich.so.12", false},
}

func openMPI(cfg Config) (c Comm, err error) {
	defer func() {
		if r := recover(); r != nil { // purego panics on a missing symbol
			c, err = nil, fmt.Errorf("dist: MPI: %v", r)
		}
	}()
	order := flavours
	switch os.Getenv(FlavourEnv) {
	case "openmpi":
		order = flavours[:1]
	case "mpich":
		order = flavours[1:]
	case "":
		if os.Getenv("OMPI_COMM_WORLD_SIZE") == "" && os.Getenv("PMIX_RANK") == "" { // MPICH's Hydra or PMI: MPICH first
			order = []struct {
				name, lib string
				openmpi   bool
			}{flavours[1], flavours[0]}
		}
	default:
		return nil, fmt.Errorf("dist: %s=%q: want openmpi or mpich", FlavourEnv, os.Getenv(FlavourEnv))
	}
	var tried []string
	for _, f := range order {
		h, err := purego.Dlopen(f.lib, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		return start(f.name, h, f.openmpi, cfg.Timeout)
	}
	return nil, fmt.Errorf("dist: started by an MPI launcher, but no MPI library loads (apt-get install openmpi-bin or mpich): %s", strings.Join(tried, "; "))
}

// start initialises MPI on a goroutine locked to its thread and returns
// the communicator.
func start(name string, h uintptr, openmpi bool, timeout time.Duration) (*mpiComm, error) {
	c := &mpiComm{name: name, calls: make(chan func()), timeout: timeout}
	if openmpi {
		// OpenMPI's handles are the addresses of its objects.
		for _, s := range []struct {
			dst *uintptr
			sym string
		}{{&c.world, "ompi_mpi_comm_world"}, {&c.float, "ompi_mpi_float"}, {&c.double, "ompi_mpi_double"}, {&c.sum, "ompi_mpi_op_sum"}} {
			a, err := purego.Dlsym(h, s.sym)
			if err != nil {
				return nil, fmt.Errorf("dist: %s: %w", name, err)
			}
			*s.dst = a
		}
		c.inPlace = 1
		// OpenMPI's handlers for SEGV, BUS and FPE would take Go's (nil
		// dereferences, stack growth): off, through the C environment its
		// initialisation reads (os.Setenv does not reach it without cgo).
		setenvC("OMPI_MCA_opal_signal", "")
	} else {
		c.world, c.float, c.double, c.sum, c.inPlace = 0x44000000, 0x4c00040a, 0x4c00080b, 0x58000003, ^uintptr(0)
	}
	var initThread func(argc, argv unsafe.Pointer, required int32, provided *int32) int32
	var rank, size func(comm uintptr, out *int32) int32
	purego.RegisterLibFunc(&initThread, h, "MPI_Init_thread")
	purego.RegisterLibFunc(&rank, h, "MPI_Comm_rank")
	purego.RegisterLibFunc(&size, h, "MPI_Comm_size")
	purego.RegisterLibFunc(&c.allreduce, h, "MPI_Allreduce")
	purego.RegisterLibFunc(&c.bcast, h, "MPI_Bcast")
	purego.RegisterLibFunc(&c.barrier, h, "MPI_Barrier")
	purego.RegisterLibFunc(&c.abort, h, "MPI_Abort")
	purego.RegisterLibFunc(&c.finalize, h, "MPI_Finalize")
	if v, err := purego.Dlsym(h, "MPI_Get_library_version"); err == nil && v != 0 {
		var version func(buf *byte, n *int32) int32
		purego.RegisterLibFunc(&version, h, "MPI_Get_library_version")
		buf := make([]byte, 8192)
		var n int32
		if version(&buf[0], &n) == 0 && n > 0 {
			// "Open MPI v4.1.4, package: …", "MPICH Version:\t4.0.2"
			c.name, _, _ = strings.Cut(firstLine(string(buf[:min(int(n), len(buf))])), ",")
			c.name = strings.Join(strings.Fields(strings.Replace(c.name, "Version:", "", 1)), " ")
		}
	}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread() // every MPI call on this thread: MPI_THREAD_FUNNELED
		const funneled = 1
		var provided, r, s int32
		if rc := initThread(nil, nil, funneled, &provided); rc != 0 {
			ready <- fmt.Errorf("dist: %s: MPI_Init_thread failed (%d)", c.name, rc)
			return
		}
		if provided < funneled {
			ready <- fmt.Errorf("dist: %s: MPI gives thread level %d, below FUNNELED", c.name, provided)
			return
		}
		if rank(c.world, &r) != 0 || size(c.world, &s) != 0 {
			ready <- fmt.Errorf("dist: %s: MPI_Comm_rank/size failed", c.name)
			return
		}
		c.rank, c.size = int(r), int(s)
		ready <- nil
		for f := range c.calls {
			f()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return c, nil
}

// do runs f, the collective what, on the MPI thread and returns its
// error, or a timeout error once c.timeout has passed (the MPI thread then
// stays in the call: the caller is expected to end the job).
func (c *mpiComm) do(what string, f func() error) error {
	if c.closed {
		return errors.New("dist: the communicator is closed")
	}
	if c.hung != "" {
		return fmt.Errorf("dist: %s: an earlier collective (%s) never completed", what, c.hung)
	}
	done := make(chan error, 1)
	c.calls <- func() { done <- f() }
	if c.timeout < 0 {
		return <-done
	}
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case err := <-done:
		return err
	case <-t.C:
		c.hung = what
		return fmt.Errorf("dist: rank %d: %s did not complete within %v: another rank is dead, hung or unreachable", c.rank, what, c.timeout)
	}
}

func (c *mpiComm) Rank() int    { return c.rank }
func (c *mpiComm) Size() int    { return c.size }
func (c *mpiComm) Name() string { return c.name }

func (c *mpiComm) AllreduceSum(x []float32) error {
	if len(x) == 0 {
		return c.Barrier()
	}
	return c.do(fmt.Sprintf("all-reduce of %d floats", len(x)), func() error {
		if rc := c.allreduce(c.inPlace, unsafe.Pointer(&x[0]), int32(len(x)), c.float, c.sum, c.world); rc != 0 {
			return fmt.Errorf("dist: MPI_Allreduce of %d floats failed (%d)", len(x), rc)
		}
		return nil
	})
}

func (c *mpiComm) AllreduceSum64(x []float64) error {
	if len(x) == 0 {
		return c.Barrier()
	}
	return c.do(fmt.Sprintf("all-reduce of %d doubles", len(x)), func() error {
		if rc := c.allreduce(c.inPlace, unsafe.Pointer(&x[0]), int32(len(x)), c.double, c.sum, c.world); rc != 0 {
			return fmt.Errorf("dist: MPI_Allreduce of %d doubles failed (%d)", len(x), rc)
		}
		return nil
	})
}

func (c *mpiComm) Broadcast(x []float32, root int) error {
	if root < 0 || root >= c.size {
		return fmt.Errorf("dist: broadcast from rank %d of a job of %d", root, c.size)
	}
	if len(x) == 0 {
		return c.Barrier()
	}
	return c.do(fmt.Sprintf("broadcast of %d floats from rank %d", len(x), root), func() error {
		if rc := c.bcast(unsafe.Pointer(&x[0]), int32(len(x)), c.float, int32(root), c.world); rc != 0 {
			return fmt.Errorf("dist: MPI_Bcast of %d floats failed (%d)", len(x), rc)
		}
		return nil
	})
}

func (c *mpiComm) Barrier() error {
	return c.do("barrier", func() error {
		if rc := c.barrier(c.world); rc != 0 {
			return fmt.Errorf("dist: MPI_Barrier failed (%d)", rc)
		}
		return nil
	})
}

func (c *mpiComm) Abort(code int) {
	c.abort(c.world, int32(code)) // from any thread: MPI_Abort does not return
	os.Exit(code)
}

func (c *mpiComm) Close() error {
	if c.closed {
		return nil
	}
	if c.hung != "" { // MPI_Finalize would wait for the collective too
		c.closed = true
		return fmt.Errorf("dist: not finalised: %s never completed", c.hung)
	}
	err := c.do("finalize", func() error {
		if rc := c.finalize(); rc != 0 {
			return fmt.Errorf("dist: MPI_Finalize failed (%d)", rc)
		}
		return nil
	})
	c.closed = true
	close(c.calls)
	return err
}

// setenvC sets a variable in the C library's environment (which libraries
// loaded at run time read), where libc can be loaded.
func setenvC(k, v string) {
	h, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW|purego.RTLD_GLOBAL)
	if err != nil {
		return
	}
	var setenv func(k, v string, overwrite int32) int32
	purego.RegisterLibFunc(&setenv, h, "setenv")
	setenv(k, v, 1)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimRight(s, "\x00"), "\n")
	return strings.TrimSpace(s)
}
