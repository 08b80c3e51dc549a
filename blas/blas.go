// Package blas selects the matrix-multiply backend used by this project's
// layers and by Gorgonia's own ops.
//
// Two backends exist: pure Go (always available: on amd64 with AVX2 and FMA
// our own blocked float32 GEMM with an assembly micro-kernel, sgemm.go;
// elsewhere, and for float64, gonum's) and OpenBLAS, loaded
// at run time with dlopen (github.com/ebitengine/purego), so that the build
// stays pure Go (CGO_ENABLED=0 works) and a binary runs on machines with or
// without the library. OpenBLAS is put in single-threaded mode: its own worker
// threads busy-wait after each call and slow down the Go kernels that run
// between GEMMs, so the callers split large products across goroutines
// themselves (see Gemm).
//
// The backend is process-wide, as Gorgonia's is (gorgonia.Use): choose it once
// at start-up with Use, before building or running graphs. Until Use is
// called it is the one the environment variable MOBILENET_BLAS names (auto,
// go or openblas; how CI runs every test under both), else Go.
package blas

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/gomobilenet/mobilenet/internal/parallel"
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// Backend names accepted by Use.
const (
	Auto     = "auto"     // whichever of OpenBLAS and Go is measured faster here (OpenBLAS never when it runs generic kernels)
	Go       = "go"       // the pure-Go GEMM (sgemm.go with AVX2, else gonum)
	OpenBLAS = "openblas" // OpenBLAS loaded at run time; an error when it cannot be loaded
)

// impl is the float32/float64 GEMM pair a backend provides. Calls are
// single-threaded or internally parallel; Gemm adds the goroutine split.
type impl interface {
	name() string
	sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
	// parallel reports whether one call already uses every core.
	parallel() bool
}

var (
	mu        sync.RWMutex
	current   = pureGo()
	requested = Go // the name given to the last Use
)

// Use selects the backend: Auto, Go or OpenBLAS. It also routes Gorgonia's
// own GEMMs (gorgonia.Use) through it. It returns the name of the backend in
// use, e.g. "openblas 0.3.21 (libopenblas.so.0)" or "go (gonum)".
func Use(name string) (string, error) {
	var b impl
	note := ""
	switch name {
	case Go:
		b = pureGo()
	case OpenBLAS:
		ob, err := loadOpenBLAS()
		if err != nil {
			return "", fmt.Errorf("blas: openblas: %w", err)
		}
		b = ob
	case Auto, "":
		var why string
		b, why = chooseAuto()
		note = "; auto: " + why
	default:
		return "", fmt.Errorf("blas: unknown backend %q (want auto, go or openblas)", name)
	}
	if name == "" {
		name = Auto
	}
	mu.Lock()
	current, envErr, requested = b, nil, name
	mu.Unlock()
	return b.name() + note, nil
}

// envErr is a bad MOBILENET_BLAS, reported by Ready until Use overrides it.
var envErr error

func init() {
	G.Use(gorgoniaBLAS{Implementation: gonum.Implementation{}})
	if name := os.Getenv("MOBILENET_BLAS"); name != "" {
		if _, err := Use(name); err != nil {
			envErr = fmt.Errorf("blas: environment variable MOBILENET_BLAS=%q: %s", name, strings.TrimPrefix(err.Error(), "blas: "))
		}
	}
}

// Ready reports whether the backend was configured as asked: it returns the
// error of a bad MOBILENET_BLAS (an unknown name, or openblas where the
// library cannot be loaded) until a call of Use chooses a backend. Until
// then the pure-Go backend runs. The layers' ops call it, so that a bad
// setting fails the graph's run with this error instead of running
// silently on another backend (importing the package never exits).
func Ready() error {
	mu.RLock()
	defer mu.RUnlock()
	return envErr
}

// Backend returns the backend in use as Use names it, Go or OpenBLAS
// (never Auto: the one Auto chose), so that code which switches backends
// for a while can restore exactly the one it found: Use(Backend()).
func Backend() string {
	if _, ok := get().(*openBLAS); ok {
		return OpenBLAS
	}
	return Go
}

// Requested returns the name given to the last Use (Go, OpenBLAS or Auto),
// or Go when Use has not been called. Tests check with it that a backend
// pinned by MOBILENET_BLAS stays pinned (Auto is a timed choice).
func Requested() string {
	mu.RLock()
	defer mu.RUnlock()
	return requested
}

