package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"
)

// The official binary release and its MD5.
const (
	URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
)

// Source says where to download the dataset from.
type Source struct {
	URL string
	MD5 string
	// Progress receives the progress bar (nil: no bar).
	Progress io.Writer
	Client   *http.Client
}

// Official is the official release.
func Official(progress io.Writer) Source { return Source{URL: URL, MD5: MD5, Progress: progress} }

// Ensure makes sure root/cifar-10-batches-bin exists, downloading it from src
// when it is absent and download is true.
func Ensure(ctx context.Context, root string, download bool, src Source) error {
	if _, err := os.Stat(filepath.Join(root, DirName, "test_batch.bin")); err == nil {
		return nil
	}
	if !download {
		return fmt.Errorf("%w in %s (and downloading is not allowed)", ErrMissing, filepath.Join(root, DirName))
	}
	return Download(ctx, root, src)
}

// Download fetches the archive, checks its MD5 and extracts
// cifar-10-batches-bin into root. Extraction goes to a temporary folder
// renamed into place at the end, so a failed or interrupted download never
// leaves a partial dataset.
func Download(ctx context.Context, root string, src Source) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("download CIFAR-10: %w", err)
	}
	tmp, err := os.MkdirTemp(root, ".cifar-download-")
	if err != nil {
		return fmt.Errorf("download CIFAR-10: %w", err)
	}
	defer os.RemoveAll(tmp)
	archive := filepath.Join(tmp, "cifar-10-binary.tar.gz")
	if err := fetch(ctx, src, archive); err != nil {
		return fmt.Errorf("download CIFAR-10 from %s: %w", src.URL, err)
	}
	if err := extract(archive, tmp); err != nil {
		return fmt.Errorf("extract CIFAR-10: %w", err)
	}
	got := filepath.Join(tmp, DirName)
	if _, err := os.Stat(filepath.Join(got, "test_batch.bin")); err != nil {
		return fmt.Errorf("extract CIFAR-10: the archive has no %s/test_batch.bin", DirName)
	}
	if err := os.Rename(got, filepath.Join(root, DirName)); err != nil {
		return fmt.Errorf("install CIFAR-10: %w", err)
	}
	return nil
}

func fetch(ctx context.Context, src Source, dst string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return err
	}
	client := src.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %s", resp.Status)
	}
	f, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer f.Close()
	h := md5.New()
	var w io.Writer = io.MultiWriter(f, h)
	if src.Progress != nil {
		bar := progressbar.NewOptions64(resp.ContentLength,
			progressbar.OptionSetWriter(src.Progress),
			progressbar.OptionSetDescription("downloading CIFAR-10"),
			progressbar.OptionShowBytes(true),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100e6),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(src.Progress) }))
		w = io.MultiWriter(w, bar)
	}
	n, err := io.Copy(w, resp.Body)
	if err != nil {
		return fmt.Errorf("after %d bytes: %w", n, err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fmt.Errorf("truncated: got %d of %d bytes", n, resp.ContentLength)
	}
	if sum := hex.EncodeToString(h.Sum(nil)); src.MD5 != "" && !strings.EqualFold(sum, src.MD5) {
		return fmt.Errorf("MD5 mismatch: got %s, want %s (corrupt or wrong file)", sum, src.MD5)
	}
	return f.Close()
}

// extract unpacks the regular files of a .tar.gz under dir, refusing paths
// that would escape it.
func extract(archive, dir string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(hdr.Name)
		if filepath.IsAbs(name) || strings.HasPrefix(name, "..") {
			return fmt.Errorf("unsafe path %q in archive", hdr.Name)
		}
		p := filepath.Join(dir, name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			out, err := os.Create(p)
			if err != nil {
				return err
			}
			if _, err := io.Copy(out, tr); err != nil {
				out.Close()
				return err
			}
			if err := out.Close(); err != nil {
				return err
			}
		}
	}
}
