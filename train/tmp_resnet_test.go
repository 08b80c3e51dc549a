package train_test

import "testing"

func TestTmpResNetExample(t *testing.T) { ExampleRun_customNetwork() }
