//! `copythat extract`: palettes of image files, directories, standard input or URLs, printed as
//! one valid document (JSON, hex lines, an export format, or swatches on a terminal) or written
//! one file per input with `--out-dir`.
//!
//! Shapes: one input argument that is not a directory gives that image's document; several
//! arguments, or a directory, give one JSON object keyed by input (JSON formats), one
//! `input<TAB>hex...` line per input (`hex`), or need `--out-dir` (stylesheets and modules,
//! which cannot be merged into one valid file). The shape depends on the arguments only, never
//! on how many images a directory holds. Every input is tried: a bad one is named on stderr
//! and the rest still run.

use std::collections::HashSet;
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use copythat_core::{ColorToken, ExportFormat, ExportToken, Limits};
use serde_json::{Map, Value};

/// Exit codes, as `--help` states them.
pub const EXIT_OK: u8 = 0;
pub const EXIT_SOME_FAILED: u8 = 1;
pub const EXIT_USAGE: u8 = 2;

const EXIT_HELP: &str = "\
Inputs: image files (PNG, JPEG, WebP, GIF), directories with -r (their images, recursively),
`-` for standard input, or http(s) URLs.

Output: one input gives its document; several inputs or a directory give one JSON object keyed
by input (json, dtcg, dtcg-hex, style-dictionary) or one `input<TAB>#hex ...` line each (hex);
css, scss, tailwind and tailwind4 make one file per image, so several inputs need --out-dir.
On a terminal, without --format, the palette is shown as colour swatches.

Exit status:
  0  every input gave a palette
  1  some input failed (each is named on stderr; the others are still printed or written)
  2  usage error (bad option or combination; nothing was read)";

/// What `copythat extract` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// The palette with every annotation (hex, rgb, hsl, oklch, name, share, contrast, role).
    Json,
    /// One line of hex codes per input.
    Hex,
    /// W3C design tokens, colour objects.
    Dtcg,
    /// W3C design tokens, hex strings (Style Dictionary 4, sd-transforms).
    DtcgHex,
    /// CSS custom properties.
    Css,
    /// SCSS variables and map.
    Scss,
    /// Tailwind 3 config module.
    Tailwind,
    /// Tailwind 4 `@theme` stylesheet.
    Tailwind4,
    /// Style Dictionary source JSON.
    StyleDictionary,
}

impl OutputFormat {
    fn export_format(self) -> Option<ExportFormat> {
        match self {
            Self::Json | Self::Hex => None,
            Self::Dtcg => Some(ExportFormat::Dtcg),
            Self::DtcgHex => Some(ExportFormat::DtcgHex),
            Self::Css => Some(ExportFormat::Css),
            Self::Scss => Some(ExportFormat::Scss),
            Self::Tailwind => Some(ExportFormat::Tailwind),
            Self::Tailwind4 => Some(ExportFormat::Tailwind4),
            Self::StyleDictionary => Some(ExportFormat::StyleDictionary),
        }
    }

    fn is_json(self) -> bool {
        self == Self::Json || self.export_format().is_some_and(|f| f.is_json())
    }

    fn name(self) -> &'static str {
        match self.export_format() {
            Some(f) => f.as_str(),
            None if self == Self::Hex => "hex",
            None => "json",
        }
    }

    fn file_extension(self) -> &'static str {
        match self.export_format() {
            Some(f) => f.file_extension(),
            None if self == Self::Hex => "txt",
            None => "json",
        }
    }
}

/// Arguments of `copythat extract`.
#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_HELP)]
pub struct ExtractArgs {
    /// Image files, directories (with -r), `-` for standard input, or http(s) URLs.
    #[arg(required = true, value_name = "FILE|DIR|URL|-")]
    pub inputs: Vec<PathBuf>,
    /// How many colours (1 to 50).
    #[arg(short = 'n', long = "max-colors", default_value_t = 8,
          value_parser = clap::value_parser!(u8).range(1..=50))]
    pub max_colors: u8,
    /// Read the images in directories, recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Output format [default: swatches on a terminal, json otherwise].
    #[arg(long, value_enum)]
    pub format: Option<OutputFormat>,
    /// Write one file per input into this directory (created if missing) and print the paths.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Where an input's bytes come from.
