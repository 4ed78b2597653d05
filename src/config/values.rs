//! Settings that are more than a number or a word: pool sizes (a list or `"auto"`) and the
//! listen address (node_exporter's `:PORT` or one socket address).

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::MAX_WORKERS;

/// Pool sizes: a list, or `"auto"` for 1 up to the usable CPUs plus one oversubscribed size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Workers {
    /// Sized from the CPU quota and cpuset at each sweep.
    Auto,
    /// These sizes.
    List(Vec<u32>),
}

/// The most pool sizes `"auto"` makes below the oversubscribed one.
pub const MAX_AUTO_SIZES: usize = 8;

impl Workers {
    /// The pool sizes for a host with `usable` CPUs (the lower of quota and cpuset).
    pub fn sizes(&self, usable: u32) -> Vec<u32> {
        match self {
            Workers::List(sizes) => sizes.clone(),
            Workers::Auto => {
                let usable = usable.clamp(1, MAX_WORKERS - 1);
                let mut sizes: Vec<u32> = if usable as usize <= MAX_AUTO_SIZES {
                    (1..=usable).collect()
                } else {
                    // Doublings, then the usable count itself.
                    let mut sizes: Vec<u32> = std::iter::successors(Some(1u32), |n| {
                        n.checked_mul(2).filter(|n| *n < usable)
                    })
                    .collect();
                    sizes.truncate(MAX_AUTO_SIZES - 1);
                    sizes.push(usable);
                    sizes
                };
                sizes.push(usable + 1);
                sizes
            }
        }
    }
}

impl Serialize for Workers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Workers::Auto => s.serialize_str("auto"),
            Workers::List(sizes) => sizes.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Workers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        /// `n` as a pool size, if it can be one (the range is checked with the other values).
        fn size<E: serde::de::Error>(n: u64) -> Result<u32, E> {
            u32::try_from(n).map_err(|_| {
                E::custom(format!(
                    "{n} is too large for a pool size (at most {MAX_WORKERS})"
                ))
            })
        }
        /// A list item: a size, or the word `auto` (an environment variable's one-item list).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Item {
            Size(u64),
            Word(String),
        }
        /// A list, a word, or one size (what an environment variable of one number becomes).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Size(u64),
            Word(String),
            List(Vec<Item>),
        }
        let expected = "a list of pool sizes or \"auto\"";
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom(format!("expected {expected}")))?
        {
            Raw::Size(n) => size(n).map(|n| Workers::List(vec![n])),
            Raw::Word(word) if word == "auto" => Ok(Workers::Auto),
            Raw::List(items) => match &items[..] {
                [Item::Word(word)] if word == "auto" => Ok(Workers::Auto),
                _ => items
                    .into_iter()
                    .map(|item| match item {
                        Item::Size(n) => size(n),
                        Item::Word(w) => Err(serde::de::Error::custom(format!(
                            "{w:?} is not a pool size; expected {expected}"
                        ))),
                    })
                    .collect::<Result<_, _>>()
                    .map(Workers::List),
            },
            Raw::Word(word) => Err(serde::de::Error::custom(format!(
                "{word:?}: expected {expected}"
            ))),
        }
    }
}

/// Where to listen: node_exporter's `:PORT` form (every interface) or one socket address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenAddress {
    /// `:PORT`: every interface, IPv6 as well as IPv4 where the host has IPv6.
    AllInterfaces(u16),
    /// `HOST:PORT`: that address only.
    Socket(SocketAddr),
}

impl ListenAddress {
    /// The addresses to try binding, in order. For `:PORT`: the IPv6 wildcard, which on Linux
    /// takes IPv4 connections too, then the IPv4 one for hosts without IPv6.
    pub fn candidates(&self) -> Vec<SocketAddr> {
        match *self {
            ListenAddress::AllInterfaces(port) => vec![
                SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)),
                SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, port)),
            ],
            ListenAddress::Socket(addr) => vec![addr],
        }
    }
}

impl FromStr for ListenAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if let Some(port) = s.strip_prefix(':') {
            return port
                .parse()
                .map(ListenAddress::AllInterfaces)
                .map_err(|e| format!("{s:?} is not :PORT with a port from 0 to 65535 ({e})"));
        }
        let mut addrs = s
            .to_socket_addrs()
            .map_err(|e| format!("{s:?} is not a host:port address ({e})"))?;
        addrs
            .next()
            .map(ListenAddress::Socket)
            .ok_or_else(|| format!("{s:?} resolves to no address"))
    }
}

impl fmt::Display for ListenAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddress::AllInterfaces(port) => write!(f, ":{port}"),
            ListenAddress::Socket(addr) => addr.fmt(f),
        }
    }
}

impl Serialize for ListenAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ListenAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}
