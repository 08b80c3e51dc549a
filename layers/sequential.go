package layers

import (
	"fmt"
	"reflect"

	G "gorgonia.org/gorgonia"
)

// Sequential applies layers one after the other: Keras' Sequential,
// PyTorch's nn.Sequential. It is itself a Layer, so sequences nest.
type Sequential struct {
	Layers []Layer
}

// NewSequential returns the sequence of the given layers; a nil layer is an
// error (what a constructor's ignored error leaves behind).
func NewSequential(layers ...Layer) (*Sequential, error) {
	for i, l := range layers {
		if l == nil || isNilLayer(l) {
			return nil, fmt.Errorf("sequential: layer %d is nil", i)
		}
	}
	return &Sequential{Layers: layers}, nil
}

// isNilLayer catches typed nil pointers (a *Conv2D that failed to build),
// of any layer type, this package's or a user's.
func isNilLayer(l Layer) bool {
	v := reflect.ValueOf(l)
	switch v.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return v.IsNil()
	}
	return false
}

// Fwd applies every layer in order; an error names the layer's position.
func (s *Sequential) Fwd(x *G.Node) (*G.Node, error) {
	y := x
	var err error
	for i, l := range s.Layers {
		if y, err = l.Fwd(y); err != nil {
			return nil, fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return y, nil
}

// Learnables lists the trainable nodes of every layer, in order (frozen
// ones left out, as Builder.Learnables leaves them out).
func (s *Sequential) Learnables() G.Nodes {
	var r G.Nodes
	for _, l := range s.Layers {
		r = append(r, l.Learnables()...)
	}
	return r
}
