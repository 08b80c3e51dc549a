package main

import (
	"testing"

	"github.com/gomobilenet/mobilenet/internal/testenv"
)

// TestMain lets the tests run the command as a subprocess of the test
// binary itself (testenv.Command), with MOBILENET_DATA at an empty folder.
func TestMain(m *testing.M) { testenv.CommandMain(m, main) }
