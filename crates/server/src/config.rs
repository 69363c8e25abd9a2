//! Typed configuration read from the environment (and `*_FILE` secret files).
//! Parsing refuses unsafe production settings so a misconfigured server never starts (S22).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

/// Where the process runs; production turns on the strict checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Local,
    Staging,
    Production,
}

impl Environment {
    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "local" | "dev" | "development" => Ok(Self::Local),
            "staging" => Ok(Self::Staging),
            "production" | "prod" => Ok(Self::Production),
            _ => Err(ConfigError::invalid(
                "COPYTHAT_ENV",
                "expected local, staging or production",
            )),
        }
    }
}

/// A configuration problem, said in one line naming the variable and never its value.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {variable}: {reason}")]
pub struct ConfigError {
    pub variable: String,
    pub reason: String,
}

impl ConfigError {
    fn invalid(variable: &str, reason: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Known placeholder or sample secrets that must never sign production tokens.
const PLACEHOLDER_SECRETS: &[&str] = &[
    "secret",
    "secret-key",
    "secretkey",
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "password",
    "supersecret",
    "your-secret-key",
    "your_secret_key",
    "dev-secret-key-change-in-production",
    "insecure",
    "default",
    "development",
    "test",
];

/// Words that mark a value as a sample or as a reminder to replace it, wherever they
/// appear in it (case-insensitive). Each is six letters or more, so a random base64 key
/// holds one by chance about once in ten million; a hex key never does.
const PLACEHOLDER_FRAGMENTS: &[&str] = &[
    "change",
    "replace",
    "placeholder",
    "example",
    "insecure",
    "default",
    "your-secret",
    "your_secret",
];

/// Shorter placeholder words, refused only where they stand as a word (not inside a run
/// of letters): anywhere, five letters would turn up in about one random base64 key in
/// half a million.
const PLACEHOLDER_WORDS: &[&str] = &["dummy"];

pub const MIN_SECRET_KEY_BYTES: usize = 32;

/// The signing key for tokens. Never printed: `Debug` shows only that it is set (S22).
#[derive(Clone)]
pub struct SecretKey(SecretString);

impl SecretKey {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    /// A fresh random key for one process (outside production only).
    pub fn generate() -> Self {
        let mut bytes = [0u8; 48];
        getrandom::fill(&mut bytes).expect("the operating system's random source is available");
        Self::new(hex(&bytes))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

/// A connection URL that may embed a password; `Debug` hides everything after the scheme.
#[derive(Clone)]
pub struct ConnectionUrl(SecretString);

impl ConnectionUrl {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn scheme(&self) -> &str {
        self.expose().split(':').next().unwrap_or_default()
    }
}

impl fmt::Debug for ConnectionUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConnectionUrl({}://[redacted])", self.scheme())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The part of a configured key that is key material. Surrounding ASCII whitespace (the
/// newline a secret file ends with, spaces pasted along with the value) is dropped before
/// the key is measured or used, so padding cannot make a short key pass (S22).
pub fn secret_key_material(raw: &str) -> &str {
    raw.trim_ascii()
}

/// Whether a secret key is acceptable for production: long enough once trimmed, free of
/// placeholder words, not a run of a few characters and not a short pattern repeated.
pub fn check_production_secret(key: &str) -> Result<(), String> {
    let key = secret_key_material(key);
    if key.len() < MIN_SECRET_KEY_BYTES {
        return Err(format!("must be at least {MIN_SECRET_KEY_BYTES} bytes"));
    }
    let lowered = key.to_ascii_lowercase();
    if PLACEHOLDER_SECRETS.contains(&lowered.as_str())
        || PLACEHOLDER_FRAGMENTS.iter().any(|f| lowered.contains(f))
        || PLACEHOLDER_WORDS.iter().any(|w| contains_word(&lowered, w))
    {
        return Err("is a known placeholder value".into());
    }
    let mut distinct: Vec<u8> = key.bytes().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 10 {
        return Err("has too little variety to be a random key".into());
    }
    if shortest_period(key.as_bytes()) <= key.len() / 2 {
        return Err("repeats a short pattern, so it is not a random key".into());
    }
    Ok(())
}

/// Whether `word` occurs in `text` with no ASCII letter right before or after it.
fn contains_word(text: &str, word: &str) -> bool {
    let is_letter = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphabetic());
    text.match_indices(word).any(|(at, _)| {
        !is_letter(text[..at].chars().next_back())
            && !is_letter(text[at + word.len()..].chars().next())
    })
}

/// The smallest `p` such that every byte equals the one `p` places later (the length
/// itself when nothing repeats), from the Knuth-Morris-Pratt failure function. A key
/// like `abcdefghijabcdefghijabcdefghijab` has period 10: ten characters of choice.
fn shortest_period(bytes: &[u8]) -> usize {
    let mut border = vec![0usize; bytes.len()];
    let mut k = 0;
    for i in 1..bytes.len() {
        while k > 0 && bytes[i] != bytes[k] {
            k = border[k - 1];
        }
        if bytes[i] == bytes[k] {
            k += 1;
        }
        border[i] = k;
    }
    bytes.len() - border.last().copied().unwrap_or(0)
}

#[derive(Debug, Clone)]
pub struct Config {
    pub env: Environment,
    pub bind: SocketAddr,
    pub database_url: ConnectionUrl,
    pub redis_url: Option<ConnectionUrl>,
    pub secret_key: SecretKey,
    /// True when the key was generated for this process only.
    pub secret_key_generated: bool,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<IpNet>,
    pub fetch_allow_cidrs: Vec<IpNet>,
    pub fetch_allowed_ports: Vec<u16>,
    pub fetch_resolve: BTreeMap<String, Vec<IpAddr>>,
    pub rate_per_minute: u32,
    pub rate_per_hour: u32,
    pub extract_per_minute: u32,
    pub login_per_minute: u32,
    pub rate_limit_fail_closed: bool,
    /// Prefix of every rate-limit key in Redis (instances sharing limits share it).
    pub redis_key_prefix: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub max_image_bytes: usize,
    pub max_image_pixels: u64,
    pub docs: bool,
    pub log: String,
    pub log_json: bool,
    pub request_timeout: Duration,
    /// Registrations allowed per client address and hour (S15).
    pub register_per_hour: u32,
    /// What one account may store (S18).
    pub caps: crate::store::Caps,
    /// Bytes all image decodes in flight may use together (S18).
    pub decode_memory: u64,
    /// Connections one peer address may hold open, and of those, how many may be
    /// still sending a request head (S18); trusted proxies are exempt.
    pub connections_per_address: usize,
    pub pending_heads_per_address: usize,
    /// How long a stopping instance keeps serving with `/ready` at 503 (rolling restarts).
    pub shutdown_grace: Duration,
}

const LOCAL_CORS_ORIGINS: &[&str] = &[
    "http://localhost:3000",
    "http://127.0.0.1:3000",
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:8080",
    "http://127.0.0.1:8080",
];

/// Looks a variable up: unset, set, or set to something that is not text (an error).
type Lookup<'a> = &'a dyn Fn(&str) -> Result<Option<String>, ConfigError>;

/// Reads variables through a lookup function so tests need not touch the process environment.
struct Source<'a> {
    lookup: Lookup<'a>,
}

impl Source<'_> {
    /// `NAME`, or the content of the file named by `NAME_FILE`; setting both is an error.
    fn get(&self, name: &str) -> Result<Option<String>, ConfigError> {
        let direct = (self.lookup)(name)?.filter(|v| !v.is_empty());
        let file_var = format!("{name}_FILE");
        let from_file = (self.lookup)(&file_var)?.filter(|v| !v.is_empty());
        match (direct, from_file) {
            (Some(_), Some(_)) => Err(ConfigError::invalid(
                name,
                format!("set either {name} or {file_var}, not both"),
            )),
            (Some(value), None) => Ok(Some(value)),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|content| Some(content.trim_end_matches(['\n', '\r']).to_owned()))
                .map_err(|_| ConfigError::invalid(&file_var, "the file cannot be read")),
            (None, None) => Ok(None),
        }
    }

    /// Whether `NAME` is present in the environment at all, even set to nothing.
    fn is_set(&self, name: &str) -> Result<bool, ConfigError> {
        Ok((self.lookup)(name)?.is_some())
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        name: &str,
        default: T,
        what: &str,
    ) -> Result<T, ConfigError> {
        match self.get(name)? {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|_| ConfigError::invalid(name, format!("expected {what}"))),
        }
    }

