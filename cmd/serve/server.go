package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the decoders the server accepts
	_ "image/png"
	"io"
	"log"
	"mime"
	"mime/multipart"
	"net/http"
	"strconv"
	"time"

	"github.com/gomobilenet/mobilenet/classify"
	imagedata "github.com/gomobilenet/mobilenet/data"
)

// limits bound what one request may cost.
type limits struct {
	body     int64         // bytes of a request body
	pixels   int           // width × height of an image (a decompression bomb stops here, before decoding)
	timeout  time.Duration // of one classification, queueing included
	inflight int           // requests classified at once; more get 503
	top      int           // the most classes a request may ask for
}

// server answers the HTTP API over one Classifier.
type server struct {
	c     *classify.Classifier
	lim   limits
	model map[string]any // GET /v1/model
	slots chan struct{}
	log   *log.Logger
}

func newServer(c *classify.Classifier, lim limits, model map[string]any, logger *log.Logger) http.Handler {
	s := &server{c: c, lim: lim, model: model, slots: make(chan struct{}, lim.inflight), log: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/classify", s.classify)
	mux.HandleFunc("GET /v1/model", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.model) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, page)
	})
	return s.logged(mux)
}

// statusWriter records a response's status and size for the log line.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += n
	return n, err
}

// logged logs one line a request: method, path, status, bytes, duration,
// client.
func (s *server) logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		if s.log != nil {
			s.log.Printf("%s %s %d %dB %s %s", r.Method, r.URL.Path, sw.status, sw.n, time.Since(start).Round(time.Microsecond), r.RemoteAddr)
		}
	})
}

// apiError is an error with its HTTP status.
type apiError struct {
	status int
	msg    string
}

func (e apiError) Error() string { return e.msg }

func fail(status int, format string, args ...any) error {
	return apiError{status, fmt.Sprintf(format, args...)}
}

// classify handles POST /v1/classify: an image body (JPEG or PNG, raw or
// as a multipart form's file), ?top=K (default 5); JSON top-k back.
func (s *server) classify(w http.ResponseWriter, r *http.Request) {
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		writeError(w, fail(http.StatusServiceUnavailable, "busy: %d requests in flight, try again", s.lim.inflight))
		return
	}
	start := time.Now()
	top, err := s.top(r)
	if err != nil {
		writeError(w, err)
		return
	}
	img, err := s.readImage(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := contextWithTimeout(r, s.lim.timeout)
	defer cancel()
	classes, err := s.c.Classify(ctx, img, top)
	if err != nil {
		if ctx.Err() != nil {
			writeError(w, fail(http.StatusServiceUnavailable, "timed out after %v", s.lim.timeout))
			return
		}
		writeError(w, fail(http.StatusInternalServerError, "%v", err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"top": classes, "ms": float64(time.Since(start).Microseconds()) / 1000})
}

func (s *server) top(r *http.Request) (int, error) {
	q := r.URL.Query().Get("top")
	if q == "" {
		return min(5, s.lim.top), nil
	}
	k, err := strconv.Atoi(q)
	if err != nil || k < 1 || k > s.lim.top {
		return 0, fail(http.StatusBadRequest, "top %q: want a whole number in [1, %d]", q, s.lim.top)
	}
	return k, nil
}

// readImage reads the request's image within the limits: the body's size,
// then the image's size from its header, before it is decoded.
func (s *server) readImage(w http.ResponseWriter, r *http.Request) (image.Image, error) {
	body := http.MaxBytesReader(w, r.Body, s.lim.body)
	var data []byte
	var err error
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "multipart/form-data" {
		data, err = filePart(multipart.NewReader(body, params["boundary"]))
	} else {
		data, err = io.ReadAll(body)
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fail(http.StatusRequestEntityTooLarge, "request body over %d bytes", s.lim.body)
	case err != nil:
		return nil, fail(http.StatusBadRequest, "reading the request: %v", err)
	case len(data) == 0:
		return nil, fail(http.StatusBadRequest, "no image in the request (send a JPEG or PNG as the body, or as a multipart file)")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fail(http.StatusBadRequest, "not a JPEG or PNG image: %v", err)
	}
	if cfg.Width < 1 || cfg.Height < 1 || cfg.Width > s.lim.pixels/max(cfg.Height, 1) {
		return nil, fail(http.StatusRequestEntityTooLarge, "%s image of %d×%d pixels: more than the %d allowed", format, cfg.Width, cfg.Height, s.lim.pixels)
	}
	img, err := imagedata.Decode(data) // libjpeg-turbo's pixels where it loads, as predict's
	if err != nil {
		return nil, fail(http.StatusBadRequest, "decoding the %s image: %v", format, err)
	}
	return img, nil
}

// filePart returns the first file of a multipart form.
func filePart(mr *multipart.Reader) ([]byte, error) {
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if p.FileName() != "" || p.FormName() == "image" {
			return io.ReadAll(p)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	var ae apiError
	if errors.As(err, &ae) {
		status = ae.status
	}
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
