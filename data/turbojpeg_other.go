//go:build !linux && !darwin

package data

import "image"

type tj struct{ lib string }

func turbo() *tj { return nil }

func (*tj) decode([]byte) (image.Image, error)                      { return nil, nil }
func (*tj) decodeScaled([]byte, int) (image.Image, int, int, error) { return nil, 0, 0, nil }
