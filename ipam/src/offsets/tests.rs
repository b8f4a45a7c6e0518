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
