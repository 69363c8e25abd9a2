//! S26/S14: the image-URL parser and the address classifier under arbitrary input must
//! never panic, and every URL they accept must keep the policy's promises.
//!
//! Input: text whose first line is a URL and whose rest is a redirect `Location` taken
//! against it; the raw bytes also give an IPv4 and an IPv6 address to classify.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use copythat_core::url_policy::{
    ImageUrl, MAX_URL_LEN, UrlHost, UrlRefusal, check_address, classify,
};
use ipnet::IpNet;
use libfuzzer_sys::fuzz_target;

const PORTS: &[u16] = &[80, 443, 8080];

/// A label WHATWG's host parser or the C library's `inet_aton` reads as a number: all
/// digits, or `0x` and hex digits.
fn is_numeric_label(label: &str) -> bool {
    let hex = label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"));
    match hex {
        Some(digits) => digits.bytes().all(|b| b.is_ascii_hexdigit()),
        None => !label.is_empty() && label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// Whether a resolver would take `name` for an IPv4 literal (`inet_aton`: one to four
/// numeric parts, none empty).
fn is_aton_literal(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() <= 4 && parts.iter().all(|p| is_numeric_label(p))
}

fn assert_promises(url: &ImageUrl) {
    let u = url.as_url();
    assert!(matches!(u.scheme(), "http" | "https"), "{u}");
    assert!(u.username().is_empty() && u.password().is_none(), "{u}");
    assert!(PORTS.contains(&url.port()), "{u}");
    assert_eq!(u.port_or_known_default(), Some(url.port()));
    assert!(u.fragment().is_none(), "{u}");
    assert!(u.as_str().len() <= MAX_URL_LEN);
    match url.host() {
        // A literal is classified directly; its text names the same address.
        UrlHost::Ip(ip) => {
            let _ = classify(ip);
            let text = url.host_str().trim_start_matches('[').trim_end_matches(']');
            assert_eq!(text.parse::<IpAddr>().ok(), Some(ip), "{u}");
        }
        // A name never looks like a number to a resolver: every numeric spelling was
        // turned into an address (or refused) by the parser.
        UrlHost::Name(name) => {
            assert!(!name.is_empty(), "{u}");
            assert!(name.parse::<IpAddr>().is_err(), "{u}");
            assert!(!is_aton_literal(name), "{u}");
            // WHATWG: a host whose last label (one trailing dot aside) is numeric is an
            // IPv4 address or an error, never a name.
            let trimmed = name.strip_suffix('.').unwrap_or(name);
            let last = trimmed.rsplit('.').next().unwrap_or("");
            assert!(!is_numeric_label(last), "{u}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii() && !b.is_ascii_uppercase()),
                "{u}"
            );
        }
    }
    // The accepted form is a fixed point: parsing it again gives it back.
    assert_eq!(ImageUrl::parse(u.as_str(), PORTS).as_ref(), Ok(url));
}

fn assert_classifier(data: &[u8]) {
    let v4 = Ipv4Addr::from(<[u8; 4]>::try_from(&data[..4]).unwrap());
    let v6 = Ipv6Addr::from(<[u8; 16]>::try_from(&data[..16]).unwrap());
    let range = |ip: IpAddr| classify(ip).map_err(|b| b.range);
    // Forms whose destination is the IPv4 address are judged as that address.
    assert_eq!(
        range(IpAddr::V4(v4)),
        range(IpAddr::V6(v4.to_ipv6_mapped()))
    );
    let nat64 = Ipv6Addr::from((0x0064_ff9bu128 << 96) | u128::from(u32::from(v4)));
    assert_eq!(range(IpAddr::V4(v4)), range(IpAddr::V6(nat64)));
    // The other IPv4-carrying forms are refused whatever they carry.
    assert!(classify(IpAddr::V6(Ipv6Addr::from(u128::from(u32::from(v4))))).is_err());
    let six_to_four = (0x2002u128 << 112) | (u128::from(u32::from(v4)) << 80);
    assert!(classify(IpAddr::V6(Ipv6Addr::from(six_to_four))).is_err());
    for ip in [IpAddr::V4(v4), IpAddr::V6(v6)] {
        assert_eq!(check_address(ip, &[]), classify(ip));
        let prefix = data[0] % if ip.is_ipv4() { 33 } else { 129 };
        let net = IpNet::new(ip, prefix).unwrap().trunc();
        assert_eq!(check_address(ip, &[net]), Ok(()));
    }
    if v4.is_private()
        || v4.is_loopback()
        || v4.is_link_local()
        || v4.is_broadcast()
        || v4.is_documentation()
        || v4.is_unspecified()
        || v4.is_multicast()
    {
        assert!(classify(IpAddr::V4(v4)).is_err(), "{v4}");
    }
    if v6.is_loopback()
        || v6.is_unspecified()
        || v6.is_multicast()
        || v6.is_unique_local()
        || v6.is_unicast_link_local()
    {
        assert!(classify(IpAddr::V6(v6)).is_err(), "{v6}");
    }
    if classify(IpAddr::V6(v6)).is_ok() && v6.to_ipv4_mapped().is_none() {
        // Outside the two unwrapped forms, only global unicast 2000::/3 passes.
        let nat64 = u128::from(v6) >> 32 == 0x0064_ff9b << 64;
        assert!(nat64 || v6.segments()[0] & 0xe000 == 0x2000, "{v6}");
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() >= 16 {
        assert_classifier(data);
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, location) = text.split_once('\n').unwrap_or((text, ""));
    match ImageUrl::parse(first, PORTS) {
        Ok(url) => {
            assert_promises(&url);
            if let Ok(next) = url.redirect(location, PORTS) {
                assert_promises(&next);
            }
        }
        Err(UrlRefusal::Port(port)) => assert!(!PORTS.contains(&port)),
        Err(_) => {}
    }
});
