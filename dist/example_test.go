package dist_test

import (
	"fmt"
	"log"

	"github.com/gomobilenet/mobilenet/dist"
)

// Each rank of a data-parallel job sums its gradients with the others'.
// Started without an MPI launcher, Open gives the one-process
// communicator; under `mpirun -np N`, MPI's.
func ExampleOpen() {
	c, err := dist.Open(dist.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	grads := []float32{0.5, -1}
	if err := c.AllreduceSum(grads); err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Name(), c.Rank(), c.Size(), grads)
	// Output: local 0 1 [0.5 -1]
}
