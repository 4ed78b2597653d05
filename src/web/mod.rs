//! The HTTP edge: the [`server`] accepts connections and serves them as the web config file
//! says ([`config_file`]: [`tls`], [`auth`], headers); the [`routes`] turn each request into
//! one call on an [`Exporter`]; [`query`] reads the API's query strings and [`encoding`]
//! whether a request takes gzip.

pub mod auth;
pub mod config_file;
pub mod encoding;
pub mod query;
pub mod routes;
pub mod server;
pub mod tls;

pub use routes::{Body, Exporter, Probed, Refusal};
pub use server::{Options, bind, serve};