    fn positive(&self, name: &str, default: u32) -> Result<u32, ConfigError> {
        let value: u32 = self.parsed(name, default, "a positive whole number")?;
        if value == 0 {
            return Err(ConfigError::invalid(name, "must be at least 1"));
        }
        Ok(value)
    }

    /// A whole number within `range`.
    fn bounded<T>(
        &self,
        name: &str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let value: T = self.parsed(name, default, "a whole number")?;
        if !range.contains(&value) {
            return Err(ConfigError::invalid(
                name,
                format!("must be between {} and {}", range.start(), range.end()),
            ));
        }
        Ok(value)
    }

    fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name)?.map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "1" | "true" | "on" | "yes") => Ok(true),
            Some(v) if matches!(v.as_str(), "0" | "false" | "off" | "no") => Ok(false),
            Some(_) => Err(ConfigError::invalid(name, "expected on or off")),
        }
    }

    fn list(&self, name: &str) -> Result<Option<Vec<String>>, ConfigError> {
        Ok(self.get(name)?.map(|raw| {
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        }))
    }

    fn cidrs(&self, name: &str) -> Result<Vec<IpNet>, ConfigError> {
        self.list(name)?
            .unwrap_or_default()
            .iter()
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError::invalid(name, "expected comma-separated CIDRs"))
            })
            .collect()
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_os_lookup(&|name| std::env::var_os(name))
    }

    /// Reads configuration through `lookup`, which sees variables as the operating system
    /// holds them. A variable (or its `_FILE` variant) that is set but not UTF-8 is an
    /// error naming it: read as unset, `COPYTHAT_ENV=production\xff` would start a
    /// production host in local mode with a throwaway key and docs on (S22).
    pub fn from_os_lookup(lookup: &dyn Fn(&str) -> Option<OsString>) -> Result<Self, ConfigError> {
        Self::read(&|name| {
            lookup(name)
                .map(|raw| {
                    raw.into_string()
                        .map_err(|_| ConfigError::invalid(name, "is set but is not valid UTF-8"))
                })
                .transpose()
        })
    }

    /// Reads configuration through `lookup` (a map in tests).
    pub fn from_lookup(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Self::read(&|name| Ok(lookup(name)))
    }

    fn read(lookup: Lookup<'_>) -> Result<Self, ConfigError> {
        let src = Source { lookup };
        let env = match src.get("COPYTHAT_ENV")? {
            Some(v) => Environment::parse(&v)?,
            None => Environment::Local,
        };
        let production = env == Environment::Production;

        let bind = src.parsed(
            "COPYTHAT_BIND",
            SocketAddr::from(([127, 0, 0, 1], 8080)),
            "an address such as 127.0.0.1:8080",
        )?;

        let database_url = ConnectionUrl::new(
            src.get("DATABASE_URL")?
                .unwrap_or_else(|| "sqlite://copythat.db".to_owned()),
        );
        if !matches!(database_url.scheme(), "sqlite" | "postgres" | "postgresql") {
            return Err(ConfigError::invalid(
                "DATABASE_URL",
                "expected a sqlite:// or postgres:// URL",
            ));
        }
        let redis_url = src.get("REDIS_URL")?.map(ConnectionUrl::new);
        if let Some(url) = &redis_url
            && !matches!(url.scheme(), "redis" | "rediss")
        {
            return Err(ConfigError::invalid(
                "REDIS_URL",
                "expected a redis:// or rediss:// URL",
            ));
        }

        let (secret_key, secret_key_generated) = match src.get("SECRET_KEY")? {
            Some(raw) => {
                // The trimmed value is both what is checked and what signs tokens, so
                // `SECRET_KEY` and `SECRET_KEY_FILE` holding the same key agree.
                let key = secret_key_material(&raw).to_owned();
                if production {
                    check_production_secret(&key)
                        .map_err(|reason| ConfigError::invalid("SECRET_KEY", reason))?;
                } else if key.len() < MIN_SECRET_KEY_BYTES {
                    return Err(ConfigError::invalid(
                        "SECRET_KEY",
                        format!("must be at least {MIN_SECRET_KEY_BYTES} bytes"),
                    ));
                }
                (SecretKey::new(key), false)
            }
            None if production => {
                return Err(ConfigError::invalid(
                    "SECRET_KEY",
                    "is required in production (set SECRET_KEY or SECRET_KEY_FILE)",
                ));
            }
            None => (SecretKey::generate(), true),
        };

        // S21: set but empty means no cross-origin access at all, not the local defaults.
        let cors_origins = match src.list("COPYTHAT_CORS_ORIGINS")? {
            Some(origins) => origins
                .iter()
                .map(|origin| parse_origin(origin))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ConfigError::invalid(
                        "COPYTHAT_CORS_ORIGINS",
                        "expected exact origins such as https://app.example.com:8443 \
                         (scheme and host, optional port; no path, trailing slash, wildcard \
                         or spaces)",
                    )
                })?,
            None if production || src.is_set("COPYTHAT_CORS_ORIGINS")? => Vec::new(),
            None => LOCAL_CORS_ORIGINS.iter().map(|s| (*s).to_owned()).collect(),
        };

        let fetch_allowed_ports = match src.list("COPYTHAT_FETCH_ALLOWED_PORTS")? {
            None => vec![80, 443],
            Some(items) => items
                .iter()
                .map(|p| p.parse::<u16>().ok().filter(|p| *p != 0))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    ConfigError::invalid("COPYTHAT_FETCH_ALLOWED_PORTS", "expected port numbers")
                })?,
        };

        let fetch_resolve = match src.get("COPYTHAT_FETCH_RESOLVE")? {
            None => BTreeMap::new(),
            Some(raw) => parse_host_map(&raw).ok_or_else(|| {
                ConfigError::invalid("COPYTHAT_FETCH_RESOLVE", "expected host=ip[,ip];host2=ip")
            })?,
        };

        let access_secs: u64 = src.parsed("COPYTHAT_ACCESS_TTL", 900, "seconds")?;
        let refresh_secs: u64 = src.parsed("COPYTHAT_REFRESH_TTL", 604_800, "seconds")?;
        if !(30..=86_400).contains(&access_secs) {
            return Err(ConfigError::invalid(
                "COPYTHAT_ACCESS_TTL",
                "must be between 30 and 86400 seconds",
            ));
        }
        // A refresh token that dies with the access token it would renew renews nothing.
        if refresh_secs <= access_secs || refresh_secs > 90 * 86_400 {
            return Err(ConfigError::invalid(
                "COPYTHAT_REFRESH_TTL",
                "must be longer than the access TTL and at most 90 days (7776000 seconds)",
            ));
        }

        // S18: 0 answers every request that has a body with a 503 at once, and a huge
        // value takes the bound away.
        let request_timeout_secs: u64 = src.parsed("COPYTHAT_REQUEST_TIMEOUT", 30, "seconds")?;
        if !(1..=3600).contains(&request_timeout_secs) {
            return Err(ConfigError::invalid(
                "COPYTHAT_REQUEST_TIMEOUT",
                "must be between 1 and 3600 seconds",
            ));
        }

        let max_image_bytes: usize =
            src.parsed("COPYTHAT_MAX_IMAGE_BYTES", 10 * 1024 * 1024, "a byte count")?;
        let max_image_pixels: u64 =
            src.parsed("COPYTHAT_MAX_IMAGE_PIXELS", 40_000_000, "a pixel count")?;
        if max_image_bytes == 0 || max_image_bytes > 64 * 1024 * 1024 {
            return Err(ConfigError::invalid(
                "COPYTHAT_MAX_IMAGE_BYTES",
                "must be between 1 and 67108864",
            ));
        }
        if max_image_pixels == 0 || max_image_pixels > 200_000_000 {
            return Err(ConfigError::invalid(
                "COPYTHAT_MAX_IMAGE_PIXELS",
                "must be between 1 and 200000000",
            ));
        }

        let caps = crate::store::Caps {
            projects_per_user: src.bounded("COPYTHAT_MAX_PROJECTS_PER_USER", 200, 1..=100_000)?,
            sessions_per_project: src.bounded(
                "COPYTHAT_MAX_SESSIONS_PER_PROJECT",
                1000,
                1..=100_000,
            )?,
            tokens_per_project: src.bounded(
                "COPYTHAT_MAX_TOKENS_PER_PROJECT",
                5000,
                50..=20_000,
            )?,
        };
        // The budget must admit at least one image of the largest size allowed, or such
        // images could never be processed.
        let decode_memory_mib: u64 = src.bounded("COPYTHAT_DECODE_MEMORY_MB", 1024, 64..=65_536)?;
        let decode_memory = decode_memory_mib * 1024 * 1024;
        let smallest_budget = copythat_core::image::worst_case_decode_bytes(max_image_pixels);
        if decode_memory < smallest_budget {
            return Err(ConfigError::invalid(
                "COPYTHAT_DECODE_MEMORY_MB",
                format!(
                    "must be at least {} to decode an image of COPYTHAT_MAX_IMAGE_PIXELS",
                    smallest_budget.div_ceil(1024 * 1024)
                ),
            ));
        }
        let connections_per_address =
            src.bounded("COPYTHAT_CONNECTIONS_PER_ADDRESS", 64, 2..=4096)? as usize;

        // A filter that does not parse would otherwise be swapped for a default without
        // a word; refuse it so the operator learns of the typo at start.
        let log = src
            .get("COPYTHAT_LOG")?
            .unwrap_or_else(|| "info".to_owned());
        if tracing_subscriber::EnvFilter::try_new(&log).is_err() {
            return Err(ConfigError::invalid(
                "COPYTHAT_LOG",
                "expected a tracing filter such as info or warn,copythat_server=debug",
            ));
        }

        Ok(Self {
            env,
            bind,
            database_url,
            redis_url,
            secret_key,
            secret_key_generated,
            cors_origins,
            trusted_proxies: src.cidrs("COPYTHAT_TRUSTED_PROXIES")?,
            fetch_allow_cidrs: src.cidrs("COPYTHAT_FETCH_ALLOW_CIDRS")?,
            fetch_allowed_ports,
            fetch_resolve,
            rate_per_minute: src.positive("COPYTHAT_RATE_PER_MINUTE", 60)?,
            rate_per_hour: src.positive("COPYTHAT_RATE_PER_HOUR", 1000)?,
            extract_per_minute: src.positive("COPYTHAT_EXTRACT_PER_MINUTE", 10)?,
            login_per_minute: src.positive("COPYTHAT_LOGIN_PER_MINUTE", 5)?,
            rate_limit_fail_closed: src.flag("COPYTHAT_RATE_LIMIT_FAIL_CLOSED", false)?,
            redis_key_prefix: src
                .get("COPYTHAT_REDIS_PREFIX")?
                .unwrap_or_else(|| "copythat:rl:".to_owned()),
            access_ttl: Duration::from_secs(access_secs),
            refresh_ttl: Duration::from_secs(refresh_secs),
            max_image_bytes,
            max_image_pixels,
            docs: src.flag("COPYTHAT_DOCS", !production)?,
            log,
            log_json: src.flag("COPYTHAT_LOG_JSON", production)?,
            request_timeout: Duration::from_secs(request_timeout_secs),
            register_per_hour: src.positive("COPYTHAT_REGISTER_PER_HOUR", 10)?,
            caps,
            decode_memory,
            connections_per_address,
            // Heads arrive in one or two packets from honest clients; a few at a time
            // per address is plenty, the rest is a slow-head attack.
            pending_heads_per_address: (connections_per_address / 4).max(1),
            shutdown_grace: Duration::from_secs(src.bounded(
                "COPYTHAT_SHUTDOWN_GRACE",
                5,
                0..=300,
            )?),
        })
    }

    pub fn is_production(&self) -> bool {
        self.env == Environment::Production
    }
}

