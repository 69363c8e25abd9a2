//! Black-box tests: each spawns the real application on a random port with a fresh
//! database and talks to it over HTTP, like any client would.

mod helpers;

mod binary;
mod check_cli;
mod checks;
mod connections;
mod controls;
mod fetch;
mod foundation;
mod identity;
mod instances;
mod limits;
mod races;
mod resources;
mod web_session;