#[derive(Debug)]
enum Source {
    File(PathBuf),
    Stdin,
    Url(String),
    /// Known bad before reading (a directory without -r, an unreadable or empty directory).
    Refused(String),
}

#[derive(Debug)]
struct Input {
    /// How the input is named in messages and keys: the argument (or the path found under
    /// a directory), `-` for standard input.
    label: String,
    source: Source,
}

#[derive(serde::Serialize)]
struct Extracted {
    file: String,
    image: ImageInfo,
    colors: Vec<ColorToken>,
}

#[derive(serde::Serialize)]
struct ImageInfo {
    width: u32,
    height: u32,
    format: &'static str,
}

/// Runs the command; the exit code is one of `EXIT_*`.
pub fn run(args: &ExtractArgs) -> ExitCode {
    ExitCode::from(run_code(args))
}

fn usage(message: &str) -> u8 {
    eprintln!("copythat: {message}");
    EXIT_USAGE
}

fn run_code(args: &ExtractArgs) -> u8 {
    let stdout_is_terminal = std::io::stdout().is_terminal();
    let swatches = args.format.is_none() && args.out_dir.is_none() && stdout_is_terminal;
    let format = args.format.unwrap_or(OutputFormat::Json);
    if args.inputs.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return usage("standard input (`-`) can be read only once");
    }
    let keyed = args.inputs.len() > 1 || args.inputs.iter().any(|p| p.is_dir());
    if keyed
        && args.out_dir.is_none()
        && !swatches
        && !format.is_json()
        && format != OutputFormat::Hex
    {
        return usage(&format!(
            "--format {} makes one file per image: with several inputs or a directory, \
             add --out-dir DIR",
            format.name()
        ));
    }

    let inputs = expand(&args.inputs, args.recursive);
    let limits = Limits::default();
    let stdin_bytes = if inputs.iter().any(|i| matches!(i.source, Source::Stdin)) {
        Some(read_stdin(&limits))
    } else {
        None
    };
    let results = extract_all(&inputs, usize::from(args.max_colors), &limits, stdin_bytes);

    let mut all_ok = true;
    let mut done = Vec::new();
    for (input, result) in inputs.iter().zip(results) {
        match result {
            Ok(extracted) => done.push((input, extracted)),
            Err(reason) => {
                all_ok = false;
                eprintln!("copythat: {}: {reason}", input.label);
            }
        }
    }
    let written = match &args.out_dir {
        Some(dir) => write_files(dir, &done, format),
        None => {
            let text = if swatches {
                render_swatches(&done, keyed, std::env::var_os("NO_COLOR").is_none())
            } else {
                render_all(&done, keyed, format)
            };
            let mut out = std::io::stdout().lock();
            // A closed pipe (`| head`) is not an error worth a message.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            true
        }
    };
    if all_ok && written {
        EXIT_OK
    } else {
        EXIT_SOME_FAILED
    }
}