/// An origin as a browser sends it in `Origin`, or `None` for a value that could never
/// equal one: `http(s)://host[:port]` with nothing after it, scheme and host lowercased,
/// a default port dropped and IP literals in their canonical form, since CORS compares
/// the header byte for byte (S21).
fn parse_origin(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    // No path, query, fragment, userinfo, whitespace, control or non-ASCII characters.
    if rest
        .bytes()
        .any(|b| !b.is_ascii_graphic() || matches!(b, b'/' | b'\\' | b'?' | b'#' | b'@'))
    {
        return None;
    }
    let (host, port) = match rest.strip_prefix('[') {
        Some(bracketed) => {
            let (v6, tail) = bracketed.split_once(']')?;
            let addr = v6.parse::<std::net::Ipv6Addr>().ok()?.to_string();
            // Browsers write an IPv6 address as hex groups only, never with a dotted tail.
            if addr.contains('.') {
                return None;
            }
            let port = match tail {
                "" => None,
                _ => Some(tail.strip_prefix(':')?),
            };
            (format!("[{addr}]"), port)
        }
        None => match rest.split_once(':') {
            Some((host, port)) => (origin_host(host)?, Some(port)),
            None => (origin_host(rest)?, None),
        },
    };
    let port = match port {
        None => default_port,
        Some(digits)
            if (1..=5).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) =>
        {
            digits.parse::<u16>().ok().filter(|p| *p != 0)?
        }
        Some(_) => return None,
    };
    Some(if port == default_port {
        format!("{scheme}://{host}")
    } else {
        format!("{scheme}://{host}:{port}")
    })
}

