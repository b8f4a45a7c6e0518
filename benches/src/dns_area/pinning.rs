//! Keeps every thread of a server under test on the server CPUs. `taskset` pins a process when
//! it starts, but a daemon may set its threads' affinity itself afterwards: knot pins UDP worker
//! `i` to CPU `i mod <online CPUs>` (`udp_master` in knot's `udp-handler.c`), which puts its only
//! worker on CPU 0, the load generator's CPU, where a query and its reply never cross CPUs.
//! Before each measurement every thread of every server is checked and moved back, the same for
//! all servers, so the comparison is the one the method states.
//!
//! This module never measures anything.

use std::collections::BTreeSet;

use anyhow::Context;

/// A thread that was found outside the server CPUs and moved back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Thread id.
    pub tid: u32,
    /// Its CPU list before the move (`/proc/.../status` `Cpus_allowed_list`).
    pub was: String,
}

/// Pins every thread of `pid` to `cpus` (a taskset list such as `1` or `2-3,6`); returns the
/// threads that had another affinity.
///
/// # Errors
/// `cpus` does not parse, the process is gone, or taskset fails.
pub fn repin(pid: u32, cpus: &str) -> anyhow::Result<Vec<Moved>> {
    let want = parse_cpu_list(cpus).with_context(|| format!("server CPU list {cpus:?}"))?;
    let tasks = format!("/proc/{pid}/task");
    let mut moved = Vec::new();
    for entry in std::fs::read_dir(&tasks).with_context(|| format!("listing {tasks}"))? {
        let entry = entry.with_context(|| format!("listing {tasks}"))?;
        let Some(tid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A thread may end between the listing and the read: skip it.
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let Some(was) = allowed_list(&status) else {
            continue;
        };
        if parse_cpu_list(was).is_some_and(|have| have == want) {
            continue;
        }
        let out = std::process::Command::new("taskset")
            .args(["-c", "-p", cpus, &tid.to_string()])
            .output()
            .context("running taskset")?;
        anyhow::ensure!(
            out.status.success(),
            "taskset -c -p {cpus} {tid}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        moved.push(Moved {
            tid,
            was: was.to_string(),
        });
    }
    Ok(moved)
}

/// The `Cpus_allowed_list` value of a `/proc/<pid>/task/<tid>/status` text.
fn allowed_list(status: &str) -> Option<&str> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Cpus_allowed_list:"))
        .map(str::trim)
}

/// The CPUs of a list like `0-2,5`; `None` when it does not parse.
pub fn parse_cpu_list(list: &str) -> Option<BTreeSet<u32>> {
    let mut cpus = BTreeSet::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (from.parse::<u32>().ok()?, to.parse::<u32>().ok()?);
                if from > to {
                    return None;
                }
                cpus.extend(from..=to);
            }
            None => {
                cpus.insert(part.parse().ok()?);
            }
        }
    }
    (!cpus.is_empty()).then_some(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_parse_ranges_and_singles() {
        assert_eq!(parse_cpu_list("1"), Some(BTreeSet::from([1])));
        assert_eq!(parse_cpu_list("0-2,5"), Some(BTreeSet::from([0, 1, 2, 5])));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list(""), None);
    }

    #[test]
    fn the_allowed_list_is_read_from_status() {
        let status = "Name:\tknotd\nCpus_allowed:\t1\nCpus_allowed_list:\t0\nMems_allowed:\t1\n";
        assert_eq!(allowed_list(status), Some("0"));
    }

    #[test]
    fn this_process_needs_no_move_to_its_own_cpus() -> anyhow::Result<()> {
        let status = std::fs::read_to_string("/proc/self/status")?;
        let own = allowed_list(&status).context("no Cpus_allowed_list")?;
        assert_eq!(repin(std::process::id(), own)?, vec![]);
        Ok(())
    }
}
