// Package data reads image datasets — CIFAR-10 in its official binary
// format (downloaded and verified), and folders of JPEG and PNG images in
// the torchvision/Keras layout (ROOT/<class>/<image>) — and turns them into
// shuffled, augmented, normalised float32 batches prepared in the
// background.
package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Layout of the official binary release.
const (
	DirName     = "cifar-10-batches-bin"
	ImageSize   = 32
	ImageBytes  = 3 * ImageSize * ImageSize
	RecordBytes = 1 + ImageBytes
	NumClasses  = 10
)

// Split selects the training or the test set.
type Split int

const (
	Train Split = iota
	Test
)

func (s Split) String() string {
	if s == Train {
		return "train"
	}
	return "test"
}

func (s Split) files() []string {
	if s == Test {
		return []string{"test_batch.bin"}
	}
	return []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
}

// DefaultClassNames are CIFAR-10's classes, used when batches.meta.txt is absent.
var DefaultClassNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// ErrMissing is returned (wrapped) when the dataset folder is absent.
var ErrMissing = errors.New("CIFAR-10 not found")

// Load reads a split from root/cifar-10-batches-bin. limit > 0 keeps only
// the first limit images.
func Load(root string, split Split, limit int) (*Dataset, error) {
	dir := filepath.Join(root, DirName)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("%w in %s (download it with Ensure, or put the official binary release there): %v", ErrMissing, dir, err)
	}
	d := &Dataset{Classes: DefaultClassNames}
	for _, f := range split.files() {
		if limit > 0 && d.Len() >= limit {
			break
		}
		path := filepath.Join(dir, f)
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if err := d.appendRecords(b, limit); err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
	}
	if names, err := readClassNames(filepath.Join(dir, "batches.meta.txt")); err == nil {
		d.Classes = names
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	return d, nil
}

// appendRecords adds the images of b, a file of the binary release (label
// byte, then 3,072 pixel bytes, per record), up to limit images in all
// (0: no limit).
func (d *Dataset) appendRecords(b []byte, limit int) error {
	if len(b) == 0 || len(b)%RecordBytes != 0 {
		return fmt.Errorf("%d bytes is not a whole number of %d-byte records (truncated or not CIFAR-10)", len(b), RecordBytes)
	}
	for r := 0; r < len(b)/RecordBytes; r++ {
		if limit > 0 && d.Len() >= limit {
			break
		}
		rec := b[r*RecordBytes : (r+1)*RecordBytes]
		if rec[0] >= NumClasses {
			return fmt.Errorf("record %d has label %d, outside 0-9", r, rec[0])
		}
		d.Labels = append(d.Labels, int32(rec[0]))
		d.Pixels = append(d.Pixels, rec[1:]...)
	}
	return nil
}

func readClassNames(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := parseClassNames(f)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return names, nil
}

// parseClassNames reads batches.meta.txt: one class name a line, blank
// lines ignored, exactly NumClasses names.
func parseClassNames(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(names) != NumClasses {
		return nil, fmt.Errorf("%d class names, want %d", len(names), NumClasses)
	}
	return names, nil
}
