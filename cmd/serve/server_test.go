package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gomobilenet/mobilenet/classify"
	"github.com/gomobilenet/mobilenet/internal/testenv"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
	"github.com/gomobilenet/mobilenet/train"
)

// fixture is a small model's checkpoint, its Classifier and a test server.
type fixture struct {
	path string
	c    *classify.Classifier
	srv  *httptest.Server
}

func newFixture(t *testing.T, lim limits) *fixture {
	t.Helper()
	m, err := model.New(model.CIFAR10(0.25), model.Options{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := train.WriteModel(path, m, m.Config); err != nil {
		t.Fatal(err)
	}
	c, err := classify.Open(path, classify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_, hdr, err := evaluate.Load(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(c, lim, modelInfo(path, m.Config, hdr, c, layers.FP32, "none"), nil))
	t.Cleanup(srv.Close)
	return &fixture{path: path, c: c, srv: srv}
}

func defaultLimits() limits {
	return limits{body: 1 << 20, pixels: 4_000_000, timeout: 30 * time.Second, inflight: 64, top: 10}
}

func testImage(seed int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{byte(x*6 + seed), byte(y * 8), byte(seed * 31), 255})
		}
	}
	return img
}

func encode(t testing.TB, img image.Image, format string) []byte {
	var b bytes.Buffer
	var err error
	if format == "png" {
		err = png.Encode(&b, img)
	} else {
		err = jpeg.Encode(&b, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// post sends body to /v1/classify and decodes the JSON answer.
func post(t testing.TB, url, query, contentType string, body io.Reader) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url+"/v1/classify"+query, contentType, body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("status %d: the answer is not JSON: %v", resp.StatusCode, err)
	}
	return resp.StatusCode, out
}

// TestClassifyEndpoint: PNG and JPEG bodies and a multipart upload get the
// Classifier's own top-k; ?top chooses k.
func TestClassifyEndpoint(t *testing.T) {
	f := newFixture(t, defaultLimits())
	img := testImage(1)
	for _, format := range []string{"png", "jpeg"} {
		data := encode(t, img, format)
		decoded, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want, err := f.c.Classify(context.Background(), decoded, 5)
		if err != nil {
			t.Fatal(err)
		}
		status, out := post(t, f.srv.URL, "", "image/"+format, bytes.NewReader(data))
		top, _ := out["top"].([]any)
		if status != http.StatusOK || len(top) != 5 {
			t.Fatalf("%s: %d %v", format, status, out)
		}
		for i, w := range want {
			got := top[i].(map[string]any)
			if int(got["index"].(float64)) != w.Index || got["name"] != w.Name || got["probability"].(float64)-w.Prob > 1e-9 || w.Prob-got["probability"].(float64) > 1e-9 {
				t.Fatalf("%s: class %d = %v, want %+v", format, i, got, w)
			}
		}
	}
	// multipart, ?top=3
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("image", "cat.png")
	fw.Write(encode(t, img, "png"))
	mw.Close()
	status, out := post(t, f.srv.URL, "?top=3", mw.FormDataContentType(), &body)
	if top, _ := out["top"].([]any); status != http.StatusOK || len(top) != 3 {
		t.Errorf("multipart ?top=3: %d %v", status, out)
	}
}

// pngBomb is a valid PNG header claiming w×h pixels (and no data).
func pngBomb(t *testing.T, w, h uint32) []byte {
	b := encode(t, image.NewGray(image.Rect(0, 0, 1, 1)), "png")
	binary.BigEndian.PutUint32(b[16:], w)
	binary.BigEndian.PutUint32(b[20:], h)
	binary.BigEndian.PutUint32(b[29:], crc32.ChecksumIEEE(b[12:29]))
	return b
}

// TestBadRequests: each bad input is a 4xx (or 503) with a JSON error, and
// the server stays up.
func TestBadRequests(t *testing.T) {
	lim := defaultLimits()
	lim.body = 64 << 10
	f := newFixture(t, lim)
	good := encode(t, testImage(2), "png")
	for _, c := range []struct {
		name, query, ctype string
		body               []byte
		status             int
		want               string
	}{
		{"garbage", "", "image/png", []byte("not an image at all"), 400, "not a JPEG or PNG"},
		{"empty", "", "image/png", nil, 400, "no image"},
		{"truncated", "", "image/png", good[:len(good)/2], 400, "decoding the png image"},
		{"too big a body", "", "image/png", make([]byte, 65<<10), 413, "request body over"},
		{"decompression bomb", "", "image/png", pngBomb(t, 100000, 100000), 413, "100000×100000 pixels"},
		{"top 0", "?top=0", "image/png", good, 400, "top \"0\""},
		{"top 11", "?top=11", "image/png", good, 400, "[1, 10]"},
		{"top x", "?top=x", "image/png", good, 400, "whole number"},
		{"empty multipart", "", "multipart/form-data; boundary=xyz", []byte("--xyz--\r\n"), 400, "no image"},
	} {
		status, out := post(t, f.srv.URL, c.query, c.ctype, bytes.NewReader(c.body))
		msg, _ := out["error"].(string)
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d and %q", c.name, status, msg, c.status, c.want)
		}
	}
	resp, err := http.Get(f.srv.URL + "/v1/classify")
	if err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/classify: %v %v", resp.StatusCode, err)
	}
	for path, want := range map[string]string{"/healthz": `"ok"`, "/v1/model": `"airplane"`, "/": "<html"} {
		resp, err := http.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %.80q", path, resp.StatusCode, b)
		}
	}
}

