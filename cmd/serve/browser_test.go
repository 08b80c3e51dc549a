package main

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestPageInBrowser: headless Chromium (Debian's chromium) loads the page,
// which classifies an image it is given (?image=) and shows it with its
// top five. The DOM after the script ran holds five rows of a class name
// and a percentage, and a screenshot of the page decodes as a PNG of the
// window's size (SERVE_SCREENSHOT=FILE keeps it).
func TestPageInBrowser(t *testing.T) {
	var chrome string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			chrome = p
			break
		}
	}
	testenv.Need(t, "chromium", chrome != "", "no chromium (apt-get install chromium): the page is not checked in a browser")
	f := newFixture(t, defaultLimits())
	img := encode(t, testImage(7), "png")
	mux := http.NewServeMux()
	mux.Handle("/", f.srv.Config.Handler)
	mux.HandleFunc("GET /test.png", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "image/png")
		w.Write(img)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	url := srv.URL + "/?image=/test.png"
	browser := func(args ...string) []byte {
		t.Helper()
		base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--user-data-dir=" + t.TempDir(), "--virtual-time-budget=15000"}
		out, err := exec.Command(chrome, append(append(base, args...), url)...).Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", chrome, err, out)
		}
		return out
	}
	dom := browser("--dump-dom")
	rows := regexp.MustCompile(`<tr><td>([a-z]+)</td><td>(\d+\.\d)%</td>`).FindAllSubmatch(dom, -1)
	if len(rows) != 5 || !bytes.Contains(dom, []byte(`id="result"`)) || bytes.Contains(dom, []byte(`id="result" hidden`)) {
		t.Fatalf("the page shows %d rows of the top five:\n%s", len(rows), dom)
	}
	if !bytes.Contains(dom, []byte("MobileNet v1, alpha 0.25, 10 classes")) {
		t.Errorf("the page does not describe the model:\n%s", dom)
	}
	shot := os.Getenv("SERVE_SCREENSHOT")
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "page.png")
	}
	browser("--screenshot="+shot, "--window-size=900,700", "--hide-scrollbars")
	fh, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	cfg, err := png.DecodeConfig(fh)
	if err != nil || cfg.Width != 900 || cfg.Height != 700 {
		t.Errorf("screenshot %s: %dx%d, %v", shot, cfg.Width, cfg.Height, err)
	}
	t.Logf("top five shown: %s", rows)
}
