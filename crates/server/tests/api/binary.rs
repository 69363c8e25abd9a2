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
        .args(["--format", "css"])
        .output()
        .unwrap();
    assert!(
        !many.status.success(),
        "a bad file makes the exit code non-zero"
    );
    let stdout = String::from_utf8(many.stdout).unwrap();
    assert_eq!(stdout.matches(":root").count(), 2, "{stdout}");
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
    assert!(!bad_n.status.success());
}
