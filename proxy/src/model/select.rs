//! Which endpoints may take traffic, as kube-proxy decides it: ready endpoints; when none is
//! ready, endpoints that are still serving while terminating; optionally only local ones.

use std::net::IpAddr;

use super::Endpoint;

/// The usable endpoints of `family_of`'s family, local-only when `local_only`.
pub(super) fn usable(
    endpoints: &[Endpoint],
    family_of: IpAddr,
    local_only: bool,
) -> Vec<&Endpoint> {
    let candidates = || {
        endpoints
            .iter()
            .filter(move |e| e.ip.is_ipv4() == family_of.is_ipv4())
            .filter(move |e| !local_only || e.is_local)
    };
    let ready: Vec<&Endpoint> = candidates().filter(|e| e.ready).collect();
    if !ready.is_empty() {
        return ready;
    }
    candidates()
        .filter(|e| e.serving && e.terminating)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(ip: &str, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            ip: ip.parse().unwrap_or(IpAddr::from([0, 0, 0, 0])),
            port: 80,
            ready,
            serving,
            terminating,
            node_name: None,
            is_local: local,
        }
    }

    #[test]
    fn prefers_ready_then_falls_back_to_serving_terminating() {
        let v4: IpAddr = [10, 0, 0, 1].into();
        let eps = vec![
            ep("10.1.0.1", true, true, false, false),
            ep("10.1.0.2", false, true, true, false),
            ep("10.1.0.3", false, false, true, false),
        ];
        let got: Vec<_> = usable(&eps, v4, false)
            .iter()
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(got, ["10.1.0.1"]);
        let got: Vec<_> = usable(&eps[1..], v4, false)
            .iter()
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(got, ["10.1.0.2"]);
    }

    #[test]
    fn filters_by_family_and_locality() {
        let v6: IpAddr = "fd00::1".parse().unwrap_or(IpAddr::from([0u16; 8]));
        let eps = vec![
            ep("10.1.0.1", true, true, false, true),
            ep("fd00::10", true, true, false, false),
            ep("fd00::11", true, true, false, true),
        ];
        let got: Vec<_> = usable(&eps, v6, true)
            .iter()
            .map(|e| e.ip.to_string())
            .collect();
        assert_eq!(got, ["fd00::11"]);
        assert_eq!(usable(&eps, v6, false).len(), 2);
    }
}
