//! One module per resource. Every `/api/v1` route is registered through [`RouteTable`],
//! which records its method, path, who may call it and which quota it draws on. The
//! router enforces the access (`policy`), the limiter reads the quota class, and a test
//! walks the whole table to prove S1 for each route.

pub mod admin;
pub mod auth;
pub mod checks;
pub mod colors;
pub mod docs;
pub mod health;
pub mod ownership;
pub mod policy;
pub mod projects;
pub mod web;

use std::convert::Infallible;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::handler::Handler;
use axum::http::Method;
use axum::middleware;
use axum::routing::{MethodFilter, MethodRouter, on};
use tower_http::limit::RequestBodyLimitLayer;

use crate::app::{AppState, JSON_BODY_LIMIT};
use crate::intake::MAX_BASE64_LEN;

/// The extraction route's body limit: 14 MiB of base64 plus the JSON or multipart
/// around it (S12). The image itself is held to its own limit while it is read.
pub const EXTRACT_BODY_LIMIT: usize = MAX_BASE64_LEN + 64 * 1024;

/// Who may call a route (S1, S7, S9). The router enforces it before the handler runs, so
/// a handler never checks access itself and a new route cannot forget to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// S1's public list: no principal needed.
    Public,
    /// A signed-in user or one of their API keys (with the scope the method needs).
    User,
    /// The account holder's own session, not an API key: managing credentials (otherwise a
    /// `write` key could mint itself a `delete` key) and signing out.
    Session,
    /// A signed-in admin (S9); an admin's API key is not enough.
    Admin,
}

impl Access {
    pub fn needs_principal(self) -> bool {
        self != Self::Public
    }
}

/// Which quota a route draws on besides the overall ones (S15).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaClass {
    /// Only the overall per-minute and per-hour quotas.
    Standard,
    /// Sign-in: per address here, per account in the handler (S6).
    Login,
    /// Account creation: per address and hour.
    Register,
    /// Image work: extraction, drift checks.
    Image,
}

#[derive(Debug, Clone)]
pub struct RouteEntry {
    pub method: Method,
    /// Relative to `/api/v1`.
    pub path: &'static str,
    pub access: Access,
    pub quota: QuotaClass,
    /// The handler's name (`create_project`), used as the OpenAPI operation id.
    pub operation: &'static str,
}

pub struct RouteTable {
    routes: Vec<(RouteEntry, MethodRouter<AppState>)>,
}

impl RouteTable {
    fn new() -> Self {
        Self { routes: Vec::new() }
    }

    fn add<H, T>(
        self,
        method: Method,
        path: &'static str,
        access: Access,
        quota: QuotaClass,
        handler: H,
    ) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        self.add_with_limit(method, path, access, quota, JSON_BODY_LIMIT, handler)
    }

    /// Registers a route whose body may be at most `limit` bytes: a larger declared
    /// length is refused with 413 before any of the body is read (S12).
    fn add_with_limit<H, T>(
        mut self,
        method: Method,
        path: &'static str,
        access: Access,
        quota: QuotaClass,
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
        let operation = std::any::type_name::<H>()
            .rsplit("::")
            .next()
            .unwrap_or("operation");
        self.routes.push((
            RouteEntry {
                method,
                path,
                access,
                quota,
                operation,
            },
            route,
        ));
        self
    }
}

