//! The binomial tail behind attribution's confidence, computed in log space
//! because the p-values of a real leaker underflow an `f64` long before they
//! stop being interesting.

/// `ln(i!)` for `i` in `0..=n`, built once per attribution.
pub struct LnFactorials(Vec<f64>);

impl LnFactorials {
    /// Table up to `n!`.
    pub fn new(n: u64) -> Self {
        let mut table = Vec::with_capacity(n as usize + 1);
        let mut acc = 0.0f64;
        table.push(acc);
        for i in 1..=n {
            acc += (i as f64).ln();
            table.push(acc);
        }
        LnFactorials(table)
    }

    fn ln_choose(&self, n: u64, k: u64) -> f64 {
        let f = |i: u64| self.0.get(i as usize).copied().unwrap_or(f64::NAN);
        f(n) - f(k) - f(n - k)
    }

    /// `log10 P(X >= k)` for `X ~ Binomial(n, p)`; 0 when `k == 0`. Needs a
    /// table of at least `n`.
    pub fn log10_tail(&self, n: u64, k: u64, p: f64) -> f64 {
        if k == 0 || p >= 1.0 {
            return 0.0;
        }
        if k > n {
            return f64::NEG_INFINITY;
        }
        let p = p.max(f64::MIN_POSITIVE);
        let (ln_p, ln_q) = (p.ln(), (-p).ln_1p());
        let ln_term = |i: u64| self.ln_choose(n, i) + i as f64 * ln_p + (n - i) as f64 * ln_q;
        // Log-sum-exp from k upwards; past the mode the terms only shrink, so
        // stop once they are negligible next to the largest.
        let mut max = f64::NEG_INFINITY;
        let mut sum = 0.0f64;
        for i in k..=n {
            let t = ln_term(i);
            if t > max {
                sum = sum * (max - t).exp() + 1.0;
                max = t;
            } else {
                sum += (t - max).exp();
                if t < max - 40.0 {
                    break;
                }
            }
        }
        ((max + sum.ln()) / std::f64::consts::LN_10).min(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn direct(n: u64, k: u64, p: f64) -> f64 {
        let choose =
            |n: u64, k: u64| (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64);
        (k..=n)
            .map(|i| choose(n, i) * p.powi(i as i32) * (1.0 - p).powi((n - i) as i32))
            .sum::<f64>()
            .log10()
    }

    #[test]
    fn matches_the_direct_sum_on_small_cases() {
        let table = LnFactorials::new(30);
        for (n, k, p) in [(10, 3, 0.2), (30, 15, 0.1), (20, 1, 0.5), (30, 30, 0.3)] {
            let got = table.log10_tail(n, k, p);
            assert!((got - direct(n, k, p)).abs() < 1e-9, "n={n} k={k} p={p}");
        }
    }

    #[test]
    fn edges_and_extremes() {
        let table = LnFactorials::new(2000);
        assert_eq!(table.log10_tail(100, 0, 0.3), 0.0);
        assert_eq!(table.log10_tail(100, 5, 1.0), 0.0);
        let tiny = table.log10_tail(2000, 1500, 0.01);
        assert!(tiny.is_finite() && tiny < -1000.0);
    }
}
