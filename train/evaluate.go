package train

import (
	"github.com/gomobilenet/mobilenet/evaluate"
	"github.com/gomobilenet/mobilenet/layers"
)

// The evaluation of package evaluate, under the names training used
// before it moved there.

// Evaluator runs a network in inference mode (evaluate.Evaluator).
type Evaluator = evaluate.Evaluator

// EvalResult is the outcome of an evaluation (evaluate.Result).
type EvalResult = evaluate.Result

// Agreement compares two precisions' predictions (evaluate.Agreement).
type Agreement = evaluate.Agreement

// Test-time augmentations (evaluate.TTAFlip, evaluate.TTAFlipTranslate).
const (
	TTAFlip          = evaluate.TTAFlip
	TTAFlipTranslate = evaluate.TTAFlipTranslate
)

// NewEvaluator is evaluate.New.
func NewEvaluator(n layers.Network, batch int) (*Evaluator, error) { return evaluate.New(n, batch) }

// ParseTTA is evaluate.ParseTTA.
func ParseTTA(s string) (TTA, error) { return evaluate.ParseTTA(s) }

// TTA is evaluate.TTA.
type TTA = evaluate.TTA

// Mirror is evaluate.Mirror.
func Mirror(dst, x []float32, res int) { evaluate.Mirror(dst, x, res) }

// Translate is evaluate.Translate.
func Translate(dst, x []float32, res, d int) { evaluate.Translate(dst, x, res, d) }
