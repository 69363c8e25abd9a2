//! Command-line tasks besides `serve`: creating accounts (the only way to make the first
//! admin, S9), run against the configured database.

use std::io::BufRead;

use anyhow::{Context, bail};
use secrecy::SecretString;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::audit::{Audit, Outcome, RequestMeta};
use crate::auth::password::{Passwords, check_policy};
use crate::config::Config;
use crate::store::{Role, StoreError, User};

/// Creates an account; the password comes from stdin or an interactive prompt.
pub async fn create_user(
    config: &Config,
    email: &str,
    admin: bool,
    password_stdin: bool,
) -> anyhow::Result<Uuid> {
    let email = crate::validate::email(email).map_err(|m| anyhow::anyhow!("email {m}"))?;
    let password = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        let first = rpassword::prompt_password("Password: ").context("cannot read a password")?;
        let again = rpassword::prompt_password("Again: ").context("cannot read a password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    };
    check_policy(&password, &email).map_err(|m| anyhow::anyhow!("password {m}"))?;

    let store = crate::store::connect(&config.database_url)
        .await
        .context("cannot open the database")?;
    store.migrate().await.context("migration failed")?;
    let hash = Passwords::new(1)
        .hash(SecretString::from(password))
        .await
        .map_err(|_| anyhow::anyhow!("cannot hash the password"))?;
    let now = OffsetDateTime::now_utc();
    let mut roles = vec![Role::User];
    if admin {
        roles.push(Role::Admin);
    }
    let user = User {
        id: Uuid::now_v7(),
        email,
        password_hash: hash,
        full_name: None,
        is_active: true,
        is_verified: true,
        roles: sqlx::types::Json(roles),
        token_version: 0,
        created_at: now,
        updated_at: now,
        last_login_at: None,
    };
    match store.insert_user(&user).await {
        Ok(()) => {}
        Err(StoreError::Conflict) => bail!("an account with this email already exists"),
        Err(err) => return Err(err).context("cannot store the account"),
    }
    Audit {
        store: &store,
        meta: &RequestMeta::default(),
    }
    .record(
        "cli",
        "user_create",
        Some(user.id.to_string()),
        Outcome::Success,
        json!({ "admin": admin }),
    )
    .await;
    Ok(user.id)
}

/// What `copythat extract` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Json,
    Dtcg,
    Css,
    Scss,
    Tailwind,
    StyleDictionary,
}

impl OutputFormat {
    fn export_format(self) -> Option<copythat_core::ExportFormat> {
        use copythat_core::ExportFormat as F;
        match self {
            Self::Json => None,
            Self::Dtcg => Some(F::Dtcg),
            Self::Css => Some(F::Css),
            Self::Scss => Some(F::Scss),
            Self::Tailwind => Some(F::Tailwind),
            Self::StyleDictionary => Some(F::StyleDictionary),
        }
    }
}

#[derive(serde::Serialize)]
struct ExtractedFile {
    file: String,
    image: ImageInfo,
    colors: Vec<copythat_core::ColorToken>,
}

#[derive(serde::Serialize)]
struct ImageInfo {
    width: u32,
    height: u32,
    format: &'static str,
}

/// Why one file failed, said in terms of the file.
fn describe(err: &copythat_core::Error) -> String {
    match err {
        copythat_core::Error::Corrupt { .. } => "the image is corrupt or truncated".into(),
        other => other.to_string(),
    }
}

fn extract_one(
    path: &std::path::Path,
    max_colors: usize,
    limits: &copythat_core::Limits,
) -> Result<ExtractedFile, String> {
    let size = std::fs::metadata(path)
        .map_err(|e| format!("cannot read: {}", e.kind()))?
        .len();
    if size > limits.max_bytes as u64 {
        return Err(format!(
            "image too large: {size} bytes, the limit is {}",
            limits.max_bytes
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {}", e.kind()))?;
    let (img, palette) =
        copythat_core::extract(&bytes, limits, max_colors).map_err(|e| describe(&e))?;
    Ok(ExtractedFile {
        file: path.display().to_string(),
        image: ImageInfo {
            width: img.width,
            height: img.height,
            format: img.format.as_str(),
        },
        colors: palette.colors,
    })
}

fn render(extracted: &ExtractedFile, format: OutputFormat) -> String {
    match format.export_format() {
        None => serde_json::to_string_pretty(extracted).unwrap_or_default(),
        Some(export) => {
            let tokens: Vec<copythat_core::ExportToken> = extracted
                .colors
                .iter()
                .map(|c| copythat_core::ExportToken {
                    name: c.name.clone(),
                    hex: c.hex.clone(),
                    role: c.role,
                })
                .collect();
            let set = std::path::Path::new(&extracted.file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "tokens".into());
            copythat_core::export(export, &set, &tokens)
        }
    }
}

/// `copythat extract FILE...`: every file is tried; a bad one is reported by name on
/// stderr and the rest still run. Files are processed on all cores, printed in order.
/// Returns whether every file succeeded.
pub fn extract_files(
    files: &[std::path::PathBuf],
    max_colors: usize,
    format: OutputFormat,
) -> bool {
    use std::io::Write;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let limits = copythat_core::Limits::default();
    let progress = if files.len() > 1 {
        indicatif::ProgressBar::with_draw_target(
            Some(files.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        )
    } else {
        indicatif::ProgressBar::hidden()
    };
    let results: Vec<Mutex<Option<Result<ExtractedFile, String>>>> =
        files.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(files.len().max(1));
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let result = extract_one(path, max_colors, &limits);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                    progress.inc(1);
                }
            });
        }
    });
    progress.finish_and_clear();

    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut all_ok = true;
    let mut json_items = Vec::new();
    for (path, slot) in files.iter().zip(results) {
        let result = slot
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(|| Err("not processed".into()));
        match result {
            Ok(extracted) if format == OutputFormat::Json => json_items.push(extracted),
            Ok(extracted) => {
                if files.len() > 1 {
                    let _ = writeln!(out, "/* ==> {} <== */", path.display());
                }
                let _ = writeln!(out, "{}", render(&extracted, format).trim_end());
            }
            Err(reason) => {
                all_ok = false;
                eprintln!("copythat: {}: {reason}", path.display());
            }
        }
    }
    if format == OutputFormat::Json {
        let text = if files.len() == 1 {
            json_items
                .first()
                .map(|item| render(item, format))
                .unwrap_or_default()
        } else {
            serde_json::to_string_pretty(&json_items).unwrap_or_default()
        };
        if !text.is_empty() {
            let _ = writeln!(out, "{text}");
        }
    }
    all_ok
}
