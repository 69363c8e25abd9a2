//! One module per resource. Every `/api/v1` route is registered through [`RouteTable`],
//! which records its method, path and whether it is public, so a test can walk the
//! whole table and prove S1 for each route.

pub mod admin;
pub mod auth;
pub mod colors;
pub mod docs;
pub mod health;
pub mod ownership;
pub mod projects;
pub mod web;

use std::convert::Infallible;

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
    /// The handler's name (`create_project`), used as the OpenAPI operation id.
    pub operation: &'static str,
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
            .layer::<_, Infallible>(DefaultBodyLimit::max(limit))
            .layer::<_, Infallible>(RequestBodyLimitLayer::new(limit));
        self.router = self.router.route(path, route);
        let operation = std::any::type_name::<H>()
            .rsplit("::")
            .next()
            .unwrap_or("operation");
        self.entries.push(RouteEntry {
            method,
            path,
            access,
            operation,
        });
        self
    }
}

fn table() -> RouteTable {
    use Access::{Principal as Private, Public};
    use Method as M;
    use {admin as adm, auth as au, colors as co, projects as pr};
    RouteTable::new()
        .add(M::POST, "/auth/register", Public, au::register)
        .add(M::POST, "/auth/token", Public, au::login)
        .add(M::POST, "/auth/refresh", Public, au::refresh)
        .add(M::POST, "/auth/logout", Private, au::logout)
        .add(M::GET, "/auth/me", Private, au::me)
        .add(M::POST, "/auth/password", Private, au::change_password)
        .add(M::POST, "/auth/api-keys", Private, au::create_api_key)
        .add(M::GET, "/auth/api-keys", Private, au::list_api_keys)
        .add(
            M::DELETE,
            "/auth/api-keys/{id}",
            Private,
            au::revoke_api_key,
        )
        .add(M::GET, "/admin/users", Private, adm::list_users)
        .add(M::PATCH, "/admin/users/{id}", Private, adm::update_user)
        .add(M::GET, "/admin/audit", Private, adm::list_audit_events)
        .add(M::POST, "/projects", Private, pr::create_project)
        .add(M::GET, "/projects", Private, pr::list_projects)
        .add(M::GET, "/projects/{id}", Private, pr::find_project)
        .add(M::PATCH, "/projects/{id}", Private, pr::update_project)
        .add(M::DELETE, "/projects/{id}", Private, pr::delete_project)
        .add(
            M::POST,
            "/projects/{id}/sessions",
            Private,
            pr::create_session,
        )
        .add(
            M::GET,
            "/projects/{id}/sessions",
            Private,
            pr::list_sessions,
        )
        .add(M::GET, "/sessions/{id}", Private, pr::find_session)
        .add(M::DELETE, "/sessions/{id}", Private, pr::delete_session)
        .add_with_limit(
            M::POST,
            "/colors/extract",
            Private,
            EXTRACT_BODY_LIMIT,
            co::extract_colors,
        )
        .add(
            M::GET,
            "/projects/{id}/colors",
            Private,
            co::list_project_colors,
        )
        .add(M::PATCH, "/colors/{id}", Private, co::update_color)
        .add(M::DELETE, "/colors/{id}", Private, co::delete_color)
        .add(M::GET, "/projects/{id}/export", Private, co::export_project)
}

/// Every `/api/v1` route, for tests and documentation.
pub fn route_table() -> Vec<RouteEntry> {
    table().entries
}

pub fn api_router() -> Router<AppState> {
    table().router
}
