//! Colour math: sRGB <-> linear <-> OKLab/OKLCH, HSL, hex and WCAG 2.x contrast.
//! Only IEEE-exact operations feed the quantizer, so palettes are identical on every machine.

use crate::tokens::{ColorToken, WcagFlags};

/// A colour in OKLab (L in 0..1; a, b roughly -0.4..0.4).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Oklab {
    pub l: f64,
    pub a: f64,
    pub b: f64,
}

impl Oklab {
    /// Euclidean distance: OKLab is built so that this tracks perceived difference.
    pub fn distance(self, other: Oklab) -> f64 {
        self.distance_sq(other).sqrt()
    }

    pub fn distance_sq(self, other: Oklab) -> f64 {
        let dl = self.l - other.l;
        let da = self.a - other.a;
        let db = self.b - other.b;
        dl * dl + da * da + db * db
    }

    /// (L, C, h in degrees 0..360).
    pub fn to_lch(self) -> [f64; 3] {
        let c = (self.a * self.a + self.b * self.b).sqrt();
        let mut h = self.b.atan2(self.a).to_degrees();
        if h < 0.0 {
            h += 360.0;
        }
        // Hue is meaningless for greys; report 0 rather than noise.
        if c < 1e-6 {
            h = 0.0;
        }
        [self.l, c, h]
    }

    pub fn from_lch(l: f64, c: f64, h_deg: f64) -> Oklab {
        let h = h_deg.to_radians();
        Oklab {
            l,
            a: c * h.cos(),
            b: c * h.sin(),
        }
    }
}

/// sRGB transfer function for 8-bit values, tabulated: libm `powf` is not guaranteed to
/// round the same everywhere, and the quantizer must be bit-for-bit reproducible.
pub fn srgb_u8_to_linear(c: u8) -> f64 {
    SRGB_TO_LINEAR[c as usize]
}

/// Linearise a fractional 8-bit sRGB value (a bin mean) by interpolating the table;
/// the curve is smooth enough that the error stays below 1e-5.
pub fn srgb_f64_to_linear(v: f64) -> f64 {
    let v = v.clamp(0.0, 255.0);
    let i = (v as usize).min(254);
    let t = v - i as f64;
    SRGB_TO_LINEAR[i] + (SRGB_TO_LINEAR[i + 1] - SRGB_TO_LINEAR[i]) * t
}

/// Encode a linear value to the nearest 8-bit sRGB code, by search in the same table
/// (deterministic, and exact round-trip for every u8).
pub fn linear_to_srgb_u8(v: f64) -> u8 {
    if v.is_nan() || v <= 0.0 {
        return 0;
    }
    if v >= 1.0 {
        return 255;
    }
    // First code whose value is >= v, then pick the nearer neighbour in encoded space
    // using the table midpoint (the curve is close to linear between adjacent codes).
    let idx = SRGB_TO_LINEAR.partition_point(|&x| x < v);
    if idx == 0 {
        return 0;
    }
    let lo = SRGB_TO_LINEAR[idx - 1];
    let hi = SRGB_TO_LINEAR[idx];
    if v - lo < hi - v {
        (idx - 1) as u8
    } else {
        idx as u8
    }
}

/// Cube root with Newton steps from a bit-level guess: plain IEEE arithmetic only, so the
/// result does not depend on the platform's libm.
pub fn cbrt(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let ax = x.abs();
    let mut y = f64::from_bits(ax.to_bits() / 3 + 0x2A9F_7893_782D_A1CE);
    for _ in 0..6 {
        y = (2.0 * y + ax / (y * y)) / 3.0;
    }
    if x < 0.0 { -y } else { y }
}

/// Linear-light sRGB to OKLab (Björn Ottosson's published matrices).
pub fn linear_to_oklab(r: f64, g: f64, b: f64) -> Oklab {
    let l = 0.412_221_470_8 * r + 0.536_332_536_3 * g + 0.051_445_992_9 * b;
    let m = 0.211_903_498_2 * r + 0.680_699_545_1 * g + 0.107_396_956_6 * b;
    let s = 0.088_302_461_9 * r + 0.281_718_837_6 * g + 0.629_978_700_5 * b;
    let (l, m, s) = (cbrt(l), cbrt(m), cbrt(s));
    Oklab {
        l: 0.210_454_255_3 * l + 0.793_617_785_0 * m - 0.004_072_046_8 * s,
        a: 1.977_998_495_1 * l - 2.428_592_205_0 * m + 0.450_593_709_9 * s,
        b: 0.025_904_037_1 * l + 0.782_771_766_2 * m - 0.808_675_766_0 * s,
    }
}

