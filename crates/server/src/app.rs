//! Builds the application: shared state, the router, and the middleware stack in one
//! readable order, plus the listener that serves it until a shutdown signal.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
#[cfg(test)]
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

use crate::auth::Auth;
use crate::blocking::BlockingPool;
use crate::config::Config;
use crate::engine::ImagePipeline;
use crate::error::{ApiError, render_problems};
use crate::fetch::{FetchPolicy, Fetcher};
use crate::limits::{self, DynLimiter};
use crate::request_id::request_context;
use crate::routes;
use crate::store::DynStore;

/// Everything handlers share; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub auth: Arc<Auth>,
    pub images: Arc<ImagePipeline>,
    /// Exports and other bounded CPU work that is not image processing (S18).
    pub exports: BlockingPool,
    /// Which quota each route draws on, from the route table.
    pub quota_classes: Arc<routes::QuotaClasses>,
    /// Set once a shutdown has begun: `/ready` answers 503 so load balancers move away
    /// while requests are still served (a rolling restart without errors).
    pub draining: Arc<std::sync::atomic::AtomicBool>,
    /// Fetches `image_url`s under the configured policy (S14).
    pub fetcher: Arc<Fetcher>,
    pub limiter: DynLimiter,
}

impl AppState {
    pub fn new(config: Config, store: DynStore, limiter: DynLimiter) -> Self {
        Self {
            auth: Auth::new(&config),
            images: Arc::new(ImagePipeline::new(&config)),
            exports: BlockingPool::per_core(Duration::from_secs(15)),
            quota_classes: Arc::new(routes::QuotaClasses::new()),
            draining: Arc::default(),
            fetcher: Arc::new(Fetcher::new(FetchPolicy::from_config(&config))),
            config: Arc::new(config),
            store,
            limiter,
        }
    }
}

/// 64 KiB: the limit for every ordinary JSON body (S12).
pub const JSON_BODY_LIMIT: usize = 64 * 1024;

pub fn router(state: AppState) -> Router {
    let app = Router::new()
        .merge(routes::health::router())
        .merge(routes::web::router())
        .merge(routes::docs::router())
        .nest("/api/v1", routes::api_router(&state))
        .fallback(fallback)
        .method_not_allowed_fallback(method_not_allowed);
    with_middleware(app, &state).with_state(state)
}

async fn fallback() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> Response {
    StatusCode::METHOD_NOT_ALLOWED.into_response()
}

/// The middleware, listed from the innermost to the outermost (each `layer` wraps all
/// before it). The request id is outermost so every response, even one made by another
/// layer, carries it; problem rendering sits inside the header layers so error bodies
/// get the same security headers, and outside CORS so a refused preflight is a problem too.
fn with_middleware(app: Router<AppState>, state: &AppState) -> Router<AppState> {
    let config = &state.config;
    let app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(CatchPanicLayer::custom(on_panic))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::enforce,
        ))
        .layer(cors(config))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            limits::enforce_options,
        ))
        .layer(middleware::from_fn(render_problems));
    with_security_headers(app, config.is_production()).layer(middleware::from_fn_with_state(
        state.clone(),
        request_context,
    ))
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// S20: the same defensive headers on every response, errors included.
fn with_security_headers(app: Router<AppState>, production: bool) -> Router<AppState> {
    const HEADERS: &[(&str, &str)] = &[
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        (
            "content-security-policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
             connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
             frame-ancestors 'none'",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        (
            "permissions-policy",
            "camera=(), microphone=(), geolocation=()",
        ),
        ("x-xss-protection", "0"),
    ];
    let mut app = app;
    for (name, value) in HEADERS {
        app = app.layer(SetResponseHeaderLayer::overriding(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        ));
    }
    // Responses carry tokens and private data: never cache them anywhere.
    app = app.layer(SetResponseHeaderLayer::if_not_present(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    ));
    if production {
        app = app.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        ));
    }
    app
}

