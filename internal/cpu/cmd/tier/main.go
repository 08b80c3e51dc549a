// Command tier prints the kernel tier this process runs (avx512-amx,
// avx512-bf16, avx512, avx2 or go; MOBILENET_KERNELS may lower it) and, with -v, what the CPU supports.
// .ci/run uses it to test every tier a machine can run.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/gomobilenet/mobilenet/internal/cpu"
)

func main() {
	v := flag.Bool("v", false, "also print the supported tier and any MOBILENET_KERNELS error")
	flag.Parse()
	fmt.Println(cpu.Active())
	if *v {
		fmt.Println("supported:", cpu.Supported())
		if err := cpu.Err(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}
