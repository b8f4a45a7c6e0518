//! Syntax checks for the names Kubernetes constrains: DNS-1123 labels and subdomains, IANA
//! service names (port names), label keys (qualified names) and label values.
//!
//! Every check returns `Err(reason)` with a sentence saying what is wrong, ready to be put in a
//! field cause. These functions only look at text; they never allocate addresses or read state.

/// Longest DNS-1123 label (a single name component).
pub const DNS1123_LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (dotted name).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;
/// Longest IANA service name (port names, named targetPorts).
pub const IANA_SVC_NAME_MAX: usize = 15;
/// Longest label value and name part of a label key.
pub const LABEL_NAME_MAX: usize = 63;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Checks a DNS-1123 label: lower-case alphanumerics and `-`, starting and ending with an
/// alphanumeric, at most 63 characters.
pub fn validate_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > DNS1123_LABEL_MAX {
        return Err(format!(
            "must be no more than {DNS1123_LABEL_MAX} characters"
        ));
    }
    let ok_chars = name.chars().all(|c| is_lower_alnum(c) || c == '-');
    let ok_ends = name.starts_with(is_lower_alnum) && name.ends_with(is_lower_alnum);
    if !ok_chars || !ok_ends {
        return Err(
            "a lowercase RFC 1123 label must consist of lower case alphanumeric \
                    characters or '-', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    Ok(())
}

/// Checks a DNS-1123 subdomain: dot-separated DNS-1123 labels, at most 253 characters.
pub fn validate_dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(format!(
            "must be no more than {DNS1123_SUBDOMAIN_MAX} characters"
        ));
    }
    let ok = name.split('.').all(|part| {
        !part.is_empty()
            && part.chars().all(|c| is_lower_alnum(c) || c == '-')
            && part.starts_with(is_lower_alnum)
            && part.ends_with(is_lower_alnum)
    });
    if !ok {
        return Err(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
                    characters, '-' or '.', and must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    Ok(())
}

/// Checks an IANA service name (a port name): at most 15 lower-case alphanumerics or `-`, at
/// least one letter, no leading/trailing or doubled `-`.
pub fn validate_iana_svc_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > IANA_SVC_NAME_MAX {
        return Err(format!(
            "must be no more than {IANA_SVC_NAME_MAX} characters"
        ));
    }
    if !name.chars().all(|c| is_lower_alnum(c) || c == '-') {
        return Err(
            "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string(),
        );
    }
    if name.contains("--") {
        return Err("must not contain consecutive hyphens".to_string());
    }
    if !name.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("must contain at least one letter (a-z)".to_string());
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err("must not begin or end with a hyphen".to_string());
    }
    Ok(())
}

/// Whether `s` is empty or `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
fn is_label_name_syntax(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.is_empty()
        || (s.starts_with(alnum)
            && s.ends_with(alnum)
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
}

/// Checks a label key (a qualified name): an optional DNS-1123 subdomain prefix and `/`, then a
/// name of at most 63 characters matching `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn validate_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err("prefix part must be non-empty".to_string());
        }
        validate_dns_subdomain(prefix).map_err(|why| format!("prefix part {why}"))?;
    }
    if name.is_empty() {
        return Err("name part must be non-empty".to_string());
    }
    if name.len() > LABEL_NAME_MAX {
        return Err(format!(
            "name part must be no more than {LABEL_NAME_MAX} characters"
        ));
    }
    if !is_label_name_syntax(name) {
        return Err(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and \
                    must start and end with an alphanumeric character"
                .to_string(),
        );
    }
    Ok(())
}

/// Checks a label value: empty, or at most 63 characters matching
/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
pub fn validate_label_value(value: &str) -> Result<(), String> {
    if value.len() > LABEL_NAME_MAX {
        return Err(format!("must be no more than {LABEL_NAME_MAX} characters"));
    }
    if !is_label_name_syntax(value) {
        return Err(
            "a valid label must be an empty string or consist of alphanumeric \
                    characters, '-', '_' or '.', and must start and end with an alphanumeric \
                    character"
                .to_string(),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_labels() {
        assert!(validate_dns_label("web-1").is_ok());
        assert!(validate_dns_label("Web").is_err());
        assert!(validate_dns_label("-a").is_err());
        assert!(validate_dns_label("a.b").is_err());
        assert!(validate_dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn dns_subdomains() {
        assert!(validate_dns_subdomain("example.com").is_ok());
        assert!(validate_dns_subdomain("a..b").is_err());
        assert!(validate_dns_subdomain("a.").is_err());
        assert!(validate_dns_subdomain(&"a.".repeat(127)).is_err());
    }

    #[test]
    fn iana_names() {
        assert!(validate_iana_svc_name("http").is_ok());
        assert!(validate_iana_svc_name("h2c-web").is_ok());
        assert!(validate_iana_svc_name("8080").is_err());
        assert!(validate_iana_svc_name("a--b").is_err());
        assert!(validate_iana_svc_name("a-very-long-name-x").is_err());
        assert!(validate_iana_svc_name("HTTP").is_err());
    }

    #[test]
    fn label_keys_and_values() {
        assert!(validate_label_key("app").is_ok());
        assert!(validate_label_key("kubernetes.io/service-name").is_ok());
        assert!(validate_label_key("a/b/c").is_err());
        assert!(validate_label_key("/a").is_err());
        assert!(validate_label_key("Ex.com/a").is_err());
        assert!(validate_label_key("a_").is_err());
        assert!(validate_label_value("").is_ok());
        assert!(validate_label_value("v1.2_x-Y").is_ok());
        assert!(validate_label_value("a b").is_err());
        assert!(validate_label_value(&"a".repeat(64)).is_err());
    }
}
