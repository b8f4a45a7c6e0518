//! Whether a test's requirements (root, a tool) are met. Under `CI` a missing requirement
//! panics, so a CI run never passes by skipping; elsewhere the test prints why and skips.

/// Whether this process runs as root (uid 0), read from `/proc/self/status`.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// Whether `test` may run its root-only part (`why` says what needs root). Without root: a
/// panic when `CI` is set, otherwise a printed reason and `false`.
pub fn require_root(test: &str, why: &str) -> bool {
    if is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs root ({why}) and CI is set; refusing to skip"
    );
    eprintln!("skipping {test}: needs root ({why})");
    false
}

/// Whether `tool` is on `PATH` (or in /usr/sbin, /sbin). Missing: a panic when `CI` is set
/// (`scripts/test` installs every tool the suite uses), otherwise a printed reason and `false`.
pub fn require_tool(test: &str, tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .any(|dir| dir.join(tool).is_file());
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test} needs `{tool}` and CI is set: scripts/test installs it"
    );
    eprintln!("skipping {test}: `{tool}` is not installed");
    false
}

/// Whether kubectl can run here (`kubectl version --client` succeeds). Missing: a panic when
/// `CI` is set, otherwise a printed reason and `false`.
pub fn kubectl_available() -> bool {
    let found = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "kubectl is required under CI but was not found"
        );
        eprintln!("skipping: kubectl is not installed");
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_is_read_from_proc() {
        let uid = std::fs::read_to_string("/proc/self/status")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("Uid:").map(str::to_string))
            .unwrap_or_default();
        assert_eq!(is_root(), uid.split_whitespace().nth(1) == Some("0"));
    }

    #[test]
    fn a_shell_is_found_and_a_made_up_tool_is_not() {
        assert!(require_tool("testkit", "sh"));
        if std::env::var_os("CI").is_none() {
            assert!(!require_tool("testkit", "no-such-tool-switchyard"));
        }
    }
}
