package train

import (
	"testing"

	"github.com/gomobilenet/mobilenet/blas"
	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestMain runs the tests, then checks that they left the BLAS backend
// that MOBILENET_BLAS pins (CI's two passes) and no loader goroutine behind.
func TestMain(m *testing.M) {
	testenv.Main(m, testenv.BLASPinned(blas.Requested), testenv.NoLeakedGoroutines("mobilenet/data.(*Loader)"))
}
