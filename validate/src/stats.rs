//! Accuracy statistics of predictions against measurements.

use serde::Serialize;

use crate::run::SplitMix;

#[derive(Clone, Debug, Serialize)]
pub struct Interval {
    pub value: f64,
    /// 95 % bootstrap interval.
    pub low: f64,
    pub high: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Accuracy {
    pub kernels: usize,
    pub mape_pct: f64,
    pub median_ape_pct: f64,
    pub within_10_pct: f64,
    pub within_20_pct: f64,
    pub spearman: Interval,
    pub kendall: Interval,
}

/// Average ranks (ties share their mean rank).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        for &k in &idx[i..=j] {
            r[k] = avg;
        }
        i = j + 1;
    }
    r
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma) * (x - ma)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb) * (y - mb)).sum();
    if va == 0.0 || vb == 0.0 {
        return 0.0;
    }
    cov / (va * vb).sqrt()
}

pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    pearson(&ranks(a), &ranks(b))
}

/// Kendall's tau-b (handles ties).
pub fn kendall(a: &[f64], b: &[f64]) -> f64 {
    let (mut c, mut d, mut ta, mut tb) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let (x, y) = ((a[i] - a[j]).signum(), (b[i] - b[j]).signum());
            match (x == 0.0, y == 0.0) {
                (true, true) => {}
                (true, false) => ta += 1.0,
                (false, true) => tb += 1.0,
                _ if x == y => c += 1.0,
                _ => d += 1.0,
            }
        }
    }
    let den = ((c + d + ta) * (c + d + tb)).sqrt();
    if den == 0.0 {
        0.0
    } else {
        (c - d) / den
    }
}

fn bootstrap(pred: &[f64], meas: &[f64], f: fn(&[f64], &[f64]) -> f64, seed: u64) -> Interval {
    let value = f(pred, meas);
    let n = pred.len();
    if n < 3 {
        return Interval {
            value,
            low: value,
            high: value,
        };
    }
    let mut rng = SplitMix(seed);
    let mut vals: Vec<f64> = (0..1000)
        .map(|_| {
            let idx: Vec<usize> = (0..n).map(|_| rng.below(n)).collect();
            let p: Vec<f64> = idx.iter().map(|&i| pred[i]).collect();
            let m: Vec<f64> = idx.iter().map(|&i| meas[i]).collect();
            f(&p, &m)
        })
        .collect();
    vals.sort_by(f64::total_cmp);
    Interval {
        value,
        low: vals[25],
        high: vals[974],
    }
}

pub fn accuracy(pred: &[f64], meas: &[f64]) -> Accuracy {
    let ape: Vec<f64> = pred
        .iter()
        .zip(meas)
        .map(|(p, m)| (p - m).abs() / m)
        .collect();
    let n = ape.len().max(1) as f64;
    let mut sorted = ape.clone();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        0.0
    } else {
        sorted[sorted.len() / 2]
    };
    Accuracy {
        kernels: ape.len(),
        mape_pct: 100.0 * ape.iter().sum::<f64>() / n,
        median_ape_pct: 100.0 * median,
        within_10_pct: 100.0 * ape.iter().filter(|&&e| e <= 0.10).count() as f64 / n,
        within_20_pct: 100.0 * ape.iter().filter(|&&e| e <= 0.20).count() as f64 / n,
        spearman: bootstrap(pred, meas, spearman, 1),
        kendall: bootstrap(pred, meas, kendall, 2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_correlations() {
        let a = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((spearman(&a, &[2.0, 4.0, 6.0, 8.0, 10.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[5.0, 4.0, 3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert!((kendall(&a, &[1.0, 3.0, 2.0, 4.0, 5.0]) - 0.8).abs() < 1e-12);
        let acc = accuracy(&[1.05, 2.5, 3.0], &[1.0, 2.0, 3.0]);
        assert!((acc.within_10_pct - 200.0 / 3.0).abs() < 1e-9);
        assert!((acc.mape_pct - 100.0 * (0.05 + 0.25) / 3.0).abs() < 1e-9);
    }
}
