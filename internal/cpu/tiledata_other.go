//go:build !linux || !amd64 || purego

package cpu

// requestTileData: AMX tile data is asked for on Linux only.
func requestTileData() bool { return false }
