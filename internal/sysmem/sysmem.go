// Package sysmem tells how much memory this process may still allocate:
// the kernel's estimate of available memory, lowered by a cgroup limit when
// one applies (Linux only).
package sysmem

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
)

// Available returns the bytes this process can still allocate without
// swapping, and false where that is unknown (other systems, no /proc).
func Available() (int64, bool) {
	avail, ok := memAvailable("/proc/meminfo")
	if !ok {
		return 0, false
	}
	if lim, ok := cgroupFree("/sys/fs/cgroup"); ok && lim < avail {
		avail = lim
	}
	return avail, true
}

// memAvailable reads MemAvailable (in kB) from a meminfo file.
func memAvailable(path string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "MemAvailable:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil || kb < 0 {
				return 0, false
			}
			return kb << 10, true
		}
	}
	return 0, false
}

// cgroupFree is memory.max − memory.current of a cgroup v2 root, when a
// limit is set.
func cgroupFree(dir string) (int64, bool) {
	b, err := os.ReadFile(dir + "/memory.max")
	if err != nil {
		return 0, false
	}
	m := string(bytes.TrimSpace(b))
	if m == "max" {
		return 0, false
	}
	limit, err := strconv.ParseInt(m, 10, 64)
	if err != nil {
		return 0, false
	}
	cur, err := os.ReadFile(dir + "/memory.current")
	if err != nil {
		return limit, true
	}
	used, err := strconv.ParseInt(string(bytes.TrimSpace(cur)), 10, 64)
	if err != nil {
		return limit, true
	}
	return max(limit-used, 0), true
}

// Format writes a byte count in binary units, e.g. "1.9 GiB".
func Format(b int64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatInt(b, 10) + " B"
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return strconv.FormatFloat(float64(b)/float64(div), 'f', 1, 64) + " " + string("KMGTPE"[exp]) + "iB"
}
