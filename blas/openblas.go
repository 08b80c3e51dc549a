package blas

import (
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/ebitengine/purego"
)

const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

type openBLAS struct {
	lib     string
	version string
	core    string // the kernel set OpenBLAS chose for this CPU (openblas_get_corename), "" when unknown
	sgemm_  func(order, tA, tB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	dgemm_  func(order, tA, tB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
}

var (
	loadOnce sync.Once
	loaded   *openBLAS
	loadErr  error
)

// libNames lists the shared-library names tried, in order.
func libNames() []string {
	switch runtime.GOOS {
	case "darwin":
		return []string{"libopenblas.dylib", "/opt/homebrew/opt/openblas/lib/libopenblas.dylib", "/usr/local/opt/openblas/lib/libopenblas.dylib"}
	default:
		return []string{"libopenblas.so.0", "libopenblas.so"}
	}
}

func loadOpenBLAS() (*openBLAS, error) {
	loadOnce.Do(func() { loaded, loadErr = dlopenOpenBLAS() })
	return loaded, loadErr
}

func dlopenOpenBLAS() (ob *openBLAS, err error) {
	defer func() {
		// purego panics when a symbol is missing; report it as an error.
		if r := recover(); r != nil {
			ob, err = nil, fmt.Errorf("openblas: %v", r)
		}
	}()
	var h uintptr
	var tried []string
	var name string
	for _, n := range libNames() {
		var e error
		h, e = purego.Dlopen(n, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if e == nil {
			name = n
			break
		}
		tried = append(tried, e.Error())
	}
	if h == 0 {
		return nil, fmt.Errorf("cannot load OpenBLAS (install it, e.g. apt-get install libopenblas0): %s", strings.Join(tried, "; "))
	}
	ob = &openBLAS{lib: name}
	purego.RegisterLibFunc(&ob.sgemm_, h, "cblas_sgemm")
	purego.RegisterLibFunc(&ob.dgemm_, h, "cblas_dgemm")
	var setThreads func(int32)
	purego.RegisterLibFunc(&setThreads, h, "openblas_set_num_threads")
	setThreads(1)
	ob.version = "openblas"
	if _, e := purego.Dlsym(h, "openblas_get_corename"); e == nil {
		var core func() string
		purego.RegisterLibFunc(&core, h, "openblas_get_corename")
		ob.core = core()
	}
	if _, e := purego.Dlsym(h, "openblas_get_config"); e == nil {
		var cfg func() string
		purego.RegisterLibFunc(&cfg, h, "openblas_get_config")
		if f := strings.Fields(cfg()); len(f) >= 2 {
			ob.version = "openblas " + f[1]
		}
	}
	return ob, nil
}

func (o *openBLAS) name() string {
	core := ""
	if o.core != "" {
		core = o.core + " kernels, "
	}
	return fmt.Sprintf("%s (%s%s, 1 thread per call)", o.version, core, o.lib)
}
func (o *openBLAS) parallel() bool { return false }

func ctr(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

func (o *openBLAS) sgemm(tA, tB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if k == 0 {
		a, b = []float32{0}, []float32{0}
	}
	o.sgemm_(cblasRowMajor, ctr(tA), ctr(tB), int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}

func (o *openBLAS) dgemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if k == 0 {
		a, b = []float64{0}, []float64{0}
	}
	o.dgemm_(cblasRowMajor, ctr(tA), ctr(tB), int32(m), int32(n), int32(k), alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}
