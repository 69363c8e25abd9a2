//! Which image URLs may be fetched and which addresses a fetch may connect to (S14).
//! Pure parsing and classification; resolving and connecting are the server's job.
//!
//! URLs are parsed once, by the WHATWG parser of the `url` crate, so every odd spelling of
//! an IPv4 host (`2130706433`, `0x7f.1`, `017700000001`, `127.1`, `127.0.0.1.`, percent- or
//! full-width-encoded digits) arrives here already normalised to the address it means and
//! is classified as that address: a literal IP host never reaches a resolver.
//!
//! An address may be connected to only if it is public unicast. IPv4 refuses every
//! special-purpose block (IANA registry); IPv6 accepts only global unicast 2000::/3 minus
//! its special blocks, so anything new or unknown is refused by default. IPv6 forms that
//! carry an IPv4 address are unwrapped and classified as that address where the carried
//! address is the real destination (IPv4-mapped, NAT64 64:ff9b::/96) and refused outright
//! otherwise (IPv4-compatible, IPv4-translated, local NAT64, 6to4, Teredo).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
pub use url::Url;

/// Longest URL taken, in bytes (a request field or a redirect's `Location`).
pub const MAX_URL_LEN: usize = 2048;

/// Why a URL is not fetchable, whatever it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("not an absolute URL")]
    Unparsable,
    #[error("longer than {MAX_URL_LEN} bytes")]
    TooLong,
    #[error("scheme is not http or https")]
    Scheme,
    #[error("carries user information")]
    Userinfo,
    #[error("port {0} is not an allowed port")]
    Port(u16),
    #[error("has no host")]
    NoHost,
}

/// The host of an [`ImageUrl`]: an address to classify directly, or a name to resolve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlHost<'a> {
    Ip(IpAddr),
    /// Lowercase ASCII (IDNA applied by the parser); may end with a dot.
    Name(&'a str),
}

/// A URL that passed every check that does not need a resolver: `http` or `https`, no
/// user information, an allowed port (explicit or the scheme's default), no fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl {
    url: Url,
    port: u16,
}

impl ImageUrl {
    pub fn parse(text: &str, allowed_ports: &[u16]) -> Result<Self, UrlRefusal> {
        if text.len() > MAX_URL_LEN {
            return Err(UrlRefusal::TooLong);
        }
        let url = Url::parse(text).map_err(|_| UrlRefusal::Unparsable)?;
        Self::check(url, allowed_ports)
    }

    /// The target of a redirect: `location` resolved against this URL, checked again
    /// from scratch (a scheme change follows the same rules).
    pub fn redirect(&self, location: &str, allowed_ports: &[u16]) -> Result<Self, UrlRefusal> {
        if location.len() > MAX_URL_LEN {
            return Err(UrlRefusal::TooLong);
        }
        let url = self
            .url
            .join(location)
            .map_err(|_| UrlRefusal::Unparsable)?;
        Self::check(url, allowed_ports)
    }

    fn check(mut url: Url, allowed_ports: &[u16]) -> Result<Self, UrlRefusal> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(UrlRefusal::Scheme);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UrlRefusal::Userinfo);
        }
        if url.host().is_none() {
            return Err(UrlRefusal::NoHost);
        }
        let port = url.port_or_known_default().ok_or(UrlRefusal::NoHost)?;
        if !allowed_ports.contains(&port) {
            return Err(UrlRefusal::Port(port));
        }
        // Never sent on the wire; dropping it keeps logs and requests free of it.
        url.set_fragment(None);
        if url.as_str().len() > MAX_URL_LEN {
            return Err(UrlRefusal::TooLong);
        }
        Ok(Self { url, port })
    }

    pub fn host(&self) -> UrlHost<'_> {
        match self.url.host() {
            Some(url::Host::Ipv4(v4)) => UrlHost::Ip(IpAddr::V4(v4)),
            Some(url::Host::Ipv6(v6)) => UrlHost::Ip(IpAddr::V6(v6)),
            Some(url::Host::Domain(name)) => UrlHost::Name(name),
            // `check` refused host-less URLs.
            None => UrlHost::Name(""),
        }
    }

    /// The host as it appears in the URL (`[v6]` bracketed), for logs and `Host`.
    pub fn host_str(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The port connected to: the explicit one or the scheme's default.
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn is_https(&self) -> bool {
        self.url.scheme() == "https"
    }

    pub fn as_url(&self) -> &Url {
        &self.url
    }
}

