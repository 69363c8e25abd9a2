//! One module per resource. Every `/api/v1` route is registered through [`RouteTable`],
//! which records its method, path and whether it is public, so a test can walk the
//! whole table and prove S1 for each route.

pub mod admin;
pub mod auth;
pub mod colors;
pub mod health;
pub mod ownership;
pub mod projects;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, on};
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::{AppState, JSON_BODY_LIMIT};
use crate::intake::MAX_BASE64_LEN;

/// The extraction route's body limit: 14 MiB of base64 plus the JSON or multipart
/// around it (S12). The image itself is held to its own limit while it is read.
pub const EXTRACT_BODY_LIMIT: usize = MAX_BASE64_LEN + 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// S1's public list: no principal needed.
    Public,
    /// A bearer token or an API key is required.
    Principal,
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub method: Method,
    /// Relative to `/api/v1`.
    pub path: &'static str,
    pub access: Access,
}

pub struct RouteTable {
    router: Router<AppState>,
    entries: Vec<RouteEntry>,
}

impl RouteTable {
    fn new() -> Self {
        Self {
            router: Router::new(),
            entries: Vec::new(),
        }
    }

    fn add<H, T>(self, method: Method, path: &'static str, access: Access, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_with_limit(method, path, access, JSON_BODY_LIMIT, handler)
    }

    /// Registers a route whose body may be at most `limit` bytes: a larger declared
    /// length is refused with 413 before any of the body is read (S12).
    fn add_with_limit<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        limit: usize,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let filter = MethodFilter::try_from(method.clone()).expect("a standard method");
        let route = on(filter, handler)
            .layer(DefaultBodyLimit::max(limit))
            .layer(RequestBodyLimitLayer::new(limit));
        self.router = self.router.route(path, route);
        self.entries.push(RouteEntry {
            method,
            path,
            access,
        });
        self
    }
}

fn table() -> RouteTable {
    use Access::{Principal, Public};
    RouteTable::new()
        .add(Method::POST, "/auth/register", Public, auth::register)
        .add(Method::POST, "/auth/token", Public, auth::login)
        .add(Method::POST, "/auth/refresh", Public, auth::refresh)
        .add(Method::POST, "/auth/logout", Principal, auth::logout)
        .add(Method::GET, "/auth/me", Principal, auth::me)
        .add(
            Method::POST,
            "/auth/password",
            Principal,
            auth::change_password,
        )
        .add(
            Method::POST,
            "/auth/api-keys",
            Principal,
            auth::create_api_key,
        )
        .add(
            Method::GET,
            "/auth/api-keys",
            Principal,
            auth::list_api_keys,
        )
        .add(
            Method::DELETE,
            "/auth/api-keys/{id}",
            Principal,
            auth::revoke_api_key,
        )
        .add(Method::GET, "/admin/users", Principal, admin::list_users)
        .add(
            Method::PATCH,
            "/admin/users/{id}",
            Principal,
            admin::update_user,
        )
        .add(
            Method::GET,
            "/admin/audit",
            Principal,
            admin::list_audit_events,
        )
}

/// Every `/api/v1` route, for tests and documentation.
pub fn route_table() -> Vec<RouteEntry> {
    table().entries
}

pub fn api_router() -> Router<AppState> {
    table().router
}
