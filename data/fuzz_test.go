package data

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
// with labels 0-9 or give an error; never a panic. What loads — all of it
// when there is no error, the records before the bad one otherwise — is
// the bytes' labels and pixels, record by record, up to the limit.
func FuzzRecords(f *testing.F) {
	f.Add(record(3), 0)
	f.Add(append(record(9), record(0)...), 1)
	f.Add(append(record(2), record(12)...), 0)
	two := append(record(4), record(5)...)
	for i := RecordBytes + 1; i < len(two); i++ {
		two[i] ^= 0x5a // other pixels in the second record
	}
	f.Add(two, 0)
	f.Add(record(10), 0)
	f.Add([]byte{}, 0)
	f.Add(record(1)[:100], 0)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		d := &Dataset{}
		err := d.appendRecords(b, limit)
		if len(d.Pixels) != d.Len()*ImageBytes {
			t.Fatalf("%d labels, %d pixel bytes", d.Len(), len(d.Pixels))
		}
		whole := len(b) > 0 && len(b)%RecordBytes == 0
		n := len(b) / RecordBytes
		if limit > 0 {
			n = min(n, limit)
		}
		firstBad := -1
		for r := 0; whole && r < n; r++ {
			if b[r*RecordBytes] >= NumClasses {
				firstBad = r
				break
			}
		}
		switch {
		case !whole && err == nil:
			t.Fatalf("%d bytes (not whole records) loaded without error", len(b))
		case whole && firstBad < 0 && err != nil:
			t.Fatalf("valid records refused: %v", err)
		case whole && firstBad >= 0 && err == nil:
			t.Fatalf("record %d has label %d, loaded without error", firstBad, b[firstBad*RecordBytes])
		case err == nil && d.Len() != n:
			t.Fatalf("%d records (limit %d) loaded as %d", len(b)/RecordBytes, limit, d.Len())
		case err != nil && whole && d.Len() != firstBad:
			t.Fatalf("an error at record %d after loading %d", firstBad, d.Len())
		}
		for i := 0; i < d.Len(); i++ {
			rec := b[i*RecordBytes : (i+1)*RecordBytes]
			if d.Labels[i] != int32(rec[0]) || !bytes.Equal(d.Image(i), rec[1:]) {
				t.Fatalf("record %d: label %d and pixels differ from the bytes (label %d)", i, d.Labels[i], rec[0])
			}
		}
	})
}

// FuzzClassNames: batches.meta.txt gives its non-empty lines, trimmed, in
// order, when there are exactly NumClasses of them (and no line beyond the
// scanner's 64 KiB); an error otherwise.
func FuzzClassNames(f *testing.F) {
	f.Add(strings.Join(DefaultClassNames, "\n") + "\n")
	f.Add(strings.Join(DefaultClassNames, "\r\n"))
	f.Add(" a \n\nb\n\n")
	f.Add(strings.Repeat("x", 70000))
	f.Fuzz(func(t *testing.T, s string) {
		var want []string
		long := false
		for _, line := range strings.Split(s, "\n") {
			long = long || len(line) >= bufio.MaxScanTokenSize
			if v := strings.TrimSpace(line); v != "" {
				want = append(want, v)
			}
		}
		names, err := parseClassNames(strings.NewReader(s))
		switch {
		case err != nil && len(want) == NumClasses && !long:
			t.Fatalf("%d names refused: %v", len(want), err)
		case err == nil && !slices.Equal(names, want):
			t.Fatalf("names %q, want %q", names, want)
		case err == nil && len(names) != NumClasses:
			t.Fatalf("%d names accepted", len(names))
		}
	})
}

// tarFile builds an uncompressed tar of the given entries, in order (a
// name ending in / is a folder).
func tarFile(entries ...[2]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		name, body := e[0], e[1]
		h := &tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}
		if strings.HasSuffix(name, "/") {
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		}
		tw.WriteHeader(h)
		tw.Write([]byte(body))
	}
	tw.Close()
	return buf.Bytes()
}

// gzipped compresses b.
func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	gz.Write(b)
	gz.Close()
	return buf.Bytes()
}

// FuzzExtract: a downloaded archive, however damaged or hostile, never
// writes outside the folder it is unpacked into, makes nothing but folders
// and regular files, and never panics; an archive with an absolute or
// escaping path, or one that does not read, is an error; and when extract
// succeeds every file and folder of the archive is there with its content.
// The fuzzer mutates the tar, which the test compresses (mutated gzip bytes
// mostly stop at the decompressor's checksum).
func FuzzExtract(f *testing.F) {
	f.Add(tarFile([2]string{"cifar-10-batches-bin/", ""}, [2]string{"cifar-10-batches-bin/test_batch.bin", string(record(2))}))
	f.Add(tarFile([2]string{"a/b/c.bin", "xyz"}, [2]string{"a/b/c.bin", "second"}, [2]string{"d/", ""}))
	f.Add(tarFile([2]string{"../escape.bin", "x"}))
	f.Add(tarFile([2]string{"a/../../escape.bin", "x"}))
	f.Add(tarFile([2]string{"/abs.bin", "x"}))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, tb []byte) {
		root := t.TempDir()
		dir := filepath.Join(root, "in")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		archive := filepath.Join(root, "a.tar.gz")
		if err := os.WriteFile(archive, gzipped(tb), 0o644); err != nil {
			t.Fatal(err)
		}
		err := extract(archive, dir)

		// The archive as archive/tar reads it: the last content of each
		// file, the folders, and whether a path is unsafe or reading fails.
		files, dirs := map[string][]byte{}, map[string]bool{}
		unsafe, readErr := false, error(nil)
		tr := tar.NewReader(bytes.NewReader(tb))
		for {
			h, e := tr.Next()
			if e == io.EOF {
				break
			}
			if e != nil {
				readErr = e
				break
			}
			name := filepath.Clean(h.Name)
			if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
				unsafe = true
				break
			}
			switch h.Typeflag {
			case tar.TypeDir:
				dirs[name] = true
			case tar.TypeReg:
				body, e := io.ReadAll(tr)
				if e != nil {
					readErr = e
				}
				files[name] = body
			}
			if readErr != nil {
				break
			}
		}
		switch {
		case unsafe && err == nil:
			t.Fatal("an archive with an unsafe path extracted without error")
		case readErr != nil && err == nil:
			t.Fatalf("an archive that does not read (%v) extracted without error", readErr)
		case err == nil:
			for name, body := range files {
				got, e := os.ReadFile(filepath.Join(dir, name))
				if e != nil || !bytes.Equal(got, body) {
					t.Fatalf("%s: %d bytes on disk (%v), %d in the archive", name, len(got), e, len(body))
				}
			}
			for name := range dirs {
				if st, e := os.Stat(filepath.Join(dir, name)); e != nil || !st.IsDir() {
					t.Fatalf("folder %s not made: %v", name, e)
				}
			}
		}
		// Everything on disk: under dir, folders and regular files only.
		filepath.WalkDir(root, func(p string, d fs.DirEntry, e error) error {
			if e != nil {
				t.Fatal(e)
			}
			if p == root || p == archive {
				return nil
			}
			if rel, _ := filepath.Rel(dir, p); rel == ".." || strings.HasPrefix(rel, "../") {
				t.Fatalf("extract wrote %s outside its folder", p)
			}
			if !d.IsDir() && !d.Type().IsRegular() {
				t.Fatalf("extract made %s of type %v", p, d.Type())
			}
			return nil
		})
	})
}
