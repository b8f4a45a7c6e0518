//! Which controllers run, written as kube-controller-manager's `--controllers`: `*` turns on
//! every controller, `name` turns one on, `-name` turns one off (the bootstrap of built-in
//! objects always runs).

/// The controllers that can be turned on and off, by kube-controller-manager's names.
pub const NAMES: [&str; 4] = [
    "endpointslice",
    "replicaset",
    "deployment",
    "garbagecollector",
];

/// A `--controllers` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnabledControllers(Vec<String>);

impl Default for EnabledControllers {
    fn default() -> Self {
        EnabledControllers(vec!["*".to_string()])
    }
}

impl EnabledControllers {
    /// Reads a comma-separated list; an unknown name is an error naming it and the known ones.
    pub fn parse(list: &str) -> Result<EnabledControllers, String> {
        let items: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        for item in &items {
            let name = item.strip_prefix('-').unwrap_or(item);
            if name != "*" && !NAMES.contains(&name) {
                return Err(format!(
                    "--controllers: unknown controller {name:?} (known: *, {})",
                    NAMES.join(", ")
                ));
            }
        }
        Ok(EnabledControllers(items))
    }

    /// Whether the controller called `name` runs: off when listed as `-name`, else on when
    /// listed or when `*` is.
    pub fn runs(&self, name: &str) -> bool {
        let listed = |s: &str| self.0.iter().any(|i| i == s);
        if listed(&format!("-{name}")) {
            return false;
        }
        listed(name) || listed("*")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn star_minus_and_names_read_as_kube_controller_manager_reads_them() {
        let all = EnabledControllers::default();
        assert!(NAMES.iter().all(|n| all.runs(n)));
        let some = EnabledControllers::parse("*,-replicaset,-deployment").unwrap_or_default();
        assert!(some.runs("garbagecollector") && some.runs("endpointslice"));
        assert!(!some.runs("replicaset") && !some.runs("deployment"));
        let only = EnabledControllers::parse("garbagecollector").unwrap_or_default();
        assert!(only.runs("garbagecollector") && !only.runs("endpointslice"));
        let bad = EnabledControllers::parse("*,-replicasets");
        assert!(matches!(bad, Err(e) if e.contains("\"replicasets\"")));
    }
}