fn table() -> RouteTable {
    use Access::{Admin, Public, Session, User};
    use Method as M;
    use QuotaClass::{Image, Login, Register, Standard as Std};
    use {admin as adm, auth as au, checks as ch, colors as co, projects as pr};
    RouteTable::new()
        .add(M::POST, "/auth/register", Public, Register, au::register)
        .add(M::POST, "/auth/token", Public, Login, au::login)
        .add(M::POST, "/auth/refresh", Public, Std, au::refresh)
        .add(M::POST, "/auth/logout", Session, Std, au::logout)
        .add(M::GET, "/auth/me", User, Std, au::me)
        .add(M::POST, "/auth/password", Session, Std, au::change_password)
        .add(M::POST, "/auth/api-keys", Session, Std, au::create_api_key)
        .add(M::GET, "/auth/api-keys", Session, Std, au::list_api_keys)
        .add(
            M::DELETE,
            "/auth/api-keys/{id}",
            Session,
            Std,
            au::revoke_api_key,
        )
        .add(M::GET, "/admin/users", Admin, Std, adm::list_users)
        .add(M::PATCH, "/admin/users/{id}", Admin, Std, adm::update_user)
        .add(M::GET, "/admin/audit", Admin, Std, adm::list_audit_events)
        .add(M::POST, "/projects", User, Std, pr::create_project)
        .add(M::GET, "/projects", User, Std, pr::list_projects)
        .add(M::GET, "/projects/{id}", User, Std, pr::find_project)
        .add(M::PATCH, "/projects/{id}", User, Std, pr::update_project)
        .add(M::DELETE, "/projects/{id}", User, Std, pr::delete_project)
        .add(
            M::POST,
            "/projects/{id}/sessions",
            User,
            Std,
            pr::create_session,
        )
        .add(
            M::GET,
            "/projects/{id}/sessions",
            User,
            Std,
            pr::list_sessions,
        )
        .add(M::GET, "/sessions/{id}", User, Std, pr::find_session)
        .add(M::DELETE, "/sessions/{id}", User, Std, pr::delete_session)
        .add_with_limit(
            M::POST,
            "/colors/extract",
            User,
            Image,
            EXTRACT_BODY_LIMIT,
            co::extract_colors,
        )
        .add(
            M::GET,
            "/projects/{id}/colors",
            User,
            Std,
            co::list_project_colors,
        )
        .add(M::POST, "/projects/{id}/colors", User, Std, co::add_color)
        .add(M::PATCH, "/colors/{id}", User, Std, co::update_color)
        .add(M::DELETE, "/colors/{id}", User, Std, co::delete_color)
        .add(
            M::GET,
            "/projects/{id}/export",
            User,
            Std,
            co::export_project,
        )
        .add_with_limit(
            M::POST,
            "/projects/{id}/check",
            User,
            Image,
            EXTRACT_BODY_LIMIT,
            ch::check_project,
        )
        .add(M::GET, "/checks/{id}/mask", User, Std, ch::check_mask)
}

/// Every `/api/v1` route, for tests and documentation.
pub fn route_table() -> Vec<RouteEntry> {
    table().routes.into_iter().map(|(entry, _)| entry).collect()
}

/// The `/api/v1` router: every route behind its access policy.
pub fn api_router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (entry, route) in table().routes {
        let access = entry.access;
        let route = route.route_layer(middleware::from_fn_with_state(
            state.clone(),
            move |state: State<AppState>,
                  request: axum::extract::Request,
                  next: middleware::Next| {
                policy::enforce(access, state, request, next)
            },
        ));
        router = router.route(entry.path, route);
    }
    router
}

/// The quota class of each route, looked up by the limiter before routing.
pub struct QuotaClasses {
    by_path: matchit::Router<Vec<(Method, QuotaClass)>>,
}

impl QuotaClasses {
    pub fn new() -> Self {
        let mut by_path: matchit::Router<Vec<(Method, QuotaClass)>> = matchit::Router::new();
        let mut grouped: Vec<(String, Vec<(Method, QuotaClass)>)> = Vec::new();
        for entry in route_table() {
            let path = format!("/api/v1{}", entry.path);
            match grouped.iter_mut().find(|(p, _)| *p == path) {
                Some((_, methods)) => methods.push((entry.method, entry.quota)),
                None => grouped.push((path, vec![(entry.method, entry.quota)])),
            }
        }
        for (path, methods) in grouped {
            by_path
                .insert(path, methods)
                .expect("route paths are unique and well-formed");
        }
        Self { by_path }
    }

    /// The class of `method path`; routes not in the table draw only on the overall quotas.
    pub fn of(&self, method: &Method, path: &str) -> QuotaClass {
        self.by_path
            .at(path)
            .ok()
            .and_then(|found| {
                found
                    .value
                    .iter()
                    .find(|(m, _)| m == method)
                    .map(|(_, class)| *class)
            })
            .unwrap_or(QuotaClass::Standard)
    }
}

impl Default for QuotaClasses {
    fn default() -> Self {
        Self::new()
    }
}