/// An OS error as the OS words it ("No such file or directory"), without Rust's suffix.
fn os_error(err: &std::io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

/// The one place a URL argument becomes bytes: the server's SSRF-safe fetcher with the same
/// rules (S14) — public addresses only, the allowed ports, at most 3 redirects, 10 s, the
/// image size limit — read from the same `COPYTHAT_FETCH_*` variables as `serve`.
fn fetch_url(url: &str, limits: &Limits) -> Result<Vec<u8>, String> {
    let policy = fetch_policy(limits)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot fetch: {e}"))?;
    let fetcher = crate::fetch::Fetcher::new(policy);
    runtime
        .block_on(fetcher.fetch(url))
        // A local user may see the precise reason; the server never tells it.
        .map_err(|err| format!("{}: {err}", err.public_message()))
}

/// The fetch rules from the environment: only the `COPYTHAT_FETCH_*` settings and the image
/// size limit are read, with the server's parsing and checks.
fn fetch_policy(limits: &Limits) -> Result<crate::fetch::FetchPolicy, String> {
    const READ: [&str; 3] = [
        "COPYTHAT_FETCH_ALLOW_CIDRS",
        "COPYTHAT_FETCH_ALLOWED_PORTS",
        "COPYTHAT_FETCH_RESOLVE",
    ];
    let lookup = |name: &str| {
        READ.contains(&name)
            .then(|| std::env::var(name).ok())
            .flatten()
    };
    let config = crate::config::Config::from_lookup(&lookup).map_err(|e| e.to_string())?;
    Ok(crate::fetch::FetchPolicy {
        max_bytes: limits.max_bytes,
        ..crate::fetch::FetchPolicy::from_config(&config)
    })
}

fn is_url(arg: &Path) -> Option<String> {
    let s = arg.to_str()?;
    let lower = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (lower.starts_with("http://") || lower.starts_with("https://")).then(|| s.to_owned())
}

/// Files under a directory whose names say they are images we read.
fn is_image_name(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .is_some_and(|e| ["png", "jpg", "jpeg", "webp", "gif"].contains(&e.as_str()))
}

/// Turns the arguments into inputs, directories into their image files (sorted by path).
fn expand(args: &[PathBuf], recursive: bool) -> Vec<Input> {
    let mut out = Vec::new();
    for arg in args {
        let label = arg.display().to_string();
        if arg.as_os_str() == "-" {
            out.push(Input {
                label,
                source: Source::Stdin,
            });
        } else if let Some(url) = is_url(arg) {
            out.push(Input {
                label,
                source: Source::Url(url),
            });
        } else if arg.is_dir() {
            if !recursive {
                out.push(Input {
                    label,
                    source: Source::Refused(
                        "is a directory (add -r to read the images in it)".into(),
                    ),
                });
                continue;
            }
            let mut files = Vec::new();
            let mut errors = Vec::new();
            walk(arg, &mut files, &mut errors);
            files.sort();
            let found = files.len();
            out.extend(files.into_iter().map(|path| Input {
                label: path.display().to_string(),
                source: Source::File(path),
            }));
            out.extend(errors.into_iter().map(|(path, reason)| Input {
                label: path.display().to_string(),
                source: Source::Refused(reason),
            }));
            if found == 0 {
                out.push(Input {
                    label,
                    source: Source::Refused("no PNG, JPEG, WebP or GIF files in it".into()),
                });
            }
        } else {
            out.push(Input {
                label,
                source: Source::File(arg.clone()),
            });
        }
    }
    out
}

/// Collects image files under `dir`. Symbolic links to directories are not followed, so a
/// link loop cannot make the walk endless.
fn walk(dir: &Path, files: &mut Vec<PathBuf>, errors: &mut Vec<(PathBuf, String)>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => {
            errors.push((dir.to_owned(), os_error(&err)));
            return;
        }
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                errors.push((dir.to_owned(), os_error(&err)));
                continue;
            }
        };
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files, errors),
            Ok(t) if t.is_symlink() && path.is_dir() => {}
            Ok(_) if is_image_name(&path) => files.push(path),
            Ok(_) => {}
            Err(err) => errors.push((path, os_error(&err))),
        }
    }
}

/// Standard input, read once, at most one byte past the limit (so "too large" is known).
fn read_stdin(limits: &Limits) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    std::io::stdin()
        .lock()
        .take(limits.max_bytes as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| os_error(&e))?;
    Ok(bytes)
}

fn too_large(size: u64, limits: &Limits) -> String {
    format!(
        "image too large: {size} bytes or more, the limit is {}",
        limits.max_bytes
    )
}