/// Why an address may not be connected to: the special-purpose block it falls in and,
/// for an IPv4 address carried inside an IPv6 one, the form that carried it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    pub range: &'static str,
    pub via: Option<&'static str>,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.via {
            Some(via) => write!(f, "{} (carried in {via})", self.range),
            None => f.write_str(self.range),
        }
    }
}

impl std::error::Error for Blocked {}

/// IPv4 special-purpose blocks: (network, prefix length, name). Broadcast is listed
/// before the reserved block that contains it so it is named as itself.
const V4_BLOCKED: &[([u8; 4], u8, &str)] = &[
    ([0, 0, 0, 0], 8, "this network 0.0.0.0/8"),
    ([10, 0, 0, 0], 8, "private 10.0.0.0/8"),
    (
        [100, 64, 0, 0],
        10,
        "shared address space (CGNAT) 100.64.0.0/10",
    ),
    ([127, 0, 0, 0], 8, "loopback 127.0.0.0/8"),
    ([169, 254, 0, 0], 16, "link-local 169.254.0.0/16"),
    ([172, 16, 0, 0], 12, "private 172.16.0.0/12"),
    ([192, 0, 0, 0], 24, "IETF protocol assignments 192.0.0.0/24"),
    ([192, 0, 2, 0], 24, "documentation 192.0.2.0/24"),
    ([192, 88, 99, 0], 24, "6to4 relay anycast 192.88.99.0/24"),
    ([192, 168, 0, 0], 16, "private 192.168.0.0/16"),
    ([198, 18, 0, 0], 15, "benchmarking 198.18.0.0/15"),
    ([198, 51, 100, 0], 24, "documentation 198.51.100.0/24"),
    ([203, 0, 113, 0], 24, "documentation 203.0.113.0/24"),
    ([224, 0, 0, 0], 4, "multicast 224.0.0.0/4"),
    ([255, 255, 255, 255], 32, "broadcast 255.255.255.255"),
    ([240, 0, 0, 0], 4, "reserved 240.0.0.0/4"),
];

/// IPv6 blocks refused outright, most specific first. Everything outside 2000::/3 is
/// refused after these (see [`classify`]), so this list names the common cases and the
/// special blocks inside 2000::/3.
const V6_BLOCKED: &[(u128, u8, &str)] = &[
    (0, 128, "unspecified ::/128"),
    (1, 128, "loopback ::1/128"),
    (0, 96, "IPv4-compatible ::/96"),
    (
        0xffff_0000_0000 << 32,
        96,
        "IPv4-translated ::ffff:0:0:0/96",
    ),
    (0x0064_ff9b_0001 << 80, 48, "local-use NAT64 64:ff9b:1::/48"),
    (0x0100 << 112, 64, "discard-only 100::/64"),
    (0x2001_0000 << 96, 32, "Teredo 2001::/32"),
    (0x2001 << 112, 23, "IETF special-purpose 2001::/23"),
    (0x2001_0db8 << 96, 32, "documentation 2001:db8::/32"),
    (0x2002 << 112, 16, "6to4 2002::/16"),
    (0x3fff << 112, 20, "documentation 3fff::/20"),
    (0xfc00 << 112, 7, "unique-local fc00::/7"),
    (0xfe80 << 112, 10, "link-local fe80::/10"),
    (0xfec0 << 112, 10, "site-local fec0::/10"),
    (0xff00 << 112, 8, "multicast ff00::/8"),
];

const NOT_GLOBAL_V6: &str = "not global unicast (outside 2000::/3)";

fn in_v4(addr: Ipv4Addr, net: [u8; 4], prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(addr) & mask == u32::from_be_bytes(net) & mask
}

fn in_v6(addr: Ipv6Addr, net: u128, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(addr) & mask == net & mask
}

fn classify_v4(addr: Ipv4Addr) -> Result<(), &'static str> {
    match V4_BLOCKED
        .iter()
        .find(|(net, prefix, _)| in_v4(addr, *net, *prefix))
    {
        Some((_, _, name)) => Err(name),
        None => Ok(()),
    }
}

/// The IPv4 address an IPv6 address delivers to, when it is only a way of writing
/// that IPv4 destination: IPv4-mapped (`::ffff:a.b.c.d`, the socket goes to the IPv4
/// address) and well-known NAT64 (`64:ff9b::a.b.c.d`, the gateway goes there).
fn carried_v4(addr: Ipv6Addr) -> Option<(Ipv4Addr, &'static str)> {
    if let Some(v4) = addr.to_ipv4_mapped() {
        return Some((v4, "IPv4-mapped ::ffff:0:0/96"));
    }
    if in_v6(addr, 0x0064_ff9b << 96, 96) {
        let low = u128::from(addr) as u32;
        return Some((Ipv4Addr::from(low), "NAT64 64:ff9b::/96"));
    }
    None
}

