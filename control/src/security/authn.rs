//! Authentication: who a request comes from. A verified client certificate (CN = user, each O
//! a group) is tried first, then an `Authorization: Bearer` token; a request with neither is
//! anonymous, and a request whose token is unknown is refused outright (401), as
//! kube-apiserver does.

use http::HeaderMap;
use rustls_pki_types::CertificateDer;

use super::UserInfo;
use super::tokens::TokenTable;

/// The group every authenticated identity is in.
pub const AUTHENTICATED_GROUP: &str = "system:authenticated";
/// The user name of requests without credentials.
pub const ANONYMOUS_USER: &str = "system:anonymous";
/// The group of requests without credentials.
pub const UNAUTHENTICATED_GROUP: &str = "system:unauthenticated";

/// The identity the TLS handshake proved: the subject of a client certificate that the
/// client CA verified. Put into every request of the connection as an extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity(pub UserInfo);

impl PeerIdentity {
    /// The identity of a verified client certificate: CN is the user, each O a group.
    /// `None` when the certificate has no CN.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<PeerIdentity> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let subject = parsed.subject();
        let name = subject
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
            .filter(|cn| !cn.is_empty())?
            .to_string();
        let groups = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok())
            .map(str::to_string)
            .collect();
        Some(PeerIdentity(UserInfo {
            name,
            uid: String::new(),
            groups,
        }))
    }
}

/// Why a request was not authenticated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthnError {
    /// A bearer token was given but is not known.
    #[error("the bearer token is not valid")]
    InvalidToken,
    /// The `Authorization` header is not a bearer token.
    #[error("the Authorization header is not a bearer token")]
    UnsupportedScheme,
}

/// Turns a request's credentials into an identity.
#[derive(Debug, Clone, Default)]
pub struct Authenticator {
    tokens: TokenTable,
}

/// The outcome of authentication: a known identity, or anonymous.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// An authenticated user (with `system:authenticated` among its groups).
    User(UserInfo),
    /// No credentials were presented.
    Anonymous,
}

impl Identity {
    /// The identity as a user: anonymous requests are `system:anonymous` in
    /// `system:unauthenticated`.
    pub fn user(&self) -> UserInfo {
        match self {
            Identity::User(user) => user.clone(),
            Identity::Anonymous => UserInfo {
                name: ANONYMOUS_USER.to_string(),
                uid: String::new(),
                groups: vec![UNAUTHENTICATED_GROUP.to_string()],
            },
        }
    }
}

impl Authenticator {
    /// An authenticator over a token table.
    pub fn new(tokens: TokenTable) -> Authenticator {
        Authenticator { tokens }
    }

    /// Who sent a request with these headers over a connection with this peer identity.
    pub fn authenticate(
        &self,
        peer: Option<&PeerIdentity>,
        headers: &HeaderMap,
    ) -> Result<Identity, AuthnError> {
        if let Some(PeerIdentity(user)) = peer {
            return Ok(Identity::User(with_authenticated(user.clone())));
        }
        let Some(value) = headers.get(http::header::AUTHORIZATION) else {
            return Ok(Identity::Anonymous);
        };
        let value = value.to_str().map_err(|_| AuthnError::UnsupportedScheme)?;
        let (scheme, token) = value
            .trim()
            .split_once(' ')
            .ok_or(AuthnError::UnsupportedScheme)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthnError::UnsupportedScheme);
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthnError::InvalidToken);
        }
        self.tokens
            .lookup(token)
            .map(|user| Identity::User(with_authenticated(user.clone())))
            .ok_or(AuthnError::InvalidToken)
    }
}

/// Adds `system:authenticated` to a user's groups (once).
pub fn with_authenticated(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        user.groups.push(AUTHENTICATED_GROUP.to_string());
    }
    user
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn table() -> TokenTable {
        let mut t = TokenTable::default();
        t.insert(
            "secret",
            UserInfo {
                name: "alice".into(),
                uid: "1".into(),
                groups: vec!["dev".into()],
            },
        );
        t
    }

    #[test]
    fn bearer_tokens_and_anonymous() {
        let authn = Authenticator::new(table());
        let mut headers = HeaderMap::new();
        assert_eq!(authn.authenticate(None, &headers), Ok(Identity::Anonymous));
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer secret"),
        );
        match authn.authenticate(None, &headers) {
            Ok(Identity::User(u)) => {
                assert_eq!(u.name, "alice");
                assert_eq!(u.groups, vec!["dev", AUTHENTICATED_GROUP]);
            }
            other => panic!("unexpected {other:?}"),
        }
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer wrong"),
        );
        assert_eq!(
            authn.authenticate(None, &headers),
            Err(AuthnError::InvalidToken)
        );
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Basic YWxpY2U6cHc="),
        );
        assert_eq!(
            authn.authenticate(None, &headers),
            Err(AuthnError::UnsupportedScheme)
        );
    }

    #[test]
    fn a_client_certificate_wins_over_a_token() {
        let authn = Authenticator::new(table());
        let peer = PeerIdentity(UserInfo {
            name: "system:node:n1".into(),
            uid: String::new(),
            groups: vec!["system:nodes".into()],
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::AUTHORIZATION,
            HeaderValue::from_static("Bearer wrong"),
        );
        match authn.authenticate(Some(&peer), &headers) {
            Ok(Identity::User(u)) => assert_eq!(u.name, "system:node:n1"),
            other => panic!("unexpected {other:?}"),
        }
    }
}
