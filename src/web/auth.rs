//! Basic authentication as the exporter-toolkit does it: users and their bcrypt hashes; an
//! unknown user costs as much to refuse as a known one; credentials that passed bcrypt are
//! remembered under a keyed digest, so a scrape every few seconds does not pay for bcrypt
//! every time.

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Mutex, OnceLock};

use base64::Engine;

/// The most credentials remembered as verified.
const MAX_VERIFIED: usize = 1024;

/// The users of `basic_auth_users`, and the credentials verified so far.
pub struct BasicAuth {
    /// User names and their bcrypt hashes; empty: no authentication.
    users: BTreeMap<String, String>,
    /// Keyed digests of credentials that passed bcrypt.
    verified: Mutex<HashSet<u64>>,
    keys: RandomState,
    /// A hash checked for unknown users, at the users' highest cost, so that they take as long
    /// to refuse as known ones; made at the first unknown user.
    dummy: OnceLock<String>,
}

impl BasicAuth {
    /// The users of `users` (name to bcrypt hash); the error names the bad user's key.
    /// Users whose hashes have different costs are warned about: the time a wrong password
    /// takes to refuse tells them apart from each other and from unknown users.
    pub fn new(users: BTreeMap<String, String>) -> Result<BasicAuth, String> {
        for (user, hash) in &users {
            if user.contains(':') {
                return Err(format!(
                    "basic_auth_users.{user}: a user name cannot hold ':' (Basic authentication \
                     splits the name from the password there)"
                ));
            }
            hash.parse::<bcrypt::HashParts>()
                .map_err(|e| format!("basic_auth_users.{user}: not a bcrypt hash: {e}"))?;
        }
        let costs: Vec<u32> = users.values().filter_map(|h| cost(h)).collect();
        if let (Some(low), Some(high)) = (costs.iter().min(), costs.iter().max())
            && low != high
        {
            tracing::warn!(
                "basic_auth_users have bcrypt costs from {low} to {high}: how long a wrong \
                 password takes to refuse tells which users exist; give every user one cost"
            );
        }
        Ok(BasicAuth {
            users,
            verified: Mutex::new(HashSet::new()),
            keys: RandomState::new(),
            dummy: OnceLock::new(),
        })
    }

    /// Whether requests must authenticate (the file has `basic_auth_users`).
    pub fn required(&self) -> bool {
        !self.users.is_empty()
    }

    /// Whether `authorization` carries credentials already verified: a check that needs no
    /// bcrypt.
    pub fn remembered(&self, authorization: Option<&[u8]>) -> bool {
        authorization
            .and_then(basic_credentials)
            .is_some_and(|credentials| self.verified().contains(&self.digest(&credentials)))
    }

    /// Whether a request with the `Authorization` header `authorization` may be served:
    /// always without users, else only with a user's name and password (`Basic`).
    pub fn authorized(&self, authorization: Option<&[u8]>) -> bool {
        if self.users.is_empty() {
            return true;
        }
        let Some(credentials) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let digest = self.digest(&credentials);
        if self.verified().contains(&digest) {
            return true;
        }
        let (user, password) = credentials;
        let hash = self.users.get(&user);
        // An unknown user costs one bcrypt check too.
        let ok = bcrypt::verify(&password, hash.map_or(self.dummy_hash(), String::as_str))
            .unwrap_or(false)
            && hash.is_some();
        if ok {
            let mut verified = self.verified();
            if verified.len() >= MAX_VERIFIED {
                verified.clear();
            }
            verified.insert(digest);
        }
        ok
    }

    fn verified(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.verified.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn digest(&self, credentials: &(String, String)) -> u64 {
        self.keys.hash_one(credentials)
    }

    /// The hash an unknown user's password is checked against: as costly as the cheapest
    /// user's, so that an unknown user takes as long to refuse as a known one (all of them,
    /// when they share one cost; see [`BasicAuth::new`]).
    fn dummy_hash(&self) -> &str {
        self.dummy.get_or_init(|| {
            let cost = self
                .users
                .values()
                .filter_map(|h| cost(h))
                .min()
                .unwrap_or(bcrypt::DEFAULT_COST);
            bcrypt::hash("copybench", cost).unwrap_or_else(|e| {
                tracing::warn!("no hash for unknown users (cost {cost}): {e}");
                String::new()
            })
        })
    }
}

/// The cost of a bcrypt hash (`$2y$COST$...`).
fn cost(hash: &str) -> Option<u32> {
    hash.split('$').nth(2)?.parse().ok()
}

/// The user name and password of a `Basic` authorization header.
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    // The scheme's name is case-insensitive (RFC 7235).
    let (scheme, encoded) = std::str::from_utf8(header).ok()?.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {token}")
    }

    #[test]
    fn basic_auth_takes_the_right_password_only_and_remembers_it() {
        let hash = bcrypt::hash("s3cret", 4).expect("hash");
        let auth = BasicAuth::new([("alice".to_owned(), hash)].into()).expect("users");
        assert!(!auth.authorized(None));
        assert!(!auth.authorized(Some(header("alice", "wrong").as_bytes())));
        assert!(!auth.authorized(Some(header("bob", "s3cret").as_bytes())));
        assert!(!auth.authorized(Some(b"Bearer x")));
        // The unknown user was checked against a hash as costly as alice's.
        assert!(
            auth.dummy_hash().starts_with("$2b$04$"),
            "{}",
            auth.dummy_hash()
        );
        let right = header("alice", "s3cret");
        assert!(!auth.remembered(Some(right.as_bytes())));
        assert!(auth.authorized(Some(right.as_bytes())));
        assert_eq!(auth.verified().len(), 1);
        assert!(auth.remembered(Some(right.as_bytes())));
        assert!(!auth.remembered(Some(header("alice", "wrong").as_bytes())));
        assert!(auth.authorized(Some(right.as_bytes())));
        // The scheme's name in any case, as Go's BasicAuth takes it.
        let lower = right.replacen("Basic", "basic", 1);
        assert!(auth.authorized(Some(lower.as_bytes())));
        assert!(
            BasicAuth::new(BTreeMap::new())
                .expect("none")
                .authorized(None)
        );
    }

    #[test]
    fn a_name_with_a_colon_is_refused_and_unknown_users_cost_the_cheapest_users() {
        let hash = bcrypt::hash("x", 4).expect("hash");
        let colon = BasicAuth::new([("a:b".to_owned(), hash.clone())].into());
        assert!(
            colon
                .err()
                .expect("refused")
                .starts_with("basic_auth_users.a:b: ")
        );
        let dear = bcrypt::hash("y", 6).expect("hash");
        let mixed = BasicAuth::new([("alice".to_owned(), dear), ("bob".to_owned(), hash)].into())
            .expect("mixed costs load, with a warning");
        assert!(
            mixed.dummy_hash().starts_with("$2b$04$"),
            "{}",
            mixed.dummy_hash()
        );
    }
}
