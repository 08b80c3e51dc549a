package kernels

// apply computes the activation of z.
func activate[T Float](a Act, z T) T {
	switch a {
	case ReLU:
		return max(z, 0)
	case ReLU6:
		return min(max(z, 0), 6)
	}
	return z
}

// passes reports whether the gradient flows through at pre-activation z.
func passes[T Float](a Act, z T) bool {
	switch a {
	case ReLU:
		return z > 0
	case ReLU6:
		return z > 0 && z < 6
	}
	return true
}

func ActForward[T Float](a Act, y, x []T) {
	ParallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			y[i] = activate(a, x[i])
		}
	})
}

func ActGrad[T Float](a Act, dx, x, dy []T) {
	ParallelFor(len(x), 1<<14, func(lo, hi int) {
		for i := lo; i < hi; i++ {
			if passes(a, x[i]) {
				dx[i] = dy[i]
			} else {
				dx[i] = 0
			}
		}
	})
}
