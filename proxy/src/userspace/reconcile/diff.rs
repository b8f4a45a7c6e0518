//! Which service ports differ between two tables, found by walking both in id order: a port
//! both tables share (the same `Arc`, as [`crate::model::TableBuilder`] keeps unchanged ports)
//! costs one pointer comparison, so only changed ports are handed on.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::model::{ServicePort, ServiceTable};

/// One service port that differs: before and after (`None`: absent); both have the same id.
pub(super) type Changed = (Option<Arc<ServicePort>>, Option<Arc<ServicePort>>);

/// The ports added, removed or changed (by content) from `before` to `after`, in id order.
/// Both tables must be in id order, as [`ServiceTable`] keeps them.
pub(super) fn changed_ports(before: &ServiceTable, after: &ServiceTable) -> Vec<Changed> {
    let (mut old, mut new) = (
        before.ports.iter().peekable(),
        after.ports.iter().peekable(),
    );
    let mut changed = Vec::new();
    loop {
        let step = match (old.peek(), new.peek()) {
            (None, None) => break,
            (Some(a), Some(b)) if Arc::ptr_eq(a, b) => None,
            (Some(a), Some(b)) => match a.id.cmp(&b.id) {
                Ordering::Less => Some((old.next().cloned(), None)),
                Ordering::Greater => Some((None, new.next().cloned())),
                Ordering::Equal if a == b => None,
                Ordering::Equal => Some((old.next().cloned(), new.next().cloned())),
            },
            (Some(_), None) => Some((old.next().cloned(), None)),
            (None, Some(_)) => Some((None, new.next().cloned())),
        };
        match step {
            Some(step) => changed.push(step),
            None => {
                old.next();
                new.next();
            }
        }
    }
    changed
}
