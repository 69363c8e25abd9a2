//! The addresses one hop may connect to: a literal address as written, or a name looked up
//! in the static host map and then the system resolver; every address must pass (S14).

use std::net::{IpAddr, SocketAddr};

use copythat_core::url_policy::{ImageUrl, UrlHost, check_address};

use super::{FetchPolicy, FetchReason};

/// The socket addresses for `url`, all checked. One blocked address refuses the whole
/// name: a name that resolves to a public and a private address is not "mostly public".
pub(super) async fn addresses(
    url: &ImageUrl,
    policy: &FetchPolicy,
) -> Result<Vec<SocketAddr>, FetchReason> {
    let port = url.port();
    let ips = match url.host() {
        UrlHost::Ip(ip) => vec![ip],
        UrlHost::Name(name) => lookup(name, port, policy).await?,
    };
    for &addr in &ips {
        check_address(addr, &policy.allow_cidrs)
            .map_err(|blocked| FetchReason::Address { addr, blocked })?;
    }
    Ok(ips
        .into_iter()
        .map(|ip| SocketAddr::new(ip, port))
        .collect())
}

async fn lookup(name: &str, port: u16, policy: &FetchPolicy) -> Result<Vec<IpAddr>, FetchReason> {
    // The map's keys are lowercase without a trailing dot; the parser lowercased `name`.
    if let Some(ips) = policy.resolve.get(name.trim_end_matches('.')) {
        return Ok(ips.clone());
    }
    let found = tokio::time::timeout(
        policy.connect_timeout,
        tokio::net::lookup_host((name, port)),
    )
    .await
    .map_err(|_| FetchReason::Resolve("timed out".into()))?
    .map_err(|err| FetchReason::Resolve(err.to_string()))?;
    let mut ips: Vec<IpAddr> = Vec::new();
    for addr in found {
        if !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    if ips.is_empty() {
        return Err(FetchReason::Resolve("no addresses".into()));
    }
    Ok(ips)
}
