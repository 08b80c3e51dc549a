// Package model builds MobileNet v1 (Howard et al., 2017, "MobileNets:
// Efficient Convolutional Neural Networks for Mobile Vision Applications")
// from package layers, with the paper's width multiplier alpha and resolution
// multiplier, in the paper's ImageNet configuration and a CIFAR-10 one, and
// prints a per-layer summary of parameters and multiply-adds.
package model

import (
	"fmt"
	"math"
)

// Config is a MobileNet configuration: exactly what a checkpoint stores to
// rebuild the network.
type Config struct {
	Name       string  `json:"name"`        // "cifar10" or "imagenet" (informative)
	Alpha      float64 `json:"alpha"`       // width multiplier, in (0, 1.5]
	Resolution int     `json:"resolution"`  // input height and width
	Classes    int     `json:"classes"`     // classifier outputs, at least 2
	StemStride int     `json:"stem_stride"` // stride of the first convolution: 2 (ImageNet) or 1 (CIFAR-10)
	Dropout    float64 `json:"dropout"`     // dropout rate before the classifier, in [0, 1)

	// OutputStride is the ratio of the input's size to the last feature
	// map's: 0 keeps every stride of the paper (32 for ImageNet, 16 for
	// CIFAR-10); a smaller power of two turns the last stride-2 blocks into
	// stride-1 ones until the ratio is met, so that the network keeps a
	// larger map for more multiply-adds (tf-slim's mobilenet_v1
	// output_stride, without its atrous convolutions: the later filters
	// see a smaller part of the image instead).
	OutputStride int `json:"output_stride,omitempty"`
}

// ImageNet is the paper's configuration: 224×224 input, stem stride 2,
// 1000 classes.
func ImageNet(alpha float64) Config {
	return Config{Name: "imagenet", Alpha: alpha, Resolution: 224, Classes: 1000, StemStride: 2}
}

// CIFAR10 is the configuration for 32×32 CIFAR-10 images: stem stride 1,
// 10 classes.
func CIFAR10(alpha float64) Config {
	return Config{Name: "cifar10", Alpha: alpha, Resolution: 32, Classes: 10, StemStride: 1}
}

// Describe names the network in a few words for logs: the configuration,
// alpha and resolution, and the output stride when it is not the paper's.
func (c Config) Describe() string {
	d := fmt.Sprintf("%s alpha %g resolution %d", c.Name, c.Alpha, c.Resolution)
	if c.OutputStride != 0 {
		d += fmt.Sprintf(" output stride %d", c.OutputStride)
	}
	return d
}

// Preset returns the named configuration ("cifar10" or "imagenet").
func Preset(name string, alpha float64) (Config, error) {
	switch name {
	case "cifar10":
		return CIFAR10(alpha), nil
	case "imagenet":
		return ImageNet(alpha), nil
	}
	return Config{}, fmt.Errorf("unknown configuration %q (want cifar10 or imagenet)", name)
}

// block is one row of the paper's Table 1 after the stem: a depthwise-separable
// block with its output channels (at alpha 1) and depthwise stride.
type block struct{ out, stride int }

// body is Table 1 of the paper, after the first convolution.
var body = []block{
	{64, 1}, {128, 2}, {128, 1}, {256, 2}, {256, 1}, {512, 2},
	{512, 1}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
	{1024, 2}, {1024, 1},
}

const stemChannels = 32

// Channels applies the width multiplier to a channel count of the paper:
// ⌊n·alpha⌋, at least 1. This reproduces the paper's parameter and
// multiply-add counts (Table 6) and matches Keras' and the PyTorch reference.
func (c Config) Channels(n int) int {
	return max(1, int(math.Floor(float64(n)*c.Alpha+1e-9)))
}

// fullStride is the output stride of the paper's network: the stem's
// stride times that of every block.
func (c Config) fullStride() int {
	r := c.StemStride
	for _, b := range body {
		r *= b.stride
	}
	return r
}

// blockStrides lists the depthwise stride of each of the thirteen blocks:
// the paper's, with the last stride-2 ones made stride 1 as OutputStride
// asks.
func (c Config) blockStrides() []int {
	limit := c.OutputStride
	if limit == 0 {
		limit = c.fullStride()
	}
	s := make([]int, len(body))
	r := c.StemStride
	for i, b := range body {
		s[i] = b.stride
		if r*s[i] > limit {
			s[i] = 1
		}
		r *= s[i]
	}
	return s
}

// MinResolution is the smallest input size for which every stride-2 layer
// still halves a feature map: 2 to the number of stride-2 layers.
func (c Config) MinResolution() int {
	r := c.StemStride
	for _, s := range c.blockStrides() {
		r *= s
	}
	return r
}

// Validate reports what is wrong with the configuration.
func (c Config) Validate() error {
	switch {
	case !(c.Alpha > 0 && c.Alpha <= 1.5):
		return fmt.Errorf("alpha %g: must be in (0, 1.5]", c.Alpha)
	case c.Classes < 2:
		return fmt.Errorf("classes %d: need at least 2", c.Classes)
	case c.Classes > MaxClasses:
		return fmt.Errorf("classes %d: at most %d", c.Classes, MaxClasses)
	case c.StemStride != 1 && c.StemStride != 2:
		return fmt.Errorf("stem stride %d: must be 1 or 2", c.StemStride)
	case c.OutputStride != 0 && (c.OutputStride < c.StemStride || c.OutputStride > c.fullStride() || c.OutputStride&(c.OutputStride-1) != 0):
		return fmt.Errorf("output stride %d: must be 0 or a power of two from %d (the stem's stride) to %d", c.OutputStride, c.StemStride, c.fullStride())
	case c.Resolution < c.MinResolution():
		return fmt.Errorf("resolution %d: too small, the %s network needs at least %d", c.Resolution, c.Name, c.MinResolution())
	case c.Resolution > MaxResolution:
		return fmt.Errorf("resolution %d: too large, at most %d", c.Resolution, MaxResolution)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %g: must be in [0, 1)", c.Dropout)
	}
	return nil
}
