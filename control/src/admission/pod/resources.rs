//! Pod resource arithmetic: Kubernetes quantities (`500m`, `1.5`, `128Mi`, `1e3`) read as whole
//! milli-units, the requests a Pod asks a node for (what kube-scheduler's resource fit counts),
//! and the QoS class kube-apiserver records in `status.qosClass`. Pure functions; nothing here
//! decides whether a value is allowed.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, PodSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

/// The largest magnitude a quantity may have here (in milli-units): far beyond any real node,
/// small enough that sums of many Pods never overflow.
const MAX_MILLI: i128 = 1 << 100;

/// A quantity in thousandths of its unit, rounded up (`100m` CPU is 100, `1Ki` is 1 024 000).
/// `None` when the text is not a Kubernetes quantity or is out of range.
pub fn milli_value(text: &str) -> Option<i128> {
    let text = text.trim();
    let (number, suffix) = split_suffix(text)?;
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number.strip_prefix('+').unwrap_or(number)),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && frac.is_empty()
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
        || whole.len() + frac.len() > 30
    {
        return None;
    }
    let mantissa: i128 = format!("{whole}{frac}").parse().ok()?;
    // value = mantissa * num / (den * 10^frac.len()); milli = value * 1000.
    let (num, den) = scale(suffix)?;
    let den = den.checked_mul(10i128.checked_pow(u32::try_from(frac.len()).ok()?)?)?;
    let top = mantissa.checked_mul(num)?.checked_mul(1000)?;
    let milli = top / den + i128::from(top % den != 0);
    if milli > MAX_MILLI {
        return None;
    }
    Some(if negative { -milli } else { milli })
}

/// The number and its suffix: `128Mi` → (`128`, `Mi`), `1e3` → (`1`, `e3`).
fn split_suffix(text: &str) -> Option<(&str, &str)> {
    let at = text
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .map_or(text.len(), |(i, _)| i);
    if at == 0 {
        return None;
    }
    Some(text.split_at(at))
}

/// The multiplier of a suffix as a fraction `(numerator, denominator)`.
fn scale(suffix: &str) -> Option<(i128, i128)> {
    let binary = |power: u32| Some((1024i128.pow(power), 1));
    let decimal = |exp: i32| {
        if exp >= 0 {
            Some((10i128.checked_pow(exp.unsigned_abs())?, 1))
        } else {
            Some((1, 10i128.checked_pow(exp.unsigned_abs())?))
        }
    };
    match suffix {
        "" => decimal(0),
        "Ki" => binary(1),
        "Mi" => binary(2),
        "Gi" => binary(3),
        "Ti" => binary(4),
        "Pi" => binary(5),
        "Ei" => binary(6),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        other => {
            let exp = other.strip_prefix(['e', 'E'])?;
            let exp: i32 = exp.parse().ok()?;
            if exp.abs() > 30 {
                return None;
            }
            decimal(exp)
        }
    }
}

/// What a Pod asks of a node: CPU in millicores, memory in bytes (rounded up).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requests {
    /// CPU in millicores.
    pub cpu_milli: i128,
    /// Memory in bytes.
    pub memory: i128,
}

impl Requests {
    /// The sum of two requests.
    pub fn plus(self, other: Requests) -> Requests {
        Requests {
            cpu_milli: self.cpu_milli.saturating_add(other.cpu_milli),
            memory: self.memory.saturating_add(other.memory),
        }
    }

    /// The difference of two requests.
    pub fn minus(self, other: Requests) -> Requests {
        Requests {
            cpu_milli: self.cpu_milli.saturating_sub(other.cpu_milli),
            memory: self.memory.saturating_sub(other.memory),
        }
    }

    /// The larger of each resource.
    fn max(self, other: Requests) -> Requests {
        Requests {
            cpu_milli: self.cpu_milli.max(other.cpu_milli),
            memory: self.memory.max(other.memory),
        }
    }
}

/// One resource of a list, in milli-units (0 when absent or unreadable).
fn milli_of(list: Option<&BTreeMap<String, Quantity>>, name: &str) -> i128 {
    list.and_then(|l| l.get(name))
        .and_then(|q| milli_value(&q.0))
        .unwrap_or(0)
        .max(0)
}

