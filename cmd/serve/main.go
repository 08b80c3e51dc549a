// Command serve classifies images over HTTP with a trained checkpoint:
//
//	go run ./cmd/serve checkpoints/best.bin [--addr 127.0.0.1:8080]
//
// POST /v1/classify takes a JPEG or PNG (the request body, or a multipart
// form's file) and returns the top classes as JSON ({"top": [{"index",
// "name", "probability"}, …]}; ?top=K asks for K, 5 by default). GET
// /v1/model describes the checkpoint (configuration, classes,
// preprocessing), GET /healthz answers while the server is up, and GET /
// is a page to pick or drop an image and see its top five. Bad input is a
// 4xx with a JSON error; the request body, the image's pixels, the time a
// request may take and the requests in flight are bounded (413, 503).
// Concurrent requests are batched (package classify). SIGTERM or SIGINT
// shuts it down gracefully; each request is logged on one line.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/gomobilenet/mobilenet/evaluate"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/gomobilenet/mobilenet/classify"
	"github.com/gomobilenet/mobilenet/internal/cli"
	"github.com/gomobilenet/mobilenet/layers"
	"github.com/gomobilenet/mobilenet/model"
)

func main() {
	cli.TuneGC()
	cli.Main("serve", run)
}

func run(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var (
		addr      = fs.String("addr", "127.0.0.1:8080", "address to listen on")
		threads   = fs.Int("threads", runtime.NumCPU(), "CPU threads to use")
		blasName  = fs.String("blas", cli.DefaultBLAS(), cli.BLASUsage)
		precision = fs.String("precision", cli.DefaultPrecision, cli.PrecisionUsage)
		tta       = fs.String("tta", "none", "test-time augmentation: none, flip or flip-translate")
		batch     = fs.Int("batch", 64, "most images classified at once (concurrent requests are batched)")
		maxBody   = fs.Int64("max-body", 10<<20, "largest request body, bytes (413 past it)")
		maxPixels = fs.Int("max-pixels", 40_000_000, "largest image, width × height, checked before decoding (413 past it)")
		timeout   = fs.Duration("timeout", 30*time.Second, "longest a classification may take, queueing included (503 past it)")
		inflight  = fs.Int("max-inflight", 256, "most requests classified at once (503 past it)")
		quiet     = fs.Bool("quiet", false, "no log line per request")
	)
	pos, err := cli.Parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("want one checkpoint (got %d arguments; see -h)", len(pos))
	}
	if *maxBody < 1 || *maxPixels < 1 || *timeout <= 0 || *inflight < 1 || *batch < 1 {
		return fmt.Errorf("--max-body, --max-pixels, --timeout, --max-inflight and --batch must be positive")
	}
	if _, _, err := cli.Compute(*threads, *blasName, "fused"); err != nil {
		return err
	}
	prec, precNote, err := cli.Precision("precision", *precision)
	if err != nil {
		return err
	}
	ttaName, err := evaluate.ParseTTA(*tta)
	if err != nil {
		return err
	}
	m, hdr, err := evaluate.Load(pos[0], 0)
	if err != nil {
		return err
	}
	c, err := classify.New(m, hdr, classify.Options{Precision: prec, TTA: ttaName, Batch: *batch})
	if err != nil {
		return err
	}
	defer c.Close()
	model := modelInfo(pos[0], m.Config, hdr, c, prec, *tta)
	var logger *log.Logger
	if !*quiet {
		logger = log.New(os.Stderr, "", log.LstdFlags|log.Lmicroseconds)
	}
	h := newServer(c, limits{body: *maxBody, pixels: *maxPixels, timeout: *timeout, inflight: *inflight, top: m.Config.Classes}, model, logger)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, WriteTimeout: *timeout + time.Minute}
	fmt.Fprintf(os.Stderr, "serving %s (MobileNet v1 %s, %d classes, precision %s) on http://%s\n", pos[0], m.Config.Describe(), m.Config.Classes, cli.PrecisionText(prec, precNote), ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(os.Stderr, "shutting down: finishing the requests in flight")
	shut, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// modelInfo is what GET /v1/model says of the checkpoint.
func modelInfo(path string, cfg model.Config, hdr evaluate.Checkpoint, c *classify.Classifier, prec layers.Precision, tta string) map[string]any {
	return map[string]any{"checkpoint": path, "config": cfg, "classes": c.Classes(), "preprocess": hdr.Preprocess(),
		"precision": prec.String(), "tta": tta, "epoch": hdr.Epoch, "test_accuracy": hdr.TestAcc}
}

// contextWithTimeout is the request's context with the classification's
// time limit.
func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}
