use super::*;
use crate::mode::Mode;
use crate::results::Series;
use crate::run_info::RunInfo;

fn run(mode: Mode) -> RunInfo {
    RunInfo {
        host: "bench-host".into(),
        date: "2026-11-24T23:59:00Z".into(),
        commit: "abc123".into(),
        mode,
        cpu: "Test CPU".into(),
        cpus: 2,
        build: "release".into(),
        kernel: "6.1.0".into(),
        load_avg_1m: 0.5,
    }
}

fn area(mode: Mode, rows: Vec<Row>) -> AreaResult {
    AreaResult {
        area: "store".into(),
        title: "Control store vs etcd".into(),
        run: run(mode),
        sections: vec![Section {
            title: "Durable writes".into(),
            method: "etcd 3.4.23 on 127.0.0.1, taskset -c 1".into(),
            rows,
            notes: vec!["a caveat".into()],
        }],
    }
}

fn row(better: Better, subject: &[f64], reference: &[f64]) -> Row {
    Row {
        case: "1 client".into(),
        metric: "creates/s".into(),
        better,
        subject: Series::measured("switchyard", subject),
        references: vec![Series::measured("etcd", reference)],
    }
}

#[test]
fn losing_throughput_is_marked_worse_with_both_values() {
    let page = render(
        &[area(
            Mode::Quick,
            vec![row(Better::Higher, &[50.0, 40.0, 60.0], &[100.0])],
        )],
        &|_| false,
    );
    assert!(page.contains("0.500× **worse**"), "{page}");
    assert!(page.contains("50.00 [40.00–60.00] n=3"), "{page}");
    assert!(page.contains("| etcd | 100.0 [100.0–100.0] n=1"), "{page}");
    assert!(page.contains("**Method.** etcd 3.4.23"), "{page}");
    assert!(page.contains("- a caveat"), "{page}");
    assert!(!page.contains("Smoke run"), "{page}");
}

#[test]
fn lower_latency_is_better() {
    let page = render(
        &[area(Mode::Quick, vec![row(Better::Lower, &[1.0], &[2.0])])],
        &|_| false,
    );
    assert!(page.contains("0.500× better"), "{page}");
    let tiny = render(
        &[area(
            Mode::Quick,
            vec![row(Better::Lower, &[1.0], &[200.0])],
        )],
        &|_| false,
    );
    assert!(tiny.contains("5.00e-3× better (1/200.0)"), "{tiny}");
    assert!(page.contains("(lower is better)"), "{page}");
}

#[test]
fn failed_reference_is_shown_not_hidden() {
    let mut r = row(Better::Higher, &[1.0], &[]);
    r.references = vec![Series::failed("knot", "knotd exited: bad | config")];
    let page = render(&[area(Mode::Quick, vec![r])], &|_| false);
    assert!(
        page.contains("not measured: knotd exited: bad / config"),
        "{page}"
    );
    assert!(page.contains("not comparable"), "{page}");
}

#[test]
fn banner_names_the_run_and_warns_on_smoke() {
    let page = render(&[area(Mode::Smoke, vec![])], &|f| f == "store-0.svg");
    assert!(page.contains("Smoke run"), "{page}");
    assert!(page.contains("bench-host"), "{page}");
    assert!(page.contains("`abc123`"), "{page}");
    assert!(
        page.contains("![Durable writes](bench/store-0.svg)"),
        "{page}"
    );
}

#[test]
fn empty_results_say_how_to_get_some() {
    let page = render(&[], &|_| false);
    assert!(page.contains("No results yet"), "{page}");
}

#[test]
fn results_round_trip_through_files() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let a = area(Mode::Smoke, vec![row(Better::Higher, &[2.0], &[1.0])]);
    a.write(dir.path())?;
    let back = AreaResult::read_all(dir.path())?;
    assert_eq!(back, vec![a]);
    let docs = dir.path().join("docs");
    let page = write(dir.path(), &docs)?;
    let text = std::fs::read_to_string(page)?;
    assert!(text.contains("2.000× better"), "{text}");
    assert!(docs.join("bench/store-0.svg").exists());
    Ok(())
}

#[test]
fn numbers_keep_about_four_digits() {
    assert_eq!(fmt_num(12345.6), "12346");
    assert_eq!(fmt_num(123.45), "123.5");
    assert_eq!(fmt_num(0.5), "0.500");
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(0.000123), "1.23e-4");
}

#[test]
fn an_area_that_could_not_run_says_why() {
    let failed = AreaResult::failed("nft", run(Mode::Quick), "the nft area needs root");
    let page = render(&[failed], &|_| false);
    assert!(page.contains("## nft: not measured"), "{page}");
    assert!(page.contains("- Error: the nft area needs root"), "{page}");
}