/// A host name (letters, digits, `-`, `_` in non-empty dot-separated labels), or an IPv4
/// address when the last label is numeric, as browsers read it; lowercased.
fn origin_host(host: &str) -> Option<String> {
    let host = host.to_ascii_lowercase();
    let last = host.rsplit('.').next().unwrap_or_default();
    if !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x")) {
        return host
            .parse::<std::net::Ipv4Addr>()
            .ok()
            .map(|a| a.to_string());
    }
    let valid = (1..=253).contains(&host.len())
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    valid.then_some(host)
}

/// `host=ip[,ip];host2=ip` -> map of lowercase host to addresses.
fn parse_host_map(raw: &str) -> Option<BTreeMap<String, Vec<IpAddr>>> {
    let mut map = BTreeMap::new();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (host, ips) = entry.split_once('=')?;
        let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
        if host.is_empty() {
            return None;
        }
        let addrs = ips
            .split(',')
            .map(|ip| ip.trim().parse::<IpAddr>().ok())
            .collect::<Option<Vec<_>>>()?;
        if addrs.is_empty() {
            return None;
        }
        map.insert(host, addrs);
    }
    Some(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(&move |name| map.get(name).cloned())
    }

    /// A key made fresh for each test run; none is committed.
    fn strong_key() -> String {
        let key = SecretKey::generate();
        String::from_utf8(key.expose().to_vec()).unwrap()
    }

    #[test]
    fn zero_configuration_is_local_sqlite_on_loopback() {
        let c = config(&[]).unwrap();
        assert_eq!(c.env, Environment::Local);
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url.expose(), "sqlite://copythat.db");
        assert!(c.secret_key_generated);
        assert!(c.secret_key.expose().len() >= MIN_SECRET_KEY_BYTES);
        assert!(c.docs);
        assert_eq!(c.fetch_allowed_ports, vec![80, 443]);
        assert_eq!(c.rate_per_minute, 60);
    }

    #[test]
    fn s22_production_requires_a_secret_key() {
        let err = config(&[("COPYTHAT_ENV", "production")]).unwrap_err();
        assert_eq!(err.variable, "SECRET_KEY");
    }

    #[test]
    fn s22_production_refuses_short_and_placeholder_keys() {
        for weak in [
            "short",
            "dev-secret-key-change-in-production",
            "changeme-changeme-changeme-changeme",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "secretsecretsecretsecretsecretsecret",
        ] {
            let err = config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY", weak)]);
            assert!(err.is_err(), "{weak} should be refused");
        }
        let strong = strong_key();
        let ok = config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY", &strong)]).unwrap();
        assert!(!ok.docs, "docs are off in production by default (S23)");
        assert!(ok.log_json);
        assert!(ok.cors_origins.is_empty());
    }

    fn production_with_key(key: &str) -> Result<Config, ConfigError> {
        config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY", key)])
    }

    #[test]
    fn s22_production_measures_the_key_without_surrounding_whitespace() {
        // Ten characters padded to 32 bytes with spaces, tabs or newlines.
        for padded in [
            format!("Qw8#zP1!mK{}", " ".repeat(22)),
            format!("{}Qw8#zP1!mK", " ".repeat(22)),
            format!("\t\tQw8#zP1!mK{}\r\n", "\n".repeat(20)),
        ] {
            let err = production_with_key(&padded).unwrap_err();
            assert_eq!(err.variable, "SECRET_KEY");
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("Qw8#zP1!mK{}\n\n", " ".repeat(22))).unwrap();
        let path = path.to_str().unwrap();
        let err = config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY_FILE", path)]);
        assert_eq!(err.unwrap_err().variable, "SECRET_KEY");

        // A strong key signs with the same bytes however it was padded or delivered.
        let strong = strong_key();
        let c = production_with_key(&format!("  {strong} \t")).unwrap();
        assert_eq!(c.secret_key.expose(), strong.as_bytes());
        std::fs::write(path, format!("{strong}  \n")).unwrap();
        let c = config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY_FILE", path)]).unwrap();
        assert_eq!(c.secret_key.expose(), strong.as_bytes());
        // Outside production the length is measured the same way.
        let err = config(&[("SECRET_KEY", &format!("Qw8#zP1!mK{}", " ".repeat(22)))]);
        assert_eq!(err.unwrap_err().variable, "SECRET_KEY");
    }

    #[test]
    fn s22_production_refuses_keys_that_repeat_a_short_pattern() {
        for periodic in [
            "01234567890123456789012345678901",
            "abcdefghijabcdefghijabcdefghijab",
            "abababababababababababababababab",
            "0123456789abcdef0123456789abcdef",
            "Kx9#mQ2$vL7@pR4!Kx9#mQ2$vL7@pR4!Kx9#",
        ] {
            let err = production_with_key(periodic).unwrap_err();
            assert_eq!(err.variable, "SECRET_KEY", "{periodic} should be refused");
        }
    }

    #[test]
    fn s22_production_refuses_keys_with_placeholder_words() {
        for placeholder in [
            "replace-me-with-a-real-secret-key-0000",
            "please-change-this-secret-key-now!",
            "PLEASE-CHANGE-THIS-SECRET-KEY-NOW!",
            "Example.Signing.Key.7f3a9c2e41b8d605",
            "my-default-jwt-signing-key-7f3a9c2e41b8",
            "insecure_jwt_signing_key_7f3a9c2e41b8d605",
            "dummy_key_for_staging_7f3a9c2e41b8d605",
            "your_secret_here_7f3a9c2e41b8d6053e",
            "placeholder0123456789abcdefghijklmnop",
        ] {
            let err = production_with_key(placeholder).unwrap_err();
            assert_eq!(
                err.variable, "SECRET_KEY",
                "{placeholder} should be refused"
            );
        }
    }

    /// SplitMix64: a fixed sequence, so this test can never fail by bad luck.
    fn seeded_bytes(state: &mut u64, out: &mut [u8]) {
        for byte in out {
            *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = *state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            *byte = (z ^ (z >> 31)) as u8;
        }
    }

    #[test]
    fn s22_random_keys_always_pass_the_production_check() {
        use base64::Engine;
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        let mut state = 0x5EC2_E7C0_FFEE_0022;
        for i in 0..1000 {
            let mut bytes = vec![0u8; 32 + i % 33];
            seeded_bytes(&mut state, &mut bytes);
            for key in [
                hex(&bytes),
                STANDARD.encode(&bytes),
                URL_SAFE_NO_PAD.encode(&bytes),
            ] {
                assert_eq!(check_production_secret(&key), Ok(()), "{key}");
            }
        }
    }

    #[test]
    fn s22_secret_from_file_and_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let strong = strong_key();
        std::fs::write(&path, format!("{strong}\n")).unwrap();
        let path = path.to_str().unwrap();
        let c = config(&[("COPYTHAT_ENV", "production"), ("SECRET_KEY_FILE", path)]).unwrap();
        assert_eq!(c.secret_key.expose(), strong.as_bytes());
        assert!(config(&[("SECRET_KEY", &strong), ("SECRET_KEY_FILE", path)]).is_err());
        let missing = config(&[("SECRET_KEY_FILE", "/nonexistent/key")]).unwrap_err();
        assert!(!missing.to_string().contains("nonexistent"));
    }

    #[test]
    fn s22_debug_output_redacts_secrets() {
        let strong = strong_key();
        let c = config(&[
            ("SECRET_KEY", &strong),
            ("DATABASE_URL", "postgres://app:pw@db/copythat"),
        ])
        .unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains(&strong));
        assert!(!printed.contains(":pw@"));
        assert!(printed.contains("redacted"));
    }

    #[test]
    fn invalid_values_are_refused_with_the_variable_named() {
        for (var, value) in [
            ("COPYTHAT_BIND", "nowhere"),
            ("COPYTHAT_RATE_PER_MINUTE", "0"),
            ("COPYTHAT_CORS_ORIGINS", "*"),
            ("COPYTHAT_TRUSTED_PROXIES", "not-a-cidr"),
            ("COPYTHAT_FETCH_RESOLVE", "host"),
            ("DATABASE_URL", "mysql://x"),
            ("COPYTHAT_ENV", "prodution"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var);
        }
    }

    #[test]
    #[cfg(unix)]
    fn s22_a_variable_that_is_not_utf8_is_an_error_naming_it() {
        use std::os::unix::ffi::OsStringExt;
        let strong = strong_key();
        for (var, value) in [
            ("COPYTHAT_ENV", b"production\xff".to_vec()),
            ("SECRET_KEY_FILE", b"/run/secrets/k\xfe".to_vec()),
            ("COPYTHAT_DOCS", b"off\x80".to_vec()),
        ] {
            let vars: HashMap<&str, OsString> = HashMap::from([
                (var, OsString::from_vec(value)),
                ("DATABASE_URL", "sqlite::memory:".into()),
            ]);
            let err = Config::from_os_lookup(&|name| vars.get(name).cloned()).unwrap_err();
            assert_eq!(err.variable, var);
        }
        // Text values read as before.
        let vars: HashMap<&str, OsString> = HashMap::from([
            ("COPYTHAT_ENV", "production".into()),
            ("SECRET_KEY", strong.into()),
        ]);
        assert!(
            Config::from_os_lookup(&|name| vars.get(name).cloned())
                .unwrap()
                .is_production()
        );
    }

    #[test]
    fn s18_request_timeout_must_be_between_1_and_3600_seconds() {
        for bad in ["0", "3601", "18446744073709551615", "-1", "ten"] {
            let err = config(&[("COPYTHAT_REQUEST_TIMEOUT", bad)]).unwrap_err();
            assert_eq!(err.variable, "COPYTHAT_REQUEST_TIMEOUT", "{bad}");
        }
        for good in [1, 30, 3600] {
            let c = config(&[("COPYTHAT_REQUEST_TIMEOUT", &good.to_string())]).unwrap();
            assert_eq!(c.request_timeout, Duration::from_secs(good));
        }
    }

    #[test]
    fn s4_refresh_ttl_must_outlive_the_access_ttl() {
        for (access, refresh) in [("900", "900"), ("900", "899"), ("900", "7776001")] {
            let err = config(&[
                ("COPYTHAT_ACCESS_TTL", access),
                ("COPYTHAT_REFRESH_TTL", refresh),
            ])
            .unwrap_err();
            assert_eq!(err.variable, "COPYTHAT_REFRESH_TTL", "{access}/{refresh}");
        }
        let c = config(&[
            ("COPYTHAT_ACCESS_TTL", "900"),
            ("COPYTHAT_REFRESH_TTL", "901"),
        ])
        .unwrap();
        assert_eq!(c.refresh_ttl, Duration::from_secs(901));
    }

    #[test]
    fn s21_cors_origins_that_no_browser_could_send_are_refused() {
        for bad in [
            "*",
            "https://app.example.com/path",
            "https://app.example.com/",
            "https://*.example.com",
            "https://app.example.com\r\nX-Injected: 1",
            "https://app.example.com\nhttps://other.example.com",
            "https://app example.com",
            "https://app.example.com?x=1",
            "https://app.example.com#top",
            "https://user@app.example.com",
            "https://app.example.com:",
            "https://app.example.com:0",
            "https://app.example.com:65536",
            "https://app.example.com:+443",
            "https://app..example.com",
            "https://bücher.example",
            "https://127.1",
            "https://[::1",
            "ftp://app.example.com",
            "null",
            "app.example.com",
            "https://",
            "https://app.example.com,https://ok.example.com/",
        ] {
            let err = config(&[("COPYTHAT_CORS_ORIGINS", bad)]).unwrap_err();
            assert_eq!(err.variable, "COPYTHAT_CORS_ORIGINS", "{bad:?}");
        }
    }

    #[test]
    fn s21_cors_origins_are_normalised_as_browsers_send_them() {
        let c = config(&[(
            "COPYTHAT_CORS_ORIGINS",
            "HTTPS://App.Example.COM:8443, http://localhost:3000,https://x.test:443, \
             http://x.test:80, http://[0:0::1]:8080, http://10.0.0.7",
        )])
        .unwrap();
        assert_eq!(
            c.cors_origins,
            [
                "https://app.example.com:8443",
                "http://localhost:3000",
                "https://x.test",
                "http://x.test",
                "http://[::1]:8080",
                "http://10.0.0.7",
            ]
        );
    }

    #[test]
    fn s21_empty_cors_origins_mean_no_cross_origin_access() {
        let c = config(&[("COPYTHAT_CORS_ORIGINS", "")]).unwrap();
        assert!(c.cors_origins.is_empty());
        assert!(
            !config(&[]).unwrap().cors_origins.is_empty(),
            "unset: local defaults"
        );
    }

    #[test]
    fn an_invalid_log_filter_is_refused() {
        for bad in ["[[[", "copythat_server=loud", "info,[", "=debug"] {
            let err = config(&[("COPYTHAT_LOG", bad)]).unwrap_err();
            assert_eq!(err.variable, "COPYTHAT_LOG", "{bad}");
        }
        for good in ["warn", "info,copythat_server=debug", "tower_http=trace"] {
            assert_eq!(config(&[("COPYTHAT_LOG", good)]).unwrap().log, good);
        }
    }

    #[test]
    fn host_map_parses() {
        let c = config(&[(
            "COPYTHAT_FETCH_RESOLVE",
            "images.test=127.0.0.1,::1; Other.Test.=127.0.0.2",
        )])
        .unwrap();
        assert_eq!(c.fetch_resolve["images.test"].len(), 2);
        assert!(c.fetch_resolve.contains_key("other.test"));
    }
}
