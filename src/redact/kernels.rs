//! Row kernels of the fills: 16-bit fixed point and wide lanes (AVX2 where
//! the CPU has it), and cache prefetching along a column of rows.

/// Rows ahead of the one being worked on whose cache lines are requested:
/// rows lie a stride apart, which the hardware prefetchers follow poorly.
pub(super) const PREFETCH_ROWS: usize = 8;

/// Asks for the cache lines of `bytes` ahead of their use (a hint only).
#[inline]
pub(super) fn prefetch(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    for line in bytes.chunks(64) {
        // SAFETY: a prefetch never faults and reads nothing; the address lies inside `bytes`.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}

/// `x` rounded to an i16, saturated.
#[inline]
pub(super) fn q16(x: f32) -> i16 {
    // `as` saturates; + 0.5 toward positive rounds all but negative halves.
    (x + 0.5) as i16
}

/// One row's fixed-point coefficients: `v` in Q15, `base` in 1/64 levels,
/// `slope` in 1/128 levels.
#[derive(Clone, Copy)]
pub(super) struct RowQ {
    pub(super) v: i16,
    pub(super) base: i16,
    pub(super) slope: i16,
}

/// The high half of a 16 x 16-bit product (one `pmulhw` lane).
#[inline(always)]
fn mul_high(a: i16, b: i16) -> i16 {
    ((i32::from(a) * i32::from(b)) >> 16) as i16
}

/// One planar row of the blur fill: `t + d v + base + slope u` in 1/64
/// levels, rounded and saturated to bytes. With AVX2, 16 lanes at a time.
/// `#[inline]`: called once per row from another module (codegen unit).
#[inline]
pub(super) fn blur_row(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
    #[inline(always)]
    fn kernel(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
        for (((p, &tv), &dv), &uv) in row.iter_mut().zip(t).zip(d).zip(u) {
            let vertical = tv.saturating_add(mul_high(dv, q.v));
            let linear = q.base.saturating_add(mul_high(uv, q.slope));
            let level = vertical.saturating_add(linear).saturating_add(32) >> 6;
            *p = level.clamp(0, 255) as u8;
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn kernel_avx2(row: &mut [u8], t: &[i16], d: &[i16], u: &[i16], q: RowQ) {
            kernel(row, t, d, u, q)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { kernel_avx2(row, t, d, u, q) };
        }
    }
    kernel(row, t, d, u, q)
}

/// `sums[i] += row[i]`, with AVX2 where the CPU has it. `#[inline]`, as `blur_row`.
#[inline]
pub(super) fn add_row(sums: &mut [u32], row: &[u8]) {
    #[inline(always)]
    fn kernel(sums: &mut [u32], row: &[u8]) {
        for (s, &v) in sums.iter_mut().zip(row) {
            *s += u32::from(v);
        }
    }
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn kernel_avx2(sums: &mut [u32], row: &[u8]) {
            kernel(sums, row)
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { kernel_avx2(sums, row) };
        }
    }
    kernel(sums, row)
}