/// Whether `addr` is public unicast: `Ok` to connect, or the block that forbids it.
pub fn classify(addr: IpAddr) -> Result<(), Blocked> {
    match addr {
        IpAddr::V4(v4) => classify_v4(v4).map_err(|range| Blocked { range, via: None }),
        IpAddr::V6(v6) => {
            if let Some((v4, via)) = carried_v4(v6) {
                return classify_v4(v4).map_err(|range| Blocked {
                    range,
                    via: Some(via),
                });
            }
            if let Some((_, _, name)) = V6_BLOCKED
                .iter()
                .find(|(net, prefix, _)| in_v6(v6, *net, *prefix))
            {
                return Err(Blocked {
                    range: name,
                    via: None,
                });
            }
            if in_v6(v6, 0x2000 << 112, 3) {
                Ok(())
            } else {
                Err(Blocked {
                    range: NOT_GLOBAL_V6,
                    via: None,
                })
            }
        }
    }
}

/// [`classify`] with the operator's exceptions: an address inside one of `allow` (or an
/// IPv4-mapped address whose IPv4 address is) may be connected to whatever its class.
pub fn check_address(addr: IpAddr, allow: &[IpNet]) -> Result<(), Blocked> {
    let mapped = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    let excepted = allow
        .iter()
        .any(|net| net.contains(&addr) || mapped.is_some_and(|v4| net.contains(&v4)));
    if excepted { Ok(()) } else { classify(addr) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: &[u16] = &[80, 443];

    /// The literal address of `text`'s host, or `None` for a name.
    fn ip_of(text: &str) -> Result<Option<IpAddr>, UrlRefusal> {
        Ok(match ImageUrl::parse(text, PORTS)?.host() {
            UrlHost::Ip(ip) => Some(ip),
            UrlHost::Name(_) => None,
        })
    }

    #[test]
    fn s14_odd_ipv4_spellings_are_literal_loopback_and_refused() {
        let loopback = IpAddr::from([127, 0, 0, 1]);
        for text in [
            "http://2130706433/",
            "http://0x7f.1/",
            "http://017700000001/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1./",
            "http://0x7f.0.0.1./x",
            "http://%31%32%37.0.0.1/",
            "http://127\u{3002}0\u{3002}0\u{3002}1/",
            "http:\\\\127.0.0.1\\x",
            "http:/127.0.0.1/",
            "https://127.0.0.1:443/",
        ] {
            assert_eq!(ip_of(text), Ok(Some(loopback)), "{text}");
        }
        assert_eq!(
            classify(loopback).unwrap_err().range,
            "loopback 127.0.0.0/8"
        );
        let ip = ip_of("http://[::ffff:127.0.0.1]/").unwrap().unwrap();
        let blocked = classify(ip).unwrap_err();
        assert_eq!(blocked.range, "loopback 127.0.0.0/8");
        assert_eq!(blocked.via, Some("IPv4-mapped ::ffff:0:0/96"));
        // `0x7f` alone is 0.0.0.127, and `0` is 0.0.0.0: both in 0.0.0.0/8.
        for text in ["http://0x7f/", "http://0/"] {
            let ip = ip_of(text).unwrap().unwrap();
            assert_eq!(classify(ip).unwrap_err().range, "this network 0.0.0.0/8");
        }
        // A full-width spelling of a name is the name.
        let fancy =
            "http://\u{24db}\u{24de}\u{24d2}\u{24d0}\u{24db}\u{24d7}\u{24de}\u{24e2}\u{24e3}/";
        let url = ImageUrl::parse(fancy, PORTS).unwrap();
        assert_eq!(url.host(), UrlHost::Name("localhost"));
    }

    #[test]
    fn s14_only_http_and_https_without_userinfo_on_allowed_ports() {
        assert_eq!(
            ImageUrl::parse("ftp://example.com/", PORTS),
            Err(UrlRefusal::Scheme)
        );
        for text in [
            "file:///etc/passwd",
            "gopher://a/",
            "data:image/png;base64,AA",
        ] {
            assert!(ImageUrl::parse(text, PORTS).is_err(), "{text}");
        }
        for text in [
            "http://user@example.com/",
            "http://user:pw@example.com/",
            "http://:pw@example.com/",
            "http://example.org@127.0.0.1/",
        ] {
            assert_eq!(
                ImageUrl::parse(text, PORTS),
                Err(UrlRefusal::Userinfo),
                "{text}"
            );
        }
        assert_eq!(
            ImageUrl::parse("http://example.com:8080/", PORTS),
            Err(UrlRefusal::Port(8080))
        );
        assert_eq!(
            ImageUrl::parse("https://example.com:80/", PORTS).map(|u| u.port()),
            Ok(80)
        );
        assert_eq!(
            ImageUrl::parse("http://example.com/", &[443]),
            Err(UrlRefusal::Port(80))
        );
        assert_eq!(
            ImageUrl::parse("http://example.com:8080/a.png", &[8080]).map(|u| u.port()),
            Ok(8080)
        );
        assert_eq!(
            ImageUrl::parse("not a url", PORTS),
            Err(UrlRefusal::Unparsable)
        );
        let long = format!("http://example.com/{}", "a".repeat(MAX_URL_LEN));
        assert_eq!(ImageUrl::parse(&long, PORTS), Err(UrlRefusal::TooLong));
        let url = ImageUrl::parse("HTTP://Example.COM/a.png?x=1#frag", PORTS).unwrap();
        assert_eq!(url.as_url().as_str(), "http://example.com/a.png?x=1");
        assert_eq!(url.host(), UrlHost::Name("example.com"));
    }

    #[test]
    fn s14_redirects_resolve_against_the_hop_and_are_checked_again() {
        let hop = ImageUrl::parse("http://example.com/a/b.png", PORTS).unwrap();
        let next = |loc: &str| hop.redirect(loc, PORTS).map(|u| u.as_url().to_string());
        assert_eq!(next("c.png"), Ok("http://example.com/a/c.png".into()));
        assert_eq!(next("/c.png"), Ok("http://example.com/c.png".into()));
        assert_eq!(
            next("//cdn.example.net/c.png"),
            Ok("http://cdn.example.net/c.png".into())
        );
        assert_eq!(
            next("https://cdn.example.net/c.png"),
            Ok("https://cdn.example.net/c.png".into())
        );
        assert_eq!(next("ftp://example.com/"), Err(UrlRefusal::Scheme));
        assert_eq!(next("http://u:p@example.com/"), Err(UrlRefusal::Userinfo));
        assert_eq!(next("http://example.com:22/"), Err(UrlRefusal::Port(22)));
        let Ok(target) = hop.redirect("//0x7f.1/", PORTS) else {
            panic!()
        };
        assert_eq!(target.host(), UrlHost::Ip(IpAddr::from([127, 0, 0, 1])));
    }

    #[test]
    fn s14_the_listed_addresses_are_refused_and_public_ones_allowed() {
        for text in [
            "0.0.0.0",
            "127.0.0.1",
            "10.1.2.3",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "198.18.0.1",
            "198.19.255.255",
            "192.0.2.1",
            "198.51.100.1",
            "203.0.113.1",
            "192.0.0.8",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "239.255.255.250",
            "::",
            "::1",
            "::127.0.0.1",
            "::8.8.8.8",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0:8.8.8.8",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b::127.0.0.1",
            "64:ff9b:1::808:808",
            "2002:7f00:1::1",
            "2002:808:808::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "fec0::1",
            "ff02::1",
            "100::1",
            "2001:2::1",
            "5f00::1",
            "4000::1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert!(classify(ip).is_err(), "{text} must be refused");
        }
        for text in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.1",
            "198.20.0.1",
            "223.255.255.255",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
        ] {
            let ip: IpAddr = text.parse().unwrap();
            assert_eq!(classify(ip), Ok(()), "{text} must be allowed");
        }
    }

    #[test]
    fn s14_allow_cidrs_are_the_only_exception() {
        let allow: Vec<IpNet> = vec!["127.0.0.0/8".parse().unwrap()];
        let loopback = IpAddr::from([127, 0, 0, 1]);
        assert_eq!(check_address(loopback, &allow), Ok(()));
        assert_eq!(
            check_address("::ffff:127.0.0.1".parse().unwrap(), &allow),
            Ok(())
        );
        assert!(check_address(loopback, &[]).is_err());
        assert!(check_address("10.0.0.1".parse().unwrap(), &allow).is_err());
        assert!(check_address("::1".parse().unwrap(), &allow).is_err());
    }
}
