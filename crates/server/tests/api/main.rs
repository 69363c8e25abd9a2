//! Black-box tests: each spawns the real application on a random port with a fresh
//! database and talks to it over HTTP, like any client would.

mod helpers;

mod binary;
mod connections;
mod fetch;
mod foundation;
mod identity;
mod limits;
mod resources;
