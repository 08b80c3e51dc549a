//go:build !amd64 || purego

package kernels

func dwLanesAsm(LaneGeom, []float32, []float32, []float32, float32, Act, bool) bool { return false }
