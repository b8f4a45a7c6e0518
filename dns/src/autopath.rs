//! autopath: the search-path walk a Pod's resolver would do, done on the server in one round
//! trip (what CoreDNS's `autopath @kubernetes` does).
//!
//! A Pod's resolv.conf, as kubelet writes it, searches `<ns>.svc.<zone>`, `svc.<zone>`,
//! `<zone>`, then the node's own search domains, and with `ndots:5` nearly every name is tried
//! with those suffixes before it is tried as written. When a Pod asks for a name in its first
//! search domain and that name does not exist, the server can tell which name the Pod meant to
//! look up (the name without that domain) and try the rest of the path itself: the first
//! expansion that exists (any answer but NXDOMAIN) is returned behind a CNAME from the name
//! asked, so the resolver accepts it and stops searching. When every expansion is NXDOMAIN,
//! or one fails, the Pod gets the plain answer to what it asked and walks the path itself.
//!
//! This module is the pure part: which names to try, in order.

use hickory_proto::rr::Name;

/// The names autopath tries after `qname` (asked by a Pod in `namespace`) turned out not to
/// exist: the name the Pod meant with each later search domain of its path, then that name
/// alone. `None` when `qname` is not a name inside the Pod's first search domain.
/// `host_search` are the node's search domains, tried after the cluster's.
pub(crate) fn expansions(
    qname: &Name,
    namespace: &str,
    zone: &Name,
    host_search: &[Name],
) -> Option<Vec<Name>> {
    let svc = Name::from_ascii("svc").ok()?.append_domain(zone).ok()?;
    let first = Name::from_ascii(namespace).ok()?.append_domain(&svc).ok()?;
    if !first.zone_of(qname) {
        return None;
    }
    let meant_labels =
        usize::from(qname.num_labels()).checked_sub(usize::from(first.num_labels()))?;
    if meant_labels == 0 {
        return None;
    }
    let mut meant = Name::from_labels(qname.iter().take(meant_labels)).ok()?;
    meant.set_fqdn(true);
    let mut names: Vec<Name> = [&svc, zone]
        .into_iter()
        .chain(host_search)
        .filter_map(|domain| meant.clone().append_domain(domain).ok())
        .collect();
    names.push(meant);
    Some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap_or_else(|_| Name::root())
    }

    fn texts(names: Option<Vec<Name>>) -> Vec<String> {
        names
            .unwrap_or_default()
            .iter()
            .map(|n| n.to_ascii())
            .collect()
    }

    #[test]
    fn an_external_name_walks_the_rest_of_the_path_then_stands_alone() {
        let zone = name("cluster.local.");
        let got = expansions(
            &name("example.com.team-a.svc.cluster.local."),
            "team-a",
            &zone,
            &[name("corp.example.")],
        );
        assert_eq!(
            texts(got),
            [
                "example.com.svc.cluster.local.",
                "example.com.cluster.local.",
                "example.com.corp.example.",
                "example.com.",
            ]
        );
    }

    #[test]
    fn a_service_of_another_namespace_is_found_one_domain_up() {
        let zone = name("cluster.local.");
        let got = expansions(
            &name("web.other.default.svc.cluster.local."),
            "default",
            &zone,
            &[],
        );
        assert_eq!(texts(got)[0], "web.other.svc.cluster.local.");
    }

    #[test]
    fn names_outside_the_first_search_domain_are_left_alone() {
        let zone = name("cluster.local.");
        for qname in [
            "web.other.svc.cluster.local.",
            "default.svc.cluster.local.",
            "example.com.",
            "web.default.svc.cluster.local.example.",
        ] {
            assert_eq!(
                expansions(&name(qname), "default", &zone, &[]),
                None,
                "{qname}"
            );
        }
    }

    #[test]
    fn matching_ignores_case() {
        let zone = name("cluster.local.");
        let got = expansions(
            &name("Example.COM.Default.SVC.cluster.local."),
            "default",
            &zone,
            &[],
        );
        assert_eq!(texts(got).last().map(String::as_str), Some("Example.COM."));
    }
}
