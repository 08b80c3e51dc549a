package kernels

func PoolForward[T Float](y, x []T, hw int) {
	for i := range y {
		s, _ := sumSq(x[i*hw:(i+1)*hw], 0)
		y[i] = T(s / float64(hw))
	}
}

func PoolGrad[T Float](dx, dy []T, hw int) {
	for i, g := range dy {
		v := g / T(hw)
		p := dx[i*hw : (i+1)*hw]
		for j := range p {
			p[j] = v
		}
	}
}

func BiasForward[T Float](y, x, b []T, n, c, inner int) {
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			o := (i*c + j) * inner
			v := b[j]
			ys, xs := y[o:o+inner], x[o:o+inner]
			for p := range ys {
				ys[p] = xs[p] + v
			}
		}
	}
}

func BiasGrad[T Float](db, dy []T, n, c, inner int) {
	clear(db)
	for i := 0; i < n; i++ {
		for j := 0; j < c; j++ {
			o := (i*c + j) * inner
			var s T
			for _, v := range dy[o : o+inner] {
				s += v
			}
			db[j] += s
		}
	}
}

func ApplyMask[T Float](y, x []T, mask []bool, training bool, keep float64) {
	if !training {
		copy(y, x)
		return
	}
	k := T(keep)
	for i, v := range x {
		if mask[i] {
			y[i] = v * k
		} else {
			y[i] = 0
		}
	}
}
