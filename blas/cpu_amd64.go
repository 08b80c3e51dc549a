//go:build amd64 && !purego

package blas

import "golang.org/x/sys/cpu"

// haveAVX2 reports whether sgemm6x16 (sgemm_amd64.s) can run.
var haveAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

//go:noescape
func sgemm6x16(k int, a, b, c *float32, ldc int, alpha float32)
