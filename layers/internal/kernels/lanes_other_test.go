//go:build !amd64 || purego

package kernels

func laneTierImpls() []laneImpl { return nil }
