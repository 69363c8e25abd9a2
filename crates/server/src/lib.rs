//! copythat-server: the Copy That HTTP service, its storage and its command line.
//! `main.rs` is a thin shell over this library, which tests drive over real HTTP.
#![forbid(unsafe_code)]

pub mod app;
pub mod audit;
pub mod auth;
pub mod blocking;
pub mod budget;
pub mod check_cli;
pub mod cli;
pub mod config;
pub mod engine;
pub mod error;
pub mod extract;
pub mod fetch;
pub mod intake;
pub mod limits;
pub mod palette;
pub mod request_id;
pub mod routes;
pub mod serve;
pub mod store;
pub mod telemetry;
pub mod uploads;
pub mod validate;
