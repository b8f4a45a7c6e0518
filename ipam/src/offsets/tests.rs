use proptest::prelude::*;

use super::*;

/// Both representations over the same small space, to run one scenario against each.
fn both(len: u128) -> [OffsetSet; 2] {
    [
        OffsetSet::new(len),
        OffsetSet(Repr::Sparse(Sparse::new(len))),
    ]
}

#[test]
fn representation_follows_the_dense_limit() {
    assert!(OffsetSet::new(0).is_dense());
    assert!(OffsetSet::new(DENSE_LIMIT).is_dense());
    assert!(!OffsetSet::new(DENSE_LIMIT + 1).is_dense());
    assert!(!OffsetSet::new(u128::MAX).is_dense());
}

#[test]
fn insert_remove_contains_and_count() {
    for mut set in both(130) {
        assert!(set.insert(0));
        assert!(set.insert(129));
        assert!(!set.insert(129), "second insert of the same offset");
        assert!(!set.insert(130), "past the end");
        assert_eq!(set.used(), 2);
        assert!(set.contains(129));
        assert!(!set.contains(128));
        assert!(set.remove(129));
        assert!(!set.remove(129), "second remove");
        assert!(!set.remove(5000));
        assert_eq!(set.used(), 1);
    }
}

#[test]
fn first_free_skips_runs_across_word_boundaries() {
    for mut set in both(200) {
        for offset in 60..140 {
            set.insert(offset);
        }
        assert_eq!(set.first_free(0, 200), Some(0));
        assert_eq!(set.first_free(60, 200), Some(140));
        assert_eq!(set.first_free(60, 140), None);
        assert_eq!(set.first_free(100, 141), Some(140));
        assert_eq!(set.first_free(150, 150), None);
        assert_eq!(set.first_free(190, 1000), Some(190), "`to` is clamped");
        assert_eq!(set.first_free(200, 1000), None);
    }
}

#[test]
fn first_free_wrapping_goes_round_once() {
    for mut set in both(10) {
        for offset in [0, 1, 2, 5, 6, 7, 8, 9] {
            set.insert(offset);
        }
        assert_eq!(set.first_free_wrapping(0, 10, 6), Some(3));
        assert_eq!(set.first_free_wrapping(0, 10, 4), Some(4));
        assert_eq!(set.first_free_wrapping(5, 10, 7), None);
        set.insert(3);
        set.insert(4);
        assert_eq!(set.first_free_wrapping(0, 10, 0), None);
    }
}

#[test]
fn full_bitmap_of_exact_words_has_no_free_offset() {
    let mut set = OffsetSet::new(128);
    for offset in 0..128 {
        assert!(set.insert(offset));
    }
    assert_eq!(set.first_free(0, 128), None);
    assert_eq!(set.first_free_wrapping(0, 128, 77), None);
}

#[test]
fn iteration_is_ascending_and_complete() {
    for mut set in both(300) {
        let wanted = [299, 0, 64, 63, 128, 7];
        for offset in wanted {
            set.insert(offset);
        }
        let got: Vec<u128> = set.iter().collect();
        assert_eq!(got, vec![0, 7, 63, 64, 128, 299]);
    }
}

#[test]
fn sparse_handles_the_top_of_a_huge_space() {
    let mut set = OffsetSet::new(u128::MAX);
    let last = u128::MAX - 1;
    assert!(set.insert(last));
    assert_eq!(set.first_free(last, u128::MAX), None);
    assert_eq!(set.first_free_wrapping(0, u128::MAX, last), Some(0));
    assert!(!set.insert(u128::MAX), "past the end of the space");
}

#[test]
fn sparse_runs_merge_and_split() {
    let mut set = Sparse::new(100);
    for offset in [10, 12, 11, 9, 13] {
        assert!(set.insert(offset));
    }
    assert_eq!(set.runs(), 1, "9..=13 is one run");
    assert_eq!(set.first_free(9, 100), Some(14));
    assert_eq!(set.first_free(0, 100), Some(0));
    assert!(set.remove(11));
    assert_eq!(set.runs(), 2);
    assert_eq!(set.first_free(9, 100), Some(11));
    assert!(set.remove(9));
    assert!(set.remove(13));
    assert_eq!(set.iter().collect::<Vec<_>>(), vec![10, 12]);
    assert!(set.insert(11));
    assert_eq!(set.runs(), 1);
    assert_eq!(set.used(), 3);
}

#[test]
fn sparse_fill_stays_one_run() {
    let mut set = Sparse::new(5000);
    for offset in (0..5000).rev() {
        assert!(set.insert(offset));
    }
    assert_eq!(set.runs(), 1);
    assert_eq!(set.first_free(0, 5000), None);
    assert_eq!(set.used(), 5000);
}

/// One step of the dense/sparse equivalence property.
#[derive(Debug, Clone)]
enum Step {
    Insert(u128),
    Remove(u128),
    FirstFree(u128, u128),
    Wrapping(u128, u128, u128),
}

fn step(len: u128) -> impl Strategy<Value = Step> {
    let value = 0..len + 3;
    prop_oneof![
        3 => value.clone().prop_map(Step::Insert),
        2 => value.clone().prop_map(Step::Remove),
        1 => (value.clone(), value.clone()).prop_map(|(a, b)| Step::FirstFree(a, b)),
        1 => (value.clone(), value.clone(), value).prop_map(|(a, b, c)| Step::Wrapping(a, b, c)),
    ]
}

proptest! {
    /// The bitmap and the run set answer every question the same way.
    #[test]
    fn dense_and_sparse_agree(
        (len, steps) in (1u128..300).prop_flat_map(|len| {
            (Just(len), proptest::collection::vec(step(len), 0..400))
        })
    ) {
        let [mut dense, mut sparse] = both(len);
        prop_assert!(dense.is_dense());
        for step in steps {
            match step {
                Step::Insert(v) => prop_assert_eq!(dense.insert(v), sparse.insert(v)),
                Step::Remove(v) => prop_assert_eq!(dense.remove(v), sparse.remove(v)),
                Step::FirstFree(a, b) => {
                    prop_assert_eq!(dense.first_free(a, b), sparse.first_free(a, b));
                }
                Step::Wrapping(a, b, c) => prop_assert_eq!(
                    dense.first_free_wrapping(a, b, c),
                    sparse.first_free_wrapping(a, b, c)
                ),
            }
            prop_assert_eq!(dense.used(), sparse.used());
        }
        prop_assert_eq!(dense.iter().collect::<Vec<_>>(), sparse.iter().collect::<Vec<_>>());
    }
}
