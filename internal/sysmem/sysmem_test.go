package sysmem

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReaders(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mi := write("meminfo", "MemTotal:       24576000 kB\nMemFree:  100 kB\nMemAvailable:   2048 kB\n")
	if got, ok := memAvailable(mi); !ok || got != 2048<<10 {
		t.Errorf("memAvailable = %d, %v; want %d", got, ok, 2048<<10)
	}
	if _, ok := memAvailable(write("bad", "MemTotal: 1 kB\n")); ok {
		t.Error("memAvailable found a value in a file without one")
	}
	write("memory.max", "max\n")
	if _, ok := cgroupFree(dir); ok {
		t.Error("cgroup without a limit reported one")
	}
	write("memory.max", "1000\n")
	write("memory.current", "300\n")
	if got, ok := cgroupFree(dir); !ok || got != 700 {
		t.Errorf("cgroupFree = %d, %v; want 700", got, ok)
	}
	if got, ok := Available(); ok && got <= 0 {
		t.Errorf("Available = %d", got)
	}
}

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		b    int64
		want string
	}{{512, "512 B"}, {1536, "1.5 KiB"}, {3 << 30, "3.0 GiB"}, {5 << 40, "5.0 TiB"}} {
		if got := Format(c.b); got != c.want {
			t.Errorf("Format(%d) = %q, want %q", c.b, got, c.want)
		}
	}
}
