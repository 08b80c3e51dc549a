package blas

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

func naiveGemm(tA, tB bool, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				var av, bv float64
				if tA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if tB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += av * bv
			}
			c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
		}
	}
}

func backends(t *testing.T) []string {
	names := []string{Go}
	switch _, err := loadOpenBLAS(); {
	case err == nil:
		names = append(names, OpenBLAS)
		testenv.Ran(t, "openblas")
	case testenv.Required("openblas"):
		t.Fatalf("OpenBLAS is required here (%s) but cannot be loaded: %v", testenv.RequireEnv, err)
	default:
		t.Logf("OpenBLAS not available, testing the Go backend only: %v", err)
	}
	return names
}

func TestGemmMatchesNaive(t *testing.T) {
	defer Use(Backend())
	rng := rand.New(rand.NewPCG(1, 2))
	shapes := [][3]int{{1, 1, 1}, {3, 5, 7}, {48, 24, 1000}, {700, 33, 40}, {17, 300, 64}, {64, 2048, 96}}
	for _, be := range backends(t) {
		if _, err := Use(be); err != nil {
			t.Fatal(err)
		}
		for _, s := range shapes {
			m, n, k := s[0], s[1], s[2]
			for _, tA := range []bool{false, true} {
				for _, tB := range []bool{false, true} {
					a := make([]float64, m*k)
					b := make([]float64, k*n)
					c := make([]float64, m*n)
					for i := range a {
						a[i] = rng.NormFloat64()
					}
					for i := range b {
						b[i] = rng.NormFloat64()
					}
					for i := range c {
						c[i] = rng.NormFloat64()
					}
					lda, ldb := k, n
					if tA {
						lda = m
					}
					if tB {
						ldb = k
					}
					want := append([]float64(nil), c...)
					naiveGemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, want, n)
					want32 := f64(to32(c)) // the definition on the float32 inputs
					naiveGemm(tA, tB, m, n, k, 0.5, f64(to32(a)), lda, f64(to32(b)), ldb, 0.25, want32, n)
					scale := sumScale(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, c, n)
					got64 := append([]float64(nil), c...)
					Gemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, got64, n)
					a32, b32, got32 := to32(a), to32(b), to32(c)
					Gemm(tA, tB, m, n, k, float32(0.5), a32, lda, b32, ldb, float32(0.25), got32, n)
					for i := range want {
						if d := math.Abs(got64[i] - want[i]); d > 1e-9*float64(k+1) {
							t.Fatalf("%s f64 %v tA=%v tB=%v: c[%d]=%v want %v", be, s, tA, tB, i, got64[i], want[i])
						}
						if d := math.Abs(float64(got32[i]) - want32[i]); d > tol32(k, scale[i]) {
							t.Fatalf("%s f32 %v tA=%v tB=%v: c[%d]=%v want %v (%.3g of √(k+2)·u·S)", be, s, tA, tB, i, got32[i], want32[i], d/(math.Sqrt(float64(k+2))*u32*scale[i]))
						}
					}
				}
			}
		}
	}
}

