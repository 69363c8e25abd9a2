//! `copythat check`: does a screenshot keep to the colours of a tokens file? A summary for
//! people or JSON for scripts, and an exit code for CI (see [`EXIT_CODES`]).

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use copythat_core::{CheckReport, DEFAULT_TOLERANCE, Limits, PaletteColor};
use serde_json::json;

/// Shown under `copythat check --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  checked, and the score is at least --min-score (or none was given)
  1  checked, and the score is below --min-score
  2  usage or input error: bad arguments, unreadable or invalid image or tokens file";

/// Largest tokens file read: far beyond any real palette, small enough to never matter.
const MAX_TOKENS_BYTES: u64 = 4 << 20;

/// How the report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckFormat {
    /// A summary for people.
    Text,
    /// The report as JSON.
    Json,
}

/// The arguments of `copythat check`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct CheckArgs {
    /// The screenshot: PNG, JPEG, WebP or GIF (first frame).
    #[arg(value_name = "IMAGE")]
    pub image: PathBuf,
    /// The palette: DTCG or Style Dictionary JSON, or CSS custom properties.
    #[arg(long, value_name = "FILE")]
    pub tokens: PathBuf,
    /// How far (OKLab distance, above 0 and at most 1) a pixel may be from the palette,
    /// or from a blend of two of its colours, and still count as on palette.
    #[arg(long, value_name = "T", default_value_t = DEFAULT_TOLERANCE)]
    pub tolerance: f64,
    /// Exit with code 1 when the score (0 to 100) is below this.
    #[arg(long, value_name = "S", value_parser = parse_min_score)]
    pub min_score: Option<f64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = CheckFormat::Text)]
    pub format: CheckFormat,
}

fn parse_min_score(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if (0.0..=100.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be between 0 and 100".into())
    }
}

/// Runs the check and prints the report; returns the process exit code.
pub fn run(args: &CheckArgs) -> u8 {
    match check(args) {
        Ok((report, palette, image)) => {
            let passed = args.min_score.is_none_or(|min| report.score >= min);
            let text = match args.format {
                CheckFormat::Text => render_text(args, &report, &palette),
                CheckFormat::Json => render_json(args, &report, &palette, &image, passed),
            };
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", text.trim_end());
            if passed { 0 } else { 1 }
        }
        Err(message) => {
            eprintln!("copythat: {message}");
            2
        }
    }
}

struct ImageInfo {
    width: u32,
    height: u32,
    format: &'static str,
}

fn check(args: &CheckArgs) -> Result<(CheckReport, Vec<PaletteColor>, ImageInfo), String> {
    let palette = read_tokens(&args.tokens)
        .map_err(|reason| format!("{}: {reason}", args.tokens.display()))?;
    // The same limits as `copythat extract` and the service (S13).
    let limits = Limits::default();
    let image = read_limited(&args.image, limits.max_bytes as u64, "image")
        .and_then(|bytes| copythat_core::decode(&bytes, &limits).map_err(|e| describe(&e)))
        .map_err(|reason| format!("{}: {reason}", args.image.display()))?;
    let report =
        copythat_core::check(&image, &palette, args.tolerance).map_err(|e| describe(&e))?;
    let info = ImageInfo {
        width: image.width,
        height: image.height,
        format: image.format.as_str(),
    };
    Ok((report, palette, info))
}

/// Reads at most `limit` bytes of `path`; a larger file is refused before it is read.
fn read_limited(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read: {}", e.kind()))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {}", e.kind()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{what} too large: the limit is {limit} bytes"));
    }
    Ok(bytes)
}

fn read_tokens(path: &Path) -> Result<Vec<PaletteColor>, String> {
    let bytes = read_limited(path, MAX_TOKENS_BYTES, "tokens file")?;
    let text = String::from_utf8(bytes).map_err(|_| "the tokens file is not UTF-8 text")?;
    copythat_core::palette_from_tokens_file(&text).map_err(|e| describe(&e))
}

/// Why the check failed, in terms of the input.
fn describe(err: &copythat_core::Error) -> String {
    match err {
        copythat_core::Error::Corrupt { .. } => "the image is corrupt or truncated".into(),
        other => other.to_string(),
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let f = 10f64.powi(decimals);
    (v * f).round() / f
}

fn percent(share: f64) -> String {
    format!("{:.2}%", share * 100.0)
}

fn render_text(args: &CheckArgs, report: &CheckReport, palette: &[PaletteColor]) -> String {
    let mut out = format!(
        "{}: score {:.2} of 100 (tolerance {})\n",
        args.image.display(),
        report.score,
        report.tolerance
    );
    if let Some(min) = args.min_score {
        let verdict = if report.score >= min {
            "passes"
        } else {
            "is below"
        };
        out.push_str(&format!("the score {verdict} the minimum of {min}\n"));
    }
    // Names come from a file: keep a terminal safe from control characters.
    let name = |i: usize| -> String {
        palette[i]
            .name
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    let width = (0..palette.len())
        .map(|i| name(i).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(4, 40);
    out.push_str("\npalette colours\n");
    for t in &report.tokens {
        out.push_str(&format!(
            "  {:<width$}  {}  {:>8}\n",
            name(t.index),
            palette[t.index].hex,
            percent(t.share)
        ));
    }
    if report.off_palette.is_empty() {
        out.push_str("\nno off-palette colours\n");
    } else {
        out.push_str("\noff-palette colours\n");
        for o in &report.off_palette {
            out.push_str(&format!(
                "  {}  {:>8}  nearest {} ({}), distance {:.3}\n",
                o.hex,
                percent(o.share),
                name(o.nearest),
                palette[o.nearest].hex,
                o.distance
            ));
        }
    }
    out
}

fn render_json(
    args: &CheckArgs,
    report: &CheckReport,
    palette: &[PaletteColor],
    image: &ImageInfo,
    passed: bool,
) -> String {
    let colour = |i: usize| json!({ "name": palette[i].name, "hex": palette[i].hex });
    let value = json!({
        "image": {
            "file": args.image.display().to_string(),
            "width": image.width,
            "height": image.height,
            "format": image.format,
        },
        "score": round(report.score, 2),
        "tolerance": report.tolerance,
        "min_score": args.min_score,
        "passed": passed,
        "tokens": report.tokens.iter().map(|t| json!({
            "name": palette[t.index].name,
            "hex": palette[t.index].hex,
            "share": round(t.share, 6),
        })).collect::<Vec<_>>(),
        "off_palette": report.off_palette.iter().map(|o| json!({
            "hex": o.hex,
            "share": round(o.share, 6),
            "nearest": colour(o.nearest),
            "distance": round(o.distance, 4),
        })).collect::<Vec<_>>(),
    });
    serde_json::to_string_pretty(&value).unwrap_or_default()
}
