// Package cli holds what the commands share: the exit convention and the
// compute set-up (threads, BLAS backend, depthwise implementation).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/data"
	"github.com/gomobilenet/mobilenet/internal/cpu"
	"github.com/gomobilenet/mobilenet/layers"
)

// Main runs a command: -h exits 0, an error prints one line "name: error"
// on standard error and exits 1.
func Main(name string, run func(args []string) error) {
	if err := run(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, name+": ") { // the train package already names itself
			msg = name + ": " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
		os.Exit(1)
	}
}

// MaxThreads bounds --threads: beyond the cores there is nothing to gain,
// and tens of thousands of threads exhaust the Go runtime's limit.
const MaxThreads = 1024

// BLASEnv names the environment variable that sets the --blas default.
const BLASEnv = "MOBILENET_BLAS"

// DefaultBLAS is the commands' --blas default: $MOBILENET_BLAS when set
// (how CI pins every test's subprocesses to one backend), else auto. The
// flag, when given, overrides it.
func DefaultBLAS() string {
	if v := os.Getenv(BLASEnv); v != "" {
		return v
	}
	return blas.Auto
}

// BLASUsage is the --blas flag's help text.
const BLASUsage = "matrix-multiply backend: auto, go or openblas (default $" + BLASEnv + " when set, else auto)"

// DefaultPrecision is the commands' --precision default: bf16 where the
// CPU runs bf16 products faster than float32 (blas.PreferBF16: on AMX
// tiles; with AVX512-BF16 alone where a start-up calibration measures them
// faster), else fp32. Training in bf16 matched fp32's accuracy on the
// short recipe (two seeds each, Xeon 6/167: 87.92 and 87.71 against 88.00
// and 87.41) and evaluating an fp32-trained checkpoint in bf16 kept 99.87%
// of its top-1 answers (issue #37).
const DefaultPrecision = "auto"

// PrecisionUsage is the --precision flag's help text.
const PrecisionUsage = "matrix products: fp32, bf16 (bf16 inputs, fp32 sums: needs AMX or AVX512-BF16) or auto (bf16 where this CPU runs those faster than fp32: with AMX; with AVX512-BF16 alone where measured faster at start-up; else fp32)"

// Precision reads the value s of the flag named flag (--precision): fp32,
// bf16 (an error where the CPU has neither AMX nor AVX512-BF16, or
// MOBILENET_KERNELS lowered the tier below them) or auto (bf16 where
// blas.PreferBF16 says it pays, else fp32). The note says why auto chose
// what it did ("" for fp32 and bf16); call it after Compute, which sets
// the BLAS backend auto compares against.
func Precision(flag, s string) (p layers.Precision, note string, err error) {
	if strings.ToLower(strings.TrimSpace(s)) == "auto" {
		prefer, why := blas.PreferBF16()
		if prefer {
			return layers.BF16, "auto: " + why, nil
		}
		return layers.FP32, "auto: " + why, nil
	}
	p, err = layers.ParsePrecision(s)
	if err != nil {
		return p, "", fmt.Errorf("--%s: %w (or auto)", flag, err)
	}
	if p == layers.BF16 && !blas.HaveBF16() {
		return p, "", fmt.Errorf("--%s bf16: this CPU runs the %s kernel tier, without bf16 products (they need AMX or AVX512-BF16: avx512-bf16 or avx512-amx)", flag, cpu.Describe())
	}
	return p, "", nil
}

// PrecisionText is a precision for the commands' start-up line: its name,
// and auto's reason in brackets.
func PrecisionText(p layers.Precision, note string) string {
	if note == "" {
		return p.String()
	}
	return p.String() + " (" + note + ")"
}

// Compute sets the number of threads and the BLAS backend and parses the
// depthwise implementation; it returns the backend's name.
func Compute(threads int, blasName, depthwise string) (string, layers.DepthwiseImpl, error) {
	impl, err := layers.ParseDepthwiseImpl(depthwise)
	if err != nil {
		return "", 0, err
	}
	if threads < 1 || threads > MaxThreads {
		return "", 0, fmt.Errorf("--threads %d: must be in [1, %d]", threads, MaxThreads)
	}
	if err := cpu.Err(); err != nil {
		return "", 0, err
	}
	runtime.GOMAXPROCS(threads)
	backend, err := blas.Use(blasName)
	if err != nil {
		return "", 0, err
	}
	return backend, impl, nil
}

// TuneGC sets the garbage collector's target to 25% (unless GOGC is set).
// A model's heap is mostly activation, gradient and optimizer buffers that
// live as long as the process and are reused every step, and a step
// allocates little; under the default 100% that little garbage piles up to
// the size of all those buffers before a collection, which doubles the peak
// memory of a long run (3.0 GB against 1.9 GB over three epochs at alpha
// 0.75, at the same speed).
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(25)
	}
}

// CPUName is the processor's model name with its family and model numbers
// ("AMD EPYC (family 25 model 17)", "Intel(R) Xeon(R) Platinum 8488C
// (family 6 model 143)", from /proc/cpuinfo: a virtual machine's bare "AMD
// EPYC" names Zen 4 and Zen 5 alike), or the architecture where unknown.
func CPUName() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	return cpuName(string(b))
}

// cpuName reads CPUName from the text of /proc/cpuinfo (its first processor).
func cpuName(info string) string {
	fields := map[string]string{}
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := fields[k]; !seen {
			fields[k] = strings.TrimSpace(v)
		}
	}
	name := fields["model name"]
	if name == "" {
		return runtime.GOARCH
	}
	if fam, mod := fields["cpu family"], fields["model"]; fam != "" && mod != "" {
		name += " (family " + fam + " model " + mod + ")"
	}
	return name
}

// Parse parses fs's flags wherever they stand among args (before, between
// or after the positional arguments) and returns the positional ones.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	return pos, nil
}

// StartCPUProfile starts a pprof CPU profile into path (the commands'
// --cpuprofile); the returned stop ends it and closes the file. An empty
// path profiles nothing.
func StartCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// Machine describes the machine and compute settings of a run for its
// record (train.Options.Machine): the CPU, the threads, the GEMM backend
// and kernel tier, the precision of the products, the JPEG decoder, the depthwise implementation, Go's version, the
// binary's source revision when the build recorded one, and
// OPENBLAS_CORETYPE when set.
func Machine(threads int, backend string, depthwise layers.DepthwiseImpl, prec layers.Precision) map[string]string {
	m := map[string]string{
		"precision": prec.String(),
		"jpeg":      data.JPEGDecoder(),
		"cpu":       CPUName(),
		"threads":   fmt.Sprint(threads),
		"blas":      backend,
		"kernels":   layers.Kernels(),
		"depthwise": depthwise.String(),
		"go":        runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m["revision"] = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					m["modified"] = "true" // uncommitted changes in the build
				}
			}
		}
	}
	if v := os.Getenv("OPENBLAS_CORETYPE"); v != "" {
		m["openblas_coretype"] = v
	}
	return m
}
