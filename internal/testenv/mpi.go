package testenv

import (
	"os"
	"os/exec"
	"strconv"
)

// Launcher is an MPI launcher installed on the machine.
type Launcher struct {
	Name string   // "openmpi" or "mpich": the library the ranks load
	Bin  string   // its mpirun
	Args []string // what it needs on a test machine (root, more ranks than cores)
}

// Launchers returns the MPI launchers installed: OpenMPI's and MPICH's
// (Debian's mpirun.openmpi and mpirun.mpich), whose libraries' C ABIs
// differ.
func Launchers() []Launcher {
	var ls []Launcher
	for _, l := range []Launcher{
		{"openmpi", "mpirun.openmpi", []string{"--oversubscribe", "--allow-run-as-root"}},
		{"mpich", "mpirun.mpich", nil},
	} {
		if bin, err := exec.LookPath(l.Bin); err == nil {
			l.Bin = bin
			ls = append(ls, l)
		}
	}
	return ls
}

// MPIEnv is what a test adds to the environment of an MPI launch:
// OpenMPI's shared-memory transport without the kernel's cross-memory
// attach (refused in containers), and its signal handlers off (they would
// take Go's).
var MPIEnv = []string{"OMPI_MCA_btl_vader_single_copy_mechanism=none", "OMPI_MCA_opal_signal="}

// MPICommand returns the command of the package under test (CommandMain)
// started as np ranks by launcher l, with args.
func MPICommand(l Launcher, np int, args ...string) *exec.Cmd {
	full := append(append(append([]string{}, l.Args...), "-np", strconv.Itoa(np), os.Args[0]), args...)
	cmd := exec.Command(l.Bin, full...)
	cmd.Env = append(append(os.Environ(), runMainEnv+"=1"), MPIEnv...)
	return cmd
}
