//go:build !linux && !darwin

package dist

import "errors"

func openMPI(Config) (Comm, error) {
	return nil, errors.New("dist: MPI is loaded on Linux and macOS only")
}
