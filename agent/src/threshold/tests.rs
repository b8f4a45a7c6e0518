use super::*;

fn ok() -> Outcome {
    Outcome::Success
}

fn bad() -> Outcome {
    Outcome::Failure("HTTP probe failed with statuscode: 500".into())
}

fn unknown() -> Outcome {
    Outcome::Unknown("couldn't find port".into())
}

/// Feeds `outcomes` and returns the published value after each.
fn run(state: &mut ThresholdState, outcomes: &[Outcome]) -> Vec<Published> {
    outcomes
        .iter()
        .map(|o| {
            state.observe(o);
            state.published()
        })
        .collect()
}

#[test]
fn initial_results_are_kubelets() {
    assert_eq!(
        ThresholdState::new(ProbeKind::Readiness, 1, 3).published(),
        Published::Failure
    );
    assert_eq!(
        ThresholdState::new(ProbeKind::Liveness, 1, 3).published(),
        Published::Success
    );
    assert_eq!(
        ThresholdState::new(ProbeKind::Startup, 1, 3).published(),
        Published::Unknown
    );
}

#[test]
fn readiness_turns_ready_on_the_first_success_and_unready_after_failure_threshold() {
    let mut s = ThresholdState::new(ProbeKind::Readiness, 1, 3);
    use Published::{Failure as F, Success as S};
    assert_eq!(
        run(&mut s, &[ok(), bad(), bad(), bad(), bad(), ok()]),
        vec![S, S, S, F, F, S]
    );
}

#[test]
fn success_threshold_needs_consecutive_successes() {
    let mut s = ThresholdState::new(ProbeKind::Readiness, 3, 1);
    use Published::{Failure as F, Success as S};
    assert_eq!(
        run(&mut s, &[ok(), ok(), bad(), ok(), ok(), ok(), bad()]),
        vec![F, F, F, F, F, S, F]
    );
}

#[test]
fn unknown_outcomes_neither_count_nor_break_a_run() {
    let mut s = ThresholdState::new(ProbeKind::Readiness, 1, 2);
    assert_eq!(s.observe(&ok()), Some(Published::Success));
    assert_eq!(s.observe(&bad()), None);
    assert_eq!(s.observe(&unknown()), None);
    assert_eq!(s.observe(&bad()), Some(Published::Failure));
}

#[test]
fn observe_reports_only_changes() {
    let mut s = ThresholdState::new(ProbeKind::Readiness, 1, 1);
    assert_eq!(s.observe(&ok()), Some(Published::Success));
    assert_eq!(s.observe(&ok()), None);
    assert_eq!(s.observe(&bad()), Some(Published::Failure));
    assert_eq!(s.observe(&bad()), None);
}

#[test]
fn liveness_failure_restarts_the_count_as_a_container_restart_would() {
    let mut s = ThresholdState::new(ProbeKind::Liveness, 1, 2);
    use Published::{Failure as F, Success as S};
    // Two failures publish Failure and reset the run: the third failure alone is not a run.
    assert_eq!(run(&mut s, &[bad(), bad(), bad()]), vec![S, F, F]);
    assert_eq!(s.observe(&ok()), Some(Published::Success));
    assert_eq!(s.observe(&bad()), None);
    assert_eq!(s.observe(&bad()), Some(Published::Failure));
}

#[test]
fn startup_stays_unknown_until_a_threshold() {
    let mut s = ThresholdState::new(ProbeKind::Startup, 1, 3);
    use Published::{Failure as F, Success as S, Unknown as U};
    assert_eq!(run(&mut s, &[bad(), bad()]), vec![U, U]);
    assert_eq!(run(&mut s, &[bad(), ok()]), vec![F, S]);
}

#[test]
fn zero_thresholds_act_as_one() {
    let mut s = ThresholdState::new(ProbeKind::Readiness, 0, 0);
    assert_eq!(s.observe(&ok()), Some(Published::Success));
    assert_eq!(s.observe(&bad()), Some(Published::Failure));
}
