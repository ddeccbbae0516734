//! Timing done right: warm-up, repeated runs until the 95 % confidence interval of the median is
//! narrow (or a time budget is spent), outliers counted and reported rather than dropped.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Binomial, DiscreteCDF};

#[derive(Clone, Copy, Debug)]
pub struct TimingConfig {
    /// Stop when the median's 95 % CI half-width is within this fraction of the median.
    pub rel_ci: f64,
    pub min_samples: usize,
    pub max_samples: usize,
    /// Wall-time budget per kernel, seconds (warm-up included).
    pub budget_s: f64,
}

impl TimingConfig {
    pub fn quick() -> Self {
        TimingConfig {
            rel_ci: 0.03,
            min_samples: 7,
            max_samples: 60,
            budget_s: 0.25,
        }
    }

    pub fn full() -> Self {
        TimingConfig {
            rel_ci: 0.01,
            min_samples: 15,
            max_samples: 400,
            budget_s: 6.0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Measurement {
    pub median_s: f64,
    pub ci_low_s: f64,
    pub ci_high_s: f64,
    pub samples: usize,
    /// Samples beyond 1.5 IQR from the quartiles (kept in the statistics, reported here).
    pub outliers: usize,
    pub min_s: f64,
    pub max_s: f64,
}

impl Measurement {
    /// A stand-in for a kernel a recording lacks (every figure NaN), never reported.
    pub(crate) fn missing() -> Measurement {
        Measurement {
            median_s: f64::NAN,
            ci_low_s: f64::NAN,
            ci_high_s: f64::NAN,
            samples: 0,
            outliers: 0,
            min_s: f64::NAN,
            max_s: f64::NAN,
        }
    }
}

/// Distribution-free 95 % CI of the median from order statistics: the ranks (j, k) with
/// P(j ≤ X < k) ≥ 0.95 under Binomial(n, 1/2).
fn median_ci(sorted: &[f64]) -> (f64, f64) {
    let n = sorted.len();
    if n < 6 {
        return (sorted[0], sorted[n - 1]);
    }
    let Ok(b) = Binomial::new(0.5, n as u64) else {
        return (sorted[0], sorted[n - 1]);
    };
    let mut j = 0u64;
    while j + 1 < n as u64 / 2 && b.cdf(j) < 0.025 {
        j += 1;
    }
    let lo = j.saturating_sub(1) as usize;
    let hi = (n - 1 - lo).max(lo);
    (sorted[lo], sorted[hi])
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (i, f) = (pos.floor() as usize, pos.fract());
    sorted[i] + (sorted[(i + 1).min(sorted.len() - 1)] - sorted[i]) * f
}

/// Shortest time one sample spans (kernels below it are batched).
const MIN_SAMPLE_S: f64 = 20e-6;

/// Times `run` (one kernel execution per call).
pub fn measure(run: impl FnMut(), cfg: TimingConfig) -> Measurement {
    summarize(measure_samples(run, cfg))
}

/// Warms `run` up, then returns raw sample times (seconds) under `cfg`'s stopping rule.
pub fn measure_samples(mut run: impl FnMut(), cfg: TimingConfig) -> Vec<f64> {
    let start = std::time::Instant::now();
    // Warm-up: caches, page faults, thread pools, CPU frequency.
    let mut warm = 0;
    while warm < 3 || (start.elapsed().as_secs_f64() < cfg.budget_s * 0.15 && warm < 50) {
        run();
        warm += 1;
    }
    // Kernels shorter than the timer's resolution and call overhead allow run in batches: a
    // sample is then the batch's mean time per run.
    let t0 = std::time::Instant::now();
    run();
    let once = t0.elapsed().as_secs_f64().max(1e-9);
    let batch = ((MIN_SAMPLE_S / once).ceil() as usize).clamp(1, 10_000);
    let mut samples = Vec::new();
    loop {
        let t0 = std::time::Instant::now();
        for _ in 0..batch {
            run();
        }
        samples.push(t0.elapsed().as_secs_f64() / batch as f64);
        if samples.len() >= cfg.max_samples {
            break;
        }
        if samples.len() >= cfg.min_samples {
            let mut s = samples.clone();
            s.sort_by(f64::total_cmp);
            let med = quantile(&s, 0.5);
            let (lo, hi) = median_ci(&s);
            if (hi - lo) / 2.0 <= cfg.rel_ci * med || start.elapsed().as_secs_f64() > cfg.budget_s {
                break;
            }
        }
    }
    samples
}

/// Median, its 95 % CI, spread and outlier count of raw samples (seconds).
pub fn summarize(mut samples: Vec<f64>) -> Measurement {
    if samples.is_empty() {
        samples.push(f64::NAN);
    }
    samples.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&samples, 0.25), quantile(&samples, 0.75));
    let iqr = q3 - q1;
    let outliers = samples
        .iter()
        .filter(|&&x| x < q1 - 1.5 * iqr || x > q3 + 1.5 * iqr)
        .count();
    let (lo, hi) = median_ci(&samples);
    Measurement {
        median_s: quantile(&samples, 0.5),
        ci_low_s: lo,
        ci_high_s: hi,
        samples: samples.len(),
        outliers,
        min_s: samples[0],
        max_s: samples[samples.len() - 1],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_shorter_than_the_timer_run_in_batches() {
        let mut calls = 0u64;
        let samples = measure_samples(|| calls += 1, TimingConfig::quick());
        // A no-op is far below MIN_SAMPLE_S, so every sample spans many calls.
        assert!(!samples.is_empty());
        assert!(
            calls > 10 * samples.len() as u64,
            "{calls} calls for {} samples",
            samples.len()
        );
    }

    #[test]
    fn summary_counts_outliers_without_dropping_them() {
        let mut s: Vec<f64> = (0..20).map(|i| 1.0 + 0.01 * i as f64).collect();
        s.push(10.0);
        let m = summarize(s);
        assert_eq!(m.samples, 21);
        assert_eq!(m.outliers, 1);
        assert_eq!(m.max_s, 10.0);
        assert!((m.median_s - 1.10).abs() < 1e-12, "{}", m.median_s);
    }

    #[test]
    fn median_ci_brackets_the_median() {
        let s: Vec<f64> = (1..=101).map(f64::from).collect();
        let (lo, hi) = median_ci(&s);
        assert!(
            lo < 51.0 && hi > 51.0 && lo >= 40.0 && hi <= 62.0,
            "{lo} {hi}"
        );
    }
}