// TestLimitsUnderLoad: past --max-inflight a request gets 503 at once; a
// classification past --timeout gets 503.
func TestLimitsUnderLoad(t *testing.T) {
	lim := defaultLimits()
	lim.inflight = 1
	f := newFixture(t, lim)
	s := &server{c: f.c, lim: lim, slots: make(chan struct{}, 1)}
	s.slots <- struct{}{} // a request in flight
	rec := httptest.NewRecorder()
	s.classify(rec, httptest.NewRequest("POST", "/v1/classify", bytes.NewReader(encode(t, testImage(3), "png"))))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "1 requests in flight") {
		t.Errorf("max-inflight 1, one in flight: %d %s", rec.Code, rec.Body)
	}
	<-s.slots
	rec = httptest.NewRecorder()
	s.classify(rec, httptest.NewRequest("POST", "/v1/classify", bytes.NewReader(encode(t, testImage(3), "png"))))
	if rec.Code != http.StatusOK {
		t.Errorf("max-inflight 1, none in flight: %d %s", rec.Code, rec.Body)
	}
	lim = defaultLimits()
	lim.timeout = time.Nanosecond
	f = newFixture(t, lim)
	if status, out := post(t, f.srv.URL, "", "image/png", bytes.NewReader(encode(t, testImage(5), "png"))); status != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(out["error"]), "timed out") {
		t.Errorf("timeout 1ns: %d %v", status, out)
	}
}

// TestLoad: 64 clients on loopback for SERVE_LOAD_SECONDS (default 2)
// seconds: no errors; the latencies are logged.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	secs := 2.0
	if v, err := strconv.ParseFloat(os.Getenv("SERVE_LOAD_SECONDS"), 64); err == nil && v > 0 {
		secs = v
	}
	f := newFixture(t, defaultLimits())
	body := encode(t, testImage(6), "jpeg")
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var mu sync.Mutex
	var lat []time.Duration
	errs := 0
	var wg sync.WaitGroup
	for g := 0; g < 64; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				start := time.Now()
				resp, err := http.Post(f.srv.URL+"/v1/classify", "image/jpeg", bytes.NewReader(body))
				ok := err == nil && resp.StatusCode == http.StatusOK
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				if ok {
					lat = append(lat, time.Since(start))
				} else {
					errs++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if errs > 0 || len(lat) == 0 {
		t.Fatalf("%d errors, %d answers", errs, len(lat))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("64 clients, %.0f s: %d requests (%.0f/s), no errors; latency p50 %v, p99 %v, max %v",
		secs, len(lat), float64(len(lat))/secs, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}

// TestServeCommand: the command serves on a free port, answers /healthz,
// and on SIGTERM shuts down cleanly (exit 0).
func TestServeCommand(t *testing.T) {
	f := newFixture(t, defaultLimits())
	cmd := testenv.Command("--addr", "127.0.0.1:0", "--quiet", f.path)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stderr)
	url := ""
	for sc.Scan() {
		if _, u, ok := strings.Cut(sc.Text(), " on http://"); ok {
			url = "http://" + u
			break
		}
	}
	if url == "" {
		cmd.Process.Kill()
		t.Fatal("the command did not say where it serves")
	}
	go io.Copy(io.Discard, stderr)
	resp, err := http.Get(url + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	resp.Body.Close()
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("no exit 30 s after SIGTERM")
	}
	if out, err := testenv.Command("--max-body", "0", f.path).CombinedOutput(); err == nil || !strings.Contains(string(out), "must be positive") {
		t.Errorf("--max-body 0: %v %s", err, out)
	}
}
