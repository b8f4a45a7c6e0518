//! Names unique to one test in one process.

use std::sync::atomic::{AtomicU32, Ordering};

/// A name unique to this test and process: `sy<tag>-<pid36>-<n>`, at most 15 bytes so it is
/// also valid as an interface name. `tag` is shortened to its first 4 alphanumeric characters.
pub fn unique_name(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let short: String = tag
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(4)
        .collect();
    let mut name = format!("sy{short}-{}-{}", base36(std::process::id()), base36(n));
    name.truncate(15);
    name
}

fn base36(mut n: u32) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_fit_an_interface_name() {
        let a = unique_name("remote-access");
        let b = unique_name("remote-access");
        assert_ne!(a, b);
        assert!(a.len() <= 15, "{a}");
        assert!(a.starts_with("syremo-"), "{a}");
    }
}