/// The matrices of [`linear_to_oklab`], for code that needs bounds over a box of colours
/// (the drift check): linear-light sRGB to LMS cone responses...
pub const LMS_FROM_LINEAR: [[f64; 3]; 3] = [
    [0.412_221_470_8, 0.536_332_536_3, 0.051_445_992_9],
    [0.211_903_498_2, 0.680_699_545_1, 0.107_396_956_6],
    [0.088_302_461_9, 0.281_718_837_6, 0.629_978_700_5],
];

/// ... and the cube roots of LMS to OKLab (L, a, b).
pub const OKLAB_FROM_LMS_ROOTS: [[f64; 3]; 3] = [
    [0.210_454_255_3, 0.793_617_785_0, -0.004_072_046_8],
    [1.977_998_495_1, -2.428_592_205_0, 0.450_593_709_9],
    [0.025_904_037_1, 0.782_771_766_2, -0.808_675_766_0],
];

/// The exact sRGB transfer function for a fractional 8-bit value (`powf`: for bounds, not
/// for the quantizer, whose results must not depend on the platform's libm).
pub fn srgb_f64_to_linear_exact(v: f64) -> f64 {
    let c = v / 255.0;
    if c <= 0.040_45 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// Derivative of [`srgb_f64_to_linear_exact`] per 8-bit step; it never decreases.
pub fn srgb_linear_slope(v: f64) -> f64 {
    let c = v / 255.0;
    if c <= 0.040_45 {
        1.0 / (12.92 * 255.0)
    } else {
        2.4 / 1.055 * ((c + 0.055) / 1.055).powf(1.4) / 255.0
    }
}

/// OKLab to linear-light sRGB (may fall outside 0..1 when out of gamut).
pub fn oklab_to_linear(c: Oklab) -> [f64; 3] {
    let l = c.l + 0.396_337_777_4 * c.a + 0.215_803_757_3 * c.b;
    let m = c.l - 0.105_561_345_8 * c.a - 0.063_854_172_8 * c.b;
    let s = c.l - 0.089_484_177_5 * c.a - 1.291_485_548_0 * c.b;
    let (l, m, s) = (l * l * l, m * m * m, s * s * s);
    [
        4.076_741_662_1 * l - 3.307_711_591_3 * m + 0.230_969_929_2 * s,
        -1.268_438_004_6 * l + 2.609_757_401_1 * m - 0.341_319_396_5 * s,
        -0.004_196_086_3 * l - 0.703_418_614_7 * m + 1.707_614_701_0 * s,
    ]
}

pub fn rgb_to_oklab(rgb: [u8; 3]) -> Oklab {
    linear_to_oklab(
        srgb_u8_to_linear(rgb[0]),
        srgb_u8_to_linear(rgb[1]),
        srgb_u8_to_linear(rgb[2]),
    )
}

/// Nearest 8-bit sRGB colour, clipping out-of-gamut channels.
pub fn oklab_to_rgb(c: Oklab) -> [u8; 3] {
    let [r, g, b] = oklab_to_linear(c);
    [
        linear_to_srgb_u8(r),
        linear_to_srgb_u8(g),
        linear_to_srgb_u8(b),
    ]
}

/// Whether an OKLab colour is displayable in sRGB (with a hair of tolerance).
pub fn in_srgb_gamut(c: Oklab) -> bool {
    oklab_to_linear(c)
        .iter()
        .all(|&v| (-1e-4..=1.0 + 1e-4).contains(&v))
}

/// OKLCH (L 0..1, C, h 0..360) of an 8-bit colour.
pub fn to_oklch(rgb: [u8; 3]) -> [f64; 3] {
    rgb_to_oklab(rgb).to_lch()
}

/// HSL (h 0..360, s and l 0..100) of an 8-bit colour.
pub fn to_hsl(rgb: [u8; 3]) -> [f64; 3] {
    let [r, g, b] = rgb.map(|v| f64::from(v) / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let l = (max + min) / 2.0;
    let d = max - min;
    if d == 0.0 {
        return [0.0, 0.0, l * 100.0];
    }
    let s = d / (1.0 - (2.0 * l - 1.0).abs());
    let h = if max == r {
        60.0 * (((g - b) / d).rem_euclid(6.0))
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    [h, s * 100.0, l * 100.0]
}

/// `#rrggbb`, lowercase.
pub fn to_hex(rgb: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2])
}

/// Parse `#rrggbb`, `rrggbb`, `#rgb` or `rgb` (any case). Anything else is `None`.
pub fn parse_hex(s: &str) -> Option<[u8; 3]> {
    let s = s.trim();
    let s = s.strip_prefix('#').unwrap_or(s);
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let nib = |i: usize| u8::from_str_radix(&s[i..=i], 16).ok();
    match s.len() {
        6 => Some([
            u8::from_str_radix(&s[0..2], 16).ok()?,
            u8::from_str_radix(&s[2..4], 16).ok()?,
            u8::from_str_radix(&s[4..6], 16).ok()?,
        ]),
        3 => Some([nib(0)? * 17, nib(1)? * 17, nib(2)? * 17]),
        _ => None,
    }
}

/// WCAG 2.x relative luminance. The 8-bit table gives the same values as WCAG's 0.03928
/// threshold: no 8-bit code lies between 0.03928 and 0.04045.
pub fn relative_luminance(rgb: [u8; 3]) -> f64 {
    0.2126 * srgb_u8_to_linear(rgb[0])
        + 0.7152 * srgb_u8_to_linear(rgb[1])
        + 0.0722 * srgb_u8_to_linear(rgb[2])
}

/// WCAG 2.x contrast ratio (1..=21), symmetric in its arguments.
pub fn contrast_ratio(a: [u8; 3], b: [u8; 3]) -> f64 {
    let (la, lb) = (relative_luminance(a), relative_luminance(b));
    let (hi, lo) = if la >= lb { (la, lb) } else { (lb, la) };
    (hi + 0.05) / (lo + 0.05)
}

/// Round for display so the JSON is stable and readable.
pub(crate) fn round_to(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    let r = (v * f).round() / f;
    if r == 0.0 { 0.0 } else { r }
}

/// Full annotation of one colour; `role` is left `None` (roles depend on the whole palette,
/// see [`crate::roles`]).
pub fn annotate(rgb: [u8; 3], share: f64) -> ColorToken {
    let hsl = to_hsl(rgb);
    let lch = to_oklch(rgb);
    let cw = contrast_ratio(rgb, [255, 255, 255]);
    let cb = contrast_ratio(rgb, [0, 0, 0]);
    ColorToken {
        hex: to_hex(rgb),
        rgb,
        hsl: [
            round_to(hsl[0], 2),
            round_to(hsl[1], 2),
            round_to(hsl[2], 2),
        ],
        oklch: [
            round_to(lch[0], 4),
            round_to(lch[1], 4),
            round_to(lch[2], 2),
        ],
        name: crate::naming::name_of(rgb),
        share: round_to(share.clamp(0.0, 1.0), 6),
        confidence: 0.0,
        role: None,
        contrast_white: round_to(cw, 2),
        contrast_black: round_to(cb, 2),
        wcag: WcagFlags::from_ratios(cw, cb),
    }
}

#[rustfmt::skip]
const SRGB_TO_LINEAR: [f64; 256] = [
    0.0, 0.0003035269835488375, 0.000607053967097675, 0.0009105809506465125,
    0.00121410793419535, 0.0015176349177441874, 0.001821161901293025, 0.0021246888848418626,
    0.0024282158683907, 0.0027317428519395373, 0.003035269835488375, 0.003346535763899161,
    0.003676507324047436, 0.004024717018496307, 0.004391442037410293, 0.004776953480693729,
    0.005181516702338386, 0.005605391624202723, 0.006048833022857054, 0.006512090792594475,
    0.006995410187265387, 0.007499032043226175, 0.008023192985384994, 0.008568125618069307,
    0.009134058702220787, 0.00972121732023785, 0.010329823029626936, 0.010960094006488246,
    0.011612245179743885, 0.012286488356915872, 0.012983032342173012, 0.013702083047289686,
    0.014443843596092545, 0.01520851442291271, 0.01599629336550963, 0.016807375752887384,
    0.017641954488384078, 0.018500220128379697, 0.019382360956935723, 0.0202885630566524,
    0.021219010376003555, 0.02217388479338738, 0.02315336617811041, 0.024157632448504756,
    0.02518685962736163, 0.026241221894849898, 0.027320891639074894, 0.028426039504420793,
    0.0295568344378088, 0.030713443732993635, 0.03189603307301153, 0.033104766570885055,
    0.03433980680868217, 0.03560131487502034, 0.03688945040110004, 0.0382043715953465,
    0.03954623527673284, 0.04091519690685319, 0.042311410620809675, 0.043735029256973465,
    0.04518620438567554, 0.046665086336880095, 0.04817182422688942, 0.04970656598412723,
    0.05126945837404324, 0.052860647023180246, 0.05448027644244237, 0.05612849004960009,
    0.05780543019106723, 0.0595112381629812, 0.06124605423161761, 0.06301001765316767,
    0.06480326669290577, 0.06662593864377289, 0.06847816984440017, 0.07036009569659588,
    0.07227185068231748, 0.07421356838014963, 0.07618538148130785, 0.07818742180518633,
    0.08021982031446832, 0.0822827071298148, 0.08437621154414882, 0.08650046203654976,
    0.08865558628577294, 0.09084171118340768, 0.09305896284668745, 0.0953074666309647,
    0.09758734714186246, 0.09989872824711389, 0.10224173308810132, 0.10461648409110419,
    0.10702310297826761, 0.10946171077829933, 0.1119324278369056, 0.11443537382697373,
    0.11697066775851084, 0.11953842798834562, 0.12213877222960187, 0.12477181756095049,
    0.12743768043564743, 0.1301364766903643, 0.13286832155381798, 0.13563332965520566,
    0.13843161503245183, 0.14126329114027164, 0.14412847085805777, 0.14702726649759498,
    0.14995978981060856, 0.15292615199615017, 0.1559264637078274, 0.1589608350608804,
    0.162029375639111, 0.1651321945016676, 0.16826940018969075, 0.1714411007328226,
    0.17464740365558504, 0.17788841598362912, 0.18116424424986022, 0.184474994500441,
    0.18782077230067787, 0.19120168274079138, 0.1946178304415758, 0.19806931955994886,
    0.20155625379439707, 0.20507873639031693, 0.20863687014525575, 0.21223075741405523,
    0.21586050011389926, 0.2195261997292692, 0.2232279573168085, 0.22696587351009836,
    0.23074004852434915, 0.23455058216100522, 0.238397573812271, 0.24228112246555486,
    0.24620132670783548, 0.25015828472995344, 0.25415209433082675, 0.2581828529215958,
    0.26225065752969623, 0.26635560480286247, 0.2704977910130658, 0.27467731206038465,
    0.2788942634768104, 0.2831487404299921, 0.2874408377269175, 0.29177064981753587,
    0.2961382707983211, 0.3005437944157765, 0.3049873140698863, 0.30946892281750854,
    0.31398871337571754, 0.31854677812509186, 0.32314320911295075, 0.3277780980565422,
    0.33245153634617935, 0.33716361504833037, 0.3419144249086609, 0.3467040563550296,
    0.35153259950043936, 0.3564001441459435, 0.3613067797835095, 0.3662525955988395,
    0.3712376804741491, 0.3762621229909065, 0.38132601143253014, 0.386429433787049,
    0.39157247774972326, 0.39675523072562685, 0.4019777798321958, 0.4072402119017367,
    0.41254261348390375, 0.4178850708481375, 0.4232676699860717, 0.4286904966139066,
    0.43415363617474895, 0.4396571738409188, 0.44520119451622786, 0.45078578283822346,
    0.45641102318040466, 0.4620769996544071, 0.467783796112159, 0.47353149614800955,
    0.4793201831008268, 0.4851499400560704, 0.4910208498478356, 0.4969329950608704,
    0.5028864580325687, 0.5088813208549338, 0.5149176653765214, 0.5209955732043543,
    0.5271151257058131, 0.5332764040105052, 0.5394794890121072, 0.5457244613701866,
    0.5520114015120001, 0.5583403896342679, 0.5647115057049292, 0.5711248294648731,
    0.5775804404296506, 0.5840784178911641, 0.5906188409193369, 0.5972017883637634,
    0.6038273388553378, 0.6104955708078648, 0.6172065624196511, 0.6239603916750761,
    0.6307571363461468, 0.6375968739940326, 0.6444796819705821, 0.6514056374198242,
    0.6583748172794485, 0.665387298282272, 0.6724431569576875, 0.6795424696330938,
    0.6866853124353135, 0.6938717612919899, 0.7011018919329731, 0.7083757798916868,
    0.7156935005064807, 0.7230551289219693, 0.7304607400903537, 0.7379104087727308,
    0.7454042095403874, 0.7529422167760779, 0.7605245046752924, 0.768151147247507,
    0.7758222183174236, 0.7835377915261935, 0.7912979403326302, 0.799102738014409,
    0.8069522576692516, 0.8148465722161012, 0.8227857543962835, 0.8307698767746546,
    0.83879901174074, 0.846873231509858, 0.8549926081242338, 0.8631572134541023,
    0.8713671191987972, 0.8796223968878317, 0.8879231178819663, 0.8962693533742664,
    0.9046611743911496, 0.9130986517934192, 0.9215818562772946, 0.9301108583754237,
    0.938685728457888, 0.9473065367331999, 0.9559733532492861, 0.9646862478944651,
    0.9734452903984125, 0.9822505503331171, 0.9911020971138298, 1.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_parsing() {
        assert_eq!(parse_hex("#1A2b3c"), Some([0x1a, 0x2b, 0x3c]));
        assert_eq!(parse_hex("fff"), Some([255, 255, 255]));
        assert_eq!(parse_hex("#12345"), None);
        assert_eq!(parse_hex("#12345g"), None);
        assert_eq!(parse_hex("#ffffff\"; x"), None);
        assert_eq!(parse_hex("+1+2+3"), None);
        assert_eq!(to_hex([0x1a, 0x2b, 0x3c]), "#1a2b3c");
    }

    #[test]
    fn wcag_contrast_reference_values() {
        let w = [255, 255, 255];
        let k = [0, 0, 0];
        assert!((contrast_ratio(w, k) - 21.0).abs() < 1e-9);
        assert!((contrast_ratio(w, w) - 1.0).abs() < 1e-12);
        // #767676 is the well-known lightest grey passing AA on white (4.54:1).
        let c = contrast_ratio([0x76, 0x76, 0x76], w);
        assert!((c - 4.54).abs() < 0.01, "{c}");
        let c = contrast_ratio([0x77, 0x77, 0x77], w);
        assert!(c < 4.5, "{c}");
    }

    #[test]
    fn oklab_reference_values() {
        let white = rgb_to_oklab([255, 255, 255]);
        assert!((white.l - 1.0).abs() < 1e-4 && white.a.abs() < 1e-4 && white.b.abs() < 1e-4);
        // Published OKLab of pure sRGB red: (0.62796, 0.22486, 0.12585).
        let red = rgb_to_oklab([255, 0, 0]);
        assert!((red.l - 0.62796).abs() < 1e-4, "{red:?}");
        assert!((red.a - 0.22486).abs() < 1e-4 && (red.b - 0.12585).abs() < 1e-4);
    }

    #[test]
    fn oklab_round_trip_every_grey_and_some_colours() {
        for v in 0..=255u8 {
            assert_eq!(oklab_to_rgb(rgb_to_oklab([v, v, v])), [v, v, v]);
        }
        for rgb in [[255, 0, 0], [0, 128, 255], [18, 52, 86], [250, 200, 10]] {
            assert_eq!(oklab_to_rgb(rgb_to_oklab(rgb)), rgb);
        }
    }

    #[test]
    fn cbrt_matches_std_closely() {
        for x in [1e-9, 0.001, 0.2, 0.5, 1.0, 2.0, 27.0] {
            assert!((cbrt(x) - f64::cbrt(x)).abs() <= 1e-15 * x.max(1.0), "{x}");
        }
        assert_eq!(cbrt(-8.0), -2.0);
    }

    #[test]
    fn hsl_reference_values() {
        assert_eq!(to_hsl([255, 0, 0]), [0.0, 100.0, 50.0]);
        let h = to_hsl([0, 0, 255]);
        assert!((h[0] - 240.0).abs() < 1e-9);
        assert_eq!(to_hsl([128, 128, 128])[1], 0.0);
    }
}