// Name returns the name of the backend in use.
func Name() string { return get().name() }

func get() impl {
	mu.RLock()
	defer mu.RUnlock()
	return current
}

// Float is the element type of the GEMMs: float32 or float64.
type Float interface{ ~float32 | ~float64 }

// Gemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, where
// op(X) is X or Xᵀ; C is m×n and the inner dimension is k. Large products are
// split by columns (or by rows) over all cores.
func Gemm[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	be := get()
	workers := runtime.GOMAXPROCS(0)
	flops := 2 * m * n * k
	if be.parallel() || workers == 1 || flops < 1<<21 {
		Gemm1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	// One part per core, run on the cores' team (package parallel).
	split(workers, 1, tA, tB, m, n, a, lda, b, ldb, c, ldc, func(m, n int, a, b, c []T) {
		Gemm1(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	})
}

// split runs part(m', n', a', b', c') for parts of C on the cores' team
// (package parallel), one part a worker: C's columns when n ≥ m, else its
// rows, cut at multiples of align (the last part takes the rest), with the
// operands' slices starting at the part.
func split[T Float](workers, align int, tA, tB bool, m, n int, a []T, lda int, b []T, ldb int, c []T, ldc int, part func(m, n int, a, b, c []T)) {
	cut := func(n, w int) int {
		if w >= workers {
			return n
		}
		return min(n, n/align*w/workers*align)
	}
	if n >= m {
		parallel.Chunks(workers, 1, func(_, w, _ int) {
			j0, j1 := cut(n, w), cut(n, w+1)
			if j0 == j1 {
				return
			}
			bs := b[j0:]
			if tB {
				bs = b[j0*ldb:]
			}
			part(m, j1-j0, a, bs, c[j0:])
		})
		return
	}
	parallel.Chunks(workers, 1, func(_, w, _ int) {
		i0, i1 := cut(m, w), cut(m, w+1)
		if i0 == i1 {
			return
		}
		as := a[i0*lda:]
		if tA {
			as = a[i0:]
		}
		part(i1-i0, n, as, b, c[i0*ldc:])
	})
}

// Gemm1 is Gemm on the calling goroutine only (no split), for callers that
// already run one product per core.
func Gemm1[T Float](tA, tB bool, m, n, k int, alpha T, a []T, lda int, b []T, ldb int, beta T, c []T, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	switch c := any(c).(type) {
	case []float32:
		get().sgemm(tA, tB, m, n, k, float32(alpha), any(a).([]float32), lda, any(b).([]float32), ldb, float32(beta), c, ldc)
	case []float64:
		get().dgemm(tA, tB, m, n, k, float64(alpha), any(a).([]float64), lda, any(b).([]float64), ldb, float64(beta), c, ldc)
	}
}

func tr(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}

// goAsm is the pure-Go backend on CPUs with AVX2 or AVX-512: float32
// through sgemmBlocked with the tier's micro-kernel (single-threaded, split
// by Gemm), float64 through gonum.
type goAsm struct {
	goImpl
	mk *microKernel
}

func (g goAsm) name() string {
	if alt := kernelFor(g.mk, 12, 32); alt != g.mk { // a second kernel for some shapes
		return "go (" + g.mk.name + " and " + alt.name + " sgemm, by shape)"
	}
	return "go (" + g.mk.name + " sgemm)"
}
func (goAsm) parallel() bool { return false }
func (g goAsm) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if useNT(tA, tB, m, n, k) {
		sgemmNT(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	sgemmBlocked(kernelFor(g.mk, m, n), tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// pureGo is the pure-Go backend for this CPU.
func pureGo() impl {
	if mk := bestKernel(); mk != nil {
		return goAsm{mk: mk}
	}
	return goImpl{}
}

type goImpl struct{}

func (goImpl) name() string   { return "go (gonum)" }
func (goImpl) parallel() bool { return true }
func (goImpl) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	gonum.Implementation{}.Sgemm(tr(tA), tr(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
func (goImpl) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gonum.Implementation{}.Dgemm(tr(tA), tr(tB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// gorgoniaBLAS serves Gorgonia's stock ops: gonum for everything, with the
// GEMMs routed through the selected backend.
type gorgoniaBLAS struct{ gonum.Implementation }

func (gorgoniaBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	Gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (gorgoniaBLAS) Dgemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	Gemm(tA != blas.NoTrans, tB != blas.NoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