/// S21: exact origins from config, explicit methods and headers, no credentials.
fn cors(config: &Config) -> CorsLayer {
    let origins: Vec<HeaderValue> = config
        .cors_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("x-request-id"),
            HeaderName::from_static("x-api-key"),
        ])
        .expose_headers([
            HeaderName::from_static("x-ratelimit-limit"),
            HeaderName::from_static("x-ratelimit-remaining"),
            HeaderName::from_static("x-ratelimit-reset"),
            HeaderName::from_static("x-request-id"),
            header::RETRY_AFTER,
        ])
        .max_age(Duration::from_secs(600))
}

/// A bound, ready-to-serve application (port 0 in tests; the real port is reported).
pub struct Application {
    listener: TcpListener,
    router: Router,
    draining: Arc<std::sync::atomic::AtomicBool>,
    /// How long the listener keeps serving after a shutdown signal, with `/ready` at 503.
    grace: Duration,
    connections: crate::serve::ConnectionLimits,
    /// How long a shutdown waits for in-flight requests.
    drain: Duration,
}

impl Application {
    /// Connects to the configured database, runs migrations and binds the listener.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let store = crate::store::connect(&config.database_url).await?;
        store.migrate().await?;
        Self::build_with_store(config, store).await
    }

    pub async fn build_with_store(config: Config, store: DynStore) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let limiter = limits::from_config(&config)?;
        // A request cannot outlive its timeout, so this is enough to finish them all.
        let drain = config.request_timeout + Duration::from_secs(5);
        let connections = crate::serve::ConnectionLimits {
            per_address: config.connections_per_address,
            pending_heads_per_address: config.pending_heads_per_address,
            trusted: config.trusted_proxies.clone(),
        };
        let grace = config.shutdown_grace;
        let state = AppState::new(config, store, limiter);
        Ok(Self {
            listener,
            draining: state.draining.clone(),
            grace,
            router: router(state),
            connections,
            drain,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then `/ready` turns 503 while the listener keeps
    /// serving for the grace period (so a load balancer's health check moves traffic
    /// away first), then the listener closes and in-flight requests finish (within the
    /// drain deadline).
    pub async fn run_until_stopped(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let (draining, grace) = (self.draining, self.grace);
        let stop = async move {
            shutdown.await;
            draining.store(true, std::sync::atomic::Ordering::Release);
            tracing::info!(grace_secs = grace.as_secs(), "draining: /ready answers 503");
            tokio::time::sleep(grace).await;
            tracing::info!("closing the listener, finishing in-flight requests");
        };
        crate::serve::serve(
            self.listener,
            self.router,
            self.connections,
            stop,
            self.drain,
        )
        .await;
        Ok(())
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received");
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn test_router(extra: Router<AppState>) -> Router {
        let config = Config::from_lookup(&|_| None).unwrap();
        let store = crate::store::connect(&crate::config::ConnectionUrl::new("sqlite::memory:"))
            .await
            .unwrap();
        let state = AppState::new(config, store, Arc::new(limits::MemoryLimiter::new()));
        with_middleware(extra, &state).with_state(state)
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn s19_panics_become_a_sanitized_500() {
        async fn boom() -> &'static str {
            panic!("secret detail at /home/app/src/db.rs:42")
        }
        let app = test_router(Router::new().route("/boom", get(boom))).await;
        let response = app
            .oneshot(Request::get("/boom").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(response.headers().contains_key("x-request-id"));
        let text = body_text(response).await;
        assert!(text.contains("\"detail\":\"internal error\""), "{text}");
        assert!(
            !text.contains("secret") && !text.contains("db.rs"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn s19_internal_errors_say_internal_error_only() {
        async fn fails() -> Result<&'static str, ApiError> {
            Err(ApiError::internal(anyhow::anyhow!(
                "error returned from database: SELECT password_hash FROM users"
            )))
        }
        let app = test_router(Router::new().route("/fails", get(fails))).await;
        let response = app
            .oneshot(
                Request::get("/fails")
                    .header("x-request-id", "trace-500")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = body_text(response).await;
        let body: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(body["detail"], "internal error");
        assert_eq!(body["request_id"], "trace-500");
        assert!(!text.contains("SELECT") && !text.contains("database"));
    }
}
