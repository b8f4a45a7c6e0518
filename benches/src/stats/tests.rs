use super::*;

#[test]
fn median_of_odd_and_even_counts() {
    assert_eq!(Summary::of(&[3.0, 1.0, 2.0]).map(|s| s.median), Some(2.0));
    assert_eq!(
        Summary::of(&[4.0, 1.0, 3.0, 2.0]).map(|s| s.median),
        Some(2.5)
    );
}

#[test]
fn summary_keeps_extremes_and_samples_in_order() -> Result<(), &'static str> {
    let s = Summary::of(&[5.0, 1.0, 9.0]).ok_or("no value")?;
    assert_eq!((s.n, s.min, s.max), (3, 1.0, 9.0));
    assert_eq!(s.samples, vec![5.0, 1.0, 9.0]);
    assert!((s.relative_spread() - 8.0 / 5.0).abs() < 1e-12);
    Ok(())
}

#[test]
fn non_finite_samples_are_dropped() -> Result<(), &'static str> {
    let s = Summary::of(&[f64::NAN, 2.0, f64::INFINITY]).ok_or("no value")?;
    assert_eq!((s.n, s.median), (1, 2.0));
    assert!(Summary::of(&[f64::NAN]).is_none());
    assert!(Summary::of(&[]).is_none());
    Ok(())
}

#[test]
fn percentiles_interpolate_between_ranks() -> Result<(), &'static str> {
    let v: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(percentile(&v, 0.0), Some(1.0));
    assert_eq!(percentile(&v, 100.0), Some(100.0));
    let p99 = percentile(&v, 99.0).ok_or("no value")?;
    assert!((p99 - 99.01).abs() < 1e-9, "{p99}");
    assert_eq!(percentile(&[7.0], 99.0), Some(7.0));
    assert_eq!(percentile(&[], 50.0), None);
    Ok(())
}

#[test]
fn evenness_measures() -> Result<(), &'static str> {
    assert_eq!(max_over_mean(&[10.0, 10.0, 10.0]), Some(1.0));
    assert_eq!(max_over_mean(&[0.0, 0.0, 30.0]), Some(3.0));
    assert_eq!(coefficient_of_variation(&[5.0, 5.0]), Some(0.0));
    let cv = coefficient_of_variation(&[0.0, 10.0]).ok_or("no value")?;
    assert!((cv - 1.0).abs() < 1e-12);
    assert_eq!(coefficient_of_variation(&[0.0, 0.0]), None);
    Ok(())
}