fn load(
    input: &Input,
    limits: &Limits,
    stdin: &Option<Result<Vec<u8>, String>>,
) -> Result<Vec<u8>, String> {
    match &input.source {
        Source::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| os_error(&e))?;
            if meta.is_dir() {
                return Err("is a directory (add -r to read the images in it)".into());
            }
            if meta.len() > limits.max_bytes as u64 {
                return Err(too_large(meta.len(), limits));
            }
            std::fs::read(path).map_err(|e| os_error(&e))
        }
        Source::Stdin => match stdin {
            Some(Ok(bytes)) if bytes.len() > limits.max_bytes => {
                Err(too_large(bytes.len() as u64, limits))
            }
            Some(Ok(bytes)) if bytes.is_empty() => Err("standard input is empty".into()),
            Some(Ok(bytes)) => Ok(bytes.clone()),
            Some(Err(reason)) => Err(reason.clone()),
            None => Err("standard input was not read".into()),
        },
        Source::Url(url) => fetch_url(url, limits),
        Source::Refused(reason) => Err(reason.clone()),
    }
}

/// Why an image failed, said in terms of the image.
fn describe(err: &copythat_core::Error) -> String {
    match err {
        copythat_core::Error::Corrupt { .. } => "the image is corrupt or truncated".into(),
        other => other.to_string(),
    }
}

fn extract_one(
    input: &Input,
    max_colors: usize,
    limits: &Limits,
    stdin: &Option<Result<Vec<u8>, String>>,
) -> Result<Extracted, String> {
    let bytes = load(input, limits, stdin)?;
    let (img, palette) =
        copythat_core::extract(&bytes, limits, max_colors).map_err(|e| describe(&e))?;
    Ok(Extracted {
        file: input.label.clone(),
        image: ImageInfo {
            width: img.width,
            height: img.height,
            format: img.format.as_str(),
        },
        colors: palette.colors,
    })
}

