//! How a delete treats the object's dependents (`propagationPolicy`), expressed as the
//! garbage-collection finalizers kube-apiserver leaves on the object: `orphan` (the garbage
//! collector removes the owner reference from every dependent before the owner goes) and
//! `foregroundDeletion` (the dependents go first). Background adds neither: the owner goes
//! at once and the collector deletes the dependents afterwards.
//!
//! Pure functions over finalizer lists; the writer applies the result.

/// The finalizer of an owner whose dependents are orphaned before it goes.
pub const ORPHAN_FINALIZER: &str = "orphan";
/// The finalizer of an owner whose dependents are deleted before it goes.
pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";

/// A delete's `propagationPolicy` (or the legacy `orphanDependents`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Leave the dependents, without their reference to the owner.
    Orphan,
    /// Delete the owner now and its dependents afterwards (the default).
    Background,
    /// Delete the dependents first, then the owner.
    Foreground,
}

impl Propagation {
    /// The value as `propagationPolicy` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Orphan => "Orphan",
            Propagation::Background => "Background",
            Propagation::Foreground => "Foreground",
        }
    }

    /// Parses a `propagationPolicy` value (case-sensitive, as kube-apiserver).
    pub fn parse(text: &str) -> Option<Propagation> {
        match text {
            "Orphan" => Some(Propagation::Orphan),
            "Background" => Some(Propagation::Background),
            "Foreground" => Some(Propagation::Foreground),
            _ => None,
        }
    }

    /// The policy an object's existing finalizers ask for, when no delete option names one.
    fn from_finalizers(finalizers: &[String]) -> Option<Propagation> {
        finalizers.iter().find_map(|f| match f.as_str() {
            ORPHAN_FINALIZER => Some(Propagation::Orphan),
            FOREGROUND_FINALIZER => Some(Propagation::Foreground),
            _ => None,
        })
    }
}

/// The finalizers an object carries after a delete with `policy` (`None`: the request named
/// none, so a garbage-collection finalizer already on the object decides, else Background).
/// Other finalizers are kept in order; when the set does not change, `current` is returned
/// as it is.
pub(crate) fn finalizers_after_delete(
    current: &[String],
    policy: Option<Propagation>,
) -> Vec<String> {
    let policy = policy
        .or_else(|| Propagation::from_finalizers(current))
        .unwrap_or(Propagation::Background);
    let mut next: Vec<String> = current
        .iter()
        .filter(|f| *f != ORPHAN_FINALIZER && *f != FOREGROUND_FINALIZER)
        .cloned()
        .collect();
    match policy {
        Propagation::Orphan => next.push(ORPHAN_FINALIZER.to_string()),
        Propagation::Foreground => next.push(FOREGROUND_FINALIZER.to_string()),
        Propagation::Background => {}
    }
    let same = next.len() == current.len() && next.iter().all(|f| current.contains(f));
    if same { current.to_vec() } else { next }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_policy_picks_the_finalizer() {
        assert_eq!(
            finalizers_after_delete(&[], Some(Propagation::Orphan)),
            list(&["orphan"])
        );
        assert_eq!(
            finalizers_after_delete(&list(&["example.com/x"]), Some(Propagation::Foreground)),
            list(&["example.com/x", "foregroundDeletion"])
        );
        assert!(finalizers_after_delete(&[], Some(Propagation::Background)).is_empty());
        assert!(finalizers_after_delete(&[], None).is_empty());
    }

    #[test]
    fn an_explicit_policy_replaces_an_earlier_one_and_none_keeps_it() {
        let orphaning = list(&["a.io/keep", "orphan"]);
        assert_eq!(
            finalizers_after_delete(&orphaning, Some(Propagation::Foreground)),
            list(&["a.io/keep", "foregroundDeletion"])
        );
        assert_eq!(
            finalizers_after_delete(&orphaning, Some(Propagation::Background)),
            list(&["a.io/keep"])
        );
        assert_eq!(finalizers_after_delete(&orphaning, None), orphaning);
        let reordered = list(&["orphan", "a.io/keep"]);
        assert_eq!(
            finalizers_after_delete(&reordered, Some(Propagation::Orphan)),
            reordered
        );
    }

    #[test]
    fn parses_only_the_three_policies() {
        for p in [
            Propagation::Orphan,
            Propagation::Background,
            Propagation::Foreground,
        ] {
            assert_eq!(Propagation::parse(p.as_str()), Some(p));
        }
        assert_eq!(Propagation::parse("background"), None);
    }
}
