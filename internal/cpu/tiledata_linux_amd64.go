//go:build linux && amd64 && !purego

package cpu

import "syscall"

// requestTileData asks Linux for the AMX tile data state
// (arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)): without it the
// first tile instruction faults. It reports whether it was granted
// (kernels before 5.16 refuse). The permission is the whole process's.
func requestTileData() bool {
	const archReqXcompPerm, xfeatureXTileData = 0x1023, 18
	_, _, errno := syscall.RawSyscall(syscall.SYS_ARCH_PRCTL, archReqXcompPerm, xfeatureXTileData, 0)
	return errno == 0
}
