package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// record returns one CIFAR-10 record with the given label.
func record(label byte) []byte {
	r := make([]byte, RecordBytes)
	r[0] = label
	for i := 1; i < len(r); i++ {
		r[i] = byte(i * 7)
	}
	return r
}

// FuzzRecords: any bytes given as a batch file either load as whole records
// with labels 0-9 or give an error; never a panic.
func FuzzRecords(f *testing.F) {
	f.Add(record(3), 0)
	f.Add(append(record(9), record(0)...), 1)
	f.Add(record(10), 0)
	f.Add([]byte{}, 0)
	f.Add(record(1)[:100], 0)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		d := &Dataset{}
		err := d.appendRecords(b, limit)
		if len(d.Pixels) != d.Len()*ImageBytes {
			t.Fatalf("%d labels, %d pixel bytes", d.Len(), len(d.Pixels))
		}
		for _, l := range d.Labels {
			if l >= NumClasses {
				t.Fatalf("label %d accepted", l)
			}
		}
		if err == nil && limit <= 0 && d.Len() != len(b)/RecordBytes {
			t.Fatalf("%d bytes loaded as %d records", len(b), d.Len())
		}
	})
}

// FuzzClassNames: batches.meta.txt gives exactly NumClasses non-empty
// names, or an error.
func FuzzClassNames(f *testing.F) {
	f.Add(strings.Join(DefaultClassNames, "\n") + "\n")
	f.Add("a\nb\n\n")
	f.Add(strings.Repeat("x", 70000))
	f.Fuzz(func(t *testing.T, s string) {
		names, err := parseClassNames(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(names) != NumClasses {
			t.Fatalf("%d names", len(names))
		}
		for _, n := range names {
			if n == "" {
				t.Fatal("empty name accepted")
			}
		}
	})
}

// tarGz builds a .tar.gz of the given entries (name → content; a name
// ending in / is a folder).
func tarGz(entries map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for name, body := range entries {
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		tw.WriteHeader(h)
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

// FuzzExtract: a downloaded archive, however damaged or hostile, never
// writes outside the folder it is unpacked into, and never panics.
func FuzzExtract(f *testing.F) {
	f.Add(tarGz(map[string]string{"cifar-10-batches-bin/": "", "cifar-10-batches-bin/test_batch.bin": string(record(2))}))
	f.Add(tarGz(map[string]string{"../escape.bin": "x"}))
	f.Add(tarGz(map[string]string{"/abs.bin": "x"}))
	f.Add([]byte("not gzip"))
	f.Fuzz(func(t *testing.T, b []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "in")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(root, "a.tar.gz")
		if err := os.WriteFile(archive, b, 0o644); err != nil {
			t.Fatal(err)
		}
		extract(archive, dir)
		entries, err := os.ReadDir(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Name() != "in" && e.Name() != "a.tar.gz" {
				t.Fatalf("extract wrote %s outside its folder", e.Name())
			}
		}
	})
}
