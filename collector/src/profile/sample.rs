//! Profile §1: each mutator's sampler (the distance to the next sample
//! point) and the capture of a sampled allocation's stack.

/// Frames kept per sample, the collector's own included (they are trimmed
/// when the profile is written, profile §4).
const MAX_FRAMES: usize = 64;

/// A mutator's sampling state: the rate it last saw and its random numbers.
pub(crate) struct Sampler {
    /// The rate the current sample point was drawn at (0: off).
    pub(crate) rate: u64,
    state: u64,
}

impl Sampler {
    /// A sampler seeded from the mutator's id (profile §1: the same program
    /// samples the same objects).
    pub(crate) fn new(seed: u64) -> Sampler {
        Sampler {
            rate: 0,
            state: seed ^ 0x9e37_79b9_7f4a_7c15,
        }
    }

    /// SplitMix64.
    fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Bytes to the next sample point: exponentially distributed with mean
    /// `rate` (Go's `nextSample`), `rate` > 0.
    pub(crate) fn distance(&mut self, rate: u64) -> u64 {
        // Uniform in (0, 1]: 53 random bits, plus one so that ln is finite.
        let u = ((self.next_u64() >> 11) + 1) as f64 * (1.0 / (1u64 << 53) as f64);
        let d = -u.ln() * rate as f64;
        // At most 2^53 bytes (u ≥ 2^-53 bounds d by about 37 × rate, and
        // the cast saturates): far beyond any heap, and no overflow when
        // added to a mutator's byte count.
        (d as u64).min(1 << 53)
    }
}

/// The calling thread's stack as return addresses, innermost first
/// (symbols are resolved when the profile is written).
#[inline(never)]
pub(crate) fn capture_stack() -> Box<[usize]> {
    let mut ips = Vec::with_capacity(MAX_FRAMES);
    backtrace::trace(|frame| {
        // The outermost frame may report address 0: the end of the stack.
        let ip = frame.ip() as usize;
        if ip != 0 {
            ips.push(ip);
        }
        ips.len() < MAX_FRAMES
    });
    ips.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_average_the_rate() {
        let mut s = Sampler::new(42);
        let n = 200_000;
        let rate = 512 << 10;
        let sum: f64 = (0..n).map(|_| s.distance(rate) as f64).sum();
        let mean = sum / n as f64;
        // The mean of n exponentials has relative deviation 1/sqrt(n) ≈ 0.22%.
        assert!((mean / rate as f64 - 1.0).abs() < 0.02, "mean {mean}");
    }

    #[test]
    fn stacks_are_captured() {
        let s = capture_stack();
        assert!(s.len() > 2 && s.iter().all(|&ip| ip != 0), "{s:?}");
    }
}
