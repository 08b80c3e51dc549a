package data

import (
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestMain runs the tests, then checks that no loader goroutine outlives
// them (a test that abandons an epoch must cancel its context).
func TestMain(m *testing.M) { testenv.Main(m, testenv.NoLeakedGoroutines("mobilenet/data.(*Loader)")) }
