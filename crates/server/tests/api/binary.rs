//! The `copythat` binary itself: zero-configuration start, graceful stop, and refusal
//! of unsafe production configuration (S22).

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn copythat() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_copythat"));
    for var in [
        "COPYTHAT_ENV",
        "SECRET_KEY",
        "SECRET_KEY_FILE",
        "DATABASE_URL",
        "REDIS_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn s22_production_refuses_to_start_with_a_weak_or_missing_secret() {
    for key in [
        None,
        Some("changeme"),
        Some("dev-secret-key-change-in-production"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = copythat();
        cmd.current_dir(dir.path())
            .arg("serve")
            .env("COPYTHAT_ENV", "production")
            .env("COPYTHAT_BIND", "127.0.0.1:0");
        if let Some(key) = key {
            cmd.env("SECRET_KEY", key);
        }
        let output = cmd.output().unwrap();
        assert!(!output.status.success(), "started with {key:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "one-line message: {stderr}"
        );
        assert!(stderr.contains("SECRET_KEY"), "{stderr}");
        if let Some(key) = key {
            assert!(
                !stderr.contains(key),
                "the message must not echo the secret"
            );
        }
        assert!(
            !dir.path().join("copythat.db").exists(),
            "nothing was created"
        );
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `copythat serve` with zero configuration in `dir`, once it answers `/health`.
fn serve_in(dir: &std::path::Path, stderr: Stdio) -> (std::process::Child, u16) {
    let port = free_port();
    let child = copythat()
        .current_dir(dir)
        .arg("serve")
        .env("COPYTHAT_BIND", format!("127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/health").is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, port)
}

fn terminate(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn serve_with_zero_configuration_creates_sqlite_and_stops_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = serve_in(dir.path(), Stdio::piped());
    let body = http_get(port, "/health").unwrap();
    assert!(body.ends_with(r#"{"status":"ok"}"#), "{body}");
    assert!(http_get(port, "/ready").unwrap().contains("200 OK"));
    assert!(dir.path().join("copythat.db").exists());

    terminate(&child);
    let exit = child.wait().unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("generated"),
        "warns about the per-process key: {stderr}"
    );
}

#[test]
fn s18_a_half_sent_request_does_not_keep_a_stopping_server_alive() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = serve_in(dir.path(), Stdio::null());
    let mut held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    held.write_all(b"POST /api/v1/auth/token HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let sent = Instant::now();
    terminate(&child);
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        if sent.elapsed() > Duration::from_secs(40) {
            let _ = child.kill();
            panic!("still running 40 s after SIGTERM while a client holds a half-sent request");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(exit.success(), "exits 0, got {exit:?}");
    drop(held);
}

/// A rolling restart without errors: on SIGTERM `/ready` turns 503 at once while the
/// instance keeps serving for `COPYTHAT_SHUTDOWN_GRACE`, then the listener closes and the
/// process exits 0.
#[test]
fn on_sigterm_ready_turns_503_first_and_requests_are_served_through_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = copythat()
        .current_dir(dir.path())
        .arg("serve")
        .env("COPYTHAT_BIND", format!("127.0.0.1:{port}"))
        .env("COPYTHAT_SHUTDOWN_GRACE", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while http_get(port, "/health").is_err() {
        assert!(Instant::now() < deadline, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        http_get(port, "/ready")
            .unwrap()
            .starts_with("HTTP/1.1 200")
    );

    let sent = Instant::now();
    terminate(&child);
    // Within the grace: not ready, but serving.
    let mut saw_draining = false;
    while sent.elapsed() < Duration::from_secs(2) {
        let ready = http_get(port, "/ready").expect("the listener is open during the grace");
        if ready.starts_with("HTTP/1.1 503") {
            saw_draining = true;
            let health = http_get(port, "/health").unwrap();
            assert!(health.starts_with("HTTP/1.1 200"), "{health}");
            let api = http_get(port, "/api/v1/auth/me").unwrap();
            assert!(
                api.starts_with("HTTP/1.1 401"),
                "requests are still answered: {api}"
            );
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(saw_draining, "/ready answers 503 right after SIGTERM");
    let exit = loop {
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        assert!(sent.elapsed() < Duration::from_secs(40), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exits 0, got {exit:?}");
    assert!(http_get(port, "/health").is_err(), "the listener is closed");
}

#[test]
fn migrate_runs_migrations_only() {
    let dir = tempfile::tempdir().unwrap();
    let output = copythat()
        .current_dir(dir.path())
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("copythat.db").exists());
}

/// A minimal HTTP/1.1 GET, so this test needs no async runtime.
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s9_first_admin_is_made_only_by_the_cli() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("cli.db").display());
    let create = |email: &str, password: &str, admin: bool| {
        let mut cmd = copythat();
        cmd.args(["user", "create", "--email", email, "--password-stdin"])
            .env("DATABASE_URL", &db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if admin {
            cmd.arg("--admin");
        }
        let mut child = cmd.spawn().unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        child.wait_with_output().unwrap()
    };
    let weak = create("root@example.com", "password", true);
    assert!(!weak.status.success(), "a common password is refused");

    let password = crate::helpers::random_password();
    let made = create("Root@Example.com", &password, true);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let id = String::from_utf8(made.stdout).unwrap().trim().to_owned();

    let store =
        copythat_server::store::connect(&copythat_server::config::ConnectionUrl::new(db.clone()))
            .await
            .unwrap();
    let user = store
        .find_user_by_email("root@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.id.to_string(), id);
    assert!(user.is_admin());
    assert!(user.password_hash.starts_with("$argon2id$"));
    let again = create("root@example.com", &password, false);
    assert!(!again.status.success(), "duplicate email refused");
}

#[test]
fn extract_cli_prints_tokens_and_reports_bad_files_by_name() {
    use copythat_core::synth;
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("brand.png");
    let jpeg = dir.path().join("photo.jpg");
    let svg = dir.path().join("logo.svg");
    let image = synth::stripes(48, &[([250, 250, 250], 80), ([220, 38, 38], 20)]);
    std::fs::write(&png, synth::encode_png(&image)).unwrap();
    std::fs::write(&jpeg, synth::encode_jpeg(&image)).unwrap();
    std::fs::write(&svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"/>").unwrap();

    let single = copythat()
        .arg("extract")
        .arg(&png)
        .args(["-n", "4"])
        .output()
        .unwrap();
    assert!(
        single.status.success(),
        "{}",
        String::from_utf8_lossy(&single.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&single.stdout).unwrap();
    let colors = json["colors"].as_array().unwrap();
    assert!(!colors.is_empty() && colors.len() <= 4);
    assert_eq!(json["image"]["format"], "png");
    assert!(colors.iter().any(|c| c["hex"] == "#dc2626"), "{json}");

    let many = copythat()
        .arg("extract")
        .args([&png, &svg, &jpeg])
        .args(["--format", "dtcg"])
        .output()
        .unwrap();
    assert_eq!(
        many.status.code(),
        Some(1),
        "a bad file makes the exit code 1"
    );
    // One JSON document keyed by file, holding the good ones.
    let doc: serde_json::Value = serde_json::from_slice(&many.stdout).unwrap();
    let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 2, "{doc}");
    assert_eq!(doc[png.display().to_string()]["color"]["$type"], "color");
    let stderr = String::from_utf8(many.stderr).unwrap();
    assert!(
        stderr.contains("logo.svg") && stderr.contains("unsupported"),
        "{stderr}"
    );
    assert!(!stderr.contains("brand.png"));

    let bad_n = copythat()
        .arg("extract")
        .arg(&png)
        .args(["-n", "51"])
        .output()
        .unwrap();
    assert_eq!(bad_n.status.code(), Some(2), "usage errors exit 2");
}

/// A folder of two small images (a PNG and a JPEG in a subfolder) plus a text file.
fn image_folder() -> tempfile::TempDir {
    use copythat_core::synth;
    let dir = tempfile::tempdir().unwrap();
    let image = synth::stripes(48, &[([250, 250, 250], 70), ([37, 99, 235], 30)]);
    std::fs::write(dir.path().join("brand.png"), synth::encode_png(&image)).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/photo.jpg"), synth::encode_jpeg(&image)).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    dir
}

fn extract(args: &[&std::ffi::OsStr]) -> std::process::Output {
    copythat().arg("extract").args(args).output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn extract_json_formats_give_one_document_for_many_inputs() {
    let dir = image_folder();
    let png = dir.path().join("brand.png");
    let jpg = dir.path().join("sub/photo.jpg");
    for format in ["json", "dtcg", "dtcg-hex", "style-dictionary"] {
        let out = extract(&[
            png.as_ref(),
            jpg.as_ref(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            text(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{format}: not one JSON document: {e}"));
        let map = doc.as_object().unwrap();
        assert_eq!(map.len(), 2, "{format}: keyed by file");
        for key in [&png, &jpg] {
            let one = &map[&key.display().to_string()];
            let blue = match format {
                "json" => one["colors"][0]["hex"].clone(),
                "dtcg" => one["color"]["primary"]["$value"]["hex"].clone(),
                "dtcg-hex" => one["color"]["primary"]["$value"].clone(),
                _ => one["color"]["primary"]["value"].clone(),
            };
            assert!(blue.is_string(), "{format}: {one}");
        }
    }
}

#[test]
fn extract_text_formats_refuse_many_inputs_without_out_dir() {
    let dir = image_folder();
    let png = dir.path().join("brand.png");
    for format in ["css", "scss", "tailwind", "tailwind4"] {
        let out = extract(&[
            png.as_ref(),
            png.as_ref(),
            "--format".as_ref(),
            format.as_ref(),
        ]);
        assert_eq!(out.status.code(), Some(2), "{format}");
        assert!(out.stdout.is_empty(), "{format}: nothing half-printed");
        assert!(
            text(&out.stderr).contains("--out-dir"),
            "{}",
            text(&out.stderr)
        );
    }
}

#[test]
fn extract_out_dir_writes_one_file_per_input() {
    let dir = image_folder();
    let out_dir = dir.path().join("tokens");
    let a = dir.path().join("brand.png");
    let copy = dir.path().join("sub/brand.png");
    std::fs::copy(&a, &copy).unwrap();
    let out = extract(&[
        a.as_ref(),
        copy.as_ref(),
        "--format".as_ref(),
        "tailwind4".as_ref(),
        "--out-dir".as_ref(),
        out_dir.as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut files: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["brand-2.tailwind.css", "brand.tailwind.css"]);
    let written: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    assert_eq!(written.len(), 2, "paths are printed");
    let css = std::fs::read_to_string(out_dir.join("brand.tailwind.css")).unwrap();
    assert!(
        css.contains("@theme {") && css.contains("--color-primary-500: #"),
        "{css}"
    );
}

#[test]
fn extract_directories_need_r_and_are_read_recursively_with_it() {
    let dir = image_folder();
    let without = extract(&[dir.path().as_ref()]);
    assert_eq!(without.status.code(), Some(1));
    let stderr = text(&without.stderr);
    assert!(
        stderr.contains("is a directory") && stderr.contains("-r"),
        "{stderr}"
    );

    let with = extract(&[
        "-r".as_ref(),
        dir.path().as_ref(),
        "--format".as_ref(),
        "hex".as_ref(),
    ]);
    assert_eq!(with.status.code(), Some(0), "{}", text(&with.stderr));
    let lines: Vec<String> = text(&with.stdout).lines().map(str::to_owned).collect();
    assert_eq!(
        lines.len(),
        2,
        "two images, the text file skipped: {lines:?}"
    );
    assert!(lines[0].ends_with(&format!(
        "brand.png\t{}",
        lines[0].split('\t').nth(1).unwrap()
    )));
    assert!(lines[1].contains("sub/photo.jpg\t#"), "{lines:?}");
    for line in &lines {
        let codes: Vec<&str> = line.split('\t').nth(1).unwrap().split(' ').collect();
        assert!(
            codes.iter().all(|c| c.len() == 7 && c.starts_with('#')),
            "{line}"
        );
    }
}

#[test]
fn extract_hex_of_one_input_is_one_line_of_codes() {
    let dir = image_folder();
    let out = extract(&[
        dir.path().join("brand.png").as_ref(),
        "--format".as_ref(),
        "hex".as_ref(),
        "-n".as_ref(),
        "2".as_ref(),
    ]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "#fafafa #2563eb\n");
}

#[test]
fn extract_reads_standard_input_once() {
    use std::io::Write;
    let dir = image_folder();
    let png = std::fs::read(dir.path().join("brand.png")).unwrap();
    let mut child = copythat()
        .args(["extract", "-", "--format", "css"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&png).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let css = text(&out.stdout);
    assert!(css.starts_with("/* Copy That palette: stdin */"), "{css}");
    assert!(css.contains("--color-primary: #2563eb;"), "{css}");

    let twice = extract(&["-".as_ref(), "-".as_ref()]);
    assert_eq!(twice.status.code(), Some(2));
}

#[test]
fn extract_errors_use_the_os_wording_and_blocked_urls_are_refused() {
    // The name resolves (through the static map, no DNS) to a private address: refused
    // before any connection, as the server would (S14).
    let out = copythat()
        .arg("extract")
        .arg("no-such.png")
        .arg("https://intranet.test/a.png")
        .env("COPYTHAT_FETCH_RESOLVE", "intranet.test=10.0.0.7")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("no-such.png: No such file or directory\n"),
        "{stderr}"
    );
    assert!(!stderr.contains("os error"), "{stderr}");
    assert!(
        stderr.contains("https://intranet.test/a.png: the image URL is not allowed"),
        "{stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc, serde_json::json!({}), "still one valid document");
}

/// `copythat extract URL` fetches through the same fetcher and rules as the server: a
/// loopback image host reached only because `COPYTHAT_FETCH_ALLOW_CIDRS` and
/// `COPYTHAT_FETCH_RESOLVE` say so gives the same palette as the file.
#[test]
fn extract_fetches_an_allowed_url_like_the_server() {
    use std::io::{Read, Write};
    let png = copythat_core::synth::encode_png(&copythat_core::synth::stripes(
        32,
        &[([255, 255, 255], 60), ([37, 99, 235], 40)],
    ));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let body = png.clone();
    let server = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = [0u8; 4096];
        let _ = stream.read(&mut head).unwrap();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        stream.write_all(reply.as_bytes()).unwrap();
        stream.write_all(&body).unwrap();
        String::from_utf8_lossy(&head).into_owned()
    });
    let url = format!("http://images.test:{port}/brand.png");
    let out = copythat()
        .args(["extract", &url, "--format", "hex"])
        .env("COPYTHAT_FETCH_ALLOW_CIDRS", "127.0.0.1/32")
        .env("COPYTHAT_FETCH_ALLOWED_PORTS", port.to_string())
        .env("COPYTHAT_FETCH_RESOLVE", "images.test=127.0.0.1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let request = server.join().unwrap();
    assert!(
        request
            .to_ascii_lowercase()
            .contains(&format!("host: images.test:{port}")),
        "{request}"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("brand.png");
    std::fs::write(&file, &png).unwrap();
    let local = extract(&[file.as_os_str(), "--format".as_ref(), "hex".as_ref()]);
    assert_eq!(
        text(&out.stdout),
        text(&local.stdout),
        "same palette as the file"
    );
}

#[test]
fn extract_help_documents_exit_codes() {
    let out = extract(&["--help".as_ref()]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "Exit status:",
        "0  every input",
        "1  some input failed",
        "2  usage error",
        "tailwind4",
        "dtcg-hex",
    ] {
        assert!(help.contains(needle), "{needle}: {help}");
    }
}

/// On a terminal, without --format, the palette is shown as true-colour swatches. `script`
/// (util-linux) gives the command a pseudo-terminal.
#[test]
fn extract_shows_swatches_on_a_terminal() {
    let dir = image_folder();
    let png = dir.path().join("brand.png");
    let command = format!(
        "{} extract -n 2 '{}'",
        env!("CARGO_BIN_EXE_copythat"),
        png.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .output()
        .expect("script(1) from util-linux");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let screen = text(&out.stdout);
    assert!(
        screen.contains("\x1b[48;2;37;99;235m"),
        "a blue block: {screen:?}"
    );
    assert!(screen.contains("#2563eb"), "{screen:?}");
    assert!(!screen.contains('{'), "not JSON: {screen:?}");
    // Piped, the same command prints JSON.
    let piped = extract(&["-n".as_ref(), "2".as_ref(), png.as_ref()]);
    assert!(serde_json::from_slice::<serde_json::Value>(&piped.stdout).is_ok());
}