// randNormal returns rows×ld normal values (at least one).
func randNormal(rng *rand.Rand, rows, ld int) []float64 {
	v := make([]float64, max(rows*ld, 1))
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

func to32(x []float64) []float32 {
	r := make([]float32, len(x))
	for i, v := range x {
		r[i] = float32(v)
	}
	return r
}

func TestUseUnknown(t *testing.T) {
	if _, err := Use("mkl"); err == nil {
		t.Fatal("Use(mkl) gave no error")
	}
}

// TestSgemmKernels holds the pure-Go backend's float32 GEMM (blocked, with
// each assembly micro-kernel this CPU runs) to the float64 definition: every
// transpose, leading dimensions above the minimum, alpha and beta including
// 0 and 1, k = 0, and sizes around the tiles (6×16 … 14×32) and the block
// (96, 256, 2048) edges; B read in place and packed.
func TestSgemmKernels(t *testing.T) {
	ks := allKernels()
	testenv.Need(t, "avx2", len(ks) > 0, "no AVX2/FMA on this CPU (or -tags purego, or MOBILENET_KERNELS=go): gonum serves float32")
	if haveAVX512 {
		testenv.Ran(t, "avx512")
	}
	for _, mk := range ks {
		testKernel(t, mk)
		testKernel(t, mk.withPackedB()) // B read in place above; packed here
	}
}

func testKernel(t *testing.T, mk *microKernel) {
	rng := rand.New(rand.NewPCG(3, 4))
	shapes := [][3]int{{1, 1, 1}, {6, 16, 1}, {5, 15, 3}, {7, 17, 9}, {13, 33, 0}, {97, 40, 257}, {12, 2049, 20}, {192, 96, 64}, {14, 64, 5}, {29, 97, 3}, {8, 2017, 2}}
	for _, s := range shapes {
		m, n, k := s[0], s[1], s[2]
		for _, tA := range []bool{false, true} {
			for _, tB := range []bool{false, true} {
				for _, ab := range [][2]float32{{1, 0}, {0.5, 1}, {-1.5, 0.25}, {0, 2}} {
					lda, ldb, ldc := k+3, n+2, n+5
					if tA {
						lda = m + 1
					}
					if tB {
						ldb = k + 4
					}
					rows := func(r, ld int) []float64 { return randNormal(rng, r, ld) }
					a, b, c := rows(max(m, k), lda), rows(max(k, n), ldb), rows(m, ldc)
					want := f64(to32(c))
					naiveGemm(tA, tB, m, n, k, float64(ab[0]), f64(to32(a)), lda, f64(to32(b)), ldb, float64(ab[1]), want, ldc)
					scale := sumScale(tA, tB, m, n, k, float64(ab[0]), a, lda, b, ldb, float64(ab[1]), c, ldc)
					got := to32(c)
					sgemmBlocked(mk, tA, tB, m, n, k, ab[0], to32(a), lda, to32(b), ldb, ab[1], got, ldc)
					for i := range want {
						if i%ldc >= n { // outside C: untouched
							if got[i] != float32(c[i]) {
								t.Fatalf("%s %v tA=%v tB=%v: wrote c[%d] outside the matrix", mk.name, s, tA, tB, i)
							}
							continue
						}
						if d := math.Abs(float64(got[i]) - want[i]); d > tol32(k, scale[i]) {
							t.Fatalf("%s %v tA=%v tB=%v alpha,beta=%v: c[%d]=%v want %v (%.3g of √(k+2)·u·S)", mk.name, s, tA, tB, ab, i, got[i], want[i], d/(math.Sqrt(float64(k+2))*u32*scale[i]))
						}
					}
				}
			}
		}
	}
}

func f64(x []float32) []float64 {
	r := make([]float64, len(x))
	for i, v := range x {
		r[i] = float64(v)
	}
	return r
}

// TestBadEnvironmentDoesNotExit: a bad MOBILENET_BLAS used to end any
// program importing the package (os.Exit from init). Now the process runs,
// Ready reports the setting, and Use overrides it.
func TestBadEnvironmentDoesNotExit(t *testing.T) {
	if os.Getenv("BLAS_ENV_CHILD") == "1" {
		err := Ready()
		if err == nil || !strings.Contains(err.Error(), `MOBILENET_BLAS="mkl"`) {
			fmt.Println("Ready:", err)
			os.Exit(3)
		}
		if _, err := Use(Go); err != nil || Ready() != nil {
			fmt.Println("after Use:", err, Ready())
			os.Exit(4)
		}
		fmt.Println("child ok")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestBadEnvironmentDoesNotExit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BLAS_ENV_CHILD=1", "MOBILENET_BLAS=mkl")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child ok") {
		t.Fatalf("child with MOBILENET_BLAS=mkl: %v\n%s", err, out)
	}
}

// withBackend runs f with the backend set to b.
func withBackend(b impl, f func()) {
	mu.Lock()
	old := current
	current = b
	mu.Unlock()
	defer func() {
		mu.Lock()
		current = old
		mu.Unlock()
	}()
	f()
}

// TestAllKernelsCoverTheTier: every micro-kernel the active tier can run
// for some shape is among those TestSgemmKernels and TestGemmPacked test.
func TestAllKernelsCoverTheTier(t *testing.T) {
	best := bestKernel()
	if best == nil {
		return
	}
	tested := map[*microKernel]bool{}
	for _, mk := range allKernels() {
		tested[mk] = true
	}
	for _, m := range []int{1, 6, 12, 24, 48, 96, 384, 1000} {
		for _, n := range []int{0, 1, 4, 16, 17, 24, 32, 64, 256, 2048} {
			if mk := kernelFor(best, m, n); !tested[mk] {
				t.Errorf("kernelFor(%s, %d, %d) = %s, which allKernels leaves out", best.name, m, n, mk.name)
			}
		}
	}
	if haveAVX512 && len(allKernels()) < 6 {
		t.Errorf("allKernels lists %d kernels on the AVX-512 tier, want every AVX-512 kernel", len(allKernels()))
	}
}

// TestGemmPacked: products with a prepacked left operand equal the
// definition under every micro-kernel and under gonum (which does not
// pack), for both transposes of A and B, with the Packed reused across
// shapes, narrow products packed for their width; float64 goes through
// unpacked.
func TestGemmPacked(t *testing.T) {
	backends := []impl{goImpl{}}
	for _, mk := range allKernels() {
		backends = append(backends, goAsm{mk: mk}, goAsm{mk: mk.withPackedB()})
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var p *Packed
	for _, be := range backends {
		withBackend(be, func() {
			for _, s := range [][3]int{{48, 1024, 24}, {13, 37, 300}, {1, 5, 1}, {96, 64, 520}, {7, 3, 0}, {40, 16, 300}, {19, 7, 33}} {
				m, n, k := s[0], s[1], s[2]
				for _, tA := range []bool{false, true} {
					for _, tB := range []bool{false, true} {
						lda, ldb, ldc := k+1, n+3, n+2
						if tA {
							lda = m + 2
						}
						if tB {
							ldb = k + 5
						}
						rnd := func(r, ld int) []float64 { return randNormal(rng, r, ld) }
						a, b, c := rnd(max(m, k), lda), rnd(max(k, n), ldb), rnd(m, ldc)
						want := f64(to32(c))
						naiveGemm(tA, tB, m, n, k, 0.5, f64(to32(a)), lda, f64(to32(b)), ldb, 0.25, want, ldc)
						scale := sumScale(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, c, ldc)
						if n <= 16 { // PackFor: the narrow kernel under AVX-512
							p = PackFor(p, n, tA, m, k, to32(a), lda)
						} else {
							p = Pack(p, tA, m, k, to32(a), lda)
						}
						got := to32(c)
						GemmPacked(p, tB, n, float32(0.5), to32(b), ldb, 0.25, got, ldc)
						got64 := append([]float64(nil), c...)
						GemmPacked(Pack(nil, tA, m, k, a, lda), tB, n, 0.5, b, ldb, 0.25, got64, ldc)
						want64 := append([]float64(nil), c...)
						naiveGemm(tA, tB, m, n, k, 0.5, a, lda, b, ldb, 0.25, want64, ldc)
						for i := range want {
							if i%ldc >= n {
								continue
							}
							if d := math.Abs(float64(got[i]) - want[i]); d > tol32(k, scale[i]) {
								t.Fatalf("%s %v tA=%v tB=%v: c[%d]=%v want %v", be.name(), s, tA, tB, i, got[i], want[i])
							}
							if d := math.Abs(got64[i] - want64[i]); d > 1e-12*float64(k+1)*(1+math.Abs(want64[i])) {
								t.Fatalf("float64 %v: c[%d]=%v want %v", s, i, got64[i], want64[i])
							}
						}
					}
				}
			}
		})
	}
}

// TestPickAuto: Auto never picks OpenBLAS where it runs generic kernels or
// is not measured faster than the pure-Go GEMM, and always where the
// pure-Go backend has no assembly.
func TestPickAuto(t *testing.T) {
	for _, c := range []struct {
		loaded  bool
		core    string
		asm     bool
		goSec   float64
		obSec   float64
		want    bool
		wantWhy string
	}{
		{false, "", true, 0, 0, false, "not found"},
		{true, "Prescott", true, 0, 0, false, "generic Prescott"},
		{true, "Haswell", true, 1.0, 0.5, true, "2.00x"},
		{true, "Haswell", true, 1.0, 0.98, false, "1.02x"},
		{true, "Cooperlake", true, 1.1, 1.0, false, "1.10x"}, // within the margin: ours
		{true, "SkylakeX", true, 1.2, 1.0, true, "1.20x"},
		{true, "SkylakeX", true, 0.5, 1.0, false, "0.50x"},
		{true, "Prescott", false, 0, 0, true, "no assembly"},
	} {
		got, why := pickAuto(c.loaded, c.core, c.asm, c.goSec, c.obSec)
		if got != c.want || !strings.Contains(why, c.wantWhy) {
			t.Errorf("pickAuto(%v, %q, %v, %g, %g) = %v, %q; want %v, %q", c.loaded, c.core, c.asm, c.goSec, c.obSec, got, why, c.want, c.wantWhy)
		}
	}
	defer Use(Backend())
	name, err := Use(Auto)
	if err != nil || !strings.Contains(name, "; auto: ") {
		t.Errorf("Use(Auto) = %q, %v: want the reason of the choice", name, err)
	}
}