/// Extracts every input on all cores; results come back in input order.
fn extract_all(
    inputs: &[Input],
    max_colors: usize,
    limits: &Limits,
    stdin: Option<Result<Vec<u8>, String>>,
) -> Vec<Result<Extracted, String>> {
    let progress = if inputs.len() > 1 {
        indicatif::ProgressBar::with_draw_target(
            Some(inputs.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results: Vec<Mutex<Option<Result<Extracted, String>>>> =
        inputs.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(inputs.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(input) = inputs.get(i) else { break };
                    let result = extract_one(input, max_colors, limits, &stdin);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();
    results
        .into_iter()
        .map(|slot| {
            slot.into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .unwrap_or_else(|| Err("not processed".into()))
        })
        .collect()
}

/// The name an export carries (and a written file starts with): the file's stem.
fn set_name(input: &Input) -> String {
    match &input.source {
        Source::Stdin => "stdin".into(),
        Source::File(path) => path_stem(path),
        Source::Url(_) | Source::Refused(_) => "image".into(),
    }
}

fn path_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "image".into())
}

/// One input's document in `format`.
fn render_one(input: &Input, extracted: &Extracted, format: OutputFormat) -> String {
    let mut text = match format.export_format() {
        Some(export) => {
            let tokens: Vec<ExportToken> = extracted.colors.iter().map(ExportToken::from).collect();
            copythat_core::export(export, &set_name(input), &tokens)
        }
        None if format == OutputFormat::Hex => hex_line(extracted),
        None => serde_json::to_string_pretty(extracted).unwrap_or_default(),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn hex_line(extracted: &Extracted) -> String {
    extracted
        .colors
        .iter()
        .map(|c| c.hex.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// A label for line-based output: control characters (a newline in a file name) cannot
/// split a line.
fn line_label(label: &str) -> String {
    label
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Everything on stdout as one valid document.
fn render_all(done: &[(&Input, Extracted)], keyed: bool, format: OutputFormat) -> String {
    if !keyed {
        return done
            .first()
            .map(|(input, extracted)| render_one(input, extracted, format))
            .unwrap_or_default();
    }
    if format == OutputFormat::Hex {
        return done
            .iter()
            .map(|(input, extracted)| {
                format!("{}\t{}\n", line_label(&input.label), hex_line(extracted))
            })
            .collect();
    }
    // JSON family: one object keyed by input. Each document is valid JSON we just wrote.
    let mut map = Map::new();
    for (input, extracted) in done {
        let value = match format.export_format() {
            Some(_) => {
                serde_json::from_str(&render_one(input, extracted, format)).unwrap_or(Value::Null)
            }
            None => serde_json::to_value(extracted).unwrap_or(Value::Null),
        };
        map.insert(input.label.clone(), value);
    }
    let mut text = serde_json::to_string_pretty(&Value::Object(map)).unwrap_or_default();
    text.push('\n');
    text
}

/// The terminal view: a true-colour block, the hex, name, share and role of each colour.
fn render_swatches(done: &[(&Input, Extracted)], keyed: bool, colour: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (input, extracted) in done {
        if keyed {
            let _ = writeln!(out, "{}", line_label(&input.label));
        }
        for c in &extracted.colors {
            let [r, g, b] = c.rgb;
            let block = if colour {
                format!("\x1b[48;2;{r};{g};{b}m      \x1b[0m")
            } else {
                "      ".to_owned()
            };
            let role = c.role.map(|r| r.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "{block} {} {:>5.1}%  {:<24} {role}",
                c.hex,
                c.share * 100.0,
                c.name
            );
        }
        if keyed {
            out.push('\n');
        }
    }
    out
}

/// `--out-dir`: one file per input, named after its stem (`-2`, `-3` on a clash), paths
/// printed one per line. Returns whether every file was written.
fn write_files(dir: &Path, done: &[(&Input, Extracted)], format: OutputFormat) -> bool {
    if let Err(err) = std::fs::create_dir_all(dir) {
        eprintln!("copythat: {}: {}", dir.display(), os_error(&err));
        return false;
    }
    let ext = format.file_extension();
    let mut taken: HashSet<String> = HashSet::new();
    let mut ok = true;
    let mut stdout = std::io::stdout().lock();
    for (input, extracted) in done {
        let stem = set_name(input);
        let mut name = format!("{stem}.{ext}");
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{stem}-{n}.{ext}");
            n += 1;
        }
        let path = dir.join(&name);
        match std::fs::write(&path, render_one(input, extracted, format)) {
            Ok(()) => {
                let _ = writeln!(stdout, "{}", path.display());
            }
            Err(err) => {
                ok = false;
                eprintln!("copythat: {}: {}", path.display(), os_error(&err));
            }
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(label: &str) -> Input {
        Input {
            label: label.into(),
            source: Source::File(label.into()),
        }
    }

    fn extracted() -> Extracted {
        Extracted {
            file: "a.png".into(),
            image: ImageInfo {
                width: 1,
                height: 1,
                format: "png",
            },
            colors: vec![copythat_core::annotate([0x25, 0x63, 0xeb], 0.5)],
        }
    }

    #[test]
    fn swatches_are_true_colour_blocks_with_hex_and_share() {
        let a = input("a.png");
        let text = render_swatches(&[(&a, extracted())], false, true);
        assert!(
            text.starts_with("\x1b[48;2;37;99;235m      \x1b[0m #2563eb  50.0%"),
            "{text:?}"
        );
        let plain = render_swatches(&[(&a, extracted())], false, false);
        assert!(!plain.contains('\x1b'), "NO_COLOR: no escapes");
    }

    #[test]
    fn os_errors_are_worded_like_the_os() {
        let err = std::fs::read("/nonexistent/copythat").unwrap_err();
        assert_eq!(os_error(&err), "No such file or directory");
    }

    #[test]
    fn urls_are_recognised_and_fetched_under_the_server_rules() {
        assert!(is_url(Path::new("https://example.com/a.png")).is_some());
        assert!(is_url(Path::new("HTTP://example.com/a.png")).is_some());
        assert!(is_url(Path::new("./https:x.png")).is_none());
        // S14: a literal private address is refused before any connection or lookup.
        let err = fetch_url("http://10.1.2.3/a.png", &Limits::default()).unwrap_err();
        assert!(err.contains("not allowed"), "{err}");
    }
}