/// A container's requests (its limits where requests are absent, as defaulting does).
fn container_requests(c: &Container) -> Requests {
    let resources = c.resources.as_ref();
    let pick = |name: &str| {
        let requests = resources.and_then(|r| r.requests.as_ref());
        if requests.is_some_and(|r| r.contains_key(name)) {
            milli_of(requests, name)
        } else {
            milli_of(resources.and_then(|r| r.limits.as_ref()), name)
        }
    };
    Requests {
        cpu_milli: pick("cpu"),
        memory: pick("memory").saturating_add(999) / 1000,
    }
}

/// The Pod's effective requests, as kube-scheduler counts them: the sum over containers or the
/// largest init container, whichever is larger per resource, plus `spec.overhead`.
pub fn pod_requests(spec: &PodSpec) -> Requests {
    let sum = spec
        .containers
        .iter()
        .map(container_requests)
        .fold(Requests::default(), Requests::plus);
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .map(container_requests)
        .fold(Requests::default(), Requests::max);
    let overhead = spec.overhead.as_ref();
    sum.max(init).plus(Requests {
        cpu_milli: milli_of(overhead, "cpu"),
        memory: milli_of(overhead, "memory").saturating_add(999) / 1000,
    })
}

/// The QoS class of a Pod spec: `Guaranteed` when every container limits CPU and memory and
/// requests exactly that, `BestEffort` when no container requests or limits either, else
/// `Burstable`.
pub fn qos_class(spec: &PodSpec) -> &'static str {
    const TRACKED: [&str; 2] = ["cpu", "memory"];
    let all = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten());
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        let resources = c.resources.as_ref();
        let requests = resources.and_then(|r| r.requests.as_ref());
        let limits = resources.and_then(|r| r.limits.as_ref());
        for name in TRACKED {
            let request = requests.and_then(|r| r.get(name));
            let limit = limits.and_then(|l| l.get(name));
            let request_value = request.and_then(|q| milli_value(&q.0)).filter(|v| *v != 0);
            let limit_value = limit.and_then(|q| milli_value(&q.0)).filter(|v| *v != 0);
            if request_value.is_some() || limit_value.is_some() {
                any = true;
            }
            match (request_value, limit_value) {
                (_, None) => guaranteed = false,
                (Some(r), Some(l)) if r != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        "BestEffort"
    } else if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests fail loudly on a malformed fixture
mod tests {
    use super::*;

    #[test]
    fn quantities_read_as_milli_units() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("1"), Some(1000));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("0.0001"), Some(1));
        assert_eq!(milli_value("1Ki"), Some(1_024_000));
        assert_eq!(milli_value("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(milli_value("1G"), Some(1_000_000_000_000));
        assert_eq!(milli_value("1e3"), Some(1_000_000));
        assert_eq!(milli_value("-2"), Some(-2000));
        assert_eq!(milli_value("12x"), None);
        assert_eq!(milli_value(""), None);
        assert_eq!(milli_value("Mi"), None);
        assert_eq!(milli_value("1e99"), None);
    }

    fn container(requests: &[(&str, &str)], limits: &[(&str, &str)]) -> Container {
        let map = |pairs: &[(&str, &str)]| {
            (!pairs.is_empty()).then(|| {
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                    .collect()
            })
        };
        Container {
            name: "c".into(),
            resources: Some(k8s_openapi::api::core::v1::ResourceRequirements {
                requests: map(requests),
                limits: map(limits),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn pod_requests_take_the_larger_of_containers_and_init_containers() {
        let spec = PodSpec {
            containers: vec![
                container(&[("cpu", "100m"), ("memory", "64Mi")], &[]),
                container(&[], &[("cpu", "200m")]),
            ],
            init_containers: Some(vec![container(&[("cpu", "1")], &[])]),
            ..Default::default()
        };
        let r = pod_requests(&spec);
        assert_eq!(r.cpu_milli, 1000);
        assert_eq!(r.memory, 64 * 1024 * 1024);
    }

    #[test]
    fn qos_classes() {
        let spec = |c: Vec<Container>| PodSpec {
            containers: c,
            ..Default::default()
        };
        assert_eq!(qos_class(&spec(vec![container(&[], &[])])), "BestEffort");
        assert_eq!(
            qos_class(&spec(vec![container(&[("cpu", "1")], &[])])),
            "Burstable"
        );
        assert_eq!(
            qos_class(&spec(vec![container(
                &[],
                &[("cpu", "1"), ("memory", "1Gi")]
            )])),
            "Guaranteed"
        );
        assert_eq!(
            qos_class(&spec(vec![container(
                &[("cpu", "500m"), ("memory", "1Gi")],
                &[("cpu", "1"), ("memory", "1Gi")]
            )])),
            "Burstable"
        );
    }
}
